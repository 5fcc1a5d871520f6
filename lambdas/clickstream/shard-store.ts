import { ConditionalCheckFailedException, type ConsumedCapacity } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  minutePartition,
  PARTIAL_CHUNK_BYTES,
  partialSortKey,
  PARTIAL_SORT_KEY_PREFIX,
  recoveryPartialSortKey,
  SHARDS_PARTITION,
  ShardProgressItem,
  WINDOW_MS,
} from '../../contracts/clickstream';
import type { BehindCheckpoint, Commit, ShardState, WindowDelta } from './core/batch-plan';
import type { CommitOutcome, RecoveryOutcome } from './core/shard-batch';
import { decodeFingerprints, FingerprintLedger } from './core/ledger';
import { behindCheckpointFrom, logEntryFromItem, logEntryItem, type LogEntry } from './core/log-entry';
import { chunkFromCounts, planChunkWrites, withWrites, type ShardMinute } from './core/partials';
import { compareSequenceNumbers, sortableSequence } from './core/sequence';
import { windowIso } from './core/windowing';

/** A shard of a stream: sequence numbers are only comparable within one. */
export interface ShardRef {
  streamArn: string;
  shardId: string;
}

/**
 * Where a shard came from: the one shard a split closed to open it, or the two a merge closed
 * (Kinesis ListShards' ParentShardId and AdjacentParentShardId). The Kinesis event carries only the
 * shard's own id, so the store asks; lambdas/clickstream/shard-lineage.ts asks Kinesis.
 */
export interface ShardLineage {
  parentsOf(shard: ShardRef): Promise<readonly string[]>;
}

export interface ShardStoreConfig {
  windowTableName: string;
  stateTableName: string;
  dedupHorizonMs: number;
  /** How long window items are kept after their window ends (their TTL). */
  windowRetentionMs: number;
  /**
   * Shards whose ledger and partials one container keeps in memory; the least recently used is
   * dropped beyond this (and read again if its shard comes back). Bounds memory per container.
   * @default 4
   */
  maxCachedShards?: number;
  /**
   * The shards' parents. A producer re-send after a split or merge lands on a child shard, so a
   * shard's ledger also holds its ancestors' eventIds within the horizon (read when its ledger is
   * read whole: a shard's first load in a container). Kinesis drains parents before children, so
   * their log is complete by then.
   * @default - no shard has parents: re-sends that cross a reshard are counted again
   */
  lineage?: ShardLineage;
  /**
   * Log entries per Query page when a ledger is read; a whole read stops at the first page that
   * reaches past the horizon, so this bounds what it reads beyond the horizon.
   * @default 1000 (DynamoDB's 1 MB page limit usually binds first)
   */
  ledgerPageEntries?: number;
}

/** The shard's progress moved in a way no invocation of this design can cause. */
export class ShardStateError extends Error {
  override name = 'ShardStateError';
}

export interface LoadedShard {
  state: ShardState;
  seenBefore: (eventFingerprint: number) => boolean;
}

interface ShardCache {
  ledger: FingerprintLedger;
  /** The checkpoint the ledger holds every fingerprint up to; undefined when it must be read afresh. */
  ledgerThrough: string | undefined;
  ledgerRead: boolean;
  minutes: Map<number, ShardMinute>;
}

const logPartition = (shard: ShardRef) => `log#${shard.streamArn}#${shard.shardId}`;
/** Log entries are keyed by the checkpoint they start after; a shard's first one by zeros. */
const logSortKey = (from: string | undefined) => sortableSequence(from ?? '0');
/**
 * Recovery entries are keyed by their first record, which lies where no step starts (the mapping
 * skipped it); the suffix keeps them apart from the chain anyway, and sorts them by that record.
 */
const recoverySortKey = (first: string) => `${sortableSequence(first)}#recovery`;
const isConditionFailure = (error: unknown) =>
  error instanceof ConditionalCheckFailedException || (error as Error | undefined)?.name === 'ConditionalCheckFailedException';

/**
 * A whole ledger read goes newest first and stops at an entry whose horizon ended this long ago.
 * Log entries are kept a day past their horizon (to roll forward), so reading them all would read
 * a day of entries; arrival times only grow with sequence numbers to within milliseconds, so every
 * older entry has expired too.
 */
