import {
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Commit, ShardState, WindowDelta } from '../../lambdas/clickstream/core/batch-plan';
import { sortableSequence } from '../../lambdas/clickstream/core/sequence';
import { ShardStore, type ShardRef } from '../../lambdas/clickstream/shard-store';
import { sequenceAt, TEST_STREAM_ARN } from '../support/kinesis-records';

/**
 * The write-ahead path of ShardStore.commit: a commit whose window deltas do not fit in the
 * checkpoint's transaction writes them as pending items there, then applies each pending item
 * in a transaction of its own; a load rolls forward whatever a crashed invocation left pending.
 */

const T0 = Date.parse('2026-01-01T00:10:00Z');
const HORIZON_MS = 900_000;
const CONFIG = { windowTableName: 'click-windows', stateTableName: 'aggregator-state', dedupHorizonMs: HORIZON_MS };
const SHARD: ShardRef = { streamArn: TEST_STREAM_ARN, shardId: 'shardId-000000000000' };
const CHECKPOINT_KEY = { pk: `checkpoint#${TEST_STREAM_ARN}#shardId-000000000000`, sk: 'checkpoint' };
const LEDGER_PK = `ledger#${TEST_STREAM_ARN}#shardId-000000000000`;
const PENDING_PK = `pending#${TEST_STREAM_ARN}#shardId-000000000000`;
const NO_STATE: ShardState = { watermarkMs: Number.NEGATIVE_INFINITY };
/** Every window delta below is in this window. */
const WINDOW_START_MS = Date.parse('2026-01-01T00:09:00Z');
const TOKEN = expect.stringMatching(/^[0-9a-f]{36}$/);

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  { marshallOptions: { removeUndefinedValues: true } },
);

/** `count` window deltas, one url each, with counts that tell them apart. */
const windowsOf = (count: number): WindowDelta[] =>
  Array.from({ length: count }, (_, index) => ({ url: `/page-${index}`, windowStartMs: WINDOW_START_MS, count: index + 1, lateCount: index % 2 }));
const commitOf = (position: number, eventIds: string[], windows: WindowDelta[]): Commit => ({
  lastSequenceNumber: sequenceAt(position),
  watermarkMs: T0,
  windows,
  eventIds,
});
const ledgerKey = (position: number) => sortableSequence(sequenceAt(position));

/** The window delta at `index` of windowsOf(), as a pending item stores it. */
const pendingDelta = (index: number) => ({ url: `/page-${index}`, windowStart: '2026-01-01T00:09:00.000Z', count: index + 1, lateCount: index % 2 });
/** The window delta at `index` of windowsOf(), as an Update of the window table. */
const windowUpdate = (index: number, nowMs = T0) => ({
  Update: {
    TableName: CONFIG.windowTableName,
    Key: { url: `/page-${index}`, windowStart: '2026-01-01T00:09:00.000Z' },
    UpdateExpression: 'ADD #count :count, lateCount :late SET windowEnd = :end, updatedAt = :now',
    ExpressionAttributeNames: { '#count': 'count' },
    ExpressionAttributeValues: { ':count': index + 1, ':late': index % 2, ':end': '2026-01-01T00:10:00.000Z', ':now': new Date(nowMs).toISOString() },
  },
});
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, offset) => from + offset);
const pendingKey = (position: number, index: number) => ({ pk: PENDING_PK, sk: `${ledgerKey(position)}#${String(index).padStart(4, '0')}` });
/** The pending item `index` of the commit ending at `position`, holding deltas [from, to). */
const pendingItem = (position: number, index: number, from: number, to: number, nowMs = T0) => ({
  ...pendingKey(position, index),
  updatedAt: new Date(nowMs).toISOString(),
  deltas: range(from, to).map(pendingDelta),
});
/** The transaction that applies pending item `index`: its conditional Delete, then one Update per delta. */
const applyTransaction = (position: number, index: number, from: number, to: number, nowMs = T0) => ({
  TransactItems: [
    { Delete: { TableName: CONFIG.stateTableName, Key: pendingKey(position, index), ConditionExpression: 'attribute_exists(pk)' } },
    ...range(from, to).map((delta) => windowUpdate(delta, nowMs)),
  ],
  ClientRequestToken: TOKEN,
});
/** The three pending items of a 250-delta commit ending at record 5. */
const PENDING_250 = [pendingItem(5, 0, 0, 99), pendingItem(5, 1, 99, 198), pendingItem(5, 2, 198, 250)];
const APPLY_250 = (nowMs = T0) => [applyTransaction(5, 0, 0, 99, nowMs), applyTransaction(5, 1, 99, 198, nowMs), applyTransaction(5, 2, 198, 250, nowMs)];

