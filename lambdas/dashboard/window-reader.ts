import { paginateScan, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ClickWindowItem } from '../../contracts/clickstream';
import type { WindowImage } from './core/windows';

/** The attributes a snapshot needs, validated with the window table's contract. */
const SnapshotWindowItem = ClickWindowItem.pick({ url: true, windowStart: true, windowEnd: true, count: true, lateCount: true });

export interface WindowScan {
  readonly windows: WindowImage[];
  /** Items that failed the ClickWindowItem contract; counted and logged by the caller. */
  readonly invalid: number;
}

/**
 * Every window whose start is at or after `cutoff`, for a snapshot.
 *
 * A Scan with a filter, not a Query: the table's key is (url, windowStart), so "all URLs of the
 * last 30 minutes" has no key to query by. A GSI keyed by windowStart would turn this into 30
 * Queries, but it would put every write of a minute on one GSI partition (the hottest key in the
 * stack, throttling back into the aggregator's transactions) and is not this construct's table to
 * change. The Scan reads the whole table on each subscribe (one per tab opened), which is cheap
 * while the table is small; windows are never deleted today, so its cost grows with history.
 * A TTL on window items (retention beyond DASHBOARD_HISTORY_MINUTES) would bound it.
 */
export async function scanWindowsSince(ddb: DynamoDBDocumentClient, tableName: string, cutoff: string): Promise<WindowScan> {
  const windows: WindowImage[] = [];
  let invalid = 0;
  const pages = paginateScan(
    { client: ddb },
    {
      TableName: tableName,
      FilterExpression: 'windowStart >= :cutoff',
      ProjectionExpression: '#url, windowStart, windowEnd, #count, lateCount',
      ExpressionAttributeNames: { '#url': 'url', '#count': 'count' },
      ExpressionAttributeValues: { ':cutoff': cutoff },
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const parsed = SnapshotWindowItem.safeParse(item);
      if (parsed.success) windows.push(parsed.data);
      else invalid++;
    }
  }
  return { windows, invalid };
}