const LEDGER_STOP_AFTER_EXPIRY_MS = 60_000;

/** Minutes of partials a shard keeps cached; older ones are read again if a late event needs them. */
const CACHED_MINUTES = 10;

/**
 * Reads and commits a shard's aggregation state. No transactions, and no item another shard
 * writes: a commit is three conditional writes, each idempotent, so a retry, a crash between
 * them, or a racing invocation always converges on the same items.
 *
 * 1. The **log entry** (state table, keyed by the checkpoint it starts after; the commit point):
 *    the step's deltas and eventId fingerprints, written only if no entry from that checkpoint
 *    exists. The loser of a race learns it here and stops (`superseded`), which is an outcome,
 *    not an error.
 * 2. The shard's **partials** for each minute the step touches (window table), each chunk written
 *    whole on condition that it still holds the sequence number it was read with.
 * 3. The shard's **progress** (window table, `pk = shards`): the checkpoint and watermark, on
 *    condition that it still names the checkpoint the step started from.
 *
 * A step whose entry exists but whose progress does not cover it yet is rolled forward (2 and 3)
 * by whoever loads the shard next; and, at every cold start and every new shard's first load, for
 * all shards of the stream, so an entry is never stranded by a shard that closed or a batch the
 * event source mapping gave up on.
 */
