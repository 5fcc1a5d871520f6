import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { RecordPosition } from './lag';

export interface StreamTipFollowerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  /** Receives what was put on each shard, in order. */
  readonly onPut: (shardId: string, records: readonly RecordPosition[]) => void;
  /** @default 1000 */
  readonly pollMs?: number;
}

/** GetRecords' own limit; a page this full means more is waiting. */
const PAGE_LIMIT = 10_000;
const MAX_PAGES_PER_POLL = 5;
const SHARD_DISCOVERY_EVERY = 10;

/**
 * Follows the tip of a stream: what producers put, with sequence numbers and arrival times, so the
 * lag from the newest record put to the newest processed can be measured on any engine (neither
 * kinesalite nor kinesis-mock reports a useful MillisBehindLatest). It reads each record once more,
 * from the tip, one GetRecords call per shard per second when idle; the shards that exist when it
 * starts are followed from LATEST, shards that appear later (resharding) from their start.
 */
export class StreamTipFollower {
  private readonly iterators = new Map<string, string | undefined>();
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: StreamTipFollowerOptions) {}

  async start(): Promise<void> {
    await this.discover('LATEST');
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const pollMs = this.options.pollMs ?? 1000;
    for (let round = 1; !this.stopController.signal.aborted; round++) {
      try {
        if (round % SHARD_DISCOVERY_EVERY === 0) await this.discover('TRIM_HORIZON');
        for (const shardId of [...this.iterators.keys()]) await this.pollShard(shardId);
      } catch {
        // The status line is best effort: a failed poll is retried on the next round, and a stop
        // in progress (the engine already gone) must not print anything.
      }
      await this.pause(pollMs);
    }
  }

  /** Waits `ms`, or less when stopped; removes its abort listener either way (one per round would leak). */
  private pause(ms: number): Promise<void> {
    const { signal } = this.stopController;
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async discover(position: 'LATEST' | 'TRIM_HORIZON'): Promise<void> {
    const { kinesis, streamName } = this.options;
    let nextToken: string | undefined;
    do {
      const page = await kinesis.send(new ListShardsCommand(nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken }), { abortSignal: this.stopController.signal });
      for (const shard of page.Shards ?? []) {
        if (this.iterators.has(shard.ShardId!)) continue;
        const { ShardIterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: position }), {
          abortSignal: this.stopController.signal,
        });
        this.iterators.set(shard.ShardId!, ShardIterator);
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
  }

  private async pollShard(shardId: string): Promise<void> {
    for (let page = 0; page < MAX_PAGES_PER_POLL; page++) {
      const iterator = this.iterators.get(shardId);
      if (iterator === undefined) return;
      const result = await this.options.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: PAGE_LIMIT }), { abortSignal: this.stopController.signal });
      // A closed shard read to its end has no next iterator: keep the entry so it is not rediscovered.
      this.iterators.set(shardId, result.NextShardIterator);
      const records = (result.Records ?? []).map((record) => ({
        sequenceNumber: record.SequenceNumber!,
        arrivalMs: record.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
      }));
      if (records.length > 0) this.options.onPut(shardId, records);
      if (records.length < PAGE_LIMIT) return;
    }
  }
}
