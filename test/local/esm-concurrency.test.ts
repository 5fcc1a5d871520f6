import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, PutItemCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import type { EventSourceMappingSpec, FunctionSpec } from '../../local/cloudformation/provision';
import { startEdge } from '../../local/edge';
import { startDynamoDb, startKinesis, type RunningService } from '../../local/emulators';
import { DynamoDbStreamEventSource } from '../../local/lambda/dynamodb-event-source';
import { KinesisEventSource } from '../../local/lambda/kinesis-event-source';
import { LocalLambdaRuntime, type InvokeResult } from '../../local/lambda/runtime';
import { startSqs, type SqsServer } from '../../local/sqs';
import { dynamoDbStreamsView, type StreamViewMember } from '../support/dynamodb-streams-view';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

// The concurrency model of the local stream mappings, as Lambda's: one batch in flight per shard,
// in order; different shards in parallel, each in its own execution environment of the one
// function; parents read to their end before their children. Everything is measured inside the
// workers (test/fixtures/functions/batch-recorder), on kinesalite.

const FIXTURES = fileURLToPath(new URL('../fixtures/functions', import.meta.url));
const ACCOUNT = '000000000000';
const FUNCTION_NAME = 'recorder';
const HASH_SPACE = 2n ** 128n;

let kinesisService: RunningService;
let sqsServer: SqsServer;
let kinesis: KinesisClient;
let sqs: SQSClient;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  [kinesisService, sqsServer] = await Promise.all([startKinesis({}), startSqs({})]);
  kinesis = new KinesisClient(localClientConfig(kinesisService.endpoint));
  sqs = new SQSClient(localClientConfig(sqsServer.endpoint));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  kinesis?.destroy();
  sqs?.destroy();
  await Promise.all([kinesisService?.stop(), sqsServer?.stop()]);
});

/** One invocation as the worker measured it. */
interface Invocation {
  threadId: number;
  shardId: string;
  labels: string[];
  startedAt: number;
  endedAt: number;
}

async function streamFactory(shardCount: number): Promise<{ name: string; arn: string }> {
  const name = `concurrency-${randomUUID().slice(0, 8)}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  await waitForActive(name);
  return { name, arn: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/${name}` };
}

async function waitForActive(streamName: string): Promise<void> {
  await waitUntil(
    async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
    `stream ${streamName} to be ACTIVE`,
  );
}

async function openShards(streamName: string): Promise<Shard[]> {
  const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
  return Shards.filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined);
}

/** Puts one record per label, in order, with a hash key that lands it on the shard owning `hashKey`. */
async function putAt(streamName: string, hashKey: bigint, labels: string[]): Promise<void> {
  const { FailedRecordCount } = await kinesis.send(
    new PutRecordsCommand({
      StreamName: streamName,
      Records: labels.map((label) => ({ Data: Buffer.from(label), PartitionKey: label, ExplicitHashKey: hashKey.toString() })),
    }),
  );
  expect(FailedRecordCount).toBe(0);
}

