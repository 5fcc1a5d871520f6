import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { AttributeValue, Context, DynamoDBRecord } from 'aws-lambda';
import { vi } from 'vitest';
import { WINDOW_MS, type ClickWindowItem } from '../../contracts/clickstream';

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

/** A window item as the aggregator writes it; `minute` counts one-minute windows back from T0's. */
export function windowItem(url: string, minute: number, count: number, lateCount = 0): ClickWindowItem {
  const start = Math.floor(T0 / WINDOW_MS) * WINDOW_MS - minute * WINDOW_MS;
  return {
    url,
    windowStart: new Date(start).toISOString(),
    windowEnd: new Date(start + WINDOW_MS).toISOString(),
    count,
    lateCount,
    updatedAt: new Date(T0).toISOString(),
  };
}

/** The DynamoDB JSON of a flat item of strings and numbers, as a stream record carries it. */
export function marshalled(item: Record<string, string | number>): Record<string, AttributeValue> {
  return Object.fromEntries(
    Object.entries(item).map(([key, value]) => [key, typeof value === 'number' ? { N: String(value) } : { S: value }]),
  );
}

export const sequenceOf = (position: number): string => (4_000_000_000_000_000_000n + BigInt(position) * 100n).toString();

/** A window-table stream record. Sequence numbers grow with `position`. */
export function windowStreamRecord(
  position: number,
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE',
  images: { newImage?: ClickWindowItem; oldImage?: ClickWindowItem },
): DynamoDBRecord {
  const image = images.newImage ?? images.oldImage!;
  return {
    eventID: `event-${position}`,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: WINDOW_STREAM_ARN,
    dynamodb: {
      ApproximateCreationDateTime: T0 / 1000,
      Keys: marshalled({ url: image.url, windowStart: image.windowStart }),
      ...(images.newImage ? { NewImage: marshalled(images.newImage) } : {}),
      ...(images.oldImage ? { OldImage: marshalled(images.oldImage) } : {}),
      SequenceNumber: sequenceOf(position),
      SizeBytes: 120,
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    },
  };
}

export const insert = (position: number, item: ClickWindowItem) => windowStreamRecord(position, 'INSERT', { newImage: item });
export const modify = (position: number, oldImage: ClickWindowItem, newImage: ClickWindowItem) =>
  windowStreamRecord(position, 'MODIFY', { oldImage, newImage });
export const remove = (position: number, oldImage: ClickWindowItem) => windowStreamRecord(position, 'REMOVE', { oldImage });

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
