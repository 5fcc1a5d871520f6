import { randomUUID } from 'node:crypto';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent } from 'aws-lambda';
import { IcebergTable } from '../../lakehouse/iceberg/table';
import type { WrittenFiles } from '../../lakehouse/iceberg/writer';
import type { ObjectStore } from '../../lakehouse/object-store';
import { IcebergSink, SinkStoppedError, type RejectedRecord, type SinkStats } from '../../lakehouse/sink/iceberg-sink';
import { KinesisEventSource } from '../lambda/kinesis-event-source';
import type { DeliveryStreamSpec } from './lakehouse-resources';

/**
 * The local stand-in for Amazon Data Firehose delivering a Kinesis stream into an Iceberg table,
 * driven by the template's AWS::KinesisFirehose::DeliveryStream: it reads every shard (in order,
 * children after parents, with the local Kinesis poller), buffers by the template's size and
 * interval hints, and commits through IcebergSink, whose snapshot summaries hold the shard
 * checkpoints. Starting (or restarting) resumes after the checkpoints of the current snapshot.
 */

/** The snapshot summary property of a delivery stream's checkpoints. */
export const checkpointProperty = (streamName: string) => `watershed.kinesis.offsets.${streamName}`;

export interface LocalDeliveryStreamOptions {
  kinesis: KinesisClient;
  /** Only for the poller's on-failure destinations, which a delivery stream does not use. */
  sqs: SQSClient;
  store: ObjectStore;
  log?: (message: string) => void;
  /** Fault injection: runs after data files are written, before the commit. */
  beforeCommit?: (files: WrittenFiles) => Promise<void>;
}

/** Firehose's error envelope for a record that could not be delivered, one JSON object per record. */
export interface FirehoseErrorRecord {
  attemptsMade: number;
  arrivalTimestamp: number;
  errorCode: string;
  errorMessage: string;
  attemptEndingTimestamp: number;
  rawData: string;
  /** Where the record came from, so it can be found and replayed. */
  kinesisShardId: string;
  kinesisSequenceNumber: string;
  deliveryStreamName: string;
  destinationTable: string;
}

export class LocalDeliveryStream {
  private source: KinesisEventSource | undefined;
  private sink: IcebergSink | undefined;

  constructor(
    readonly spec: DeliveryStreamSpec,
    readonly tableLocation: string,
    private readonly options: LocalDeliveryStreamOptions,
  ) {}

  get stats(): SinkStats | undefined {
    return this.sink?.stats;
  }

  /** The sink's table, as of its last commit. */
  get table(): IcebergTable | undefined {
    return this.sink?.table;
  }

  async start(): Promise<void> {
    const { spec, options } = this;
    const table = await IcebergTable.load(options.store, this.tableLocation);
    // A crash between creating the metadata file and moving the hint leaves the hint behind.
    await table.repairVersionHint();
    const identifiers = (table.schema['identifier-field-ids'] ?? []).map((id) => table.schema.fields.find((field) => field.id === id)!.name);
    if (spec.uniqueKeys.join() !== identifiers.join()) {
      throw new Error(
        `delivery stream ${spec.name}: UniqueKeys [${spec.uniqueKeys.join(', ')}] must be the identifier fields of ${spec.database}.${spec.table} ([${identifiers.join(', ')}]), as Firehose requires`,
      );
    }
    const streamName = spec.sourceStreamArn.split('/').at(-1)!;
    const sink = new IcebergSink({
      table,
      checkpointProperty: checkpointProperty(streamName),
      bufferSizeBytes: spec.bufferSizeBytes,
      bufferIntervalMs: spec.bufferIntervalMs,
      writeRejected: (rejected) => this.writeRejected(rejected),
      beforeCommit: options.beforeCommit,
      log: options.log,
    });
    this.sink = sink;
    const checkpoints = sink.committedCheckpoints();
    this.source = new KinesisEventSource(
      {
        logicalId: spec.logicalId,
        uuid: randomUUID(),
        functionName: spec.name,
        eventSourceArn: spec.sourceStreamArn,
        // Firehose reads a stream from its oldest record when it is created; here, after the committed checkpoints.
        properties: { BatchSize: 10_000, MaximumBatchingWindowInSeconds: 0, StartingPosition: 'TRIM_HORIZON' },
      },
      {
        kinesis: options.kinesis,
        sqs: options.sqs,
        queueUrlForArn: () => '',
        checkpoints,
        log: options.log,
        invoke: async (_name: string, event: KinesisStreamEvent) => {
          const started = Date.now();
          try {
            await sink.accept(
              event.Records.map((record) => ({
                shardId: record.eventID.slice(0, record.eventID.lastIndexOf(':')),
                sequenceNumber: record.kinesis.sequenceNumber,
                data: Buffer.from(record.kinesis.data, 'base64'),
                arrivalMs: Math.round(record.kinesis.approximateArrivalTimestamp * 1000),
              })),
            );
            return { ok: true, payload: null, durationMs: Date.now() - started };
          } catch (error) {
            if (error instanceof SinkStoppedError) void this.source?.stop();
            return { ok: false, errorType: (error as Error).name, errorMessage: (error as Error).message, durationMs: Date.now() - started };
          }
        },
      },
    );
    await this.source.start();
    options.log?.(`delivery stream ${spec.name}: reading ${streamName} into ${spec.table}${checkpoints.size > 0 ? ` after the checkpoints of snapshot ${table.currentSnapshot?.['snapshot-id']}` : ' from the oldest record'}`);
  }

  /** Flushes the buffer now (as if its interval had elapsed) and waits for the commit. */
  async flush(): Promise<void> {
    await this.sink?.flush();
  }

  /**
   * Stops reading. Buffered records are not committed (like a Firehose outage, not data loss):
   * they stay in the stream and the next start reads them after the committed checkpoints.
   */
  async stop(): Promise<void> {
    this.sink?.stop();
    await this.source?.stop();
    await this.sink?.idle();
    this.options.store.destroy?.();
  }

  private async writeRejected(rejected: RejectedRecord[]): Promise<void> {
    const { spec } = this;
    const now = Date.now();
    await Promise.all(
      rejected.map(({ record, errorCode, errorMessage }) => {
        const body: FirehoseErrorRecord = {
          attemptsMade: 1,
          arrivalTimestamp: record.arrivalMs,
          errorCode: `Iceberg.${errorCode}`,
          errorMessage,
          attemptEndingTimestamp: now,
          rawData: Buffer.from(record.data).toString('base64'),
          kinesisShardId: record.shardId,
          kinesisSequenceNumber: record.sequenceNumber,
          deliveryStreamName: spec.name,
          destinationTable: `${spec.database}.${spec.table}`,
        };
        // One object per record, named by its arrival hour and stream position: a replay after a
        // crash rewrites the same object instead of adding a duplicate.
        const hour = new Date(record.arrivalMs).toISOString().slice(0, 13).replace(/[-T]/g, '/');
        const key = `${spec.errorPrefix}${hour}/${spec.name}-${record.shardId}-${record.sequenceNumber}.json`;
        return this.options.store.put(`s3://${spec.bucket}/${key}`, `${JSON.stringify(body)}\n`, 'application/json');
      }),
    );
  }
}