export class ShardStore {
  private readonly caches = new Map<string, ShardCache>();
  private swept = false;
  /** Item writes and write capacity DynamoDB reported consumed, for benchmarks and logs. */
  readonly writes = { items: 0, writeUnits: 0 };

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly config: ShardStoreConfig,
  ) {}

  async load(shard: ShardRef, nowMs: number): Promise<LoadedShard> {
    let progress = await this.readProgress(shard);
    if (!this.swept || progress === undefined) {
      // A new shard's parents drained before it started, and a cold container may follow one that
      // died mid-commit: finish every shard's last step before counting on top of any of them.
      this.swept = true;
      await this.rollForwardStream(shard.streamArn);
      progress = await this.readProgress(shard);
    }
    progress = await this.rollForward(shard, progress);
    const cache = this.cacheFor(shard);
    await this.catchUpLedger(shard, cache, progress?.sequenceNumber, nowMs);
    const state: ShardState = {
      checkpoint: progress?.sequenceNumber,
      watermarkMs: progress?.watermarkMs ?? Number.NEGATIVE_INFINITY,
    };
    return { state, seenBefore: (eventFingerprint) => cache.ledger.has(eventFingerprint, nowMs) };
  }

  async commit(shard: ShardRef, from: ShardState, commit: Commit): Promise<CommitOutcome> {
    const entry = this.logEntryOf(commit, { after: from.checkpoint });
    const written = await this.writeLogEntry(shard, entry);
    const cache = this.cacheFor(shard);
    if (written.to !== entry.to) {
      // Another invocation committed from this checkpoint first. Finish its step and stop here;
      // the records after it are retried from its end.
      await this.apply(shard, written);
      await this.advanceProgress(shard, written);
      cache.ledgerThrough = undefined;
      cache.ledgerRead = false;
      return { status: 'superseded', state: { checkpoint: written.to, watermarkMs: written.watermarkMs } };
    }
    await this.apply(shard, entry);
    await this.advanceProgress(shard, entry);
    if (cache.ledgerRead && cache.ledgerThrough === from.checkpoint) {
      cache.ledger.add(entry.fingerprints, entry.dedupUntilMs);
      cache.ledgerThrough = entry.to;
    }
    return { status: 'committed', state: { checkpoint: entry.to, watermarkMs: entry.watermarkMs } };
  }

  /**
   * What became of the shard's records from `low` to `high`, both at or behind the checkpoint: the
   * log entries that reach them, read newest first down to the step that starts before `low`. Only
   * a retry or a replay delivers such records, so a batch in order never pays this read.
   */
  async behindCheckpoint(shard: ShardRef, low: string, high: string): Promise<BehindCheckpoint> {
    const entries: Pick<LogEntry, 'from' | 'first' | 'to' | 'recovery'>[] = [];
    let exclusiveStartKey: Record<string, unknown> | undefined;
    read: do {
      const page = await this.ddb.send(new QueryCommand({
        TableName: this.config.stateTableName,
        KeyConditionExpression: 'pk = :pk AND sk <= :upper',
        // '~' sorts after the digits and '#recovery': a recovery entry keyed by `high` is included.
        ExpressionAttributeValues: { ':pk': logPartition(shard), ':upper': `${sortableSequence(high)}~` },
        ProjectionExpression: '#from, #first, #to, recovery',
        ExpressionAttributeNames: { '#from': 'from', '#first': 'first', '#to': 'to' },
        ScanIndexForward: false,
        Limit: 100,
        ConsistentRead: true,
        ExclusiveStartKey: exclusiveStartKey,
      }));
      for (const item of page.Items ?? []) {
        const entry = { from: item.from as string | undefined, first: item.first as string | undefined, to: item.to as string, recovery: item.recovery === true };
        entries.push(entry);
        if (!entry.recovery && (entry.from === undefined || compareSequenceNumbers(entry.from, low) < 0)) break read;
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
    return behindCheckpointFrom(entries);
  }

  /**
   * Commits a recovery step: records the mapping skipped, brought back by a replay. Its entry is keyed
   * by its first record and written once, then its counts go to recovered partials, each written
   * once; the checkpoint and watermark stay. A second replay of the same records finds the entry and
   * only completes what a crash left unwritten.
   */
  async recover(shard: ShardRef, step: Commit): Promise<RecoveryOutcome> {
    const entry = this.logEntryOf(step, 'recovery');
    const sortKey = recoverySortKey(step.firstSequenceNumber);
    let standing = entry;
    try {
      await this.put(this.config.stateTableName, logEntryItem(logPartition(shard), sortKey, entry), 'attribute_not_exists(pk)');
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const found = await this.readLogItem(shard, sortKey);
      if (found === undefined) throw new ShardStateError(`recovery entry of ${shard.shardId} at ${step.firstSequenceNumber} vanished`);
      standing = found;
    }
    await this.applyRecovery(shard, standing);
    // A warm container of this shard remembers the recovered eventIds (others read them on a whole read).
    const cache = this.caches.get(`${shard.streamArn}#${shard.shardId}`);
    if (cache?.ledgerRead === true) cache.ledger.add(standing.fingerprints, standing.dedupUntilMs);
    return standing.to === entry.to ? { status: 'committed' } : { status: 'superseded', lastSequenceNumber: standing.to };
  }

  /** Writes a recovery entry's counts, one item per chunk of each minute, each only if absent. */
  private async applyRecovery(shard: ShardRef, entry: LogEntry): Promise<void> {
    const byMinute = new Map<number, WindowDelta[]>();
    for (const delta of entry.windows) byMinute.set(delta.windowStartMs, [...(byMinute.get(delta.windowStartMs) ?? []), delta]);
    const writes: Promise<void>[] = [];
    for (const [windowStartMs, deltas] of byMinute) {
      const windowStart = windowIso(windowStartMs);
      for (const [chunk, chunkDeltas] of chunksOf(deltas).entries()) {
        const item = {
          pk: minutePartition(windowStart),
          sk: recoveryPartialSortKey(shard.shardId, entry.first!, chunk),
          windowStart,
          windowEnd: windowIso(windowStartMs + WINDOW_MS),
          shardId: shard.shardId,
          chunk,
          counts: Object.fromEntries(chunkDeltas.filter((delta) => delta.count > 0).map((delta) => [delta.url, delta.count])),
          lateCounts: Object.fromEntries(chunkDeltas.filter((delta) => delta.lateCount > 0).map((delta) => [delta.url, delta.lateCount])),
          seq: sortableSequence(entry.to),
          expiresAt: Math.ceil((windowStartMs + WINDOW_MS + this.config.windowRetentionMs) / 1000),
        };
        writes.push(this.put(this.config.windowTableName, item, 'attribute_not_exists(pk)').catch((error: unknown) => {
          // Written by an earlier replay of the same records: nothing to add.
          if (!isConditionFailure(error)) throw error;
        }));
      }
    }
    const results = await Promise.allSettled(writes);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /** Writes the entry unless one from the same checkpoint exists; returns the entry that stands. */
  private async writeLogEntry(shard: ShardRef, entry: LogEntry): Promise<LogEntry> {
    try {
      await this.put(this.config.stateTableName, logEntryItem(logPartition(shard), logSortKey(entry.from), entry), 'attribute_not_exists(pk)');
      return entry;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const standing = await this.readLogEntry(shard, entry.from);
      if (standing === undefined) throw new ShardStateError(`log entry of ${shard.shardId} after ${entry.from ?? 'the start'} vanished`);
      return standing;
    }
  }

  private readLogEntry(shard: ShardRef, from: string | undefined): Promise<LogEntry | undefined> {
    return this.readLogItem(shard, logSortKey(from));
  }

  private async readLogItem(shard: ShardRef, sortKey: string): Promise<LogEntry | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.config.stateTableName, Key: { pk: logPartition(shard), sk: sortKey }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : logEntryFromItem(Item);
  }

  /** The log entry of a step: one that moves the checkpoint on from `after`, or a recovery step (which moves nothing). */
  private logEntryOf(step: Commit, kind: { after: string | undefined } | 'recovery'): LogEntry {
    const recovery = kind === 'recovery';
    return {
      from: recovery ? undefined : kind.after,
      first: step.firstSequenceNumber,
      to: step.lastSequenceNumber,
      recovery,
      watermarkMs: recovery ? Number.NEGATIVE_INFINITY : step.watermarkMs,
      windows: step.windows,
      fingerprints: this.config.dedupHorizonMs > 0 ? step.fingerprints : [],
      dedupUntilMs: step.lastArrivalMs + this.config.dedupHorizonMs,
    };
  }


  /** Adds the entry's deltas to the shard's partials, minute by minute, concurrently. */
  private async apply(shard: ShardRef, entry: LogEntry): Promise<void> {
    const byMinute = new Map<number, LogEntry['windows']>();
    for (const delta of entry.windows) {
      const list = byMinute.get(delta.windowStartMs) ?? [];
      list.push(delta);
      byMinute.set(delta.windowStartMs, list);
    }
    const results = await Promise.allSettled([...byMinute].map(([windowStartMs, deltas]) => this.applyToMinute(shard, windowStartMs, deltas, entry.to)));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  private async applyToMinute(shard: ShardRef, windowStartMs: number, deltas: LogEntry['windows'], to: string): Promise<void> {
    const cache = this.cacheFor(shard);
    const sortableTo = sortableSequence(to);
    for (let attempt = 0; ; attempt++) {
      const minute = cache.minutes.get(windowStartMs) ?? (await this.readMinute(shard, windowStartMs));
      const { writes, previousSeq } = planChunkWrites(minute, deltas, sortableTo);
      try {
        await Promise.all(writes.map((chunk) => {
          const previous = previousSeq.get(chunk.chunk);
          const windowStart = windowIso(windowStartMs);
          return this.put(
            this.config.windowTableName,
            {
              pk: minutePartition(windowStart),
              sk: partialSortKey(shard.shardId, chunk.chunk),
              windowStart,
              windowEnd: windowIso(windowStartMs + WINDOW_MS),
              shardId: shard.shardId,
              chunk: chunk.chunk,
              counts: Object.fromEntries(chunk.counts),
              lateCounts: Object.fromEntries(chunk.lateCounts),
              seq: chunk.seq,
              expiresAt: Math.ceil((windowStartMs + WINDOW_MS + this.config.windowRetentionMs) / 1000),
            },
            previous === undefined ? 'attribute_not_exists(pk)' : 'seq = :previous',
            previous === undefined ? undefined : { ':previous': previous },
          );
        }));
        this.rememberMinute(cache, withWrites(minute, writes));
        return;
      } catch (error) {
        // Someone else wrote one of these chunks (a racing invocation or a roll-forward, or our own
        // write whose response was lost): read what stands and apply what is still missing.
        cache.minutes.delete(windowStartMs);
        if (!isConditionFailure(error) || attempt >= 5) throw error;
      }
    }
  }

  private rememberMinute(cache: ShardCache, minute: ShardMinute): void {
    cache.minutes.delete(minute.windowStartMs);
    cache.minutes.set(minute.windowStartMs, minute);
    while (cache.minutes.size > CACHED_MINUTES) cache.minutes.delete(cache.minutes.keys().next().value!);
  }

  private async readMinute(shard: ShardRef, windowStartMs: number): Promise<ShardMinute> {
    const chunks = [];
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(new QueryCommand({
        TableName: this.config.windowTableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': minutePartition(windowIso(windowStartMs)), ':prefix': `${PARTIAL_SORT_KEY_PREFIX}${shard.shardId}#` },
        ConsistentRead: true,
        ExclusiveStartKey: exclusiveStartKey,
      }));
      for (const item of page.Items ?? []) {
        chunks.push(chunkFromCounts(item.chunk as number, item.counts as Record<string, number>, item.lateCounts as Record<string, number>, item.seq as string));
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
    return { windowStartMs, chunks: chunks.sort((a, b) => a.chunk - b.chunk) };
  }

  private async advanceProgress(shard: ShardRef, entry: LogEntry): Promise<void> {
    try {
      await this.put(
        this.config.windowTableName,
        {
          pk: SHARDS_PARTITION,
          sk: shard.shardId,
          streamArn: shard.streamArn,
          sequenceNumber: entry.to,
          ...(Number.isFinite(entry.watermarkMs) ? { watermarkMs: entry.watermarkMs } : {}),
        },
        entry.from === undefined ? 'attribute_not_exists(pk)' : 'sequenceNumber = :from',
        entry.from === undefined ? undefined : { ':from': entry.from },
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const progress = await this.readProgress(shard);
      // Someone else finished this step already (a racer, a roll-forward, or our own lost response).
      if (progress !== undefined && compareSequenceNumbers(progress.sequenceNumber, entry.to) >= 0) return;
      throw new ShardStateError(`progress of ${shard.shardId} is at ${progress?.sequenceNumber ?? 'the start'}, neither ${entry.from ?? 'the start'} nor past ${entry.to}`);
    }
  }

  private async readProgress(shard: ShardRef): Promise<ShardProgressItem | undefined> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.config.windowTableName, Key: { pk: SHARDS_PARTITION, sk: shard.shardId }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : ShardProgressItem.parse(Item);
  }

  /** Applies every committed step the progress does not cover yet. */
  private async rollForward(shard: ShardRef, progress: ShardProgressItem | undefined): Promise<ShardProgressItem | undefined> {
    for (;;) {
      const pending = await this.readLogEntry(shard, progress?.sequenceNumber);
      if (pending === undefined) return progress;
      await this.apply(shard, pending);
      await this.advanceProgress(shard, pending);
      progress = await this.readProgress(shard);
    }
  }

  private async rollForwardStream(streamArn: string): Promise<void> {
    const page = await this.ddb.send(new QueryCommand({
      TableName: this.config.windowTableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': SHARDS_PARTITION },
      ConsistentRead: true,
    }));
    for (const item of page.Items ?? []) {
      const progress = ShardProgressItem.parse(item);
      if (progress.streamArn !== streamArn) continue;
      await this.rollForward({ streamArn, shardId: progress.sk }, progress);
    }
  }

  /**
   * Brings the shard's ledger up to the checkpoint: a warm container reads only the newer entries;
   * a whole read also takes in the entries of the shard's ancestors (see `lineage`).
   */
  private async catchUpLedger(shard: ShardRef, cache: ShardCache, checkpoint: string | undefined, nowMs: number): Promise<void> {
    cache.ledger.evictExpired(nowMs);
    if (cache.ledgerRead && cache.ledgerThrough === checkpoint) return;
    const incremental = cache.ledgerRead && cache.ledgerThrough !== undefined && checkpoint !== undefined &&
      compareSequenceNumbers(cache.ledgerThrough, checkpoint) < 0;
    if (!incremental) {
      cache.ledger = new FingerprintLedger();
      if (this.config.dedupHorizonMs > 0) {
        for (const ancestor of await this.ancestorsOf(shard)) await this.readLedger(ancestor, undefined, nowMs, cache.ledger);
      }
    }
    await this.readLedger(shard, incremental ? cache.ledgerThrough : undefined, nowMs, cache.ledger);
    cache.ledgerThrough = checkpoint;
    cache.ledgerRead = true;
  }

  /**
   * Adds the shard's unexpired log entries to the ledger: those from `after` on (oldest first), or,
   * for a whole read, newest first until the entries are older than the horizon.
   */
  private async readLedger(shard: ShardRef, after: string | undefined, nowMs: number, ledger: FingerprintLedger): Promise<void> {
    const whole = after === undefined;
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(new QueryCommand({
        TableName: this.config.stateTableName,
        KeyConditionExpression: whole ? 'pk = :pk' : 'pk = :pk AND sk >= :after',
        ProjectionExpression: 'fingerprints, dedupUntilMs, recovery',
        ExpressionAttributeValues: { ':pk': logPartition(shard), ...(whole ? {} : { ':after': logSortKey(after) }) },
        ScanIndexForward: !whole,
        Limit: this.config.ledgerPageEntries ?? 1000,
        ConsistentRead: true,
        ExclusiveStartKey: exclusiveStartKey,
      }));
      for (const item of page.Items ?? []) {
        const dedupUntilMs = item.dedupUntilMs as number;
        if (dedupUntilMs > nowMs) ledger.add(decodeFingerprints(item.fingerprints as Uint8Array), dedupUntilMs);
        // A recovery entry sits among older steps (keyed by the skipped record) but its records may
        // have expired long before the next step's: only a step's expiry says the rest has expired.
        else if (whole && item.recovery !== true && dedupUntilMs <= nowMs - LEDGER_STOP_AFTER_EXPIRY_MS) return;
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
  }

  /**
   * Parents, their parents and so on, as far as the lineage knows them (Kinesis lists closed shards
   * for the stream's retention): a re-send can cross more than one reshard within the horizon.
   */
  private async ancestorsOf(shard: ShardRef): Promise<ShardRef[]> {
    const lineage = this.config.lineage;
    if (lineage === undefined) return [];
    const ancestors: ShardRef[] = [];
    const seen = new Set([shard.shardId]);
    for (let queue: ShardRef[] = [shard]; queue.length > 0;) {
      const next: ShardRef[] = [];
      for (const child of queue) {
        for (const shardId of await lineage.parentsOf(child)) {
          if (seen.has(shardId)) continue;
          seen.add(shardId);
          const parent = { streamArn: shard.streamArn, shardId };
          ancestors.push(parent);
          next.push(parent);
        }
      }
      queue = next;
    }
    return ancestors;
  }

  /** The shard's cache, most recently used last; the least recently used shard is dropped past the limit. */
  private cacheFor(shard: ShardRef): ShardCache {
    const key = `${shard.streamArn}#${shard.shardId}`;
    let cache = this.caches.get(key);
    if (cache === undefined) cache = { ledger: new FingerprintLedger(), ledgerThrough: undefined, ledgerRead: false, minutes: new Map() };
    this.caches.delete(key);
    this.caches.set(key, cache);
    while (this.caches.size > (this.config.maxCachedShards ?? 4)) this.caches.delete(this.caches.keys().next().value!);
    return cache;
  }

  /** Cached shards and the fingerprint bytes they hold: what the memory bound is about. */
  cacheStats(): { shards: number; ledgerBytes: number } {
    let ledgerBytes = 0;
    for (const cache of this.caches.values()) ledgerBytes += cache.ledger.bytes;
    return { shards: this.caches.size, ledgerBytes };
  }

  private async put(tableName: string, item: Record<string, unknown>, condition: string, values?: Record<string, unknown>): Promise<void> {
    const result = await this.ddb.send(new PutCommand({
      TableName: tableName,
      Item: item,
      ConditionExpression: condition,
      ...(values === undefined ? {} : { ExpressionAttributeValues: values }),
      ReturnConsumedCapacity: 'TOTAL',
    }));
    this.writes.items += 1;
    this.writes.writeUnits += capacityOf(result?.ConsumedCapacity);
  }
}

/** Deltas split into chunks of at most PARTIAL_CHUNK_BYTES of urls, in their stored order. */
function chunksOf(deltas: readonly WindowDelta[]): WindowDelta[][] {
  const chunks: WindowDelta[][] = [[]];
  let bytes = 0;
  for (const delta of deltas) {
    const deltaBytes = Buffer.byteLength(delta.url) + 4;
    if (bytes + deltaBytes > PARTIAL_CHUNK_BYTES && chunks.at(-1)!.length > 0) {
      chunks.push([]);
      bytes = 0;
    }
    chunks.at(-1)!.push(delta);
    bytes += deltaBytes;
  }
  return chunks;
}

const capacityOf = (consumed: ConsumedCapacity | undefined): number => consumed?.CapacityUnits ?? 0;