const pendingQueryInput = (exclusiveStartKey?: Record<string, unknown>) => ({
  TableName: CONFIG.stateTableName,
  KeyConditionExpression: 'pk = :pk',
  ExpressionAttributeValues: { ':pk': PENDING_PK },
  ConsistentRead: true,
  ExclusiveStartKey: exclusiveStartKey,
});
/** Routed by partition: the most recently registered matching behaviour answers in aws-sdk-client-mock. */
const onPendingQuery = () => ddbMock.on(QueryCommand, { ExpressionAttributeValues: { ':pk': PENDING_PK } });
const onLedgerQuery = () => ddbMock.on(QueryCommand, { ExpressionAttributeValues: { ':pk': LEDGER_PK } });
const transactions = () => ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input);
const queriesOf = (pk: string) =>
  ddbMock
    .commandCalls(QueryCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.ExpressionAttributeValues?.[':pk'] === pk);
/** The kinds of item in each transaction, counted, e.g. { Put: 2, Update: 98 }. */
const shapes = () =>
  transactions().map((input: TransactWriteCommandInput) => {
    const shape: Record<string, number> = {};
    for (const item of input.TransactItems ?? []) {
      for (const kind of Object.keys(item)) shape[kind] = (shape[kind] ?? 0) + 1;
    }
    return shape;
  });
/** Every DynamoDB call in order, named by what it does. */
const callLog = () =>
  ddbMock.calls().map((call) => {
    const command: unknown = call.args[0];
    if (command instanceof GetCommand) return `Get ${String(command.input.Key?.sk)}`;
    if (command instanceof QueryCommand) return `Query ${String(command.input.ExpressionAttributeValues?.[':pk']).split('#')[0]}`;
    if (command instanceof TransactWriteCommand) {
      const deleted = command.input.TransactItems?.[0]?.Delete?.Key?.sk as string | undefined;
      return deleted === undefined ? 'Commit' : `Apply ${deleted.slice(-4)}`;
    }
    return 'other';
  });
const cancelled = (code?: string) =>
  new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    ...(code === undefined ? {} : { CancellationReasons: [{ Code: code }, { Code: 'None' }] }),
  });

beforeEach(() => {
  ddbMock.reset();
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(QueryCommand).resolves({ Items: [] });
  onPendingQuery().resolves({ Items: [] });
  ddbMock.on(TransactWriteCommand).resolves({});
});

