/**
 * Per-shard samples of the running event source mappings, computed once and read by both the
 * status line and the Prometheus endpoint. Pure: progress in, samples out.
 */

/** What telemetry reads of one shard of one mapping (a subset of local/lambda's ShardProgress). */
export interface ShardCounters {
  shardId: string;
  millisBehindLatest: number;
  recordsRead: number;
  recordsDelivered: number;
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  discardedBatches: number;
  retries: number;
  bisections: number;
  recordsToDestination: number;
  inFlightSinceMs?: number;
  /** Read to its end (a shard closed by a split or a merge) with every batch done. */
  finished?: boolean;
}

/** What telemetry reads of one event source mapping. */
export interface MappingView {
  /** `kinesis` or `dynamodb`. */
  readonly kind: string;
  readonly spec: { readonly logicalId: string; readonly functionName: string; readonly eventSourceArn: string };
  progress(): ShardCounters[];
}

export interface ShardSample {
  /** `kinesis` or `dynamodb`. */
  readonly source: string;
  /** The Kinesis stream's name, or the DynamoDB table whose stream it is. */
  readonly stream: string;
  readonly shard: string;
  /** The mapping's logical id in the template. */
  readonly mapping: string;
  readonly functionName: string;
  /**
   * How far behind the mapping is, in ms: the age of the batch it is invoking (which grows while
   * the function fails or hangs), or else what the last read reported behind the stream's tip.
   */
  readonly iteratorAgeMs: number;
  /** Read from the stream and not yet processed (buffered or in flight). */
  readonly queuedRecords: number;
  readonly recordsRead: number;
  readonly recordsDelivered: number;
  readonly invocations: number;
  readonly functionErrors: number;
  readonly retries: number;
  readonly bisections: number;
  readonly recordsToDestination: number;
  /** Closed by a split or a merge and read to its end: nothing left to lag behind. */
  readonly finished: boolean;
}

/** `arn:aws:kinesis:r:a:stream/clicks` -> `clicks`; `arn:aws:dynamodb:r:a:table/windows/stream/2026-...` -> `windows`. */
export function streamNameOfArn(arn: string): string {
  const table = /:table\/([^/]+)\/stream\//.exec(arn);
  if (table !== null) return table[1]!;
  return arn.split('/').at(-1) ?? arn;
}

export function shardSample(mapping: MappingView, shard: ShardCounters, nowMs: number): ShardSample {
  const inFlightAgeMs = shard.inFlightSinceMs === undefined ? 0 : Math.max(0, nowMs - shard.inFlightSinceMs);
  return {
    source: mapping.kind,
    stream: streamNameOfArn(mapping.spec.eventSourceArn),
    shard: shard.shardId,
    mapping: mapping.spec.logicalId,
    functionName: mapping.spec.functionName,
    iteratorAgeMs: Math.max(shard.millisBehindLatest, inFlightAgeMs),
    queuedRecords: Math.max(0, shard.recordsRead - shard.recordsDelivered),
    recordsRead: shard.recordsRead,
    recordsDelivered: shard.recordsDelivered,
    invocations: shard.invocations,
    functionErrors: shard.functionErrors,
    retries: shard.retries,
    bisections: shard.bisections,
    recordsToDestination: shard.recordsToDestination,
    finished: shard.finished ?? false,
  };
}

/** The counters of `sample` plus those of `base` (an earlier run of the same mapping and shard). */
export function addCounters(sample: ShardSample, base: ShardSample | undefined): ShardSample {
  if (base === undefined) return sample;
  return {
    ...sample,
    recordsRead: sample.recordsRead + base.recordsRead,
    recordsDelivered: sample.recordsDelivered + base.recordsDelivered,
    invocations: sample.invocations + base.invocations,
    functionErrors: sample.functionErrors + base.functionErrors,
    retries: sample.retries + base.retries,
    bisections: sample.bisections + base.bisections,
    recordsToDestination: sample.recordsToDestination + base.recordsToDestination,
  };
}

/** `shardId-000000000003` -> `shard 3`, for the status line. */
export function shortShardName(shardId: string): string {
  return shardId.replace(/^shardId-0*(?=\d)/, 'shard ');
}
