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

  /** Reads one log line; lines that are not EMF are ignored. */
  ingest(functionName: string, line: string): void {
    for (const datapoint of parseEmfLine(line)) {
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
}
