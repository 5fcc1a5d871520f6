import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../clients';
import type { EventSourceMappingSpec } from '../cloudformation/provision';
import {
  StreamEventSource,
  streamMappingSettings,
  type RecordsPage,
  type ShardListing,
  type ShardPosition,
  type StreamEventSourceOptions,
  type StreamMappingSettings,
} from './stream-event-source';

export type { ShardProgress } from './stream-event-source';

/** The settings of AWS::Lambda::EventSourceMapping that a Kinesis mapping honours, with AWS's defaults. */
export type KinesisMappingSettings = StreamMappingSettings;
export const kinesisMappingSettings = streamMappingSettings;

export interface KinesisEventSourceOptions extends StreamEventSourceOptions<KinesisStreamEvent> {
  kinesis: KinesisClient;
}

/**
 * A local stand-in for Lambda's Kinesis poller: the shared stream machinery
 * (./stream-event-source.ts) reading a Kinesis stream and giving the function Lambda's Kinesis event.
 */
export class KinesisEventSource extends StreamEventSource<KinesisRecord, KinesisStreamEvent> {
  readonly kind = 'kinesis';
  protected readonly shardDiscoveryIntervalMs: number;
  private readonly streamName: string;
  private readonly kinesis: KinesisClient;

  constructor(spec: EventSourceMappingSpec, options: KinesisEventSourceOptions) {
    super(spec, options);
    this.kinesis = options.kinesis;
    this.shardDiscoveryIntervalMs = options.shardDiscoveryIntervalMs ?? 1000;
    this.streamName = spec.eventSourceArn.split('/').at(-1)!;
  }

  protected async listShards(): Promise<ShardListing[]> {
    const shards: ShardListing[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.kinesis.send(new ListShardsCommand(nextToken === undefined ? { StreamName: this.streamName } : { NextToken: nextToken }));
      for (const shard of page.Shards ?? []) shards.push({ shardId: shard.ShardId!, parentShardId: shard.ParentShardId, adjacentParentShardId: shard.AdjacentParentShardId });
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return shards;
  }

  protected async shardIterator(shardId: string, position: ShardPosition): Promise<string | undefined> {
    const { ShardIterator } = await this.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: this.streamName,
        ShardId: shardId,
        ...(position.type === 'AFTER_SEQUENCE_NUMBER'
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: position.sequenceNumber }
          : position.type === 'AT_TIMESTAMP'
            ? { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: position.timestamp }
            : { ShardIteratorType: position.type }),
      }),
    );
    return ShardIterator;
  }

  protected async getRecords(_shardId: string, iterator: string, limit: number): Promise<RecordsPage<KinesisRecord>> {
    const result = await this.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(10_000, limit) }));
    return { records: result.Records ?? [], nextIterator: result.NextShardIterator, millisBehindLatest: result.MillisBehindLatest };
  }

  protected sequenceNumber(record: KinesisRecord): string {
    return record.SequenceNumber!;
  }

  protected arrivalMs(record: KinesisRecord): number | undefined {
    return record.ApproximateArrivalTimestamp?.getTime();
  }

  protected batchInfo(shardId: string, records: KinesisRecord[]): Record<string, unknown> {
    const first = records[0]!;
    const last = records.at(-1)!;
    return {
      KinesisBatchInfo: {
        shardId,
        startSequenceNumber: first.SequenceNumber,
        endSequenceNumber: last.SequenceNumber,
        approximateArrivalOfFirstRecord: first.ApproximateArrivalTimestamp?.toISOString(),
        approximateArrivalOfLastRecord: last.ApproximateArrivalTimestamp?.toISOString(),
        batchSize: records.length,
        streamArn: this.spec.eventSourceArn,
      },
    };
  }

  protected event(shardId: string, records: KinesisRecord[]): KinesisStreamEvent {
    return { Records: records.map((record) => this.eventRecord(shardId, record)) };
  }

  private eventRecord(shardId: string, record: KinesisRecord): KinesisStreamRecord {
    return kinesisEventRecord({ shardId, record, eventSourceArn: this.spec.eventSourceArn, functionName: this.spec.functionName, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID });
  }
}

/**
 * One record of Lambda's Kinesis event, as the event source mapping builds it from a GetRecords
 * record; `npm run ops -- replay` builds the same to re-drive a failed batch.
 */
export function kinesisEventRecord({ shardId, record, eventSourceArn, functionName, region, accountId }: {
  shardId: string;
  record: KinesisRecord;
  eventSourceArn: string;
  functionName: string;
  region: string;
  accountId: string;
}): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey!,
      sequenceNumber: record.SequenceNumber!,
      data: Buffer.from(record.Data ?? new Uint8Array()).toString('base64'),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp?.getTime() ?? Date.now()) / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::${accountId}:role/${functionName}`,
    awsRegion: region,
    eventSourceARN: eventSourceArn,
  };
}
