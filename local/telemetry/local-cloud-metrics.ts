import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EdgeHandler, ExchangeObserver } from '../edge';
import type { InvokeResult } from '../lambda/runtime';
import type { EmfMetrics } from '../metrics';
import { shardPutsOf, isPutTarget } from './kinesis-puts';
import { addCounters, shardSample, type MappingView, type ShardSample } from './shards';

/** Where the edge serves the metrics, in the Prometheus text format. */
export const METRICS_PATH = '/_watershed/metrics';

/** The depth of one queue, as SQS counts it. */
export interface QueueDepth {
  readonly queue: string;
  readonly visible: number;
  readonly inFlight: number;
  readonly delayed: number;
}

export interface LocalCloudMetricsSources {
  /** The functions' EMF metrics, collected from their output. */
  readonly emf: EmfMetrics;
  /** The event source mappings running now (the list changes when functions restart). */
  readonly mappings: () => readonly MappingView[];
  /** Every queue's depth now. */
  readonly queues: () => QueueDepth[];
}

const FUNCTION_DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];
const BATCH_SIZE_BUCKETS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

const SHARD_LABELS = ['stream', 'shard', 'function'] as const;
const MAPPING_LABELS = ['mapping', 'function', 'stream'] as const;

/**
 * The local cloud's metrics: one source for the status line (`shards()`, `emf`) and for
 * `GET /_watershed/metrics` (prom-client, Prometheus text format). Counters of the stream
 * mappings and the queue depths are read at scrape time from the mappings themselves; function
 * invocations are observed as they settle; records put are seen at the edge.
 */
export class LocalCloudMetrics {
  readonly registry = new Registry();
  /** Counters of mappings stopped by a restart, so the totals carry on across it. */
  private readonly retired = new Map<string, ShardSample>();
  private readonly invocations: Counter<'function'>;
  private readonly errors: Counter<'function'>;
  private readonly duration: Histogram<'function'>;
  private readonly batchSize: Histogram<'function'>;
  private readonly recordsIn: Counter<'stream' | 'shard'>;

  constructor(private readonly sources: LocalCloudMetricsSources) {
    const registers = [this.registry];
    this.recordsIn = new Counter({
      name: 'watershed_stream_incoming_records_total',
      help: 'Records stored on a Kinesis shard by PutRecord and PutRecords, seen at the edge',
      labelNames: ['stream', 'shard'],
      registers,
    });
    this.invocations = new Counter({ name: 'watershed_function_invocations_total', help: 'Invocations of a function, settled', labelNames: ['function'], registers });
    this.errors = new Counter({
      name: 'watershed_function_errors_total',
      help: 'Invocations that failed: the handler threw, timed out or its environment died (the type is in the function log)',
      labelNames: ['function'],
      registers,
    });
    this.duration = new Histogram({
      name: 'watershed_function_duration_seconds',
      help: 'Duration of an invocation',
      labelNames: ['function'],
      buckets: FUNCTION_DURATION_BUCKETS_SECONDS,
      registers,
    });
    this.batchSize = new Histogram({
      name: 'watershed_function_batch_size_records',
      help: 'Records in the event of an invocation by an event source mapping',
      labelNames: ['function'],
      buckets: BATCH_SIZE_BUCKETS,
      registers,
    });

    // Read at scrape time from the mappings: the same numbers the status line shows.
    this.collected('gauge', 'watershed_stream_iterator_age_seconds', 'How far the mapping is behind on the shard: the age of the batch in flight, or what the last read reported', SHARD_LABELS, (samples) =>
      samples.map((sample) => [{ stream: sample.stream, shard: sample.shard, function: sample.functionName }, sample.iteratorAgeMs / 1000]),
    );
    this.collected('counter', 'watershed_stream_read_records_total', 'Records read from the shard by an event source mapping', SHARD_LABELS, (samples) =>
      samples.map((sample) => [{ stream: sample.stream, shard: sample.shard, function: sample.functionName }, sample.recordsRead]),
    );
    this.collected('gauge', 'watershed_stream_queued_records', 'Records read from the shard and not yet processed by the function (buffered or in flight)', SHARD_LABELS, (samples) =>
      samples.map((sample) => [{ stream: sample.stream, shard: sample.shard, function: sample.functionName }, sample.queuedRecords]),
    );
    const perMapping = (pick: (sample: ShardSample) => number) => (samples: ShardSample[]) => {
      const totals = new Map<string, [Record<string, string>, number]>();
      for (const sample of samples) {
        const key = `${sample.mapping}\u0000${sample.functionName}\u0000${sample.stream}`;
        const entry = totals.get(key) ?? [{ mapping: sample.mapping, function: sample.functionName, stream: sample.stream }, 0];
        entry[1] += pick(sample);
        totals.set(key, entry);
      }
      return [...totals.values()];
    };
    this.collected('counter', 'watershed_event_source_retries_total', 'Invocations an event source mapping repeated for records that failed', MAPPING_LABELS, perMapping((sample) => sample.retries));
    this.collected('counter', 'watershed_event_source_bisections_total', 'Failed batches an event source mapping split in two', MAPPING_LABELS, perMapping((sample) => sample.bisections));
    this.collected(
      'counter',
      'watershed_event_source_on_failure_records_total',
      "Records an event source mapping gave up on and described to its on-failure destination",
      MAPPING_LABELS,
      perMapping((sample) => sample.recordsToDestination),
    );
    new Gauge({
      name: 'watershed_queue_messages',
      help: 'Messages in a queue: visible (waiting), in_flight (received, not deleted) or delayed',
      labelNames: ['queue', 'state'],
      registers,
      collect() {
        this.reset();
        for (const depth of sources.queues()) {
          this.set({ queue: depth.queue, state: 'visible' }, depth.visible);
          this.set({ queue: depth.queue, state: 'in_flight' }, depth.inFlight);
          this.set({ queue: depth.queue, state: 'delayed' }, depth.delayed);
        }
      },
    });
  }

