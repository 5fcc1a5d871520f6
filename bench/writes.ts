import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { AGGREGATOR_DEFAULTS } from '../contracts/aggregator-settings';
import { planBatch, type ShardState } from '../lambdas/clickstream/core/batch-plan';
import { windowIso, windowStartOf } from '../lambdas/clickstream/core/windowing';
import { ShardStore } from '../lambdas/clickstream/shard-store';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../local/clients';
import { startDynamoDb } from '../local/emulators/dynamodb';
import { DEFAULT_PLAN_SETTINGS, zipfShardRecords } from './workload';

export interface WritesResult {
  scheme: string;
  batchSize?: number;
  events: number;
  /** Write capacity units DynamoDB Local reported consumed (ReturnConsumedCapacity TOTAL), per 1,000 events. */
  wruPer1000: number;
  /** Items written per 1,000 events. */
  itemWritesPer1000: number;
}

const WINDOW_TABLE = 'windows';
const STATE_TABLE = 'state';

async function createTables(client: DynamoDBClient): Promise<void> {
  for (const name of [WINDOW_TABLE, STATE_TABLE, 'baseline']) {
    await client.send(new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }, { AttributeName: 'sk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
    }));
  }
}

/**
 * DynamoDB writes for a Zipf(1.1) workload over 1,000 urls at 1,000 events/s on one shard,
 * measured from the ConsumedCapacity that DynamoDB Local returns for every write the real
 * ShardStore makes, batch by batch as the event source mapping would deliver them; beside one
 * UpdateItem per event and one TransactWriteItems per event (eventId guard + counter, as the AWS
 * exactly-once lab does), each as DynamoDB Local reports it.
 */
export async function benchWrites(batchSizes: readonly number[], events = 120_000, baselineEvents = 2_000): Promise<WritesResult[]> {
  const dynamodb = await startDynamoDb();
  const client = new DynamoDBClient({ endpoint: dynamodb.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  const ddb = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  try {
    await createTables(client);
    const records = zipfShardRecords(events, { rate: 1000, urls: 1000, zipf: 1.1 });
    const results: WritesResult[] = [];
    for (const [run, batchSize] of batchSizes.entries()) {
      const store = new ShardStore(ddb, {
        windowTableName: WINDOW_TABLE,
        stateTableName: STATE_TABLE,
        dedupHorizonMs: AGGREGATOR_DEFAULTS.dedupHorizonSeconds * 1000,
        windowRetentionMs: AGGREGATOR_DEFAULTS.windowRetentionSeconds * 1000,
      });
      // A stream of its own per run, so runs do not share partials.
      const shard = { streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/bench-${run}`, shardId: `shardId-${String(run).padStart(12, '0')}` };
      for (let start = 0; start < records.length; start += batchSize) {
        const batch = records.slice(start, start + batchSize);
        const loaded = await store.load(shard, batch[0]!.approximateArrivalMs);
        const plan = planBatch(batch, loaded.state, DEFAULT_PLAN_SETTINGS, loaded.seenBefore);
        let state: ShardState = loaded.state;
        for (const commit of plan.commits) state = (await store.commit(shard, state, commit)).state;
      }
      results.push({
        scheme: 'Watershed (log entry + shard partials + progress)',
        batchSize,
        events,
        wruPer1000: (store.writes.writeUnits * 1000) / events,
        itemWritesPer1000: (store.writes.items * 1000) / events,
      });
    }

    const sample = records.slice(0, baselineEvents).map((record) => JSON.parse(Buffer.from(record.data, 'base64').toString()) as { eventId: string; url: string; timestamp: string | number });
    let units = 0;
    for (const click of sample) {
      const windowStart = windowIso(windowStartOf(typeof click.timestamp === 'number' ? click.timestamp : Date.parse(click.timestamp)));
      const result = await ddb.send(new UpdateCommand({
        TableName: 'baseline',
        Key: { pk: click.url, sk: windowStart },
        UpdateExpression: 'ADD #count :one',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnConsumedCapacity: 'TOTAL',
      }));
      units += result.ConsumedCapacity?.CapacityUnits ?? 0;
    }
    results.push({ scheme: 'one UpdateItem per event', events: baselineEvents, wruPer1000: (units * 1000) / baselineEvents, itemWritesPer1000: 1000 });

    units = 0;
    for (const click of sample) {
      const windowStart = windowIso(windowStartOf(typeof click.timestamp === 'number' ? click.timestamp : Date.parse(click.timestamp)));
      const result = await ddb.send(new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: 'baseline', Item: { pk: `event#${click.eventId}`, sk: 'seen' }, ConditionExpression: 'attribute_not_exists(pk)' } },
          { Update: { TableName: 'baseline', Key: { pk: `tx#${click.url}`, sk: windowStart }, UpdateExpression: 'ADD #count :one', ExpressionAttributeNames: { '#count': 'count' }, ExpressionAttributeValues: { ':one': 1 } } },
        ],
        ReturnConsumedCapacity: 'TOTAL',
      }));
      units += (result.ConsumedCapacity ?? []).reduce((sum, consumed) => sum + (consumed.CapacityUnits ?? 0), 0);
    }
    results.push({ scheme: 'one TransactWriteItems per event (eventId guard + counter)', events: baselineEvents, wruPer1000: (units * 1000) / baselineEvents, itemWritesPer1000: 2000 });
    return results;
  } finally {
    client.destroy();
    await dynamodb.stop();
  }
}
