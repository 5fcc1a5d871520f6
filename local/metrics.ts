import { labelNameOf, parseEmfLine, prometheusMappingOf, type PrometheusMapping } from './telemetry/emf';

/** One EMF metric of one function with one set of dimension values, summed (or last, for gauges). */
export interface EmfSeries {
  readonly functionName: string;
  readonly namespace: string;
  readonly metricName: string;
  readonly unit: string;
  readonly prometheus: PrometheusMapping;
  /** Prometheus labels: `function` and the EMF dimensions. */
  readonly labels: Readonly<Record<string, string>>;
  /** In the Prometheus unit (seconds, bytes): summed for counters, the last value for gauges. */
  value: number;
  /** In the EMF unit, summed: what the status line shows. */
  rawTotal: number;
}

/**
 * Collects Embedded Metric Format lines from function output, as CloudWatch does with Lambda
 * logs. The status line and the Prometheus endpoint (local/telemetry) both read these series.
 */
export class EmfMetrics {
  private readonly series = new Map<string, EmfSeries>();
  /** metric -> dimension -> dimension value -> [running total, the latest EMF document]. */
  private readonly byDimension = new Map<string, Map<string, Map<string, { total: number; latest: Record<string, unknown> }>>>();

  /** Reads one log line; lines that are not EMF are ignored. */
  ingest(functionName: string, line: string): void {
    const datapoints = parseEmfLine(line);
    // Properties beside the metrics (a session's state, say) are read from the latest document.
    const document = datapoints.length === 0 ? undefined : (JSON.parse(line) as Record<string, unknown>);
    for (const datapoint of datapoints) {
      const labels: Record<string, string> = { function: functionName };
      for (const [dimension, value] of Object.entries(datapoint.dimensions)) labels[labelNameOf(dimension)] = value;
      const key = JSON.stringify([functionName, datapoint.namespace, datapoint.name, labels]);
      let series = this.series.get(key);
      if (series === undefined) {
        const prometheus = prometheusMappingOf(datapoint);
        series = { functionName, namespace: datapoint.namespace, metricName: datapoint.name, unit: datapoint.unit, prometheus, labels, value: 0, rawTotal: 0 };
        this.series.set(key, series);
      }
      const sum = datapoint.values.reduce((total, value) => total + value, 0);
      series.rawTotal += sum;
      for (const [dimension, value] of Object.entries(datapoint.dimensions)) {
        const dimensions = this.byDimension.get(datapoint.name) ?? new Map<string, Map<string, { total: number; latest: Record<string, unknown> }>>();
        this.byDimension.set(datapoint.name, dimensions);
        const entries = dimensions.get(dimension) ?? new Map<string, { total: number; latest: Record<string, unknown> }>();
        dimensions.set(dimension, entries);
        const entry = entries.get(value) ?? { total: 0, latest: document! };
        entry.total += sum;
        entry.latest = document!;
        entries.set(value, entry);
      }
      series.value = series.prometheus.type === 'counter' ? series.value + sum * series.prometheus.scale : datapoint.values.at(-1)! * series.prometheus.scale;
    }
  }

  total(functionName: string, metricName: string): number {
    let total = 0;
    for (const series of this.series.values()) if (series.functionName === functionName && series.metricName === metricName) total += series.rawTotal;
    return total;
  }

  /** The sum of a metric over every function that emits it. */
  sum(metricName: string): number {
    let sum = 0;
    for (const series of this.series.values()) if (series.metricName === metricName) sum += series.rawTotal;
    return sum;
  }

  /** Every series seen so far (copies). */
  all(): EmfSeries[] {
    return [...this.series.values()].map((series) => ({ ...series }));
  }

  /** A metric's running total and latest EMF document per value of one of its dimensions (e.g. per `Source`). */
  perDimension(metricName: string, dimension: string): Map<string, { total: number; latest: Record<string, unknown> }> {
    return this.byDimension.get(metricName)?.get(dimension) ?? new Map<string, { total: number; latest: Record<string, unknown> }>();
  }
}
