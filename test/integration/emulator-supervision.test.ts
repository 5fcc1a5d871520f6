import { KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetterMessage } from '../../contracts/clickstream';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import type { SupervisedServiceName } from '../../local/emulators';
import { expectedWindowCounts, generateClicks, type GeneratedRecord } from '../../simulator/clicks';
import { putAll } from '../../simulator/producer';
import { drainQueue, eventually, startTestCloud, windowCounts } from '../support/local-cloud';
import { requireJava, titled } from '../support/requirements';

interface Health {
  services: Record<string, string>;
  details?: Record<string, string>;
}

async function health(cloud: LocalCloud): Promise<Health> {
  const response = await fetch(`${cloud.edgeUrl}/_localstack/health`);
  return (await response.json()) as Health;
}

/** Polls `check` every 20 ms (a death must show at once, long before the 0.5 s restart). */
async function pollUntil<T>(check: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** kill -9 of the engine's own process; resolves with what /_localstack/health said right after, once a new engine runs. */
async function killAndWatchRestart(cloud: LocalCloud, service: SupervisedServiceName, lines: string[], persistent = true): Promise<Health> {
  const pid = cloud.services.services[service].pid;
  expect(pid, `${service} has a pid`).toBeGreaterThan(0);
  process.kill(pid!, 'SIGKILL');
  const reported = await pollUntil(async () => {
    const now = await health(cloud);
    return now.services[service] === 'running' ? undefined : now;
  }, `${service} reported as not running after kill -9`, 3000);
  await pollUntil(async () => ((await health(cloud)).services[service] === 'running' && cloud.services.services[service].pid !== pid ? true : undefined), `${service} restarted`, 90_000);
  expect(lines.some((line) => line.startsWith(`! ${cloud.services.services[service].name} died (signal SIGKILL, pid ${pid})`))).toBe(true);
  const restarted = persistent ? 'its data is back (--persist)' : 'it starts EMPTY: its data was lost (run with --persist to keep data across crashes)';
  expect(lines.some((line) => line.startsWith(`${cloud.services.services[service].name} restarted after`) && line.endsWith(restarted))).toBe(true);
  expect(reported.services[service]).toBe('restarting');
  expect(reported.details?.[service]).toMatch(/died \(signal SIGKILL\); restarting in 500 ms$/);
  // The pipelines come back only once the data is back, or provisioned again.
  await cloud.recovery.settled();
  expect(cloud.recovery.failure).toBeUndefined();
  return reported;
}

async function produce(cloud: LocalCloud, records: GeneratedRecord[]): Promise<void> {
  const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
  try {
    const stats = await putAll(kinesis, cloud.outputs.ClicksStreamName!, records, { rate: 3000 });
    // Every record acknowledged, across the restart: what was acknowledged must be counted, once.
    expect(stats.sent).toBe(records.length);
  } finally {
    kinesis.destroy();
  }
}

const total = (counts: Map<string, number>): number => [...counts.values()].reduce((sum, count) => sum + count, 0);

const java = await requireJava();

async function expectExactCounts(cloud: LocalCloud, expected: Map<string, number>): Promise<void> {
  let counted = new Map<string, number>();
  await eventually(
    async () => total((counted = await windowCounts(cloud))) >= total(expected),
    () => `counted ${total(counted)} of ${total(expected)} clicks`,
    180_000,
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(Object.fromEntries(await windowCounts(cloud))).toStrictEqual(Object.fromEntries(expected));
}

/** One local cloud for the describe block around it, with its log lines kept (DUMP_LINES=1 prints them at the end). */
function useTestCloud(options: { persist?: boolean }): { readonly cloud: LocalCloud; readonly lines: string[] } {
  let cloud: LocalCloud | undefined;
  let dispose: (() => Promise<void>) | undefined;
  const lines: string[] = [];
  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud({ ...options, log: (line) => lines.push(line) }));
  }, 180_000);
  afterAll(async () => {
    if (process.env.DUMP_LINES) console.log(lines.filter((line) => !line.startsWith('  ')).join('\n'));
    await dispose?.();
  });
  return {
    get cloud() {
      if (cloud === undefined) throw new Error('the local cloud did not start');
      return cloud;
    },
    lines,
  };
}