  /** Samples of every shard of every running mapping, with the counters of earlier runs added. */
  shards(nowMs = Date.now()): ShardSample[] {
    return this.sources.mappings().flatMap((mapping) =>
      mapping.progress().map((shard) => {
        const sample = shardSample(mapping, shard, nowMs);
        return addCounters(sample, this.retired.get(retiredKey(sample)));
      }),
    );
  }

  get emf(): EmfMetrics {
    return this.sources.emf;
  }

  /** Keeps the final counters of mappings that were stopped (call after they stopped, before they are dropped). */
  retire(mappings: readonly MappingView[]): void {
    for (const mapping of mappings) {
      for (const shard of mapping.progress()) {
        const sample = shardSample(mapping, shard, Date.now());
        const key = retiredKey(sample);
        this.retired.set(key, addCounters(sample, this.retired.get(key)));
      }
    }
  }

  /** For the runtime's `onInvoked`: one settled invocation. */
  recordInvocation(functionName: string, event: unknown, result: InvokeResult): void {
    this.invocations.inc({ function: functionName });
    // Zero until the first error, so the series exists and rate() reads 0, not nothing.
    this.errors.inc({ function: functionName }, result.ok ? 0 : 1);
    this.duration.observe({ function: functionName }, result.durationMs / 1000);
    const records = (event as { Records?: unknown } | null | undefined)?.Records;
    if (Array.isArray(records)) this.batchSize.observe({ function: functionName }, records.length);
  }

  /** For the edge's `observe('kinesis', ...)`: counts the records each put stores, by shard. */
  readonly observeKinesis: ExchangeObserver = (req) => {
    const target = req.headers['x-amz-target'];
    if (!isPutTarget(target)) return undefined;
    return (requestBody, status, responseBody) => {
      const puts = shardPutsOf(target, requestBody, status, responseBody);
      if (puts === undefined) return;
      for (const [shard, count] of puts.records) this.recordsIn.inc({ stream: puts.stream, shard }, count);
    };
  };

  /** The Prometheus text format of every metric, EMF ones included. */
  async text(): Promise<string> {
    this.registerEmfMetrics();
    return this.registry.metrics();
  }

  /** Serves `GET /_watershed/metrics` on the edge. */
  readonly handler: EdgeHandler = async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end(`${METRICS_PATH} answers GET\n`);
      return;
    }
    const body = await this.text();
    res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? '' : body);
  };

  private readonly emfMetricNames = new Map<string, readonly string[]>();

  /**
   * One prom-client metric per EMF metric name, created when the name is first seen. Its label
   * names are fixed then (`function` and the dimensions of that first line); later series with
   * other dimensions keep the labels it has and leave the others empty.
   */
  private registerEmfMetrics(): void {
    const emf = this.sources.emf;
    for (const series of emf.all()) {
      const { name, type, help } = series.prometheus;
      if (this.emfMetricNames.has(name) || this.registry.getSingleMetric(name) !== undefined) continue;
      const labelNames = Object.keys(series.labels).sort();
      this.emfMetricNames.set(name, labelNames);
      const values = () => {
        const totals = new Map<string, [Record<string, string>, number]>();
        for (const candidate of emf.all()) {
          if (candidate.prometheus.name !== name) continue;
          const labels = Object.fromEntries(labelNames.map((label) => [label, candidate.labels[label] ?? '']));
          const key = JSON.stringify(labels);
          const entry = totals.get(key) ?? [labels, 0];
          entry[1] = type === 'counter' ? entry[1] + candidate.value : candidate.value;
          totals.set(key, entry);
        }
        return [...totals.values()];
      };
      this.collectedFrom(type, name, help, labelNames, values);
    }
  }

  private collected(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly string[], values: (samples: ShardSample[]) => [Record<string, string>, number][]): void {
    this.collectedFrom(type, name, help, labelNames, () => values(this.shards()));
  }

  /** A metric whose values are computed at each scrape. */
  private collectedFrom(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly string[], values: () => [Record<string, string>, number][]): void {
    const registers = [this.registry];
    if (type === 'gauge') {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [labels, value] of values()) this.set(labels, value);
        },
      });
    } else {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [labels, value] of values()) this.inc(labels, value);
        },
      });
    }
  }
}

/** The depth of every queue of the local SQS store. */
export function queueDepths(store: { listQueues(): string[]; getQueueAttributes(name: string, requested: readonly string[]): Record<string, string> }): QueueDepth[] {
  return store.listQueues().map((queue) => {
    const attributes = store.getQueueAttributes(queue, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed']);
    return {
      queue,
      visible: Number(attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    };
  });
}

function retiredKey(sample: ShardSample): string {
  return `${sample.mapping}\u0000${sample.shard}`;
}
