import { createHash } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { WINDOW_MS } from '../../contracts/clickstream';
import { deltaBytes, type Commit, type ShardState } from './core/batch-plan';
import { sortableSequence } from './core/sequence';
import { windowIso } from './core/windowing';
import { DedupLedgerCache } from './dedup-ledger';

/** A shard of a stream: sequence numbers are only comparable within one. */
export interface ShardRef {
  streamArn: string;
  shardId: string;
}

export interface ShardStoreConfig {
  windowTableName: string;
  stateTableName: string;
  dedupHorizonMs: number;
}

/** Another invocation committed this shard first; the batch must be retried from the new checkpoint. */
export class CheckpointConflictError extends Error {
  override name = 'CheckpointConflictError';
}

const CHECKPOINT_SORT_KEY = 'checkpoint';
const checkpointKey = (shard: ShardRef) => ({ pk: `checkpoint#${shard.streamArn}#${shard.shardId}`, sk: CHECKPOINT_SORT_KEY });
const ledgerPartition = (shard: ShardRef) => `ledger#${shard.streamArn}#${shard.shardId}`;
const pendingPartition = (shard: ShardRef) => `pending#${shard.streamArn}#${shard.shardId}`;

/** A transaction holds at most 100 items. */
const MAX_TRANSACTION_ITEMS = 100;
/** Window deltas one pending item carries: applying it is its delete plus this many updates. */
export const WINDOWS_PER_PENDING_ITEM = MAX_TRANSACTION_ITEMS - 1;
/** Pending items one commit writes, next to its checkpoint and ledger item. */
export const PENDING_ITEMS_PER_COMMIT = MAX_TRANSACTION_ITEMS - 2;

/** Bytes of deltas one pending item holds, well under DynamoDB's 400 KB item limit. */
const MAX_PENDING_ITEM_BYTES = 300_000;

/** A write-ahead item: window deltas committed with a checkpoint, waiting to be applied. */
interface PendingItem {
  pk: string;
  sk: string;
  /** Stored, so every attempt to apply the item sends identical parameters under its request token. */
  updatedAt: string;
  deltas: PendingDelta[];
}

/** A window delta as a pending item stores it until it is applied. */
interface PendingDelta {
  url: string;
  windowStart: string;
  count: number;
  lateCount: number;
}

export interface LoadedShard {
  state: ShardState;
  seenBefore: (eventId: string) => boolean;
}

/**
 * Reads and commits a shard's aggregation state in DynamoDB. Every commit is one transaction:
 * the window deltas, the ledger item with the commit's eventIds, and the checkpoint, guarded
 * by the checkpoint it started from. A batch is therefore applied entirely or not at all, and
 * a replay skips whatever the checkpoint already covers.
 */
