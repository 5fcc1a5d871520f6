/**
 * Collects Embedded Metric Format lines from function output, as CloudWatch does with Lambda
 * logs, so the local status line shows the same metrics the AWS dashboard would.
 */
export class EmfMetrics {
  private readonly totals = new Map<string, number>();

  /** Reads one log line; lines that are not EMF are ignored. */
  ingest(functionName: string, line: string): void {
    if (!line.startsWith('{') || !line.includes('"_aws"')) return;
    let document: Record<string, unknown>;
    try {
      document = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const directives = (document._aws as { CloudWatchMetrics?: { Metrics?: { Name: string }[] }[] } | undefined)?.CloudWatchMetrics ?? [];
    for (const directive of directives) {
      for (const { Name } of directive.Metrics ?? []) {
        const values = [document[Name]].flat().filter((value): value is number => typeof value === 'number');
        const key = `${functionName}/${Name}`;
        this.totals.set(key, (this.totals.get(key) ?? 0) + values.reduce((sum, value) => sum + value, 0));
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
}