describe.skipIf(!java.available)(titled('supervised emulators: kill -9 of each engine while the local cloud runs (--persist)', java), () => {
  const local = useTestCloud({ persist: true });

  it('reports each death in /_localstack/health at once, restarts the engine with its data, and counts clicks exactly', { timeout: 300_000 }, async () => {
    const { cloud, lines } = local;
    // Prepare: three phases of clicks with re-sends, late and malformed records, counted offline
    const records = [...generateClicks({ count: 1800, rate: 2000, seed: 1212, duplicates: 0.03, late: 0.02, malformed: 0.02, startTime: Date.now() })];
    const phases = [records.slice(0, 600), records.slice(600, 1200), records.slice(1200)];
    const expected = expectedWindowCounts(records);
    const s3 = new S3Client({ ...localClientConfig(cloud.edgeUrl), forcePathStyle: true });

    try {
      // Act 1: Kinesis dies while a phase is being put; the producer's requests wait on the edge and go on
      await produce(cloud, phases[0]!);
      const putting = produce(cloud, phases[1]!);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const kinesisDown = await killAndWatchRestart(cloud, 'kinesis', lines);
      await putting;

      // Act 2: DynamoDB Local (Java) dies while the aggregator works; clicks keep arriving meanwhile
      const dynamoDbPut = produce(cloud, phases[2]!);
      const dynamoDbDown = await killAndWatchRestart(cloud, 'dynamodb', lines);
      await dynamoDbPut;

      // Act 3: s3rver dies; an object written before is there after
      await s3.send(new CreateBucketCommand({ Bucket: 'supervision-probe' }));
      await s3.send(new PutObjectCommand({ Bucket: 'supervision-probe', Key: 'before-the-crash.txt', Body: 'kept' }));
      const s3Down = await killAndWatchRestart(cloud, 's3', lines);
      const kept = await s3.send(new GetObjectCommand({ Bucket: 'supervision-probe', Key: 'before-the-crash.txt' }));

      // Assess: each death reported with its cause while the engine restarted (see killAndWatchRestart)
      expect([kinesisDown.services.kinesis, dynamoDbDown.services.dynamodb, s3Down.services.s3]).toStrictEqual(['restarting', 'restarting', 'restarting']);
      expect(await kept.Body?.transformToString()).toBe('kept');
      const after = (await health(cloud)).services;
      expect(Object.entries(after).filter(([, status]) => status !== 'running')).toStrictEqual([]);
      expect(Object.keys(after)).toEqual(expect.arrayContaining(['dynamodb', 'kinesis', 's3', 'sqs']));

      // Assess: every click counted once, as computed offline
      await expectExactCounts(cloud, expected);

      // Assess: no batch burnt its retries against a dead engine; every malformed record dead-lettered
      expect(await drainQueue(cloud, cloud.outputs.FailedBatchQueueUrl!)).toStrictEqual([]);
      const deadLetters = (await drainQueue(cloud, cloud.outputs.DeadLetterQueueUrl!)) as DeadLetterMessage[];
      const origins = new Set(deadLetters.map((message) => `${message.origin.shardId}/${message.origin.sequenceNumber}`));
      expect(origins.size).toBe(records.filter((record) => record.truth.kind === 'malformed').length);
      expect(cloud.recovery.failure).toBeUndefined();
    } finally {
      s3.destroy();
    }
  });
});

describe.skipIf(!java.available)(titled('supervised emulators without --persist: an engine that comes back empty is provisioned again', java), () => {
  const local = useTestCloud({ persist: false });

  it('says the data was lost, re-creates the stream and the tables from the template, and counts what comes after exactly', { timeout: 300_000 }, async () => {
    const { cloud, lines } = local;
    // Prepare: three phases of clicks, each counted offline
    const records = [...generateClicks({ count: 900, rate: 2000, seed: 1213, duplicates: 0.03, late: 0, malformed: 0.02, startTime: Date.now() })];
    const [first, second, third] = [records.slice(0, 300), records.slice(300, 600), records.slice(600)];
    const tableStream = () => cloud.stack.eventSourceMappings.find((mapping) => mapping.eventSourceArn.includes(':table/'))?.eventSourceArn;
    const streamBefore = tableStream();
    expect(streamBefore).toBeDefined();

    // Act 1: every click of the first phase counted, then Kinesis dies and comes back empty
    await produce(cloud, first);
    await expectExactCounts(cloud, expectedWindowCounts(first));
    await killAndWatchRestart(cloud, 'kinesis', lines, false);

    // Assess: the loss is said, the stream is provisioned again, the mapping reads it from its start
    expect(lines).toContain('DATA LOST: kinesis restarted without its data; provisioning the template again');
    expect(lines.some((line) => line.startsWith(`re-provisioned kinesis stream  ${cloud.outputs.ClicksStreamName}`))).toBe(true);
    expect(lines.some((line) => /^event source \S+: its stream is new and empty; it reads it from the start/.test(line))).toBe(true);
    await produce(cloud, second);
    await expectExactCounts(cloud, expectedWindowCounts([...first, ...second]));

    // Act 2: DynamoDB Local dies and comes back empty: the counts so far are gone with it
    await killAndWatchRestart(cloud, 'dynamodb', lines, false);
    expect(lines).toContain('DATA LOST: dynamodb restarted without its data; provisioning the template again');
    expect(lines.some((line) => line.startsWith(`re-provisioned dynamodb table  ${cloud.outputs.ClickWindowsTableName}`))).toBe(true);
    // A table created again has a stream of its own: the dashboard's mapping reads the new one.
    expect(tableStream()).not.toBe(streamBefore);
    await produce(cloud, third);

    // Assess: the clicks after the loss, exactly; nothing burnt its retries on a dead engine
    await expectExactCounts(cloud, expectedWindowCounts(third));
    expect(await drainQueue(cloud, cloud.outputs.FailedBatchQueueUrl!)).toStrictEqual([]);
  });
});
