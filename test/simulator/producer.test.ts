import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  KinesisClient,
  ProvisionedThroughputExceededException,
  PutRecordsCommand,
  ResourceNotFoundException,
  type PutRecordsCommandInput,
  type PutRecordsResultEntry,
} from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { generateClicks, type GeneratedRecord } from '../../simulator/clicks';
import {
  BatchSource,
  MAX_BYTES_PER_PUT,
  ProducerError,
  StreamNameNotFoundError,
  TokenBucket,
  batchTarget,
  createKinesisClient,
  putAll,
  resolveStreamName,
  streamNameFromOutputs,
  type ProducerClock,
} from '../../simulator/producer';

const START = Date.parse('2025-03-01T12:00:00.000Z');
const clicks = (count: number): GeneratedRecord[] => Array.from(generateClicks({ seed: 5, startTime: START, count }));

/** Virtual time: sleeping advances it, so pacing and backoff are observable and instant. */
function fakeClock(): ProducerClock & { sleeps: number[]; time: number } {
  const clock = {
    time: 0,
    sleeps: [] as number[],
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.time += ms;
    },
  };
  return clock;
}

const ok = (i: number): PutRecordsResultEntry => ({ SequenceNumber: `4960${i}`, ShardId: 'shardId-000000000000' });
const throttled: PutRecordsResultEntry = { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000000' };
const entriesOf = (input: PutRecordsCommandInput): { Data?: Uint8Array; PartitionKey?: string }[] =>
  (input.Records ?? []).map(({ Data, PartitionKey }) => ({ Data, PartitionKey }));
const asEntries = (records: GeneratedRecord[]): { Data?: Uint8Array; PartitionKey?: string }[] =>
  records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey }));

describe('putAll: retrying the records PutRecords reports as failed', () => {
  // aws-sdk-client-mock is used only here, for the partial-failure retry path.
  const kinesis = mockClient(KinesisClient);
  const client = new KinesisClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

  beforeEach(() => kinesis.reset());
  afterAll(() => kinesis.restore());

  it('re-sends exactly the failed records, with backoff, and counts them', async () => {
    // Prepare
    const records = clicks(5);
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({ FailedRecordCount: 2, Records: [ok(0), throttled, ok(2), throttled, ok(4)] })
      .resolves({ FailedRecordCount: 0, Records: [ok(5), ok(6)] });
    const clock = fakeClock();
    const acknowledged: GeneratedRecord[] = [];

    // Act
    const stats = await putAll(client, 'clicks', records, { rate: 1000, clock, jitter: () => 0.5, onSent: (r) => acknowledged.push(r) });

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.args[0].input.StreamName).toBe('clicks');
    expect(entriesOf(calls[0]!.args[0].input)).toStrictEqual(asEntries(records));
    expect(entriesOf(calls[1]!.args[0].input)).toStrictEqual(asEntries([records[1]!, records[3]!]));
    expect(stats).toStrictEqual({
      sent: 5,
      failedAttempts: 2,
      retried: 2,
      dropped: 0,
      calls: 2,
      elapsedMs: 50,
      sentByKind: { valid: 5, resend: 0, late: 0, malformed: 0 },
      errorCodes: { ProvisionedThroughputExceededException: 2 },
    });
    expect(clock.sleeps).toStrictEqual([50]); // first backoff: jitter 0.5 x 100 ms
    expect(acknowledged).toStrictEqual([records[0], records[2], records[4], records[1], records[3]]);
  });

  it('backs off exponentially and drops a record after maxAttempts', async () => {
    // Prepare
    const records = clicks(2);
    kinesis
      .on(PutRecordsCommand)
      .resolvesOnce({ FailedRecordCount: 1, Records: [ok(0), throttled] })
      .resolves({ FailedRecordCount: 1, Records: [throttled] });
    const clock = fakeClock();

    // Act
    const stats = await putAll(client, 'clicks', records, { rate: 1000, clock, jitter: () => 0.999, maxAttempts: 4, baseBackoffMs: 100, maxBackoffMs: 300 });

    // Assess
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(4);
    expect(stats).toMatchObject({ sent: 1, failedAttempts: 4, retried: 3, dropped: 1, calls: 4 });
    expect(clock.sleeps).toStrictEqual([99, 199, 299]); // 100, 200, then capped at 300, times the jitter
  });

  it('retries a whole call rejected with a throttling error', async () => {
    // Prepare
    const records = clicks(3);
    kinesis
      .on(PutRecordsCommand)
      .rejectsOnce(new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: { httpStatusCode: 400 } }))
      .resolves({ FailedRecordCount: 0, Records: [ok(0), ok(1), ok(2)] });

    // Act
    const stats = await putAll(client, 'clicks', records, { rate: 1000, clock: fakeClock(), jitter: () => 0 });

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(entriesOf(calls[1]!.args[0].input)).toStrictEqual(asEntries(records));
    expect(stats).toMatchObject({ sent: 3, failedAttempts: 3, retried: 3, dropped: 0, calls: 2, errorCodes: { ProvisionedThroughputExceededException: 3 } });
  });

  it('fails fast, naming the fix, when the stream does not exist', async () => {
    // Prepare
    kinesis.on(PutRecordsCommand).rejects(new ResourceNotFoundException({ message: 'Stream clicks under account 000000000000 not found.', $metadata: {} }));

    // Act
    const run = putAll(client, 'clicks', clicks(3), { rate: 1000, clock: fakeClock() });

    // Assess
    await expect(run).rejects.toThrow(ProducerError);
    await expect(run).rejects.toThrow(/Stream clicks does not exist at this endpoint .*run `npm start` first, or pass --stream/);
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(1);
  });
});

