/**
 * Embedded Metric Format (EMF) lines as Prometheus metrics, mapped by rule rather than listed by
 * hand, so every pipeline's `metrics.addMetric(...)` shows up on the metrics endpoint without a
 * change here. Pure: no I/O.
 *
 * The rule, per metric of an EMF directive:
 * - name: `<namespace>_<metric>` in snake case (`Watershed` + `ClicksCounted` ->
 *   `watershed_clicks_counted`), plus the unit's suffix;
 * - Count (or no unit): a counter of the summed values, `..._total`;
 * - a time unit: a counter of the summed time in seconds, `..._seconds_total`;
 * - a byte unit: a counter of the summed bytes, `..._bytes_total`;
 * - anything else (rates, percentages): a gauge of the last value;
 * - labels: `function`, plus the directive's dimensions (Powertools adds `service`).
 */

/** One metric value set of one EMF line. */
export interface EmfDatapoint {
  readonly namespace: string;
  readonly name: string;
  /** The EMF unit, e.g. `Count`, `Milliseconds`; `None` when the line gives none. */
  readonly unit: string;
  /** Dimension name -> value, for the directive's dimension sets, merged. */
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: readonly number[];
}

interface EmfDirective {
  Namespace?: unknown;
  Dimensions?: unknown;
  Metrics?: unknown;
}

/** Datapoints of an EMF line; [] for any other line (plain logs, malformed JSON). */
export function parseEmfLine(line: string): EmfDatapoint[] {
  if (!line.startsWith('{') || !line.includes('"_aws"')) return [];
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return [];
  }
  const directives = (document._aws as { CloudWatchMetrics?: unknown } | undefined)?.CloudWatchMetrics;
  if (!Array.isArray(directives)) return [];
  const datapoints: EmfDatapoint[] = [];
  for (const directive of directives as EmfDirective[]) {
    const namespace = typeof directive.Namespace === 'string' ? directive.Namespace : 'emf';
    const dimensions: Record<string, string> = {};
    for (const set of Array.isArray(directive.Dimensions) ? (directive.Dimensions as unknown[]) : []) {
      for (const key of Array.isArray(set) ? (set as unknown[]) : []) {
        const value = typeof key === 'string' ? document[key] : undefined;
        if (typeof key === 'string' && (typeof value === 'string' || typeof value === 'number')) dimensions[key] = String(value);
      }
    }
    for (const metric of Array.isArray(directive.Metrics) ? (directive.Metrics as { Name?: unknown; Unit?: unknown }[]) : []) {
      if (typeof metric?.Name !== 'string') continue;
      const values = [document[metric.Name]].flat().filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
      if (values.length === 0) continue;
      datapoints.push({ namespace, name: metric.Name, unit: typeof metric.Unit === 'string' ? metric.Unit : 'None', dimensions, values });
    }
  }
  return datapoints;
}

/** How an EMF metric is exposed to Prometheus. */
export interface PrometheusMapping {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  /** Multiplies each EMF value into the Prometheus unit (ms -> s, KB -> bytes). */
  readonly scale: number;
  readonly help: string;
}

const TIME_UNITS: Readonly<Record<string, number>> = { Seconds: 1, Milliseconds: 1e-3, Microseconds: 1e-6 };
const BYTE_UNITS: Readonly<Record<string, number>> = {
  Bytes: 1,
  Kilobytes: 1e3,
  Megabytes: 1e6,
  Gigabytes: 1e9,
  Terabytes: 1e12,
  Bits: 1 / 8,
  Kilobits: 1e3 / 8,
  Megabits: 1e6 / 8,
  Gigabits: 1e9 / 8,
  Terabits: 1e12 / 8,
};

/** `ClicksCounted` -> `clicks_counted`, `p99LatencyMS` -> `p99_latency_ms`, `Watershed/Fraud` -> `watershed_fraud`. */
export function snakeCase(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

export function prometheusMappingOf(datapoint: Pick<EmfDatapoint, 'namespace' | 'name' | 'unit'>): PrometheusMapping {
  let base = `${snakeCase(datapoint.namespace)}_${snakeCase(datapoint.name)}`;
  // Prometheus names start with a letter or an underscore.
  if (!/^[a-z_]/.test(base)) base = `emf_${base}`;
  const help = `EMF metric ${datapoint.namespace}/${datapoint.name} (${datapoint.unit}) from the functions' logs`;
  const { unit } = datapoint;
  if (unit === 'Count' || unit === 'None') return { name: `${base}_total`, type: 'counter', scale: 1, help };
  if (TIME_UNITS[unit] !== undefined) return { name: `${base}_seconds_total`, type: 'counter', scale: TIME_UNITS[unit], help };
  if (BYTE_UNITS[unit] !== undefined) return { name: `${base}_bytes_total`, type: 'counter', scale: BYTE_UNITS[unit], help };
  return { name: base, type: 'gauge', scale: 1, help };
}

/** A Prometheus label name for an EMF dimension (`ServiceName` -> `service_name`). */
export function labelNameOf(dimension: string): string {
  const name = snakeCase(dimension);
  return /^[a-z_]/.test(name) && !name.startsWith('__') ? name : `dimension_${name}`;
}
