import { randomUUID } from 'node:crypto';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../clients';
import type { EventSourceMappingSpec } from '../cloudformation/provision';
import type { InvokeResult } from './runtime';

/** The settings of AWS::Lambda::EventSourceMapping that a Kinesis mapping honours, with AWS's defaults. */
export interface KinesisMappingSettings {
  batchSize: number;
  maximumBatchingWindowMs: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  startingPositionTimestamp?: number;
  reportBatchItemFailures: boolean;
  bisectBatchOnFunctionError: boolean;
  /** -1 retries until the records expire. */
  maximumRetryAttempts: number;
  /** -1 never expires records. */
  maximumRecordAgeMs: number;
  onFailureDestinationArn?: string;
}

export function kinesisMappingSettings(properties: Record<string, unknown>): KinesisMappingSettings {
  const onFailure = (properties.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)?.OnFailure?.Destination;
  const maximumRecordAge = Number(properties.MaximumRecordAgeInSeconds ?? -1);
  return {
    batchSize: Number(properties.BatchSize ?? 100),
    maximumBatchingWindowMs: Number(properties.MaximumBatchingWindowInSeconds ?? 0) * 1000,
    startingPosition: (properties.StartingPosition as KinesisMappingSettings['startingPosition']) ?? 'LATEST',
    startingPositionTimestamp: properties.StartingPositionTimestamp === undefined ? undefined : Number(properties.StartingPositionTimestamp) * 1000,
    reportBatchItemFailures: ((properties.FunctionResponseTypes as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
    bisectBatchOnFunctionError: properties.BisectBatchOnFunctionError === true || properties.BisectBatchOnFunctionError === 'true',
    maximumRetryAttempts: Number(properties.MaximumRetryAttempts ?? -1),
    maximumRecordAgeMs: maximumRecordAge === -1 ? -1 : maximumRecordAge * 1000,
    onFailureDestinationArn: onFailure,
  };
}

export interface ShardProgress {
  shardId: string;
  /** Last sequence number the mapping checkpointed: everything up to it was processed. */
  checkpoint?: string;
  millisBehindLatest: number;
  recordsRead: number;
  recordsDelivered: number;
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  discardedBatches: number;
}

export interface KinesisEventSourceOptions {
  kinesis: KinesisClient;
  sqs: SQSClient;
  invoke: (functionName: string, event: KinesisStreamEvent) => Promise<InvokeResult>;
  /** Queue URL for an on-failure destination ARN. */
  queueUrlForArn: (arn: string) => string;
  /** Where each shard starts: a checkpoint kept by an earlier run, or the mapping's starting position. */
  checkpoints?: Map<string, string>;
  /** How often an idle shard is polled. AWS polls about once a second; locally we poll faster for latency. */
  idlePollMs?: number;
  log?: (message: string) => void;
  onProgress?: (progress: ShardProgress) => void;
}

/**
 * A local stand-in for Lambda's Kinesis poller: per shard, in order, it reads records, batches them
 * by size and batching window, invokes the function, and on failure applies partial batch
 * responses, bisection, bounded retries, record age and the on-failure destination as AWS does.
 */
export class KinesisEventSource {
  readonly settings: KinesisMappingSettings;
  private readonly shards = new Map<string, ShardProgress>();
  private readonly stopController = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly streamName: string;

  constructor(
    readonly spec: EventSourceMappingSpec,
    private readonly options: KinesisEventSourceOptions,
  ) {
    this.settings = kinesisMappingSettings(spec.properties);
    this.streamName = spec.eventSourceArn.split('/').at(-1)!;
  }

  async start(): Promise<void> {
    const { Shards = [] } = await this.options.kinesis.send(new ListShardsCommand({ StreamName: this.streamName }));
    for (const shard of Shards) {
      const progress: ShardProgress = {
        shardId: shard.ShardId!,
        checkpoint: this.options.checkpoints?.get(shard.ShardId!),
        millisBehindLatest: 0,
        recordsRead: 0,
        recordsDelivered: 0,
        invocations: 0,
        functionErrors: 0,
        partialFailures: 0,
        discardedBatches: 0,
      };
      this.shards.set(progress.shardId, progress);
      this.loops.push(this.pollShard(progress));
    }
  }

  progress(): ShardProgress[] {
    return [...this.shards.values()].map((shard) => ({ ...shard }));
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await Promise.allSettled(this.loops);
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async pollShard(progress: ShardProgress): Promise<void> {
    const idlePollMs = this.options.idlePollMs ?? 100;
    let iterator: string | undefined;
    try {
      iterator = await this.shardIterator(progress);
      const buffer: KinesisRecord[] = [];
      let firstBufferedAt = 0;
      while (!this.stopped && iterator !== undefined) {
        const wanted = this.settings.batchSize - buffer.length;
        const result = await this.options.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: Math.min(10_000, wanted) }));
        iterator = result.NextShardIterator;
        progress.millisBehindLatest = result.MillisBehindLatest ?? 0;
        const records = result.Records ?? [];
        if (records.length > 0 && buffer.length === 0) firstBufferedAt = Date.now();
        buffer.push(...records);
        progress.recordsRead += records.length;
        const full = buffer.length >= this.settings.batchSize;
        const windowElapsed = buffer.length > 0 && Date.now() - firstBufferedAt >= this.settings.maximumBatchingWindowMs;
        if (full || windowElapsed) {
          const batch = buffer.splice(0, this.settings.batchSize);
          await this.deliver(progress, batch, 0);
          if (buffer.length > 0) firstBufferedAt = Date.now();
        } else if (records.length === 0 || buffer.length > 0) {
          await sleep(Math.min(idlePollMs, this.settings.maximumBatchingWindowMs || idlePollMs), this.stopController.signal);
        }
      }
    } catch (error) {
      if (!this.stopped) this.options.log?.(`event source ${this.spec.logicalId} ${progress.shardId} stopped: ${(error as Error).message}`);
    }
  }

  private async shardIterator(progress: ShardProgress): Promise<string | undefined> {
    const { settings } = this;
    const { ShardIterator } = await this.options.kinesis.send(
      new GetShardIteratorCommand({
        StreamName: this.streamName,
        ShardId: progress.shardId,
        ...(progress.checkpoint !== undefined
          ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: progress.checkpoint }
          : settings.startingPosition === 'AT_TIMESTAMP'
            ? { ShardIteratorType: 'AT_TIMESTAMP', Timestamp: new Date(settings.startingPositionTimestamp ?? 0) }
            : { ShardIteratorType: settings.startingPosition }),
      }),
    );
    return ShardIterator;
  }

  /**
   * Delivers records until each is processed or sent to the on-failure destination. `attempt`
   * counts retries already spent on these records; bisected halves inherit it, and the split
   * itself spends none.
   */
  private async deliver(progress: ShardProgress, records: KinesisRecord[], attempt: number): Promise<void> {
    let pending = records;
    while (pending.length > 0 && !this.stopped) {
      if (this.expired(pending)) {
        await this.discard(progress, pending, 'RecordAgeExceeded', attempt);
        return;
      }
      progress.invocations += 1;
      const result = await this.options.invoke(this.spec.functionName, this.event(progress.shardId, pending));
      const failedAt = result.ok ? this.firstReportedFailure(pending, result.payload) : 0;
      if (failedAt === undefined) {
        this.checkpoint(progress, pending.at(-1)!, pending.length);
        return;
      }
      if (result.ok) {
        progress.partialFailures += 1;
        if (failedAt > 0) this.checkpoint(progress, pending[failedAt - 1]!, failedAt);
        pending = pending.slice(failedAt);
      } else {
        progress.functionErrors += 1;
        this.options.log?.(`${this.spec.functionName} failed on ${progress.shardId}: ${result.errorType}: ${result.errorMessage}`);
        // As on AWS, splitting a batch does not count towards the retry quota: bisect first, so a
        // poison record ends up alone and only it is retried and given up on.
        if (this.settings.bisectBatchOnFunctionError && pending.length > 1) {
          const middle = Math.ceil(pending.length / 2);
          await this.deliver(progress, pending.slice(0, middle), attempt);
          await this.deliver(progress, pending.slice(middle), attempt);
          return;
        }
      }
      attempt += 1;
      if (this.settings.maximumRetryAttempts !== -1 && attempt > this.settings.maximumRetryAttempts) {
        await this.discard(progress, pending, 'RetryAttemptsExhausted', attempt);
        return;
      }
      await sleep(Math.min(1000, 50 * 2 ** attempt), this.stopController.signal);
    }
  }

  /**
   * Index of the record to retry from, or undefined when the whole batch succeeded. As on AWS, a
   * response naming no record we sent, or a malformed one, fails the whole batch.
   */
  private firstReportedFailure(records: KinesisRecord[], payload: unknown): number | undefined {
    if (!this.settings.reportBatchItemFailures) return undefined;
    const failures = (payload as Partial<KinesisStreamBatchResponse> | null)?.batchItemFailures;
    if (failures === undefined || failures === null || failures.length === 0) return undefined;
    let first: number | undefined;
    for (const failure of failures) {
      const index = records.findIndex((record) => record.SequenceNumber === failure.itemIdentifier);
      if (index === -1) return 0;
      first = first === undefined ? index : Math.min(first, index);
    }
    return first;
  }

  private expired(records: KinesisRecord[]): boolean {
    const oldest = records[0]?.ApproximateArrivalTimestamp?.getTime();
    return this.settings.maximumRecordAgeMs !== -1 && oldest !== undefined && Date.now() - oldest > this.settings.maximumRecordAgeMs;
  }

  private checkpoint(progress: ShardProgress, record: KinesisRecord, delivered: number): void {
    progress.checkpoint = record.SequenceNumber;
    progress.recordsDelivered += delivered;
    this.options.checkpoints?.set(progress.shardId, record.SequenceNumber!);
    this.options.onProgress?.({ ...progress });
  }

  /** Skips records Lambda gives up on, after telling the on-failure destination what they were. */
  private async discard(progress: ShardProgress, records: KinesisRecord[], condition: string, attempts: number): Promise<void> {
    progress.discardedBatches += 1;
    const first = records[0]!;
    const last = records.at(-1)!;
    this.options.log?.(`${this.spec.functionName}: ${records.length} records of ${progress.shardId} skipped (${condition})`);
    if (this.settings.onFailureDestinationArn !== undefined) {
      const message = {
        requestContext: {
          requestId: randomUUID(),
          functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${this.spec.functionName}`,
          condition,
          approximateInvokeCount: attempts,
        },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: new Date().toISOString(),
        KinesisBatchInfo: {
          shardId: progress.shardId,
          startSequenceNumber: first.SequenceNumber,
          endSequenceNumber: last.SequenceNumber,
          approximateArrivalOfFirstRecord: first.ApproximateArrivalTimestamp?.toISOString(),
          approximateArrivalOfLastRecord: last.ApproximateArrivalTimestamp?.toISOString(),
          batchSize: records.length,
          streamArn: this.spec.eventSourceArn,
        },
      };
      await this.options.sqs.send(
        new SendMessageCommand({ QueueUrl: this.options.queueUrlForArn(this.settings.onFailureDestinationArn), MessageBody: JSON.stringify(message) }),
      );
    }
    this.checkpoint(progress, last, 0);
  }

  private event(shardId: string, records: KinesisRecord[]): KinesisStreamEvent {
    return { Records: records.map((record) => this.eventRecord(shardId, record)) };
  }

  private eventRecord(shardId: string, record: KinesisRecord): KinesisStreamRecord {
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
      invokeIdentityArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${this.spec.functionName}`,
      awsRegion: LOCAL_REGION,
      eventSourceARN: this.spec.eventSourceArn,
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
