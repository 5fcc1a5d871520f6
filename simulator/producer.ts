import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KinesisClient, PutRecordsCommand, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { STACK_NAME } from '../lib/names';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../contracts/local-cloud';
import { TRUTH_KINDS, type GeneratedRecord, type TruthKind } from './clicks';

/** What putAll sends: bytes, a partition key, and a ground-truth kind for the stats (clicks, orders). */
export type ProducibleRecord = Pick<GeneratedRecord, 'partitionKey' | 'data'> & { readonly truth: { readonly kind: TruthKind } };

/**
 * AWS glue of the simulator: a Kinesis client per target, the stream name lookup, and `putAll`,
 * a paced PutRecords producer that retries the records a call reports as failed.
 */

export type TargetKind = 'local' | 'localstack' | 'aws';
export const TARGET_KINDS: readonly TargetKind[] = ['local', 'localstack', 'aws'];

export const LOCAL_ENDPOINT = 'http://localhost:4566';
export { LOCAL_CREDENTIALS, LOCAL_REGION } from '../contracts/local-cloud';
export const DEFAULT_OUTPUTS_FILE = path.join('.watershed', 'outputs.json');
export { STACK_NAME } from '../lib/names';
export const STREAM_OUTPUT_KEY = 'ClicksStreamName';

/** PutRecords limits: 500 records, 5 MiB per call (data + partition keys), 1 MiB per record. */
export const MAX_RECORDS_PER_PUT = 500;
export const MAX_BYTES_PER_PUT = 5 * 1024 * 1024;
export const MAX_RECORD_BYTES = 1024 * 1024;
export const MAX_PARTITION_KEY_LENGTH = 256;

export interface KinesisTarget {
  readonly kind: TargetKind;
  /**
   * Endpoint URL.
   * @default - http://localhost:4566 for local and localstack; the regional AWS endpoint for aws
   */
  readonly endpoint?: string;
  /**
   * Region.
   * @default - us-east-1 for local and localstack; the default provider chain for aws
   */
  readonly region?: string;
}

/**
 * One client per run. Local engines get fixed test credentials and HTTP/1.1 keep-alive
 * connections (any local engine speaks HTTP/1.1); AWS gets the default credential chain.
 */
export function createKinesisClient(target: KinesisTarget): KinesisClient {
  if (target.kind === 'aws') {
    return new KinesisClient({
      ...(target.region !== undefined ? { region: target.region } : {}),
      ...(target.endpoint !== undefined ? { endpoint: target.endpoint } : {}),
    });
  }
  return new KinesisClient({
    endpoint: target.endpoint ?? LOCAL_ENDPOINT,
    region: target.region ?? LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: 16 }) }),
  });
}

export class StreamNameNotFoundError extends Error {
  override name = 'StreamNameNotFoundError';
}