export class ShardStore {
  private readonly ledgers = new Map<string, DedupLedgerCache>();
  /** Counts DynamoDB item writes, so benchmarks and logs can report writes per event. */
  itemWrites = 0;

  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly config: ShardStoreConfig,
  ) {}

  async load(shard: ShardRef, nowMs: number): Promise<LoadedShard> {
    const { Item } = await this.ddb.send(
      new GetCommand({ TableName: this.config.stateTableName, Key: checkpointKey(shard), ConsistentRead: true }),
    );
    const committedLedgerKey = Item?.ledgerKey as string | undefined;
    await this.applyPending(shard);
    const ledger = await this.ledgerUpTo(shard, committedLedgerKey, nowMs);
    const state: ShardState = {
      checkpoint: Item?.sequenceNumber as string | undefined,
      watermarkMs: typeof Item?.watermarkMs === 'number' ? Item.watermarkMs : Number.NEGATIVE_INFINITY,
    };
    return { state, seenBefore: (eventId) => ledger.has(eventId, nowMs) };
  }

  async commit(shard: ShardRef, from: ShardState, commit: Commit, nowMs: number): Promise<ShardState> {
    const shardKey = `${shard.streamArn}#${shard.shardId}`;
    const ledger = this.ledgers.get(shardKey);
    const ledgerKey = commit.eventIds.length > 0 ? sortableSequence(commit.lastSequenceNumber) : ledger?.lastLedgerKey;
    const expiresAtMs = nowMs + this.config.dedupHorizonMs;
    const updatedAt = new Date(nowMs).toISOString();

    const checkpoint = {
      Put: {
        TableName: this.config.stateTableName,
        Item: {
          ...checkpointKey(shard),
          sequenceNumber: commit.lastSequenceNumber,
          watermarkMs: Number.isFinite(commit.watermarkMs) ? commit.watermarkMs : undefined,
          ledgerKey,
          updatedAt,
        },
        ...(from.checkpoint === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'sequenceNumber = :from', ExpressionAttributeValues: { ':from': from.checkpoint } }),
      },
    };
    const ledgerItem = commit.eventIds.length > 0
      ? [{
          Put: {
            TableName: this.config.stateTableName,
            Item: {
              pk: ledgerPartition(shard),
              sk: ledgerKey,
              eventIds: new Set(commit.eventIds),
              expiresAt: Math.ceil(expiresAtMs / 1000),
            },
          },
        }]
      : [];
    // Small commits write their window deltas in the checkpoint's transaction. Larger ones write
    // them ahead as pending items in that transaction, then apply each pending item in its own
    // transaction that also deletes it: the whole batch is pre-aggregated, whatever its size,
    // and a crash in between is rolled forward by the next load.
    const direct = commit.windows.length + 1 + ledgerItem.length <= MAX_TRANSACTION_ITEMS;
    const deltas: PendingDelta[] = commit.windows.map((delta) => ({
      url: delta.url,
      windowStart: windowIso(delta.windowStartMs),
      count: delta.count,
      lateCount: delta.lateCount,
    }));
    const pendingItems: PendingItem[] = [];
    if (!direct) {
      let current: PendingItem | undefined;
      let currentBytes = 0;
      for (const delta of deltas) {
        const bytes = deltaBytes(delta.url);
        if (current === undefined || current.deltas.length === WINDOWS_PER_PENDING_ITEM || currentBytes + bytes > MAX_PENDING_ITEM_BYTES) {
          const index = String(pendingItems.length).padStart(4, '0');
          current = { pk: pendingPartition(shard), sk: `${sortableSequence(commit.lastSequenceNumber)}#${index}`, updatedAt, deltas: [] };
          currentBytes = 0;
          pendingItems.push(current);
        }
        current.deltas.push(delta);
        currentBytes += bytes;
      }
      if (pendingItems.length > PENDING_ITEMS_PER_COMMIT) {
        throw new RangeError(`a commit may be written ahead as ${PENDING_ITEMS_PER_COMMIT} pending items; this one needs ${pendingItems.length} for ${deltas.length} window deltas`);
      }
    }
    const windows = direct
      ? deltas.map((delta) => this.windowUpdate(delta, updatedAt))
      : pendingItems.map((item) => ({ Put: { TableName: this.config.stateTableName, Item: item } }));

    const items = [checkpoint, ...ledgerItem, ...windows];
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: items,
          // The SDK retries lost responses; the token makes such a retry a no-op, not a conflict.
          ClientRequestToken: createHash('sha256').update(`${shardKey}#${commit.lastSequenceNumber}`).digest('hex').slice(0, 36),
        }),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
        this.ledgers.delete(shardKey);
        throw new CheckpointConflictError(
          `checkpoint of ${shard.shardId} moved past ${from.checkpoint ?? 'the start'} while this batch was being committed`,
        );
      }
      throw error;
    }
    this.itemWrites += items.length;
    if (ledger !== undefined && commit.eventIds.length > 0 && ledgerKey !== undefined) {
      ledger.add(ledgerKey, commit.eventIds, expiresAtMs);
    }
    // Pending items touch disjoint window items, so they apply concurrently: one round trip, not one per item.
    // Every apply settles before a failure is thrown, so none is left in flight; the next load applies what failed.
    const applied = await Promise.allSettled(pendingItems.map((item) => this.applyPendingItem(item)));
    const failed = applied.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return { checkpoint: commit.lastSequenceNumber, watermarkMs: commit.watermarkMs };
  }

  private windowUpdate(delta: PendingDelta, updatedAt: string) {
    return {
      Update: {
        TableName: this.config.windowTableName,
        Key: { url: delta.url, windowStart: delta.windowStart },
        UpdateExpression: 'ADD #count :count, lateCount :late SET windowEnd = :end, updatedAt = :now',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: {
          ':count': delta.count,
          ':late': delta.lateCount,
          ':end': windowIso(Date.parse(delta.windowStart) + WINDOW_MS),
          ':now': updatedAt,
        },
      },
    };
  }

  /**
   * Adds a pending item's deltas to the window table and deletes it, in one transaction. Its
   * delete is conditional, so when two invocations roll the same item forward only one applies it.
   */
  private async applyPendingItem(item: PendingItem): Promise<void> {
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            { Delete: { TableName: this.config.stateTableName, Key: { pk: item.pk, sk: item.sk }, ConditionExpression: 'attribute_exists(pk)' } },
            ...item.deltas.map((delta) => this.windowUpdate(delta, item.updatedAt)),
          ],
          ClientRequestToken: createHash('sha256').update(`${item.pk}#${item.sk}`).digest('hex').slice(0, 36),
        }),
      );
      this.itemWrites += 1 + item.deltas.length;
    } catch (error) {
      if (error instanceof TransactionCanceledException && error.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') return;
      throw error;
    }
  }

  /** Rolls forward pending items a crashed invocation committed but did not apply. */
  private async applyPending(shard: ShardRef): Promise<void> {
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.config.stateTableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pendingPartition(shard) },
          ConsistentRead: true,
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        await this.applyPendingItem(item as PendingItem);
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
  }

  /** Brings the shard's ledger cache up to the ledger item the checkpoint names. */
  private async ledgerUpTo(shard: ShardRef, committedLedgerKey: string | undefined, nowMs: number): Promise<DedupLedgerCache> {
    const shardKey = `${shard.streamArn}#${shard.shardId}`;
    let ledger = this.ledgers.get(shardKey);
    if (ledger !== undefined && ledger.lastLedgerKey !== undefined && committedLedgerKey !== undefined && ledger.lastLedgerKey > committedLedgerKey) {
      ledger = undefined; // Our cache saw commits the checkpoint does not: it cannot be trusted.
    }
    if (ledger === undefined) {
      ledger = new DedupLedgerCache();
      this.ledgers.set(shardKey, ledger);
    }
    ledger.evictExpired(nowMs);
    if (committedLedgerKey === undefined || ledger.lastLedgerKey === committedLedgerKey) return ledger;

    // Fixed for every page: ledger.add moves lastLedgerKey, and a page's ExclusiveStartKey must lie inside the key condition.
    const after = ledger.lastLedgerKey;
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.ddb.send(
        new QueryCommand({
          TableName: this.config.stateTableName,
          KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
          FilterExpression: 'expiresAt > :now',
          ExpressionAttributeValues: {
            ':pk': ledgerPartition(shard),
            ':now': Math.floor(nowMs / 1000),
            ...(after === undefined ? {} : { ':after': after }),
          },
          ConsistentRead: true,
          ExclusiveStartKey: exclusiveStartKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const eventIds = item.eventIds instanceof Set ? [...(item.eventIds as Set<string>)] : [];
        ledger.add(item.sk as string, eventIds, (item.expiresAt as number) * 1000);
      }
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
    // Expired items are filtered out, so the cache may end before the committed key: mark it read.
    ledger.lastLedgerKey = committedLedgerKey;
    return ledger;
  }
}
