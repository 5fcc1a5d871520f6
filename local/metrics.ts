/**
 * Collects Embedded Metric Format lines from function output, as CloudWatch does with Lambda
 * logs, so the local status line shows the same metrics the AWS dashboard would.
 */
export class EmfMetrics {
  private readonly totals = new Map<string, number>();
  /** metric -> dimension -> dimension value -> [running total, the latest document]. */
  private readonly byDimension = new Map<string, Map<string, Map<string, { total: number; latest: Record<string, unknown> }>>>();

  /** Reads one log line; lines that are not EMF are ignored. */
  ingest(functionName: string, line: string): void {
    if (!line.startsWith('{') || !line.includes('"_aws"')) return;
    let document: Record<string, unknown>;
    try {
      document = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const directives = (document._aws as { CloudWatchMetrics?: { Metrics?: { Name: string }[]; Dimensions?: string[][] }[] } | undefined)?.CloudWatchMetrics ?? [];
    for (const directive of directives) {
      for (const { Name } of directive.Metrics ?? []) {
        const values = [document[Name]].flat().filter((value): value is number => typeof value === 'number');
        const key = `${functionName}/${Name}`;
        const sum = values.reduce((total, value) => total + value, 0);
        this.totals.set(key, (this.totals.get(key) ?? 0) + sum);
        for (const dimension of new Set((directive.Dimensions ?? []).flat())) {
          const value = document[dimension];
          if (typeof value !== 'string') continue;
          const dimensions = this.byDimension.get(Name) ?? new Map<string, Map<string, { total: number; latest: Record<string, unknown> }>>();
          this.byDimension.set(Name, dimensions);
          const entries = dimensions.get(dimension) ?? new Map<string, { total: number; latest: Record<string, unknown> }>();
          dimensions.set(dimension, entries);
          const entry = entries.get(value) ?? { total: 0, latest: document };
          entry.total += sum;
          entry.latest = document;
          entries.set(value, entry);
        }
      }
    }
  }

  total(functionName: string, metricName: string): number {
    return this.totals.get(`${functionName}/${metricName}`) ?? 0;
  }

  /** The sum of a metric over every function that emits it. */
  sum(metricName: string): number {
    let sum = 0;
    for (const [key, value] of this.totals) if (key.endsWith(`/${metricName}`)) sum += value;
    return sum;
  }

  /** A metric's running total and latest EMF document per value of one of its dimensions (e.g. per `Source`). */
  perDimension(metricName: string, dimension: string): Map<string, { total: number; latest: Record<string, unknown> }> {
    return this.byDimension.get(metricName)?.get(dimension) ?? new Map<string, { total: number; latest: Record<string, unknown> }>();
  }
}
