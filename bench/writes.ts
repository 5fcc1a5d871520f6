import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { planBatch, type ShardState } from '../lambdas/clickstream/core/batch-plan';
import { ShardStore } from '../lambdas/clickstream/shard-store';
import { DEFAULT_PLAN_SETTINGS, zipfShardRecords } from './workload';

export interface WritesResult {
  batchSize: number;
  events: number;
  /** Items written (window updates, checkpoints, ledger and pending items) per 1,000 events. */
  itemWritesPer1000: number;
  windowWritesPer1000: number;
  /** TransactWriteItems requests per 1,000 events. */
  requestsPer1000: number;
  /** Write capacity units: transactional writes cost 2 WCU per started KB of item. */
  wcuPer1000: number;
  /** One UpdateItem per event: 1,000 item writes, requests and WCU per 1,000 events. */
  reduction: number;
}

/** Bytes of an item as DynamoDB sizes it, closely enough: attribute names plus values. */
function itemBytes(item: unknown): number {
  return Buffer.byteLength(JSON.stringify(item, (_key, value: unknown) => (value instanceof Set ? [...value] : value)));
}

/**
 * Runs the real ShardStore over a recording client that accepts every write, so the counts are
 * exactly what the aggregator sends for this workload, with no emulator noise in between.
 */
function recordingClient() {
  const totals = { requests: 0, items: 0, windowItems: 0, wcu: 0 };
  const client = {
    send: async (command: { input: Record<string, unknown>; constructor: { name: string } }) => {
      if (command.constructor.name !== 'TransactWriteCommand') return { Items: [] };
      totals.requests += 1;
      for (const entry of command.input.TransactItems as Record<string, { Item?: unknown; Key?: unknown; ExpressionAttributeValues?: unknown }>[]) {
        const [kind, operation] = Object.entries(entry)[0]!;
        totals.items += 1;
        if (kind === 'Update') totals.windowItems += 1;
        const bytes = itemBytes(operation.Item ?? { ...(operation.Key as object), ...(operation.ExpressionAttributeValues as object) });
        totals.wcu += 2 * Math.max(1, Math.ceil(bytes / 1024));
      }
      return {};
    },
  };
  return { client: client as unknown as DynamoDBDocumentClient, totals };
}

/**
 * DynamoDB writes the aggregator makes for a Zipf(1.1) workload over 1,000 URLs at 1,000 events/s,
 * delivered in batches of `batchSize` (what the event source mapping hands one invocation).
 */
export async function benchWrites(batchSize: number, events = 120_000): Promise<WritesResult> {
  const records = zipfShardRecords(events, { rate: 1000, urls: 1000, zipf: 1.1 });
  const { client, totals } = recordingClient();
  const store = new ShardStore(client, { windowTableName: 'windows', stateTableName: 'state', dedupHorizonMs: 900_000 });
  const shard = { streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks', shardId: 'shardId-000000000000' };
  let state: ShardState = { watermarkMs: Number.NEGATIVE_INFINITY };
  const now = Date.parse('2026-01-01T00:00:00Z');
  for (let start = 0; start < records.length; start += batchSize) {
    const loaded = await store.load(shard, now);
    const plan = planBatch(records.slice(start, start + batchSize), state, DEFAULT_PLAN_SETTINGS, loaded.seenBefore);
    for (const commit of plan.commits) state = await store.commit(shard, state, commit, now);
  }
  const per1000 = (value: number) => (value * 1000) / events;
  return {
    batchSize,
    events,
    itemWritesPer1000: per1000(totals.items),
    windowWritesPer1000: per1000(totals.windowItems),
    requestsPer1000: per1000(totals.requests),
    wcuPer1000: per1000(totals.wcu),
    reduction: 1000 / per1000(totals.items),
  };
}
