import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickEventInput } from '../../contracts/clickstream';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import type { EdgeHandler } from '../../local/edge';
import { METRICS_PATH } from '../../local/telemetry/local-cloud-metrics';
import { runOps } from '../../ops/cli';
import { parsePrometheusText, type PrometheusSample } from '../../ops/core/prometheus-text';
import { eventually, startTestCloud, windowCounts } from '../support/local-cloud';
import { requireJava, requirePromtool, titled } from '../support/requirements';

const java = await requireJava();
const promtool = requirePromtool();

/** Runs `npm run ops -- <argv>` in process against the test's local cloud. */
async function ops(cloud: LocalCloud, argv: string[], signal = new AbortController().signal): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runOps(argv, { out: (text) => (out += text), err: (text) => (err += text), signal }, { stateDirectory: cloud.stateDirectory });
  return { code, out, err };
}

async function scrape(cloud: LocalCloud): Promise<{ text: string; samples: PrometheusSample[] }> {
  const response = await fetch(`${cloud.edgeUrl}${METRICS_PATH}`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return { text, samples: parsePrometheusText(text) };
}

const total = (samples: PrometheusSample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value)).reduce((sum, sample) => sum + sample.value, 0);

describe.skipIf(!java.available)(titled('operations on the local cloud: metrics, ops status, tail, dlq and replay', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let kinesis: KinesisClient;
  let stream: string;
  let aggregator: string;

  /** Puts records on one shard (one partition key), in one call. */
  async function put(datas: (string | ClickEventInput)[], partitionKey: string = randomUUID()): Promise<void> {
    const { FailedRecordCount } = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: datas.map((data) => ({ PartitionKey: partitionKey, Data: Buffer.from(typeof data === 'string' ? data : JSON.stringify(data)) })),
      }),
    );
    expect(FailedRecordCount ?? 0).toBe(0);
  }

  const click = (url: string): ClickEventInput => ({ eventId: randomUUID(), url, userId: 'u-ops', timestamp: Date.now() });

  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud());
    kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
    stream = cloud.outputs.ClicksStreamName!;
    aggregator = cloud.stack.eventSourceMappings.find((mapping) => mapping.eventSourceArn.endsWith(`/${stream}`))!.functionName;
  });

  afterAll(async () => {
    kinesis?.destroy();
    await dispose?.();
  });

  it('serves Prometheus metrics whose counts match the pipeline own counts, and promtool accepts them', async () => {
    const clicks = Array.from({ length: 300 }, (_, index) => click(`/metrics/${index % 7}`));
    for (let start = 0; start < clicks.length; start += 100) await put(clicks.slice(start, start + 100), `key-${start}`);
    await eventually(async () => cloud.metrics.sum('ClicksCounted') >= 300, () => `counted ${cloud.metrics.sum('ClicksCounted')} of 300`);

    const { text, samples } = await scrape(cloud);
    expect(total(samples, 'watershed_stream_incoming_records_total', { stream })).toBe(300);
    expect(total(samples, 'watershed_stream_read_records_total', { stream, function: aggregator })).toBe(300);
    expect(total(samples, 'watershed_clicks_counted_total', { function: aggregator })).toBe(300);
    expect(total(samples, 'watershed_clicks_counted_total')).toBe(cloud.metrics.sum('ClicksCounted'));
    expect(total(samples, 'watershed_function_invocations_total', { function: aggregator })).toBeGreaterThan(0);
    expect(total(samples, 'watershed_function_duration_seconds_count', { function: aggregator })).toBe(total(samples, 'watershed_function_invocations_total', { function: aggregator }));
    expect(total(samples, 'watershed_function_batch_size_records_sum', { function: aggregator })).toBe(300);
    expect(samples.some((sample) => sample.name === 'watershed_queue_messages' && sample.labels.state === 'visible')).toBe(true);

    // Every metric the Grafana board charts is served.
    const board = readFileSync(join(__dirname, '..', '..', 'ops', 'grafana', 'watershed-local.json'), 'utf8');
    const charted = new Set([...board.matchAll(/\b(watershed_[a-z_]+)/g)].map((match) => match[1]!.replace(/_(bucket|count|sum)$/, '')));
    const served = new Set(samples.map((sample) => sample.name.replace(/_(bucket|count|sum)$/, '')));
    expect([...charted].filter((name) => !served.has(name))).toStrictEqual([]);

    if (promtool.available) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
      expect(check.status).toBe(0);
    }
  });

  it('ops status lists the shards, their iterator age, the queues and the functions', async () => {
    const { code, out } = await ops(cloud, ['status', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(out) as { streams: { stream: string; shards: { state: string }[] }[]; iteratorAges: { function: string }[]; queues: { key: string }[]; functions: { name: string; state: string }[] };
    expect(report.streams.find((entry) => entry.stream === stream)?.shards.every((shard) => shard.state === 'open')).toBe(true);
    expect(report.iteratorAges.some((age) => age.function === aggregator)).toBe(true);
    expect(report.queues.map((queue) => queue.key)).toEqual(expect.arrayContaining(['DeadLetterQueueUrl', 'LateEventsQueueUrl', 'FailedBatchQueueUrl']));
    expect(report.functions).toContainEqual(expect.objectContaining({ name: aggregator, state: 'Active' }));
  });

  it('ops tail shows the records put while it runs, decoded, with shard, sequence number and arrival', async () => {
    const from = new Date(Date.now() - 1000).toISOString();
    const ours = [click('/tail/a'), click('/tail/b'), click('/tail/c')];
    await put(ours);
    const { code, out } = await ops(cloud, ['tail', stream, '--from', from, '--json', '--limit', '3']);
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((line) => JSON.parse(line) as { shard: string; sequenceNumber: string; arrival: string; data: { json: ClickEventInput } });
    expect(lines.map((line) => line.data.json.eventId)).toStrictEqual(ours.map((event) => event.eventId));
    for (const line of lines) {
      expect(line.shard).toMatch(/^shardId-/);
      expect(line.sequenceNumber).toMatch(/^\d+$/);
      expect(Number.isNaN(Date.parse(line.arrival))).toBe(false);
    }
  });

  it('ops dlq groups injected bad records by reason, with the record decoded', async () => {
    await put(['not json at all', '{"broken":']);
    await put([JSON.stringify({ eventId: 'e-schema-1', url: '/x' }), JSON.stringify({ eventId: 'e-schema-2', userId: 'u' }), JSON.stringify({ eventId: 'e-schema-3', url: 5, userId: 'u', timestamp: Date.now() })]);
    type Groups = { groups: { queue: string; reason: string; count: number; messages: { record: { text?: string; json?: unknown } }[] }[] };
    let groups: Groups['groups'] = [];
    await eventually(
      async () => {
        const { code, out } = await ops(cloud, ['dlq', 'DeadLetterQueueUrl', '--json']);
        expect(code).toBe(0);
        groups = (JSON.parse(out) as Groups).groups;
        return groups.reduce((sum, group) => sum + group.count, 0) >= 5;
      },
      () => JSON.stringify(groups),
    );
    expect(groups.map(({ queue, reason, count }) => ({ queue, reason, count }))).toStrictEqual([
      { queue: 'DeadLetterQueueUrl', reason: 'schema', count: 3 },
      { queue: 'DeadLetterQueueUrl', reason: 'not-json', count: 2 },
    ]);
    expect(groups[1]!.messages.map((message) => message.record.text).sort()).toStrictEqual(['not json at all', '{"broken":'].sort());
    // dlq reads without consuming: the messages are still there.
    const again = await ops(cloud, ['dlq', 'DeadLetterQueueUrl', '--reason', 'not-json', '--json']);
    expect((JSON.parse(again.out) as Groups).groups).toMatchObject([{ reason: 'not-json', count: 2 }]);
  });

  it('iterator age rises while the function cannot work and falls after; replay counts the failed batch exactly once, even run twice', async () => {
    // DynamoDB answers every call with a server error: the aggregator fails, retries, bisects, gives up.
    const broken: EdgeHandler = (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'injected by the test' }));
    };
    const countOf = async (url: string): Promise<number> => [...(await windowCounts(cloud)).entries()].filter(([key]) => key.startsWith(`${url}|`)).reduce((sum, [, count]) => sum + count, 0);
    const restore = () => cloud.services.edge.register('dynamodb', cloud.services.services.dynamodb.endpoint);

    // Iterator age: rises while the function fails on a record, falls once it works again.
    const stalled = `/stalled/${randomUUID()}`;
    cloud.services.edge.register('dynamodb', broken);
    try {
      await put([click(stalled)]);
      let first = 0;
      await eventually(async () => (first = await ageOf(cloud, stream)) >= 1, () => `iterator age ${first} s`);
      let later = 0;
      await eventually(async () => (later = await ageOf(cloud, stream)) >= first + 1, () => `iterator age ${later} s after ${first} s`);
    } finally {
      restore();
    }
    let age = 0;
    await eventually(async () => (age = await ageOf(cloud, stream)) < 1, () => `iterator age ${age} s`);

    // A batch Lambda gives up on: both records end in failed-batch messages, none is counted.
    const url = `/replay/${randomUUID()}`;
    const failedRecords = async (): Promise<number> => {
      const { out } = await ops(cloud, ['dlq', 'FailedBatchQueueUrl', '--json']);
      const parsed = JSON.parse(out) as { groups: { messages: { batch: { KinesisBatchInfo: { startSequenceNumber: string; batchSize: number } } }[] }[] };
      return parsed.groups.flatMap((group) => group.messages).reduce((sum, message) => sum + message.batch.KinesisBatchInfo.batchSize, 0);
    };
    const before = await failedRecords();
    cloud.services.edge.register('dynamodb', broken);
    try {
      await put([click(url), click(url)]);
      let failed = 0;
      await eventually(async () => (failed = await failedRecords()) >= before + 2, () => `${failed - before} of 2 records in failed-batch messages`, 120_000);
    } finally {
      restore();
    }
    expect(await countOf(url)).toBe(0);
    // The shard moves on past the records it gave up on: a later click is counted and checkpointed,
    // so the replay brings back records behind the checkpoint (which must still count once).
    const later = `/later/${randomUUID()}`;
    await put([click(later)]);
    await eventually(async () => (await countOf(later)) === 1, () => 'the later click counted');

    const dlqOut = JSON.parse((await ops(cloud, ['dlq', 'FailedBatchQueueUrl', '--json'])).out) as { groups: { reason: string; messages: { body: string }[] }[] };
    expect(dlqOut.groups.map((group) => group.reason)).toStrictEqual(['RetryAttemptsExhausted']);
    const bodies = dlqOut.groups.flatMap((group) => group.messages.map((message) => message.body));

    const dryRun = await ops(cloud, ['replay', '--dry-run', '--json']);
    expect(dryRun.code).toBe(0);
    const wouldReplay = (JSON.parse(dryRun.out) as { results: { outcome: string; records: number }[] }).results;
    expect(wouldReplay.map((result) => result.outcome)).toStrictEqual(bodies.map(() => 'would replay'));
    expect(wouldReplay.reduce((sum, result) => sum + result.records, 0)).toBe(before + 2);

    const first = await ops(cloud, ['replay', '--json']);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const replayed = (JSON.parse(first.out) as { results: { outcome: string; records: number }[] }).results;
    expect(replayed.map((result) => result.outcome)).toStrictEqual(bodies.map(() => 'replayed'));
    expect(replayed.reduce((sum, result) => sum + result.records, 0)).toBe(before + 2);
    expect(await countOf(url)).toBe(2);
    // The stalled record was counted once, whether it went through on a retry or by the replay.
    expect(await countOf(stalled)).toBe(1);
    expect(await countOf(later)).toBe(1);
    expect(JSON.parse((await ops(cloud, ['dlq', 'FailedBatchQueueUrl', '--json'])).out)).toStrictEqual({ groups: [] });

    // A second replay of the same batches (as after a lost delete) changes nothing: exactly once.
    const sqs = new SQSClient(localClientConfig(cloud.edgeUrl));
    try {
      for (const body of bodies) await sqs.send(new SendMessageCommand({ QueueUrl: cloud.outputs.FailedBatchQueueUrl, MessageBody: body }));
    } finally {
      sqs.destroy();
    }
    const second = await ops(cloud, ['replay', '--json']);
    expect(second.code).toBe(0);
    expect((JSON.parse(second.out) as { results: { outcome: string }[] }).results.map((result) => result.outcome)).toStrictEqual(bodies.map(() => 'replayed'));
    expect(await countOf(url)).toBe(2);
    expect(await countOf(stalled)).toBe(1);
    expect(await countOf(later)).toBe(1);
  });

  it('ops commands fail clearly: an unknown stream, an unknown command, no local cloud', async () => {
    const unknown = await ops(cloud, ['tail', 'no-such-stream', '--limit', '1']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('Stream no-such-stream does not exist');
    expect(unknown.err).toContain(stream);
    const usage = await ops(cloud, ['tail', stream, '--from', 'yesterday']);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('Received "yesterday"');
    const none = await runOps(['status'], { out: () => undefined, err: () => undefined, signal: new AbortController().signal }, { stateDirectory: join(cloud.stateDirectory, 'nothing-here') });
    expect(none).toBe(1);
  });
});

async function ageOf(cloud: LocalCloud, stream: string): Promise<number> {
  const text = await (await fetch(`${cloud.edgeUrl}${METRICS_PATH}`)).text();
  return Math.max(0, ...parsePrometheusText(text).filter((sample) => sample.name === 'watershed_stream_iterator_age_seconds' && sample.labels.stream === stream).map((sample) => sample.value));
}
