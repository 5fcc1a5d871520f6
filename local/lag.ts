/**
 * Consumer lag of a stream, in time and in records, from the newest record put to the newest
 * record processed. Pure: observers feed it (the tip follower with what was put, the event
 * source mappings with their checkpoints) and any display reads it: the status line today,
 * a metrics registry as well.
 *
 * Sequence numbers are decimal strings that grow within a shard; they compare by length, then
 * lexicographically, which is numeric order without BigInt.
 */

export interface RecordPosition {
  readonly sequenceNumber: string;
  /** ApproximateArrivalTimestamp, epoch milliseconds. */
  readonly arrivalMs: number;
}

export interface ShardLagReport {
  readonly shardId: string;
  /** Records put and not yet processed. */
  readonly records: number;
  /** Arrival time of the newest record put minus that of the newest record processed; 0 when caught up. */
  readonly ms: number;
  /** True when the consumer is behind records put before the tracker saw them: the figures are lower bounds. */
  readonly atLeast: boolean;
}

export type LagTrend = 'caught-up' | 'steady' | 'catching-up' | 'falling-behind';

export interface LagReport {
  readonly shards: readonly ShardLagReport[];
  readonly records: number;
  readonly ms: number;
  readonly atLeast: boolean;
  /** Over the trend window, in records per second. */
  readonly putPerSecond: number;
  readonly processedPerSecond: number;
  readonly trend: LagTrend;
}

export const compareSequenceNumbers = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** Above this many unprocessed records per shard the oldest positions are forgotten (bounded memory). */
export const MAX_TRACKED_RECORDS = 200_000;

class ShardLag {
  /** Records put and not yet known to be processed, oldest first. */
  private pending: RecordPosition[] = [];
  private head = 0;
  private checkpoint: string | undefined;
  private newestProcessedMs: number | undefined;
  private forgotten = 0;
  putTotal = 0;
  processedTotal = 0;

  put(records: readonly RecordPosition[]): void {
    for (const record of records) {
      if (this.checkpoint !== undefined && compareSequenceNumbers(record.sequenceNumber, this.checkpoint) <= 0) {
        // Processed before the tip follower saw it (the follower polls; the consumer may be quicker).
        this.putTotal += 1;
        this.processedTotal += 1;
        this.newestProcessedMs = Math.max(this.newestProcessedMs ?? record.arrivalMs, record.arrivalMs);
        continue;
      }
      this.pending.push(record);
      this.putTotal += 1;
    }
    if (this.pending.length - this.head > MAX_TRACKED_RECORDS) {
      const drop = this.pending.length - this.head - MAX_TRACKED_RECORDS;
      this.head += drop;
      this.forgotten += drop;
    }
    this.compact();
  }

  processed(checkpoint: string | undefined): void {
    if (checkpoint === undefined) return;
    if (this.checkpoint !== undefined && compareSequenceNumbers(checkpoint, this.checkpoint) <= 0) return;
    this.checkpoint = checkpoint;
    while (this.head < this.pending.length && compareSequenceNumbers(this.pending[this.head]!.sequenceNumber, checkpoint) <= 0) {
      this.newestProcessedMs = this.pending[this.head]!.arrivalMs;
      this.head += 1;
      this.processedTotal += 1;
    }
    if (this.head === this.pending.length) this.forgotten = 0;
    this.compact();
  }

  report(shardId: string): ShardLagReport {
    const unprocessed = this.pending.length - this.head;
    if (unprocessed === 0) return { shardId, records: 0, ms: 0, atLeast: false };
    const newestPut = this.pending.at(-1)!.arrivalMs;
    const oldestPending = this.pending[this.head]!.arrivalMs;
    // Unknown newest processed (nothing processed since tracking began): the oldest pending record bounds it.
    const atLeast = this.forgotten > 0 || this.newestProcessedMs === undefined;
    const reference = this.newestProcessedMs ?? oldestPending;
    return { shardId, records: unprocessed + this.forgotten, ms: Math.max(0, newestPut - reference), atLeast };
  }

  private compact(): void {
    if (this.head > 4096 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }
}

interface Sample {
  readonly at: number;
  readonly put: number;
  readonly processed: number;
  readonly records: number;
}

/**
 * Lag over the shards of one stream. `trendWindowMs` is how far back the trend and the rates
 * look; `toleranceMs` is the lag that counts as keeping up (the mapping's batching window and
 * one invocation fit in it).
 */
export class StreamLagTracker {
  private readonly shards = new Map<string, ShardLag>();
  private readonly samples: Sample[] = [];