describe('BatchSource', () => {
  const sized = (n: number, bytes: number): GeneratedRecord[] =>
    Array.from({ length: n }, (_, i) => ({
      partitionKey: `user-${i}`,
      data: new Uint8Array(bytes),
      emittedAt: START,
      truth: { kind: 'malformed', reason: 'oversized' } as const,
    }));

  it('cuts at 500 records', () => {
    // Prepare
    const source = new BatchSource(clicks(1_200));

    // Act
    const sizes = [source.take(10_000), source.take(10_000), source.take(10_000), source.take(10_000)].map((b) => b.length);

    // Assess
    expect(sizes).toStrictEqual([500, 500, 200, 0]);
  });

  it('cuts at 5 MiB and carries the record that did not fit, in order', () => {
    // Prepare
    const records = sized(12, 900 * 1024); // 5 fit in 5 MiB, 6 do not
    const source = new BatchSource(records);

    // Act
    const batches = [source.take(500), source.take(500), source.take(500)];

    // Assess
    expect(batches.map((b) => b.length)).toStrictEqual([5, 5, 2]);
    expect(batches.flat()).toStrictEqual(records);
    for (const batch of batches) {
      expect(batch.reduce((n, r) => n + r.data.byteLength + r.partitionKey.length, 0)).toBeLessThanOrEqual(MAX_BYTES_PER_PUT);
    }
  });

  it('takes no more than the room it is given', () => {
    expect(new BatchSource(clicks(10)).take(3)).toHaveLength(3);
  });

  it('rejects a record over 1 MiB', () => {
    expect(() => new BatchSource(sized(1, 1024 * 1024 + 1)).take(1)).toThrow(/must not exceed 1048576 bytes/);
  });
});

describe('pacing', () => {
  it.each([
    [5, 1],
    [50, 5],
    [500, 50],
    [10_000, 500],
  ])('sends small, frequent batches: rate %s/s → %s records per 100 ms tick', (rate, expected) => {
    expect(batchTarget(rate, 100)).toBe(expected);
  });

  it('accrues tokens at the rate, up to the capacity', () => {
    // Prepare
    let time = 0;
    const bucket = new TokenBucket(500, 100, () => time, 0);

    // Act / Assess
    expect(bucket.msUntil(50)).toBe(100);
    time = 100;
    expect(bucket.available()).toBe(50);
    bucket.take(50);
    expect(bucket.available()).toBe(0);
    time = 10_000;
    expect(bucket.available()).toBe(100);
    expect(bucket.msUntil(1_000)).toBe(0); // asks beyond the capacity are capped
  });
});

describe('stream name and client', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'watershed-sim-'));
  const write = (relative: string, content: string): string => {
    const file = path.join(dir, relative);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    return file;
  };

  it('reads ClicksStreamName from .watershed/outputs.json for the local target', () => {
    // Prepare
    write('.watershed/outputs.json', JSON.stringify({ Watershed: { ClicksStreamArn: 'arn:x', ClicksStreamName: 'Watershed-Clicks-1' } }));

    // Act / Assess
    expect(resolveStreamName({ target: 'local', cwd: dir })).toBe('Watershed-Clicks-1');
    expect(resolveStreamName({ target: 'local', cwd: dir, stream: 'explicit' })).toBe('explicit');
  });

  it('accepts a suffixed key and another stack name', () => {
    expect(streamNameFromOutputs({ Other: {}, WatershedDev: { ClickstreamClicksStreamName1A2B3C4D: 'dev-clicks' } }, 'f')).toBe('dev-clicks');
  });

  it.each([
    [{ target: 'local' as const }, /\.watershed\/outputs\.json does not exist; run `npm start` first, or pass --stream/],
    [{ target: 'aws' as const }, /No stream name for target aws: pass --stream NAME, or --outputs-file PATH/],
    [{ target: 'localstack' as const, outputsFile: 'bad.json' }, /Cannot read bad.json as JSON/],
    [{ target: 'aws' as const, outputsFile: 'nokey.json' }, /nokey.json has no ClicksStreamName output/],
  ])('explains a missing stream name: %o', (lookup, message) => {
    // Prepare
    const empty = mkdtempSync(path.join(tmpdir(), 'watershed-sim-'));
    writeFileSync(path.join(empty, 'bad.json'), '{ nope');
    writeFileSync(path.join(empty, 'nokey.json'), JSON.stringify({ Watershed: { ClicksStreamArn: 'arn:x' } }));

    // Act / Assess
    expect(() => resolveStreamName({ ...lookup, cwd: empty })).toThrow(StreamNameNotFoundError);
    expect(() => resolveStreamName({ ...lookup, cwd: empty })).toThrow(message);
  });

  it('configures local targets with test credentials, us-east-1 and the local endpoint', async () => {
    // Act
    const client = createKinesisClient({ kind: 'local' });
    const custom = createKinesisClient({ kind: 'localstack', endpoint: 'http://127.0.0.1:4567', region: 'eu-west-1' });

    // Assess
    expect(await client.config.region()).toBe('us-east-1');
    expect(await client.config.credentials()).toMatchObject({ accessKeyId: 'test', secretAccessKey: 'test' });
    expect(await client.config.endpoint?.()).toMatchObject({ hostname: 'localhost', port: 4566, protocol: 'http:' });
    expect(await custom.config.region()).toBe('eu-west-1');
    expect(await custom.config.endpoint?.()).toMatchObject({ hostname: '127.0.0.1', port: 4567 });
    client.destroy();
    custom.destroy();
  });
});
