import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type _Record as StreamRecord,
  type AttributeValue as StreamAttributeValue,
  type DynamoDBStreamsClient,
} from '@aws-sdk/client-dynamodb-streams';
import type { AttributeValue, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { LOCAL_REGION } from '../clients';
import type { EventSourceMappingSpec } from '../cloudformation/provision';
import { StreamEventSource, type RecordsPage, type ShardListing, type ShardPosition, type StreamEventSourceOptions } from './stream-event-source';

export interface DynamoDbStreamEventSourceOptions extends StreamEventSourceOptions<DynamoDBStreamEvent> {
  /** A DynamoDB Streams client; DynamoDB Local serves the Streams API on its own endpoint. */
  streams: DynamoDBStreamsClient;
}

/** DynamoDB Streams' GetRecords returns at most 1,000 records. */
const MAX_GET_RECORDS = 1000;
const MINUTE_MS = 60_000;

/**
 * A local stand-in for Lambda's DynamoDB Streams poller: the shared stream machinery
 * (./stream-event-source.ts) reading a table's stream and giving the function Lambda's DynamoDB
 * event, with images as AttributeValue JSON (as GetRecords returns them, not unmarshalled).
 * Partial batch responses name records by `dynamodb.SequenceNumber`; the on-failure record
 * carries `DDBStreamBatchInfo`.
 */
export class DynamoDbStreamEventSource extends StreamEventSource<StreamRecord, DynamoDBStreamEvent> {
  readonly kind = 'dynamodb';
  protected readonly shardDiscoveryIntervalMs: number;
  private readonly streams: DynamoDBStreamsClient;
  /**
   * Shards whose iterator was taken by TRIM_HORIZON or LATEST and has read nothing yet. Should it
   * fail as trimmed, the shard was empty when it was taken (see getRecords).
   */
  private readonly atShardStart = new Set<string>();

  constructor(spec: EventSourceMappingSpec, options: DynamoDbStreamEventSourceOptions) {
    super(spec, options);
    this.streams = options.streams;
    this.shardDiscoveryIntervalMs = options.shardDiscoveryIntervalMs ?? 5000;
    if (this.settings.startingPosition === 'AT_TIMESTAMP') {
      throw new Error(`${spec.logicalId}: DynamoDB Streams mappings support StartingPosition TRIM_HORIZON or LATEST. Received AT_TIMESTAMP`);
    }
  }

  protected async listShards(): Promise<ShardListing[]> {
    const shards: ShardListing[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.streams.send(
        new DescribeStreamCommand({ StreamArn: this.spec.eventSourceArn, ExclusiveStartShardId: exclusiveStartShardId }),
      );
      for (const shard of StreamDescription?.Shards ?? []) shards.push({ shardId: shard.ShardId!, parentShardId: shard.ParentShardId });
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId !== undefined);
    return shards;
  }

  protected async shardIterator(shardId: string, position: ShardPosition): Promise<string | undefined> {
    if (position.type === 'AT_TIMESTAMP') throw new Error('DynamoDB Streams has no AT_TIMESTAMP iterator');
    if (position.type === 'AFTER_SEQUENCE_NUMBER') this.atShardStart.delete(shardId);
    else this.atShardStart.add(shardId);
    const { ShardIterator } = await this.streams.send(
      new GetShardIteratorCommand({
        StreamArn: this.spec.eventSourceArn,
        ShardId: shardId,
        ...(position.type === 'AFTER_SEQUENCE_NUMBER'
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: position.sequenceNumber }
          : { ShardIteratorType: position.type }),
      }),
    );
    return ShardIterator;
  }

  protected async getRecords(shardId: string, iterator: string, limit: number): Promise<RecordsPage<StreamRecord>> {
    const read = (shardIterator: string) => this.streams.send(new GetRecordsCommand({ ShardIterator: shardIterator, Limit: Math.min(MAX_GET_RECORDS, limit) }));
    let result;
    try {
      result = await read(iterator);
    } catch (error) {
      // DynamoDB Local: an iterator taken on an empty shard fails with TrimmedDataAccessException
      // once the shard's first sequence number went to a cancelled transaction (the aggregator's
      // conditional TransactWriteItems do that). The shard was empty when positioned, so all it
      // holds now came later: TRIM_HORIZON is the same position, and it works.
      if ((error as Error).name !== 'TrimmedDataAccessException' || !this.atShardStart.has(shardId)) throw error;
      result = await read((await this.shardIterator(shardId, { type: 'TRIM_HORIZON' }))!);
    }
    const records = result.Records ?? [];
    if (records.length > 0) this.atShardStart.delete(shardId);
    const newest = records.at(-1)?.dynamodb?.ApproximateCreationDateTime?.getTime();
    return {
      records,
      nextIterator: result.NextShardIterator ?? undefined,
      millisBehindLatest: newest === undefined ? 0 : Math.max(0, Date.now() - newest),
    };
  }

  protected sequenceNumber(record: StreamRecord): string {
    return record.dynamodb!.SequenceNumber!;
  }

  /**
   * DynamoDB Local rounds ApproximateCreationDateTime down to the minute. A record is taken to be
   * as young as that allows (the end of its minute), so it is never discarded as too old early.
   */
  protected arrivalMs(record: StreamRecord): number | undefined {
    const created = record.dynamodb?.ApproximateCreationDateTime?.getTime();
    if (created === undefined) return undefined;
    return created % MINUTE_MS === 0 ? Math.min(Date.now(), created + MINUTE_MS - 1) : created;
  }

  protected batchInfo(shardId: string, records: StreamRecord[]): Record<string, unknown> {
    const first = records[0]!;
    const last = records.at(-1)!;
    return {
      DDBStreamBatchInfo: {
        shardId,
        startSequenceNumber: first.dynamodb?.SequenceNumber,
        endSequenceNumber: last.dynamodb?.SequenceNumber,
        approximateArrivalOfFirstRecord: isoSeconds(first.dynamodb?.ApproximateCreationDateTime),
        approximateArrivalOfLastRecord: isoSeconds(last.dynamodb?.ApproximateCreationDateTime),
        batchSize: records.length,
        streamArn: this.spec.eventSourceArn,
      },
    };
  }

  protected event(_shardId: string, records: StreamRecord[]): DynamoDBStreamEvent {
    return { Records: records.map((record) => this.eventRecord(record)) };
  }

  private eventRecord(record: StreamRecord): DynamoDBRecord {
    const change = record.dynamodb ?? {};
    const created = change.ApproximateCreationDateTime;
    return {
      eventID: record.eventID,
      eventName: record.eventName,
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: LOCAL_REGION,
      dynamodb: {
        ...(created === undefined ? {} : { ApproximateCreationDateTime: created.getTime() / 1000 }),
        ...(change.Keys === undefined ? {} : { Keys: attributeMap(change.Keys) }),
        ...(change.NewImage === undefined ? {} : { NewImage: attributeMap(change.NewImage) }),
        ...(change.OldImage === undefined ? {} : { OldImage: attributeMap(change.OldImage) }),
        SequenceNumber: change.SequenceNumber,
        SizeBytes: change.SizeBytes,
        StreamViewType: change.StreamViewType,
      },
      eventSourceARN: this.spec.eventSourceArn,
      // TTL deletions name the DynamoDB service as the principal.
      ...(record.userIdentity === undefined ? {} : { userIdentity: { type: record.userIdentity.Type, principalId: record.userIdentity.PrincipalId } }),
    };
  }
}

/** `2019-11-14T00:13:19Z`, as Lambda writes arrival times in DDBStreamBatchInfo. */
function isoSeconds(date: Date | undefined): string | undefined {
  return date?.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function attributeMap(map: Record<string, StreamAttributeValue>): Record<string, AttributeValue> {
  return Object.fromEntries(Object.entries(map).map(([name, value]) => [name, attributeJson(value)]));
}

/** An SDK AttributeValue as DynamoDB's JSON wire format writes it: binary as base64. */
export function attributeJson(value: StreamAttributeValue): AttributeValue {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((item) => Buffer.from(item).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(attributeJson) };
  if (value.M !== undefined) return { M: attributeMap(value.M) };
  const { $unknown: _unknown, ...rest } = value as StreamAttributeValue & { $unknown?: unknown };
  return rest as AttributeValue;
}