  constructor(private readonly options: { trendWindowMs?: number; toleranceMs?: number } = {}) {}

  /** Records put on `shardId`, in shard order. */
  observePut(shardId: string, records: readonly RecordPosition[]): void {
    this.shard(shardId).put(records);
  }

  /** The consumer's checkpoint on `shardId`: every record up to it is processed. */
  observeProcessed(shardId: string, checkpoint: string | undefined): void {
    this.shard(shardId).processed(checkpoint);
  }

  report(now: number): LagReport {
    const shards = [...this.shards].map(([shardId, shard]) => shard.report(shardId));
    const records = shards.reduce((sum, shard) => sum + shard.records, 0);
    const ms = Math.max(0, ...shards.map((shard) => shard.ms));
    const put = [...this.shards.values()].reduce((sum, shard) => sum + shard.putTotal, 0);
    const processed = [...this.shards.values()].reduce((sum, shard) => sum + shard.processedTotal, 0);
    const windowMs = this.options.trendWindowMs ?? 10_000;
    this.samples.push({ at: now, put, processed, records });
    while (this.samples.length > 2 && this.samples[1]!.at <= now - windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (now - first.at) / 1000;
    const putPerSecond = seconds > 0 ? (put - first.put) / seconds : 0;
    const processedPerSecond = seconds > 0 ? (processed - first.processed) / seconds : 0;
    return { shards, records, ms, atLeast: shards.some((shard) => shard.atLeast), putPerSecond, processedPerSecond, trend: this.trend(ms, records, first, seconds, putPerSecond, processedPerSecond) };
  }

  private trend(ms: number, records: number, first: Sample, seconds: number, putPerSecond: number, processedPerSecond: number): LagTrend {
    if (records === 0) return 'caught-up';
    if (ms <= (this.options.toleranceMs ?? 3000)) return 'steady';
    if (seconds < 2) return 'steady';
    // Behind and growing: more put than processed, and the backlog grew over the window.
    if (records > first.records && putPerSecond > processedPerSecond) return 'falling-behind';
    if (records < first.records) return 'catching-up';
    return 'steady';
  }

  private shard(shardId: string): ShardLag {
    let shard = this.shards.get(shardId);
    if (shard === undefined) {
      shard = new ShardLag();
      this.shards.set(shardId, shard);
    }
    return shard;
  }
}

/** What the status line knows about possible causes; each is optional. */
export interface LagHints {
  /** The Kinesis engine's CPU use, as a fraction of one core (Node.js and Java engines use one). */
  readonly engine?: { readonly name: string; readonly cpu: number };
  /** Function errors since the last report (the mapping retries them). */
  readonly functionErrors?: number;
  /** Share of the last interval the consumer spent inside invocations (1 = always busy). */
  readonly functionBusy?: number;
}

/** The most likely reason for falling behind, or undefined when none is known. */
export function lagReason(hints: LagHints): string | undefined {
  if (hints.engine !== undefined && hints.engine.cpu >= 0.9) return `${hints.engine.name} at its CPU limit (${Math.round(hints.engine.cpu * 100)}% of a core)`;
  if ((hints.functionErrors ?? 0) > 0) return `function errors, retried (${hints.functionErrors} since the last update)`;
  if (hints.functionBusy !== undefined && hints.functionBusy >= 0.9) return 'the function is busy all the time (one batch in flight per shard)';
  return undefined;
}

const durationText = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);

/** `lag 1.2 s, 240 records` or `lag 0 ms` plus `falling behind: <why>` when it is. */
export function formatLag(report: LagReport, reason: string | undefined): string {
  const bound = report.atLeast ? '≥ ' : '';
  const base = report.records === 0 ? 'lag 0 ms' : `lag ${bound}${durationText(report.ms)}, ${bound}${report.records.toLocaleString('en-US')} records`;
  switch (report.trend) {
    case 'falling-behind':
      return `${base} (falling behind: put ${report.putPerSecond.toFixed(0)}/s, processed ${report.processedPerSecond.toFixed(0)}/s${reason === undefined ? '' : `; ${reason}`})`;
    case 'catching-up':
      return `${base} (catching up)`;
    default:
      return base;
  }
}
