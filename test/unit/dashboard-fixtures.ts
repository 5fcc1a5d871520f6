import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { AttributeValue, Context, DynamoDBRecord } from 'aws-lambda';
import { vi } from 'vitest';
import { minutePartition, partialSortKey, WINDOW_MS, type ClickWindowCount, type ShardPartialItem } from '../../contracts/clickstream';

/** Fixtures shared by the dashboard unit tests (test/unit/dashboard-*.test.ts). */

export const T0 = Date.parse('2026-01-01T00:10:30Z');
export const WINDOW_STREAM_ARN =
  'arn:aws:dynamodb:us-east-1:000000000000:table/click-windows/stream/2026-01-01T00:00:00.000';

export const CONTEXT: Context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'broadcaster',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:broadcaster',
  memoryLimitInMB: '512',
  awsRequestId: 'request-1',
  logGroupName: '/aws/lambda/broadcaster',
  logStreamName: 'stream-1',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

/** A (url, window) total across shards; `minute` counts one-minute windows back from T0's. */
export function windowTotal(url: string, minute: number, count: number, lateCount = 0): ClickWindowCount {
  const start = Math.floor(T0 / WINDOW_MS) * WINDOW_MS - minute * WINDOW_MS;
  return { url, windowStart: new Date(start).toISOString(), windowEnd: new Date(start + WINDOW_MS).toISOString(), count, lateCount };
}

/** One shard's partial for one minute holding these urls' counts, as the aggregator writes it. */
export function partialItem(minute: number, counts: Record<string, number>, lateCounts: Record<string, number> = {}, shardId = 'shardId-000000000000'): ShardPartialItem {
  const { windowStart, windowEnd } = windowTotal('/', minute, 0);
  return {
    pk: minutePartition(windowStart),
    sk: partialSortKey(shardId, 0),
    windowStart,
    windowEnd,
    shardId,
    chunk: 0,
    counts,
    lateCounts,
    seq: '1',
    expiresAt: Math.ceil(Date.parse(windowEnd) / 1000) + 7 * 86_400,
  };
}

/** The same partial with one url's counts, the shape most tests need. */
export const windowItem = (url: string, minute: number, count: number, lateCount = 0): ShardPartialItem =>
  partialItem(minute, { [url]: count }, lateCount > 0 ? { [url]: lateCount } : {});

type Plain = string | number | Record<string, number>;

/** The DynamoDB JSON of an item of strings, numbers and number maps, as a stream record carries it. */
export function marshalled(item: Record<string, Plain> | object): Record<string, AttributeValue> {
  const value = (plain: Plain): AttributeValue =>
    typeof plain === 'number'
      ? { N: String(plain) }
      : typeof plain === 'string'
        ? { S: plain }
        : { M: Object.fromEntries(Object.entries(plain).map(([key, inner]) => [key, { N: String(inner) }])) };
  return Object.fromEntries(Object.entries(item as Record<string, Plain>).map(([key, plain]) => [key, value(plain)]));
}

export const sequenceOf = (position: number): string => (4_000_000_000_000_000_000n + BigInt(position) * 100n).toString();

/** A window-table stream record. Sequence numbers grow with `position`. */
export function windowStreamRecord(
  position: number,
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE',
  images: { newImage?: object; oldImage?: object },
): DynamoDBRecord {
  const image = (images.newImage ?? images.oldImage!) as { pk: string; sk: string };
  return {
    eventID: `event-${position}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: WINDOW_STREAM_ARN,
    dynamodb: {
      ApproximateCreationDateTime: T0 / 1000,
      Keys: marshalled({ pk: image.pk, sk: image.sk }),
      ...(images.newImage ? { NewImage: marshalled(images.newImage) } : {}),
      ...(images.oldImage ? { OldImage: marshalled(images.oldImage) } : {}),
      SequenceNumber: sequenceOf(position),
      SizeBytes: 120,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

export const insert = (position: number, item: object) => windowStreamRecord(position, 'INSERT', { newImage: item });
export const modify = (position: number, oldImage: object, newImage: object) =>
  windowStreamRecord(position, 'MODIFY', { oldImage, newImage });
export const remove = (position: number, oldImage: object) => windowStreamRecord(position, 'REMOVE', { oldImage });

/** A shard's progress item, as the aggregator writes it after each step. */
export const progressItem = (shardId: string, watermarkMs: number) =>
  ({ pk: 'shards', sk: shardId, streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks', sequenceNumber: '1', watermarkMs });

/** A silent logger and a metrics object whose calls are recorded, not printed. */
export function observability() {
  const logger = new Logger({ logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'Watershed', serviceName: 'dashboard-test' });
  const spies = {
    error: vi.spyOn(logger, 'error'),
    warn: vi.spyOn(logger, 'warn'),
    addMetric: vi.spyOn(metrics, 'addMetric').mockReturnThis(),
    publishStoredMetrics: vi.spyOn(metrics, 'publishStoredMetrics').mockReturnThis(),
  };
  return { logger, metrics, spies };
}

/** Metric name -> summed value, from the recorded addMetric calls. */
export function metricTotals(addMetric: ReturnType<typeof observability>['spies']['addMetric']): Record<string, number> {
  const totals: Record<string, number> = {};
  for (const [name, , value] of addMetric.mock.calls) totals[name] = (totals[name] ?? 0) + Number(value);
  return totals;
}
