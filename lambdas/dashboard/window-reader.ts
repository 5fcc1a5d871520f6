import { paginateQuery, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  minutePartition,
  PARTIAL_SORT_KEY_PREFIX,
  SHARDS_PARTITION,
  ShardPartialItem,
  ShardProgressItem,
  streamWatermark,
  sumPartials,
  type ClickWindowCount,
} from '../../contracts/clickstream';

export interface WindowRead {
  /** Totals across shards per (url, window). */
  readonly windows: ClickWindowCount[];
  /** Items that failed the ShardPartialItem contract; counted and logged by the caller. */
  readonly invalid: number;
}

/**
 * The totals of the given minutes: one strongly consistent Query per minute partition, summing the
 * shards' partials (README, "The window table"). Reads what those minutes hold and nothing else,
 * however much history the table keeps.
 */
export async function readMinutes(ddb: DynamoDBDocumentClient, tableName: string, windowStarts: readonly string[]): Promise<WindowRead> {
  const reads = await Promise.all(windowStarts.map(async (windowStart) => {
    const partials: ShardPartialItem[] = [];
    let invalid = 0;
    const pages = paginateQuery({ client: ddb }, {
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': minutePartition(windowStart), ':prefix': PARTIAL_SORT_KEY_PREFIX },
      ConsistentRead: true,
    });
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const parsed = ShardPartialItem.safeParse(item);
        if (parsed.success) partials.push(parsed.data);
        else invalid++;
      }
    }
    return { windows: sumPartials(partials), invalid };
  }));
  return { windows: reads.flatMap((read) => read.windows), invalid: reads.reduce((sum, read) => sum + read.invalid, 0) };
}

/** The stream's watermark: the minimum over the shards' committed watermarks (one Query). */
export async function readStreamWatermark(ddb: DynamoDBDocumentClient, tableName: string): Promise<number> {
  const shards: ShardProgressItem[] = [];
  const pages = paginateQuery({ client: ddb }, {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': SHARDS_PARTITION },
    ConsistentRead: true,
  });
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const parsed = ShardProgressItem.safeParse(item);
      if (parsed.success) shards.push(parsed.data);
    }
  }
  return streamWatermark(shards);
}

/** A snapshot's reads: the given minutes and the watermark that decides which are final. */
export async function readSnapshot(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  windowStarts: readonly string[],
): Promise<WindowRead & { streamWatermarkMs: number }> {
  const [read, streamWatermarkMs] = await Promise.all([readMinutes(ddb, tableName, windowStarts), readStreamWatermark(ddb, tableName)]);
  return { ...read, streamWatermarkMs };
}