export class ProducerError extends Error {
  override name = 'ProducerError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Which stream a simulator writes to: the exact output key, and the pattern other deployments' keys match. */
export interface StreamOutput {
  readonly key: string;
  readonly pattern: RegExp;
  /** For messages, e.g. "clicks". */
  readonly label: string;
}
export const CLICKS_STREAM_OUTPUT: StreamOutput = { key: STREAM_OUTPUT_KEY, pattern: /ClicksStream.*Name/, label: 'clicks' };

/**
 * `{ "Watershed": { "ClicksStreamName": "..." } }`. The `Watershed` stack is searched first, then
 * any other; the key is `ClicksStreamName` or any key containing `ClicksStream` and then `Name`
 * (for another stream, the key and pattern of `output`).
 */
export function streamNameFromOutputs(outputs: unknown, source: string, output: StreamOutput = CLICKS_STREAM_OUTPUT): string {
  const isStreamNameKey = (key: string): boolean => key === output.key || output.pattern.test(key);
  if (!isRecord(outputs)) {
    throw new StreamNameNotFoundError(`${source} is not a stack outputs document (expected { "${STACK_NAME}": { "${output.key}": "..." } })`);
  }
  const stacks = Object.entries(outputs).sort(([a], [b]) => Number(b === STACK_NAME) - Number(a === STACK_NAME));
  for (const [, stackOutputs] of stacks) {
    if (!isRecord(stackOutputs)) continue;
    const keys = Object.keys(stackOutputs).filter(isStreamNameKey).sort((a, b) => Number(b === output.key) - Number(a === output.key));
    for (const key of keys) {
      const value = stackOutputs[key];
      if (typeof value === 'string' && value.length > 0) return value;
    }
  }
  throw new StreamNameNotFoundError(`${source} has no ${output.key} output (looked for a key matching ${output.pattern})`);
}

export interface StreamLookup {
  readonly target: TargetKind;
  /** An explicit stream name; wins over any outputs file. */
  readonly stream?: string;
  /**
   * Outputs file written by `cdk deploy --outputs-file` (or by `npm start`).
   * @default - .watershed/outputs.json for the local target; none for localstack and aws
   */
  readonly outputsFile?: string;
  /**
   * Directory relative paths are resolved against.
   * @default - process.cwd()
   */
  readonly cwd?: string;
  /** @default - the clicks stream */
  readonly output?: StreamOutput;
}

export function resolveStreamName({ target, stream, outputsFile, cwd = process.cwd(), output = CLICKS_STREAM_OUTPUT }: StreamLookup): string {
  if (stream !== undefined && stream.length > 0) return stream;
  const file = outputsFile ?? (target === 'local' ? DEFAULT_OUTPUTS_FILE : undefined);
  if (file === undefined) {
    throw new StreamNameNotFoundError(
      `No stream name for target ${target}: pass --stream NAME, or --outputs-file PATH (written by \`cdk deploy --outputs-file PATH\`)`,
    );
  }
  const absolute = path.resolve(cwd, file);
  if (!existsSync(absolute)) {
    const hint = target === 'local' ? 'run `npm start` first, or pass --stream' : 'pass --stream, or a valid --outputs-file';
    throw new StreamNameNotFoundError(`Cannot find the ${output.label} stream name: ${file} does not exist; ${hint}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(absolute, 'utf8'));
  } catch (error) {
    throw new StreamNameNotFoundError(`Cannot read ${file} as JSON (${(error as Error).message}); pass --stream instead`);
  }
  return streamNameFromOutputs(parsed, file, output);
}

/**
 * Token bucket: tokens accrue at `ratePerSecond` up to `capacity`. The capacity bounds how far a
 * producer that fell behind (a slow call) may catch up in one burst.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly capacity: number,
    private readonly now: () => number,
    initialTokens = 0,
  ) {
    if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number. Received ${ratePerSecond}`);
    }
    if (!(capacity >= 1)) throw new RangeError(`capacity must be at least 1. Received ${capacity}`);
    this.tokens = Math.min(capacity, initialTokens);
    this.last = now();
  }

  available(): number {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.ratePerSecond) / 1000);
    this.last = t;
    return this.tokens;
  }

  /** Milliseconds until `n` tokens are available (0 if they already are). */
  msUntil(n: number): number {
    const missing = Math.min(n, this.capacity) - this.available();
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / this.ratePerSecond);
  }

  take(n: number): void {
    this.available();
    this.tokens -= n;
  }
}

export interface ProducerStats {
  /** Records acknowledged by Kinesis, each counted once however many attempts it took. */
  sent: number;
  /** Per-record failures reported by PutRecords (or every record of a call that failed as a whole). */
  failedAttempts: number;
  /** Records put again after a failure: legitimate producer re-sends. */
  retried: number;
  /** Records given up on after `maxAttempts`. */
  dropped: number;
  /** PutRecords calls made. */
  calls: number;
  elapsedMs: number;
  /** Acknowledged records by ground-truth kind. */
  sentByKind: Record<TruthKind, number>;
  /** Failures by error code. */
  errorCodes: Record<string, number>;
}

export interface ProducerClock {
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: ProducerClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => delay(ms, undefined, signal === undefined ? undefined : { signal }).catch(() => undefined),
};

