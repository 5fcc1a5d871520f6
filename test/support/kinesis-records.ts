import type { KinesisStreamRecord } from 'aws-lambda';
import type { ClickEventInput } from '../../contracts/clickstream';
import type { ShardRecord } from '../../lambdas/clickstream/core/batch-plan';

export const TEST_STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks';
export const BASE_SEQUENCE = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000n;

/** Sequence numbers as Kinesis writes them: 56 decimal digits, increasing within a shard. */
export const sequenceAt = (position: number): string => (BASE_SEQUENCE + BigInt(position) * 1000n).toString();

export function clickData(click: ClickEventInput | string): string {
  return Buffer.from(typeof click === 'string' ? click : JSON.stringify(click)).toString('base64');
}

export function shardRecordFactory(position: number, body: ClickEventInput | string, arrivalMs = Date.parse('2026-01-01T00:10:00Z')): ShardRecord {
  return { sequenceNumber: sequenceAt(position), partitionKey: 'user-1', approximateArrivalMs: arrivalMs, data: clickData(body) };
}

export function kinesisRecordFactory(
  position: number,
  body: ClickEventInput | string,
  { shardId = 'shardId-000000000000', arrivalMs = Date.parse('2026-01-01T00:10:00Z') } = {},
): KinesisStreamRecord {
  const sequenceNumber = sequenceAt(position);
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: 'user-1',
      sequenceNumber,
      data: clickData(body),
      approximateArrivalTimestamp: arrivalMs / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/aggregator',
    awsRegion: 'us-east-1',
    eventSourceARN: TEST_STREAM_ARN,
  };
}
