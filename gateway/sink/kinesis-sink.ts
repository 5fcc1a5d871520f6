import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import type { MarketTickInput } from '../../contracts/market-data';
import { backoffDelayMs } from '../core/backoff';

/** PutRecords limits: 500 records and 5 MiB per call. */
const MAX_RECORDS_PER_PUT = 500;
const MAX_BYTES_PER_PUT = 5 * 1024 * 1024;

export class TickPublishError extends Error {
  override name = 'TickPublishError';
}

export interface KinesisTickSinkOptions {
  kinesis: KinesisClient;
  streamName: string;
  /** Ticks per PutRecords call (at most 500). */
  batchSize: number;
  /** How long the first tick of a batch waits for company. */
  batchDelayMs: number;
  /** Attempts per record before its publish() rejects (throttling, partial failures, errors). @default 8 */
  maxAttempts?: number;
  onPublished?: (ticks: readonly MarketTickInput[]) => void;
  log?: (message: string) => void;
}

interface Pending {
  tick: MarketTickInput;
  entry: PutRecordsRequestEntry;
  bytes: number;
  attempts: number;
  settle: (error?: Error) => void;
}

/**
 * Batches ticks into PutRecords calls on the `market-data` stream, partitioned by symbol (so one
 * symbol's ticks stay in order on one shard), and retries the records a call reports as failed,
 * with backoff. `publish` resolves only once every tick it was given is on the stream: the FIX
 * session advances its durable sequence number on that, so a crash before it means a resend.
 */
export class KinesisTickSink {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly encoder = new TextEncoder();
  readonly stats = { calls: 0, published: 0, retried: 0, failed: 0 };

  constructor(private readonly options: KinesisTickSinkOptions) {}

  publish(ticks: readonly MarketTickInput[]): Promise<void> {
    if (ticks.length === 0) return Promise.resolve();
    const settled = ticks.map((tick) => new Promise<void>((resolve, reject) => {
      const data = this.encoder.encode(JSON.stringify(tick));
      this.queue.push({
        tick,
        entry: { Data: data, PartitionKey: tick.symbol },
        bytes: data.byteLength + this.encoder.encode(tick.symbol).byteLength,
        attempts: 0,
        settle: (error) => (error === undefined ? resolve() : reject(error)),
      });
    }));
    if (this.queue.length >= Math.min(this.options.batchSize, MAX_RECORDS_PER_PUT)) this.kick(0);
    else this.kick(this.options.batchDelayMs);
    return Promise.all(settled).then(() => undefined);
  }

  /** Resolves when everything queued so far has been put (or has failed for good). */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing !== undefined) {
      this.kick(0);
      await this.flushing;
    }
  }

  private kick(delayMs: number): void {
    if (this.flushing !== undefined) return;
    if (delayMs === 0) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.flushing = this.flushLoop().finally(() => {
        this.flushing = undefined;
        if (this.queue.length > 0) this.kick(0);
      });
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.kick(0);
    }, delayMs);
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let bytes = 0;
      const limit = Math.min(this.options.batchSize, MAX_RECORDS_PER_PUT);
      while (batch.length < limit && this.queue.length > 0 && bytes + this.queue[0]!.bytes <= MAX_BYTES_PER_PUT) {
        const next = this.queue.shift()!;
        bytes += next.bytes;
        batch.push(next);
      }
      await this.put(batch);
    }
  }

  /** One call; records that failed go back to the front of the queue after a backoff, in order. */
  private async put(batch: Pending[]): Promise<void> {
    const maxAttempts = this.options.maxAttempts ?? 8;
    let failed: { pending: Pending; reason: string }[];
    this.stats.calls += 1;
    try {
      const result = await this.options.kinesis.send(new PutRecordsCommand({ StreamName: this.options.streamName, Records: batch.map((pending) => pending.entry) }));
      const entries = result.Records ?? [];
      failed = [];
      batch.forEach((pending, index) => {
        const entry = entries[index];
        if (entry !== undefined && entry.ErrorCode === undefined && entry.SequenceNumber !== undefined) return;
        failed.push({ pending, reason: entry?.ErrorCode === undefined ? 'no result for the record' : `${entry.ErrorCode}: ${entry.ErrorMessage ?? ''}` });
      });
    } catch (error) {
      failed = batch.map((pending) => ({ pending, reason: (error as Error).message }));
    }
    const succeeded = batch.filter((pending) => !failed.some((failure) => failure.pending === pending));
    for (const pending of succeeded) pending.settle();
    this.stats.published += succeeded.length;
    if (succeeded.length > 0) this.options.onPublished?.(succeeded.map((pending) => pending.tick));
    if (failed.length === 0) return;

    const retry: Pending[] = [];
    for (const { pending, reason } of failed) {
      pending.attempts += 1;
      if (pending.attempts >= maxAttempts) {
        this.stats.failed += 1;
        pending.settle(new TickPublishError(`tick ${pending.tick.tickId} not put on ${this.options.streamName} after ${pending.attempts} attempts: ${reason}`));
      } else {
        retry.push(pending);
      }
    }
    if (retry.length === 0) return;
    this.stats.retried += retry.length;
    this.options.log?.(`PutRecords: ${retry.length} of ${batch.length} records failed (${failed[0]!.reason}); retrying`);
    await new Promise((resolve) => setTimeout(resolve, 50 + backoffDelayMs(Math.max(...retry.map((pending) => pending.attempts)) - 1, { initialMs: 100, maxMs: 5_000 })));
    this.queue.unshift(...retry);
  }
}
