import { randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../clients';
import type { EventSourceMappingSpec } from '../cloudformation/provision';
import type { InvokeResult } from './runtime';

/**
 * The settings of AWS::Lambda::EventSourceMapping that a stream mapping (Kinesis or DynamoDB
 * Streams) honours, with AWS's defaults.
 */
export interface StreamMappingSettings {
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

export function streamMappingSettings(properties: Record<string, unknown>): StreamMappingSettings {
  const onFailure = (properties.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)?.OnFailure?.Destination;
  const maximumRecordAge = Number(properties.MaximumRecordAgeInSeconds ?? -1);
  return {
    batchSize: Number(properties.BatchSize ?? 100),
    maximumBatchingWindowMs: Number(properties.MaximumBatchingWindowInSeconds ?? 0) * 1000,
    startingPosition: (properties.StartingPosition as StreamMappingSettings['startingPosition']) ?? 'LATEST',
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
  /** Read to its end (a closed shard) with every batch done: its children may start. */
  finished: boolean;
  /** Invocations repeated for records that failed (bisected halves are not retries). */
  retries: number;
  /** Failed batches split in two (BisectBatchOnFunctionError). */
  bisections: number;
  /** Records described to the on-failure destination after Lambda gave up on them. */
  recordsToDestination: number;
  /** Arrival time (ms) of the first record of the batch being invoked, until it is done: the iterator age of a stuck shard. */
  inFlightSinceMs?: number;
}

/**
 * A shard as the stream lists it. After a split a child has one parent; after a merge it has two
 * (`adjacentParentShardId`). A child is read only once each listed parent is read to its end.
 */
export interface ShardListing {
  shardId: string;
  parentShardId?: string;
  adjacentParentShardId?: string;
}

/**
 * Where a mapping remembers how far it got on each shard: the last sequence number it processed.
 * A `Map` is one (in memory, for a run); a durable store makes positions survive restarts.
 */
export interface ShardCheckpoints {
  get(shardId: string): string | undefined;
  set(shardId: string, sequenceNumber: string): void;
}

/** What happened in a race set up by `raceNextBatch`. */
export interface BatchRace {
  /** The invocation the mapping gave up on (as if timed out) while it kept running. */
  first: InvokeResult & { startedAt: number; endedAt: number };
  /** Its retry, with the same records, whose result the mapping acted on. */
  retry: InvokeResult & { startedAt: number; endedAt: number };
}

/** Where a shard iterator starts. */
export type ShardPosition =
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { type: 'TRIM_HORIZON' | 'LATEST' }
  | { type: 'AT_TIMESTAMP'; timestamp: Date };

export interface RecordsPage<R> {
  records: R[];
  /** Undefined once a closed shard has been read to its end. */
  nextIterator?: string;
  millisBehindLatest?: number;
}

/** What every stream mapping needs besides its stream: the function, the destination, checkpoints. */
export interface StreamEventSourceOptions<E> {
  sqs: SQSClient;
  invoke: (functionName: string, event: E) => Promise<InvokeResult>;
  /** Queue URL for an on-failure destination ARN. */
  queueUrlForArn: (arn: string) => string;
  /** Where each shard starts: a checkpoint kept by an earlier run, or the mapping's starting position. */
  checkpoints?: ShardCheckpoints;
  /** How often an idle shard is polled. AWS polls about once a second; locally we poll faster for latency. */
  idlePollMs?: number;
  /** How often the stream is listed again for new shards (after a split or a merge). @default 1000 for Kinesis, 5000 for DynamoDB Streams */
  shardDiscoveryIntervalMs?: number;
  log?: (message: string) => void;
  onProgress?: (progress: ShardProgress) => void;
}

/** The longest pause between reads after the stream itself failed (throttled, restarted, expired iterator). */
const MAX_READ_BACKOFF_MS = 5_000;

/**
 * A local stand-in for Lambda's stream poller, shared by Kinesis and DynamoDB Streams: per shard,
 * in order, it reads records, batches them by size and batching window, invokes the function,
 * and on failure applies partial batch responses, bisection, bounded retries, record age and the
 * on-failure destination as AWS does. Subclasses only say how to read their stream and how a
 * record looks to the function.
 */
export abstract class StreamEventSource<R, E> {
  readonly settings: StreamMappingSettings;
  /** `kinesis` or `dynamodb`, e.g. for status output. */
  abstract readonly kind: string;
  private readonly shards = new Map<string, ShardProgress>();
  /** Shards read to their end (closed and drained): their children may start. */
  private readonly finished = new Set<string>();
  private readonly started = new Set<string>();
  /** Shards listed when the mapping started take its starting position; later ones start at their beginning. */
  private initialShards = new Set<string>();
  private readonly stopController = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private lastListingError: string | undefined;
  /** Races set up by raceNextBatch, per shard, waiting for that shard's next invocation. */
  private readonly races = new Map<string, { retryAfter: Promise<unknown>; settle: (race: BatchRace) => void }>();

  /** How often the stream is listed again for new shards. */
  protected abstract readonly shardDiscoveryIntervalMs: number;

  constructor(
    readonly spec: EventSourceMappingSpec,
    protected readonly options: StreamEventSourceOptions<E>,
  ) {
    this.settings = streamMappingSettings(spec.properties);
  }

  protected abstract listShards(): Promise<ShardListing[]>;
  protected abstract shardIterator(shardId: string, position: ShardPosition): Promise<string | undefined>;
  protected abstract getRecords(shardId: string, iterator: string, limit: number): Promise<RecordsPage<R>>;
  protected abstract sequenceNumber(record: R): string;
  /** When the record entered the stream, in ms, for MaximumRecordAgeInSeconds. */
  protected abstract arrivalMs(record: R): number | undefined;
  /** The function's event for a batch. */
  protected abstract event(shardId: string, records: R[]): E;
  /** The `<Source>BatchInfo` member of the on-failure record: `{ KinesisBatchInfo: {...} }`. */
  protected abstract batchInfo(shardId: string, records: R[]): Record<string, unknown>;

  async start(): Promise<void> {
    const listing = await this.listShards();
    this.initialShards = new Set(listing.map((shard) => shard.shardId));
    this.startEligible(listing);
    this.loops.push(this.discoverShards(this.shardDiscoveryIntervalMs));
  }

  /**
   * Fault injection for tests: two invocations race on one shard, as when an invocation that timed
   * out is still running while its retry starts. The shard's next invocation starts as usual;
   * once `retryAfter` settles (a promise, or milliseconds after the first started), the mapping
   * stops waiting for it and invokes the same records again in another execution environment,
   * while the first keeps running. The mapping acts on the retry's result only. Resolves when
   * both have finished.
   */
  raceNextBatch(shardId: string, retryAfter: Promise<unknown> | number): Promise<BatchRace> {
    if (this.races.has(shardId)) throw new Error(`a race on ${shardId} is already waiting for its batch`);
    return new Promise<BatchRace>((settle) => {
      this.races.set(shardId, {
        retryAfter: typeof retryAfter === 'number' ? new Promise((resolve) => setTimeout(resolve, retryAfter)) : retryAfter,
        settle,
      });
    });
  }

  progress(): ShardProgress[] {
    return [...this.shards.values()].map((shard) => ({ ...shard }));
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    // Shard loops started while stopping are added to `loops` too; wait until none is left running.
    for (let settled = 0; settled < this.loops.length; ) {
      const pending = this.loops.slice(settled);
      settled = this.loops.length;
      await Promise.allSettled(pending);
    }
  }

  protected get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  /**
   * Starts a loop for every listed shard not started yet whose parents are finished: read to
   * their end, every batch done. A parent no longer listed (trimmed) holds nothing to wait for.
   */
  private startEligible(listing: ShardListing[]): void {
    const listed = new Set(listing.map((shard) => shard.shardId));
    for (const shard of listing) {
      if (this.started.has(shard.shardId) || this.stopped) continue;
      const parents = [shard.parentShardId, shard.adjacentParentShardId].filter((parent) => parent !== undefined);
      if (parents.some((parent) => listed.has(parent) && !this.finished.has(parent))) continue;
      this.started.add(shard.shardId);
      const progress: ShardProgress = {
        shardId: shard.shardId,
        checkpoint: this.options.checkpoints?.get(shard.shardId),
        millisBehindLatest: 0,
        recordsRead: 0,
        recordsDelivered: 0,
        invocations: 0,
        functionErrors: 0,
        partialFailures: 0,
        discardedBatches: 0,
        finished: false,
        retries: 0,
        bisections: 0,
        recordsToDestination: 0,
      };
      this.shards.set(progress.shardId, progress);
      this.loops.push(this.pollShard(progress));
    }
  }

  private async discoverShards(intervalMs: number): Promise<void> {
    while (!this.stopped) {
      await sleep(intervalMs, this.stopController.signal);
      if (this.stopped) return;
      await this.rediscover();
    }
  }

  private async rediscover(): Promise<void> {
    try {
      this.startEligible(await this.listShards());
      this.lastListingError = undefined;
    } catch (error) {
      // Said once per distinct failure: the stream is listed every second or so.
      const message = (error as Error).message;
      if (!this.stopped && message !== this.lastListingError) this.options.log?.(`event source ${this.spec.logicalId}: listing shards failed: ${message}`);
      this.lastListingError = message;
    }
  }

  private startPosition(progress: ShardProgress): ShardPosition {
    const { settings } = this;
    if (progress.checkpoint !== undefined) return { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: progress.checkpoint };
    // A shard that appeared after the mapping started holds only records newer than the start.
    if (!this.initialShards.has(progress.shardId)) return { type: 'TRIM_HORIZON' };
    if (settings.startingPosition === 'AT_TIMESTAMP') return { type: 'AT_TIMESTAMP', timestamp: new Date(settings.startingPositionTimestamp ?? 0) };
    return { type: settings.startingPosition };
  }

  private async pollShard(progress: ShardProgress): Promise<void> {
    const idlePollMs = this.options.idlePollMs ?? 100;
    let failures = 0;
    while (!this.stopped) {
      try {
        // (Re)positions from the checkpoint: after a read failure, records buffered but not
        // delivered are read again.
        let iterator = await this.shardIterator(progress.shardId, this.startPosition(progress));
        const buffer: R[] = [];
        let firstBufferedAt = 0;
        while (!this.stopped && (iterator !== undefined || buffer.length > 0)) {
          let records: R[] = [];
          if (iterator !== undefined) {
            const page = await this.getRecords(progress.shardId, iterator, this.settings.batchSize - buffer.length);
            failures = 0;
            iterator = page.nextIterator;
            progress.millisBehindLatest = page.millisBehindLatest ?? 0;
            records = page.records;
          }
          if (records.length > 0 && buffer.length === 0) firstBufferedAt = Date.now();
          buffer.push(...records);
          progress.recordsRead += records.length;
          const full = buffer.length >= this.settings.batchSize;
          const windowElapsed = buffer.length > 0 && Date.now() - firstBufferedAt >= this.settings.maximumBatchingWindowMs;
          // A closed shard read to its end delivers what is left without waiting for the window.
          const drained = iterator === undefined;
          if (full || windowElapsed || drained) {
            const batch = buffer.splice(0, this.settings.batchSize);
            // A closed shard's last read can be empty: nothing to invoke, nothing in flight.
            if (batch[0] !== undefined) {
              progress.inFlightSinceMs = this.arrivalMs(batch[0]);
              await this.deliver(progress, batch, 0);
              delete progress.inFlightSinceMs;
            }
            if (buffer.length > 0) firstBufferedAt = Date.now();
          } else if (records.length === 0 || buffer.length > 0) {
            await sleep(Math.min(idlePollMs, this.settings.maximumBatchingWindowMs || idlePollMs), this.stopController.signal);
          }
        }
        if (!this.stopped && iterator === undefined) {
          this.finished.add(progress.shardId);
          progress.finished = true;
          this.options.log?.(`event source ${this.spec.logicalId}: ${progress.shardId} is closed and drained; its children may start`);
          await this.rediscover();
        }
        return;
      } catch (error) {
        if (this.stopped) return;
        failures += 1;
        const backoffMs = Math.min(MAX_READ_BACKOFF_MS, 250 * 2 ** (failures - 1));
        this.options.log?.(
          `event source ${this.spec.logicalId} ${progress.shardId}: reading failed (${(error as Error).name}: ${(error as Error).message}); retrying from the checkpoint in ${backoffMs} ms`,
        );
        await sleep(backoffMs, this.stopController.signal);
      }
    }
  }

  /**
   * Delivers records until each is processed or sent to the on-failure destination. `attempt`
   * counts retries already spent on these records; bisected halves inherit it, and the split
   * itself spends none.
   */
  private async deliver(progress: ShardProgress, records: R[], attempt: number): Promise<void> {
    let pending = records;
    while (pending.length > 0 && !this.stopped) {
      if (this.expired(pending)) {
        await this.discard(progress, pending, 'RecordAgeExceeded', attempt);
        return;
      }
      progress.invocations += 1;
      const result = await this.invoke(progress.shardId, pending);
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
          progress.bisections += 1;
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
      progress.retries += 1;
      await sleep(Math.min(1000, 50 * 2 ** attempt), this.stopController.signal);
    }
  }

  /** One invocation with these records; or two racing ones, when a test set up a race. */
  private async invoke(shardId: string, records: R[]): Promise<InvokeResult> {
    const event = this.event(shardId, records);
    const race = this.races.get(shardId);
    if (race === undefined) return this.options.invoke(this.spec.functionName, event);
    this.races.delete(shardId);
    const timed = async () => {
      const startedAt = Date.now();
      const result = await this.options.invoke(this.spec.functionName, event);
      return { ...result, startedAt, endedAt: Date.now() };
    };
    const first = timed();
    await race.retryAfter;
    const retry = await timed();
    // The first may still be running: the race settles, and stop() waits, once it has finished too.
    const settled = first.then((firstResult) => race.settle({ first: firstResult, retry }));
    this.loops.push(settled);
    const { startedAt: _startedAt, endedAt: _endedAt, ...result } = retry;
    return result;
  }

  /**
   * Index of the record to retry from, or undefined when the whole batch succeeded. As on AWS, a
   * response naming no record we sent, or a malformed one, fails the whole batch.
   */
  private firstReportedFailure(records: R[], payload: unknown): number | undefined {
    if (!this.settings.reportBatchItemFailures) return undefined;
    const failures = (payload as { batchItemFailures?: { itemIdentifier?: unknown }[] | null } | null)?.batchItemFailures;
    if (failures === undefined || failures === null || failures.length === 0) return undefined;
    let first: number | undefined;
    for (const failure of failures) {
      const index = records.findIndex((record) => this.sequenceNumber(record) === failure?.itemIdentifier);
      if (index === -1) return 0;
      first = first === undefined ? index : Math.min(first, index);
    }
    return first;
  }

  private expired(records: R[]): boolean {
    const oldest = records[0] === undefined ? undefined : this.arrivalMs(records[0]);
    return this.settings.maximumRecordAgeMs !== -1 && oldest !== undefined && Date.now() - oldest > this.settings.maximumRecordAgeMs;
  }

  private checkpoint(progress: ShardProgress, record: R, delivered: number): void {
    const sequenceNumber = this.sequenceNumber(record);
    progress.checkpoint = sequenceNumber;
    progress.recordsDelivered += delivered;
    this.options.checkpoints?.set(progress.shardId, sequenceNumber);
    this.options.onProgress?.({ ...progress });
  }

  /** Skips records Lambda gives up on, after telling the on-failure destination what they were. */
  private async discard(progress: ShardProgress, records: R[], condition: string, attempts: number): Promise<void> {
    progress.discardedBatches += 1;
    const last = records.at(-1)!;
    this.options.log?.(`${this.spec.functionName}: ${records.length} records of ${progress.shardId} skipped (${condition})`);
    const destination = this.settings.onFailureDestinationArn;
    if (destination !== undefined && !destination.startsWith('arn:aws:sqs:')) {
      this.options.log?.(`${this.spec.functionName}: the on-failure destination ${destination} is not an SQS queue; only SQS is delivered locally`);
    } else if (destination !== undefined) {
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
        ...this.batchInfo(progress.shardId, records),
      };
      await this.options.sqs.send(new SendMessageCommand({ QueueUrl: this.options.queueUrlForArn(destination), MessageBody: JSON.stringify(message) }));
      progress.recordsToDestination += records.length;
    }
    this.checkpoint(progress, last, 0);
  }
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
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