describe('ShardStore.commit with more window deltas than its transaction holds', () => {
  it('writes 250 deltas ahead as pending items of 99, 99 and 52 next to the checkpoint, then applies each in order', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);

    // Act
    const state = await store.commit(SHARD, NO_STATE, commitOf(5, ['e1', 'e2'], windowsOf(250)), T0);

    // Assess
    expect(transactions()).toStrictEqual([
      {
        TransactItems: [
          {
            Put: {
              TableName: CONFIG.stateTableName,
              Item: { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(5), watermarkMs: T0, ledgerKey: ledgerKey(5), updatedAt: '2026-01-01T00:10:00.000Z' },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: CONFIG.stateTableName,
              Item: { pk: LEDGER_PK, sk: ledgerKey(5), eventIds: new Set(['e1', 'e2']), expiresAt: Math.ceil((T0 + HORIZON_MS) / 1000) },
            },
          },
          ...PENDING_250.map((item) => ({ Put: { TableName: CONFIG.stateTableName, Item: item } })),
        ],
        ClientRequestToken: TOKEN,
      },
      ...APPLY_250(),
    ]);
    expect(new Set(transactions().map((input) => input.ClientRequestToken)).size).toBe(4);
    expect(state).toStrictEqual({ checkpoint: sequenceAt(5), watermarkMs: T0 });
    // 5 items in the commit's transaction, then 1 + 99, 1 + 99 and 1 + 52.
    expect(store.itemWrites).toBe(5 + 100 + 100 + 53);
  });

  it.each([
    ['98 windows, the checkpoint and the ledger item (100 items)', 98, ['e1'], [{ Put: 2, Update: 98 }], 100],
    ['99 windows without eventIds, so no ledger item (100 items)', 99, [], [{ Put: 1, Update: 99 }], 100],
    ['99 windows, the checkpoint and the ledger item (101 items)', 99, ['e1'], [{ Put: 3 }, { Delete: 1, Update: 99 }], 3 + 100],
    ['9,702 windows: 98 pending items fill the transaction', 9702, ['e1'], [{ Put: 100 }, ...Array.from({ length: 98 }, () => ({ Delete: 1, Update: 99 }))], 100 + 98 * 100],
  ])('for %s writes the transactions it needs', async (_name, windowCount, eventIds, expectedShapes, itemWrites) => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);

    // Act
    await store.commit(SHARD, NO_STATE, commitOf(5, eventIds, windowsOf(windowCount)), T0);

    // Assess
    expect(shapes()).toStrictEqual(expectedShapes);
    expect(store.itemWrites).toBe(itemWrites);
  });

  it('throws a RangeError and writes nothing when the deltas would need more than 98 pending items', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);

    // Act
    const error = await store.commit(SHARD, NO_STATE, commitOf(5, ['e1'], windowsOf(9703)), T0).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBeInstanceOf(RangeError);
    expect(error).toMatchObject({ message: 'a commit may be written ahead as 98 pending items; this one needs 99 for 9703 window deltas' });
    expect(transactions()).toStrictEqual([]);
    expect(store.itemWrites).toBe(0);
  });

  it('ignores a pending item that another invocation already applied, and applies the rest', async () => {
    // Prepare: a load elsewhere rolled the first pending item forward before this invocation got to it
    const store = new ShardStore(ddb, CONFIG);
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejectsOnce(cancelled('ConditionalCheckFailed')).resolves({});

    // Act
    const state = await store.commit(SHARD, NO_STATE, commitOf(5, ['e1'], windowsOf(250)), T0);

    // Assess
    expect(state).toStrictEqual({ checkpoint: sequenceAt(5), watermarkMs: T0 });
    expect(transactions().slice(1)).toStrictEqual(APPLY_250());
    // The skipped item's writes are not counted: 5, then 1 + 99 and 1 + 52.
    expect(store.itemWrites).toBe(5 + 100 + 53);
  });
});