export interface PutAllOptions<R extends ProducibleRecord = GeneratedRecord> {
  /** Target records per second. */
  readonly rate: number;
  /** After every PutRecords call, with a snapshot of the stats. */
  readonly onProgress?: (stats: ProducerStats) => void;
  /** For every acknowledged record (for example, to build the ground truth of what was really sent). */
  readonly onSent?: (record: R) => void;
  /** Stops taking new records; the batch in flight is finished, its failed records retried. */
  readonly signal?: AbortSignal;
  /**
   * Attempts per record before it is dropped.
   * @default 8
   */
  readonly maxAttempts?: number;
  /**
   * First retry backoff; doubles per attempt, with full jitter.
   * @default 100
   */
  readonly baseBackoffMs?: number;
  /**
   * Backoff ceiling.
   * @default 5000
   */
  readonly maxBackoffMs?: number;
  /**
   * Pacing tick: a batch carries about rate * tickMs / 1000 records, so low rates send small,
   * frequent batches instead of one burst per second.
   * @default 100
   */
  readonly tickMs?: number;
  /** @default - real time */
  readonly clock?: ProducerClock;
  /** Jitter source in [0, 1). @default Math.random */
  readonly jitter?: () => number;
}

const RETRYABLE_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'LimitExceededException',
  'KMSThrottlingException',
  'InternalFailure',
  'InternalFailureException',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
}

function isRetryableCallError(error: SdkLikeError): boolean {
  const status = error.$metadata?.httpStatusCode;
  return (
    RETRYABLE_ERRORS.has(error.name ?? '') ||
    error.$retryable !== undefined ||
    (status !== undefined && (status >= 500 || status === 429))
  );
}

function describeCallError(error: SdkLikeError, streamName: string): string {
  if (error.name === 'ResourceNotFoundException') {
    return `Stream ${streamName} does not exist at this endpoint (${error.message ?? ''}); run \`npm start\` first, or pass --stream`;
  }
  if (error.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(error.message ?? '')) {
    return `Cannot connect to the Kinesis endpoint (${error.message ?? 'connection refused'}); is the local cloud running (\`npm start\`)?`;
  }
  return `PutRecords to ${streamName} failed: ${error.name ?? 'Error'}: ${error.message ?? JSON.stringify(error)}`;
}

const recordBytes = (record: ProducibleRecord): number => record.data.byteLength + Buffer.byteLength(record.partitionKey);

function assertPuttable(record: ProducibleRecord): void {
  if (record.partitionKey.length < 1 || record.partitionKey.length > MAX_PARTITION_KEY_LENGTH) {
    throw new RangeError(`partition key must be 1..${MAX_PARTITION_KEY_LENGTH} characters. Received ${record.partitionKey.length}`);
  }
  const size = recordBytes(record);
  if (size > MAX_RECORD_BYTES) throw new RangeError(`a record must not exceed ${MAX_RECORD_BYTES} bytes. Received ${size}`);
}

function emptyStats(): ProducerStats {
  return {
    sent: 0,
    failedAttempts: 0,
    retried: 0,
    dropped: 0,
    calls: 0,
    elapsedMs: 0,
    sentByKind: Object.fromEntries(TRUTH_KINDS.map((kind) => [kind, 0])) as Record<TruthKind, number>,
    errorCodes: {},
  };
}

const snapshot = (stats: ProducerStats): ProducerStats => ({
  ...stats,
  sentByKind: { ...stats.sentByKind },
  errorCodes: { ...stats.errorCodes },
});

/**
 * Cuts a record sequence into PutRecords batches: at most `room` (and 500) records and 5 MiB of
 * data plus partition keys. A record that does not fit is carried over to the next batch.
 */
export class BatchSource<R extends ProducibleRecord = GeneratedRecord> {
  private readonly iterator: Iterator<R>;
  private carried: R | undefined;
  private exhausted = false;

  constructor(records: Iterable<R>) {
    this.iterator = records[Symbol.iterator]();
  }

  take(room: number): R[] {
    const limit = Math.min(MAX_RECORDS_PER_PUT, room);
    const batch: R[] = [];
    let bytes = 0;
    while (batch.length < limit) {
      const record = this.next();
      if (record === undefined) break;
      const size = recordBytes(record);
      if (bytes + size > MAX_BYTES_PER_PUT) {
        this.carried = record;
        break;
      }
      batch.push(record);
      bytes += size;
    }
    return batch;
  }

  private next(): R | undefined {
    if (this.carried !== undefined) {
      const record = this.carried;
      this.carried = undefined;
      return record;
    }
    if (this.exhausted) return undefined;
    const step = this.iterator.next();
    if (step.done === true) {
      this.exhausted = true;
      return undefined;
    }
    assertPuttable(step.value);
    return step.value;
  }
}