/** The batch-recorder fixture on a real local runtime; `invoke` records what each worker measured. */
function recorderFactory(sleepMs: number) {
  const spec: FunctionSpec = {
    logicalId: 'RecorderFunction',
    functionName: FUNCTION_NAME,
    functionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${FUNCTION_NAME}`,
    codeDirectory: join(FIXTURES, 'batch-recorder'),
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    timeoutSeconds: 30,
    memorySize: 128,
    environment: { SLEEP_MS: String(sleepMs) },
  };
  // The recorder logs `started <first label>` as each invocation begins, inside its worker.
  const started = new Map<string, () => void>();
  const runtime = new LocalLambdaRuntime([spec], { edgeUrl: 'http://127.0.0.1:1', onLogLine: (_name, line) => started.get(line)?.() });
  cleanups.push(() => runtime.stop());
  /** Resolves once an invocation whose first record is `label` is running in its worker. */
  const startedWith = (label: string) => new Promise<void>((resolve) => started.set(`started ${label}`, resolve));
  const invocations: Invocation[] = [];
  const invoke = async (functionName: string, event: unknown): Promise<InvokeResult> => {
    const result = await runtime.invoke(functionName, event);
    if (!result.ok) throw new Error(`the recorder failed: ${result.errorType}: ${result.errorMessage}`);
    invocations.push(result.payload as Invocation);
    return result;
  };
  return { runtime, invocations, invoke, startedWith };
}

/** An AWS::Lambda::EventSourceMapping as provisionStack hands it over. */
function mappingSpecFactory(eventSourceArn: string, batchSize: number): EventSourceMappingSpec {
  return {
    logicalId: 'RecorderEventSource',
    uuid: randomUUID(),
    functionName: FUNCTION_NAME,
    eventSourceArn,
    properties: { BatchSize: batchSize, StartingPosition: 'TRIM_HORIZON', MaximumBatchingWindowInSeconds: 0 },
  };
}

const noDestination = (): string => {
  throw new Error('no on-failure destination in these tests');
};

/** The recorder behind a Kinesis mapping on the stream. */
async function mappingFactory(stream: { arn: string }, { sleepMs, batchSize }: { sleepMs: number; batchSize: number }) {
  const { runtime, invocations, invoke, startedWith } = recorderFactory(sleepMs);
  const source = new KinesisEventSource(mappingSpecFactory(stream.arn, batchSize), {
    kinesis,
    sqs,
    invoke,
    queueUrlForArn: noDestination,
    idlePollMs: 25,
    shardDiscoveryIntervalMs: 200,
  });
  cleanups.push(() => source.stop());
  return { runtime, source, invocations, startedWith, start: () => source.start() };
}

/** Most invocations running at one instant, from the workers' own start and end times. */
function peakOverlap(invocations: readonly Invocation[]): number {
  const edges = invocations.flatMap((invocation) => [
    { at: invocation.startedAt, delta: 1 },
    { at: invocation.endedAt, delta: -1 },
  ]);
  // An end at the same millisecond as a start is not an overlap.
  edges.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let running = 0;
  let peak = 0;
  for (const edge of edges) {
    running += edge.delta;
    peak = Math.max(peak, running);
  }
  return peak;
}

const overlaps = (a: Invocation, b: Invocation) => a.startedAt < b.endedAt && b.startedAt < a.endedAt;

/**
 * Each shard's invocations never overlap, come in order, and deliver its labels once each. A
 * shard is named by its id (Kinesis) or by the prefix of its labels (`shardOf`).
 */
function expectOneBatchAtATimeInOrder(
  invocations: readonly Invocation[],
  expectedLabels: Record<string, string[]>,
  shardOf = (invocation: Invocation): string => invocation.shardId,
): void {
  for (const [shardId, labels] of Object.entries(expectedLabels)) {
    const ofShard = invocations.filter((invocation) => shardOf(invocation) === shardId).sort((a, b) => a.startedAt - b.startedAt);
    for (let index = 1; index < ofShard.length; index += 1) {
      expect(ofShard[index]!.startedAt, `${shardId}: batch ${index} started before batch ${index - 1} ended`).toBeGreaterThanOrEqual(ofShard[index - 1]!.endedAt);
    }
    expect(ofShard.flatMap((invocation) => invocation.labels), shardId).toStrictEqual(labels);
  }
}

const labels = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}-${String(index).padStart(2, '0')}`);
const hashKeyOf = (shard: Shard) => BigInt(shard.HashKeyRange!.StartingHashKey!);
const withPrefix = (invocations: readonly Invocation[], prefix: string) => invocations.filter((invocation) => invocation.labels[0]!.startsWith(prefix));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

describe('Kinesis event source mapping: concurrency as on Lambda', () => {
  it('runs the 4 shards of a stream in parallel, each in its own execution environment, one batch per shard at a time, in order', async () => {
    // Prepare: a backlog of 4 batches on each of 4 shards
    const stream = await streamFactory(4);
    const shards = await openShards(stream.name);
    const expected: Record<string, string[]> = {};
    for (const [index, shard] of shards.entries()) {
      expected[shard.ShardId!] = labels(`s${index}`, 20);
      await putAt(stream.name, hashKeyOf(shard), expected[shard.ShardId!]!);
    }
    const { runtime, invocations, start } = await mappingFactory(stream, { sleepMs: 300, batchSize: 5 });

    // Act
    await start();
    await waitUntil(() => invocations.length === 16, 'all 16 batches');

    // Assess
    expectOneBatchAtATimeInOrder(invocations, expected);
    expect(peakOverlap(invocations)).toBe(4);
    for (const a of invocations) {
      for (const b of invocations) {
        if (a !== b && overlaps(a, b)) expect(a.threadId, 'overlapping invocations share an execution environment').not.toBe(b.threadId);
      }
    }
    expect(runtime.stats(FUNCTION_NAME)).toMatchObject({ invocations: 16, environments: 4, peakConcurrency: 4 });
  });

  it('after a split, reads the parent to its end before either child, then runs the children in parallel; after a merge, both parents before the child', async () => {
    // Prepare: a backlog on one shard, read slowly
    const stream = await streamFactory(1);
    const [parent] = await openShards(stream.name);
    await putAt(stream.name, 0n, labels('p', 30));
    const { source, invocations, start } = await mappingFactory(stream, { sleepMs: 150, batchSize: 5 });
    await start();
    await waitUntil(() => invocations.length >= 1, 'the first batch of the parent');

    // Act 1: split while the parent still has a backlog, and write to both children at once
    await kinesis.send(new SplitShardCommand({ StreamName: stream.name, ShardToSplit: parent!.ShardId!, NewStartingHashKey: (HASH_SPACE / 2n).toString() }));
    await waitForActive(stream.name);
    const [low, high] = (await openShards(stream.name)).sort((a, b) => (hashKeyOf(a) < hashKeyOf(b) ? -1 : 1));
    expect([low!.ParentShardId, high!.ParentShardId]).toStrictEqual([parent!.ShardId, parent!.ShardId]);
    await putAt(stream.name, hashKeyOf(low!), labels('a', 20));
    await putAt(stream.name, hashKeyOf(high!), labels('b', 20));
    expect(withPrefix(invocations, 'p').length, 'the parent must still have a backlog when the children get records').toBeLessThan(6);
    await waitUntil(() => invocations.length >= 6 + 2, 'the parent and the first batches of the children');

    // Act 2: merge the children while they still have a backlog, and write to the merged shard at once
    await kinesis.send(new MergeShardsCommand({ StreamName: stream.name, ShardToMerge: low!.ShardId!, AdjacentShardToMerge: high!.ShardId! }));
    await waitForActive(stream.name);
    const [merged] = await openShards(stream.name);
    expect([merged!.ParentShardId, merged!.AdjacentParentShardId]).toStrictEqual([low!.ShardId, high!.ShardId]);
    await putAt(stream.name, 0n, labels('m', 10));
    expect(withPrefix(invocations, 'a').length + withPrefix(invocations, 'b').length, 'the children must still have a backlog when the merged shard gets records').toBeLessThan(8);
    await waitUntil(() => invocations.length === 6 + 8 + 2, 'every batch');

    // Assess
    expectOneBatchAtATimeInOrder(invocations, {
      [parent!.ShardId!]: labels('p', 30),
      [low!.ShardId!]: labels('a', 20),
      [high!.ShardId!]: labels('b', 20),
      [merged!.ShardId!]: labels('m', 10),
    });
    const lastEnd = (prefixes: string[]) => Math.max(...prefixes.flatMap((prefix) => withPrefix(invocations, prefix)).map((invocation) => invocation.endedAt));
    const firstStart = (prefixes: string[]) => Math.min(...prefixes.flatMap((prefix) => withPrefix(invocations, prefix)).map((invocation) => invocation.startedAt));
    expect(firstStart(['a', 'b']), 'a child started before its parent was drained').toBeGreaterThanOrEqual(lastEnd(['p']));
    expect(firstStart(['m']), 'the merged shard started before both parents were drained').toBeGreaterThanOrEqual(lastEnd(['a', 'b']));
    expect(peakOverlap([...withPrefix(invocations, 'a'), ...withPrefix(invocations, 'b')]), 'the two children ran in parallel').toBe(2);
    expect(source.progress().map(({ shardId, finished }) => ({ shardId, finished }))).toStrictEqual(
      expect.arrayContaining([
        { shardId: parent!.ShardId, finished: true },
        { shardId: low!.ShardId, finished: true },
        { shardId: high!.ShardId, finished: true },
        { shardId: merged!.ShardId, finished: false },
      ]),
    );
  });

  it('with raceNextBatch, runs a batch twice at once on one shard, in two environments, as a timed-out invocation and its retry', async () => {
    // Prepare
    const stream = await streamFactory(1);
    const [shard] = await openShards(stream.name);
    // The retry starts once the first is running in its worker; 2 s each, so they overlap even on a busy machine
    const { source, invocations, startedWith, start } = await mappingFactory(stream, { sleepMs: 2_000, batchSize: 5 });
    const race = source.raceNextBatch(shard!.ShardId!, startedWith('r-00'));

    // Act
    await start();
    await putAt(stream.name, 0n, labels('r', 10));
    const { first, retry } = await race;
    await waitUntil(() => invocations.length === 3, 'the raced batch twice and the next batch once');

    // Assess: the same records, in two environments, overlapping; then the shard carries on in order
    const [firstPayload, retryPayload] = [first, retry].map((result) => (result.ok ? (result.payload as Invocation) : undefined));
    expect(firstPayload?.labels).toStrictEqual(labels('r', 5));
    expect(retryPayload?.labels).toStrictEqual(labels('r', 5));
    expect(firstPayload!.threadId).not.toBe(retryPayload!.threadId);
    expect(overlaps(firstPayload!, retryPayload!)).toBe(true);
    expect(retryPayload!.startedAt).toBeGreaterThan(firstPayload!.startedAt);
    const next = invocations.find((invocation) => invocation.labels[0] === 'r-05');
    expect(next?.labels).toStrictEqual(labels('r', 10).slice(5));
    expect(next!.startedAt).toBeGreaterThanOrEqual(retryPayload!.endedAt);
    expect(source.progress()[0]).toMatchObject({ recordsDelivered: 10, invocations: 2, functionErrors: 0 });
  });
});

describe.skipIf(!java.available)(titled('DynamoDB Streams event source mapping: concurrency as on Lambda', java), () => {
  let dynamoDbLocal: RunningService;
  let dynamodb: DynamoDBClient;

  beforeAll(async () => {
    dynamoDbLocal = await startDynamoDb();
    dynamodb = new DynamoDBClient(localClientConfig(dynamoDbLocal.endpoint));
  });

  afterAll(async () => {
    dynamodb?.destroy();
    await dynamoDbLocal?.stop();
  });

  /** A table with a stream; its one DynamoDB Local shard becomes one shard of the view. */
  async function tableFactory(): Promise<{ name: string; streamArn: string }> {
    const name = `concurrency-${randomUUID().slice(0, 8)}`;
    await dynamodb.send(
      new CreateTableCommand({
        TableName: name,
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'KEYS_ONLY' },
      }),
    );
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
    return { name, streamArn: Table!.LatestStreamArn! };
  }

  async function putItems(table: { name: string }, labels: string[]): Promise<void> {
    for (const label of labels) await dynamodb.send(new PutItemCommand({ TableName: table.name, Item: { pk: { S: label } } }));
  }

  /** The recorder behind a DynamoDB Streams mapping on a view of several table streams, through an edge. */
  async function viewMappingFactory(members: Record<string, StreamViewMember>, { sleepMs, batchSize }: { sleepMs: number; batchSize: number }) {
    const viewArn = `arn:aws:dynamodb:us-east-1:${ACCOUNT}:table/view-${randomUUID().slice(0, 8)}/stream/2026-01-01T00:00:00.000`;
    const edge = await startEdge({ port: 0, targets: { dynamodb: dynamoDbStreamsView(dynamoDbLocal.endpoint, viewArn, members) } });
    cleanups.push(() => edge.stop());
    const streams = new DynamoDBStreamsClient(localClientConfig(edge.url));
    cleanups.push(async () => streams.destroy());
    const { runtime, invocations, invoke } = recorderFactory(sleepMs);
    const source = new DynamoDbStreamEventSource(mappingSpecFactory(viewArn, batchSize), {
      streams,
      sqs,
      invoke,
      queueUrlForArn: noDestination,
      idlePollMs: 25,
      shardDiscoveryIntervalMs: 200,
    });
    cleanups.push(() => source.stop());
    return { runtime, source, invocations, start: () => source.start() };
  }

  const tableOf = (invocation: Invocation) => invocation.labels[0]!.split('-')[0]!;

  it('runs the shards of a stream in parallel, each in its own execution environment, one batch per shard at a time, in order', async () => {
    // Prepare: three shards with a backlog of 3 batches each
    const tables = [await tableFactory(), await tableFactory(), await tableFactory()];
    const expected: Record<string, string[]> = {};
    for (const [index, table] of tables.entries()) {
      expected[`t${index}`] = labels(`t${index}`, 15);
      await putItems(table, expected[`t${index}`]!);
    }
    const { runtime, invocations, start } = await viewMappingFactory(
      Object.fromEntries(tables.map((table, index) => [`t${index}`, { streamArn: table.streamArn }])),
      { sleepMs: 300, batchSize: 5 },
    );

    // Act
    await start();
    await waitUntil(() => invocations.length === 9, 'all 9 batches');

    // Assess
    expectOneBatchAtATimeInOrder(invocations, expected, tableOf);
    expect(peakOverlap(invocations)).toBe(3);
    for (const a of invocations) {
      for (const b of invocations) {
        if (a !== b && overlaps(a, b)) expect(a.threadId, 'overlapping invocations share an execution environment').not.toBe(b.threadId);
      }
    }
    expect(runtime.stats(FUNCTION_NAME)).toMatchObject({ invocations: 9, environments: 3, peakConcurrency: 3 });
  });

  it('reads a closed parent shard to its end before its child starts', async () => {
    // Prepare: a parent with a backlog, closed (its table stream disabled), and a child that already has records
    const [parentTable, childTable] = [await tableFactory(), await tableFactory()];
    await putItems(parentTable, labels('p', 20));
    await dynamodb.send(new UpdateTableCommand({ TableName: parentTable.name, StreamSpecification: { StreamEnabled: false } }));
    await putItems(childTable, labels('c', 10));
    const { source, invocations, start } = await viewMappingFactory(
      { p: { streamArn: parentTable.streamArn }, c: { streamArn: childTable.streamArn, parent: 'p' } },
      { sleepMs: 150, batchSize: 5 },
    );

    // Act
    await start();
    await waitUntil(() => invocations.length === 6, 'all 6 batches');

    // Assess
    expectOneBatchAtATimeInOrder(invocations, { p: labels('p', 20), c: labels('c', 10) }, tableOf);
    const parentEnd = Math.max(...withPrefix(invocations, 'p').map((invocation) => invocation.endedAt));
    const childStart = Math.min(...withPrefix(invocations, 'c').map((invocation) => invocation.startedAt));
    expect(childStart, 'the child started before its parent was drained').toBeGreaterThanOrEqual(parentEnd);
    expect(source.progress().map(({ finished }) => finished).sort()).toStrictEqual([false, true]);
  });
});