describe('a crash between a commit and the application of its pending items', () => {
  it('fails the commit, and the next load applies the pending items it finds before reading the ledger', async () => {
    // Prepare: the commit's transaction succeeds; its first apply transaction does not
    const crashed = new ShardStore(ddb, CONFIG);
    const crash = Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejects(crash);
    const error = await crashed.commit(SHARD, NO_STATE, commitOf(5, ['e1', 'e2'], windowsOf(250)), T0).catch((thrown: unknown) => thrown);
    const written = (transactions()[0]?.TransactItems ?? []).slice(2).flatMap((item) => (item.Put?.Item === undefined ? [] : [item.Put.Item]));
    // A new container reads back what was written, over two pages.
    ddbMock.resetHistory();
    ddbMock.on(TransactWriteCommand).resolves({});
    ddbMock.on(GetCommand).resolves({
      Item: { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(5), watermarkMs: T0, ledgerKey: ledgerKey(5), updatedAt: new Date(T0).toISOString() },
    });
    onPendingQuery()
      .resolvesOnce({ Items: written.slice(0, 2), LastEvaluatedKey: pendingKey(5, 1) })
      .resolvesOnce({ Items: written.slice(2) });
    onLedgerQuery().resolves({
      Items: [{ pk: LEDGER_PK, sk: ledgerKey(5), eventIds: new Set(['e1', 'e2']), expiresAt: Math.ceil((T0 + HORIZON_MS) / 1000) }],
    });
    const fresh = new ShardStore(ddb, CONFIG);

    // Act
    const loaded = await fresh.load(SHARD, T0 + 5000);

    // Assess
    expect(error).toBe(crash);
    expect(crashed.itemWrites).toBe(5);
    expect(written).toStrictEqual(PENDING_250);
    expect(callLog()).toStrictEqual([
      'Get checkpoint',
      'Query pending',
      'Apply 0000',
      'Apply 0001',
      'Query pending',
      'Apply 0002',
      'Query ledger',
    ]);
    expect(queriesOf(PENDING_PK)).toStrictEqual([pendingQueryInput(), pendingQueryInput(pendingKey(5, 1))]);
    // Applied with the updatedAt stored at commit time: a retry sends what the first attempt sent.
    expect(transactions()).toStrictEqual(APPLY_250(T0));
    expect(fresh.itemWrites).toBe(100 + 100 + 53);
    expect(loaded.state).toStrictEqual({ checkpoint: sequenceAt(5), watermarkMs: T0 });
    expect(loaded.seenBefore('e1')).toBe(true);
  });

  it('lets a load go on when another invocation applied a pending item first', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);
    onPendingQuery().resolves({ Items: PENDING_250.slice(2) });
    ddbMock.on(TransactWriteCommand).rejects(cancelled('ConditionalCheckFailed'));

    // Act
    const loaded = await store.load(SHARD, T0);

    // Assess
    expect(callLog()).toStrictEqual(['Get checkpoint', 'Query pending', 'Apply 0002']);
    expect(store.itemWrites).toBe(0);
    expect(loaded.state).toStrictEqual({ checkpoint: undefined, watermarkMs: Number.NEGATIVE_INFINITY });
  });
});

describe.each([
  ['a cancellation for another reason', () => cancelled('TransactionConflict')],
  ['a cancellation without reasons', () => cancelled()],
  ['throttling', () => new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} })],
])('an apply transaction that fails with %s', (_name, failureOf) => {
  it('fails the commit unchanged; the other pending items, applied concurrently, still land', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);
    const failure = failureOf();
    ddbMock.on(TransactWriteCommand).resolvesOnce({}).rejectsOnce(failure).resolves({});

    // Act
    const error = await store.commit(SHARD, NO_STATE, commitOf(5, ['e1'], windowsOf(250)), T0).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBe(failure);
    expect(callLog()).toStrictEqual(['Commit', 'Apply 0000', 'Apply 0001', 'Apply 0002']);
    // The commit's 5 items and the applies of items 0001 and 0002 (99 + 1 and 52 + 1); 0000 waits for the next load.
    expect(store.itemWrites).toBe(5 + 100 + 53);
  });

  it('fails the load unchanged, before it reads the ledger', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);
    const failure = failureOf();
    ddbMock.on(GetCommand).resolves({ Item: { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(5), ledgerKey: ledgerKey(5) } });
    onPendingQuery().resolves({ Items: PENDING_250 });
    ddbMock.on(TransactWriteCommand).rejects(failure);

    // Act
    const error = await store.load(SHARD, T0).catch((thrown: unknown) => thrown);

    // Assess
    expect(error).toBe(failure);
    expect(callLog()).toStrictEqual(['Get checkpoint', 'Query pending', 'Apply 0000']);
    expect(queriesOf(LEDGER_PK)).toStrictEqual([]);
  });
});