/** Records per batch at this rate: one pacing tick's worth, within the PutRecords limit. */
export function batchTarget(rate: number, tickMs: number): number {
  return Math.max(1, Math.min(MAX_RECORDS_PER_PUT, Math.round((rate * tickMs) / 1000)));
}

/**
 * Puts `records` on `streamName` at `rate` records per second.
 *
 * Batches hold at most 500 records and 5 MiB. One call is in flight at a time, so records of a
 * partition key reach their shard in order, except around a retry. Records a call reports as
 * failed (ErrorCode, e.g. ProvisionedThroughputExceededException) are put again, alone, with
 * exponential backoff and full jitter before the next batch. Those retries are legitimate producer
 * re-sends: usually the failed record was not written, but a call that timed out after the write
 * is retried by the SDK and lands twice, which is why the aggregator de-duplicates by eventId.
 */
export async function putAll<R extends ProducibleRecord = GeneratedRecord>(
  client: KinesisClient,
  streamName: string,
  records: Iterable<R>,
  options: PutAllOptions<R>,
): Promise<ProducerStats> {
  const { rate, onProgress, onSent, signal, maxAttempts = 8, baseBackoffMs = 100, maxBackoffMs = 5000, tickMs = 100 } = options;
  const clock = options.clock ?? systemClock;
  const jitter = options.jitter ?? Math.random;
  if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`rate must be a positive number. Received ${rate}`);
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer. Received ${maxAttempts}`);

  const stats = emptyStats();
  const started = clock.now();
  const perBatch = batchTarget(rate, tickMs);
  const bucket = new TokenBucket(rate, Math.max(perBatch, Math.min(MAX_RECORDS_PER_PUT, Math.ceil(rate))), () => clock.now(), perBatch);
  const source = new BatchSource(records);

  const acknowledge = (record: R): void => {
    stats.sent++;
    stats.sentByKind[record.truth.kind]++;
    onSent?.(record);
  };

  const countFailure = (code: string, n: number): void => {
    stats.failedAttempts += n;
    stats.errorCodes[code] = (stats.errorCodes[code] ?? 0) + n;
  };

  const backoff = (attempt: number): Promise<void> =>
    clock.sleep(Math.floor(jitter() * Math.min(maxBackoffMs, baseBackoffMs * 2 ** (attempt - 1))));

  const putBatch = async (batch: R[]): Promise<void> => {
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) {
        stats.retried += pending.length;
        await backoff(attempt - 1);
      }
      stats.calls++;
      let results: PutRecordsResultEntry[];
      try {
        const output = await client.send(
          new PutRecordsCommand({
            StreamName: streamName,
            Records: pending.map((record) => ({ Data: record.data, PartitionKey: record.partitionKey })),
          }),
        );
        results = output.Records ?? [];
        if (results.length !== pending.length) {
          throw new ProducerError(`PutRecords returned ${results.length} results for ${pending.length} records`);
        }
      } catch (error) {
        const sdkError = error as SdkLikeError;
        if (error instanceof ProducerError || !isRetryableCallError(sdkError) || attempt >= maxAttempts) {
          throw error instanceof ProducerError ? error : new ProducerError(describeCallError(sdkError, streamName), { cause: error });
        }
        countFailure(sdkError.name ?? 'Error', pending.length);
        continue;
      }
      const failed: R[] = [];
      results.forEach((result, index) => {
        const record = pending[index] as R;
        if (result.ErrorCode === undefined) {
          acknowledge(record);
        } else {
          countFailure(result.ErrorCode, 1);
          failed.push(record);
        }
      });
      if (failed.length > 0 && attempt >= maxAttempts) {
        stats.dropped += failed.length;
        break;
      }
      pending = failed;
    }
  };

  while (signal?.aborted !== true) {
    const wait = bucket.msUntil(perBatch);
    if (wait > 0) {
      await clock.sleep(wait, signal);
      continue;
    }
    const batch = source.take(Math.floor(bucket.available()));
    if (batch.length === 0) break;
    bucket.take(batch.length);
    await putBatch(batch);
    stats.elapsedMs = clock.now() - started;
    onProgress?.(snapshot(stats));
  }
  stats.elapsedMs = clock.now() - started;
  return snapshot(stats);
}
