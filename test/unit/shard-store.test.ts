import {
  DynamoDBClient,
  ProvisionedThroughputExceededException,
  TransactionCanceledException,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Commit, ShardState, WindowDelta } from '../../lambdas/clickstream/core/batch-plan';
import { sortableSequence } from '../../lambdas/clickstream/core/sequence';
import { CheckpointConflictError, ShardStore, type ShardRef } from '../../lambdas/clickstream/shard-store';
import { sequenceAt, TEST_STREAM_ARN } from '../support/kinesis-records';

const T0 = Date.parse('2026-01-01T00:10:00Z');
const HORIZON_MS = 900_000;
const CONFIG = { windowTableName: 'click-windows', stateTableName: 'aggregator-state', dedupHorizonMs: HORIZON_MS };
const SHARD: ShardRef = { streamArn: TEST_STREAM_ARN, shardId: 'shardId-000000000000' };
const CHECKPOINT_KEY = { pk: `checkpoint#${TEST_STREAM_ARN}#shardId-000000000000`, sk: 'checkpoint' };
const LEDGER_PK = `ledger#${TEST_STREAM_ARN}#shardId-000000000000`;
const PENDING_PK = `pending#${TEST_STREAM_ARN}#shardId-000000000000`;
const NO_STATE: ShardState = { watermarkMs: Number.NEGATIVE_INFINITY };

const ddbMock = mockClient(DynamoDBDocumentClient);
const ddb = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  { marshallOptions: { removeUndefinedValues: true } },
);

/** The ledger sort key of the record at `position`. */
const ledgerKey = (position: number) => sortableSequence(sequenceAt(position));
const ledgerItem = (position: number, eventIds: string[], expiresAtMs = T0 + HORIZON_MS) => ({
  pk: LEDGER_PK,
  sk: ledgerKey(position),
  eventIds: new Set(eventIds),
  expiresAt: Math.ceil(expiresAtMs / 1000),
});
const checkpointItem = (position: number, ledgerPosition: number) => ({
  ...CHECKPOINT_KEY,
  sequenceNumber: sequenceAt(position),
  watermarkMs: T0,
  ledgerKey: ledgerKey(ledgerPosition),
  updatedAt: new Date(T0).toISOString(),
});
const commitOf = (position: number, eventIds: string[], windows: WindowDelta[] = []): Commit => ({
  lastSequenceNumber: sequenceAt(position),
  watermarkMs: T0,
  windows,
  eventIds,
});
const queryInput = (nowMs: number, after?: string, exclusiveStartKey?: Record<string, unknown>) => ({
  TableName: CONFIG.stateTableName,
  KeyConditionExpression: after === undefined ? 'pk = :pk' : 'pk = :pk AND sk > :after',
  FilterExpression: 'expiresAt > :now',
  ExpressionAttributeValues: {
    ':pk': LEDGER_PK,
    ':now': Math.floor(nowMs / 1000),
    ...(after === undefined ? {} : { ':after': after }),
  },
  ConsistentRead: true,
  ExclusiveStartKey: exclusiveStartKey,
});
/** The Query that rolls pending window deltas forward; every load makes it first, and it finds none here. */
const pendingQueryInput = {
  TableName: CONFIG.stateTableName,
  KeyConditionExpression: 'pk = :pk',
  ExpressionAttributeValues: { ':pk': PENDING_PK },
  ConsistentRead: true,
  ExclusiveStartKey: undefined,
};
/**
 * Ledger Queries are routed by partition: a generic `on(QueryCommand)` would also answer (and count)
 * the pending Query, and the most recently registered matching behaviour wins in aws-sdk-client-mock.
 */
const onLedgerQuery = () => ddbMock.on(QueryCommand, { ExpressionAttributeValues: { ':pk': LEDGER_PK } });
const allQueries = () => ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input);
/** Every Query except the pending partition's, so an unexpected Query elsewhere still shows. */
const queries = () => allQueries().filter((input) => input.ExpressionAttributeValues?.[':pk'] !== PENDING_PK);
const pendingQueries = () => allQueries().filter((input) => input.ExpressionAttributeValues?.[':pk'] === PENDING_PK);
const transactions = () => ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input);
const seen = (loaded: { seenBefore: (eventId: string) => boolean }, ...eventIds: string[]) =>
  Object.fromEntries(eventIds.map((eventId) => [eventId, loaded.seenBefore(eventId)]));

/** A store that loaded an empty shard and committed `eventIds` up to `position`; call history cleared. */
async function warmStore(position: number, eventIds: string[]): Promise<ShardStore> {
  const store = new ShardStore(ddb, CONFIG);
  ddbMock.on(GetCommand).resolvesOnce({});
  const { state } = await store.load(SHARD, T0);
  await store.commit(SHARD, state, commitOf(position, eventIds), T0);
  ddbMock.resetHistory();
  return store;
}

beforeEach(() => {
  ddbMock.reset();
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(QueryCommand).resolves({ Items: [] });
  ddbMock.on(QueryCommand, { ExpressionAttributeValues: { ':pk': PENDING_PK } }).resolves({ Items: [] });
  ddbMock.on(TransactWriteCommand).resolves({});
});

describe('ShardStore.load', () => {
  it('reads the checkpoint consistently and starts from nothing when the shard has none', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);

    // Act
    const loaded = await store.load(SHARD, T0);

    // Assess
    expect(loaded.state).toStrictEqual({ checkpoint: undefined, watermarkMs: Number.NEGATIVE_INFINITY });
    expect(ddbMock.commandCalls(GetCommand).map((call) => call.args[0].input)).toStrictEqual([
      { TableName: CONFIG.stateTableName, Key: CHECKPOINT_KEY, ConsistentRead: true },
    ]);
    expect(pendingQueries()).toStrictEqual([pendingQueryInput]);
    expect(queries()).toStrictEqual([]);
  });

  it('pages through the whole ledger when cold, then sees its eventIds as duplicates', async () => {
    // Prepare: the middle page is empty because the filter removed every item on it
    const store = new ShardStore(ddb, CONFIG);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(9, 9) });
    onLedgerQuery()
      .resolvesOnce({ Items: [ledgerItem(3, ['e1', 'e2'])], LastEvaluatedKey: { pk: LEDGER_PK, sk: ledgerKey(3) } })
      .resolvesOnce({ Items: [], LastEvaluatedKey: { pk: LEDGER_PK, sk: ledgerKey(6) } })
      .resolvesOnce({ Items: [ledgerItem(9, ['e3'])] });

    // Act
    const loaded = await store.load(SHARD, T0);

    // Assess
    expect(loaded.state).toStrictEqual({ checkpoint: sequenceAt(9), watermarkMs: T0 });
    expect(allQueries()[0]).toStrictEqual(pendingQueryInput);
    expect(queries()).toStrictEqual([
      queryInput(T0),
      queryInput(T0, undefined, { pk: LEDGER_PK, sk: ledgerKey(3) }),
      queryInput(T0, undefined, { pk: LEDGER_PK, sk: ledgerKey(6) }),
    ]);
    expect(seen(loaded, 'e1', 'e2', 'e3', 'e4')).toStrictEqual({ e1: true, e2: true, e3: true, e4: false });
  });

  it('does not Query the ledger when the checkpoint names the ledger item its cache already holds', async () => {
    // Prepare
    const store = await warmStore(4, ['e1', 'e2']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(4, 4) });

    // Act
    const loaded = await store.load(SHARD, T0 + 1000);

    // Assess
    expect(queries()).toStrictEqual([]);
    expect(loaded.state).toStrictEqual({ checkpoint: sequenceAt(4), watermarkMs: T0 });
    expect(seen(loaded, 'e1', 'e2', 'e3')).toStrictEqual({ e1: true, e2: true, e3: false });
  });

  it('reads only the ledger items committed elsewhere since its cache, with the same bound on every page', async () => {
    // Prepare: other containers committed up to record 8, in two ledger items
    const store = await warmStore(4, ['e1']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(8, 8) });
    onLedgerQuery()
      .resolvesOnce({ Items: [ledgerItem(6, ['e2'])], LastEvaluatedKey: { pk: LEDGER_PK, sk: ledgerKey(6) } })
      .resolvesOnce({ Items: [ledgerItem(8, ['e3'])] });

    // Act
    const loaded = await store.load(SHARD, T0 + 1000);

    // Assess: the second page's start key (record 6) must lie inside the key condition
    expect(queries()).toStrictEqual([
      queryInput(T0 + 1000, ledgerKey(4)),
      queryInput(T0 + 1000, ledgerKey(4), { pk: LEDGER_PK, sk: ledgerKey(6) }),
    ]);
    expect(seen(loaded, 'e1', 'e2', 'e3')).toStrictEqual({ e1: true, e2: true, e3: true });
  });

  it('drops a cache that is ahead of the checkpoint and re-reads the ledger from the start', async () => {
    // Prepare: the cache holds record 8's commit, the checkpoint only record 4's
    const store = await warmStore(8, ['e-uncommitted']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(4, 4) });
    onLedgerQuery().resolves({ Items: [ledgerItem(4, ['e1'])] });

    // Act
    const loaded = await store.load(SHARD, T0 + 1000);

    // Assess
    expect(queries()).toStrictEqual([queryInput(T0 + 1000)]);
    expect(seen(loaded, 'e1', 'e-uncommitted')).toStrictEqual({ e1: true, 'e-uncommitted': false });
  });

  it.each([
    ['within the horizon', T0 + HORIZON_MS - 1, true],
    ['at the horizon', T0 + HORIZON_MS, false],
    ['long after the horizon', T0 + 10 * HORIZON_MS, false],
  ])('treats a committed eventId %s as seen: %s', async (_name, nowMs, expected) => {
    // Prepare
    const store = await warmStore(4, ['e1']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(4, 4) });

    // Act
    const loaded = await store.load(SHARD, nowMs);

    // Assess
    expect(loaded.seenBefore('e1')).toBe(expected);
    expect(queries()).toStrictEqual([]);
  });
});

describe('ShardStore.commit', () => {
  const windowStartMs = Date.parse('2026-01-01T00:09:00Z');
  const windows: WindowDelta[] = [
    { url: '/a', windowStartMs, count: 2, lateCount: 0 },
    { url: '/b', windowStartMs, count: 0, lateCount: 1 },
  ];
  const windowUpdate = (url: string, count: number, lateCount: number) => ({
    Update: {
      TableName: CONFIG.windowTableName,
      Key: { url, windowStart: '2026-01-01T00:09:00.000Z' },
      UpdateExpression: 'ADD #count :count, lateCount :late SET windowEnd = :end, updatedAt = :now',
      ExpressionAttributeNames: { '#count': 'count' },
      ExpressionAttributeValues: { ':count': count, ':late': lateCount, ':end': '2026-01-01T00:10:00.000Z', ':now': new Date(T0).toISOString() },
    },
  });

  it.each([
    ['the first commit of a shard', NO_STATE, { ConditionExpression: 'attribute_not_exists(pk)' }],
    [
      'a commit after a checkpoint',
      { checkpoint: sequenceAt(2), watermarkMs: T0 - 5000 },
      { ConditionExpression: 'sequenceNumber = :from', ExpressionAttributeValues: { ':from': sequenceAt(2) } },
    ],
  ])('writes %s as one transaction: guarded checkpoint, ledger item, one ADD per window', async (_name, from, condition) => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);

    // Act
    const state = await store.commit(SHARD, from, commitOf(5, ['e1', 'e2', 'e3'], windows), T0);

    // Assess
    expect(transactions()).toStrictEqual([
      {
        TransactItems: [
          {
            Put: {
              TableName: CONFIG.stateTableName,
              Item: { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(5), watermarkMs: T0, ledgerKey: ledgerKey(5), updatedAt: '2026-01-01T00:10:00.000Z' },
              ...condition,
            },
          },
          { Put: { TableName: CONFIG.stateTableName, Item: ledgerItem(5, ['e1', 'e2', 'e3'], T0 + HORIZON_MS) } },
          windowUpdate('/a', 2, 0),
          windowUpdate('/b', 0, 1),
        ],
        ClientRequestToken: expect.stringMatching(/^[0-9a-f]{36}$/),
      },
    ]);
    expect(state).toStrictEqual({ checkpoint: sequenceAt(5), watermarkMs: T0 });
    expect(store.itemWrites).toBe(4);
  });

  it('writes no ledger item for a commit without eventIds and keeps the ledger key the checkpoint had', async () => {
    // Prepare: the shard's ledger ends at record 3; records 4 and 5 were invalid
    const store = new ShardStore(ddb, CONFIG);
    ddbMock.on(GetCommand).resolves({ Item: { ...checkpointItem(3, 3), watermarkMs: undefined } });
    onLedgerQuery().resolves({ Items: [ledgerItem(3, ['e1'])] });
    const { state } = await store.load(SHARD, T0);
    const invalidOnly: Commit = { lastSequenceNumber: sequenceAt(5), watermarkMs: Number.NEGATIVE_INFINITY, windows: [], eventIds: [] };

    // Act
    await store.commit(SHARD, state, invalidOnly, T0);

    // Assess
    expect(transactions()).toStrictEqual([
      {
        TransactItems: [
          {
            Put: {
              TableName: CONFIG.stateTableName,
              Item: { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(5), watermarkMs: undefined, ledgerKey: ledgerKey(3), updatedAt: '2026-01-01T00:10:00.000Z' },
              ConditionExpression: 'sequenceNumber = :from',
              ExpressionAttributeValues: { ':from': sequenceAt(3) },
            },
          },
        ],
        ClientRequestToken: expect.stringMatching(/^[0-9a-f]{36}$/),
      },
    ]);
    expect(store.itemWrites).toBe(1);
  });

  it('derives the request token from the shard and the last record, so an SDK retry is idempotent', async () => {
    // Prepare
    const store = new ShardStore(ddb, CONFIG);
    const otherShard = { ...SHARD, shardId: 'shardId-000000000001' };

    // Act
    await store.commit(SHARD, NO_STATE, commitOf(5, ['e1']), T0);
    await store.commit(SHARD, NO_STATE, commitOf(5, ['e1']), T0 + 1000);
    await store.commit(SHARD, NO_STATE, commitOf(6, ['e1']), T0);
    await store.commit(otherShard, NO_STATE, commitOf(5, ['e1']), T0);

    // Assess
    const [first, retried, nextRecord, nextShard] = transactions().map((input) => input.ClientRequestToken);
    expect(retried).toBe(first);
    expect(new Set([first, nextRecord, nextShard]).size).toBe(3);
  });

  it('adds a commit to the warm ledger cache, so the next load needs no ledger Query', async () => {
    // Prepare
    const store = await warmStore(2, ['e1']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(2, 2) });
    const { state } = await store.load(SHARD, T0);

    // Act
    await store.commit(SHARD, state, commitOf(5, ['e2']), T0);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(5, 5) });
    const loaded = await store.load(SHARD, T0);

    // Assess
    expect(queries()).toStrictEqual([]);
    expect(seen(loaded, 'e1', 'e2')).toStrictEqual({ e1: true, e2: true });
  });

  it('throws CheckpointConflictError when the checkpoint moved, and the next load re-reads the ledger', async () => {
    // Prepare: a warm cache up to record 4; another container then commits past it
    const store = await warmStore(4, ['e1']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(4, 4) });
    const { state } = await store.load(SHARD, T0);
    const writesBefore = store.itemWrites;
    ddbMock.on(TransactWriteCommand).rejects(
      new TransactionCanceledException({
        message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]',
        $metadata: {},
        CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
      }),
    );

    // Act
    const error = await store.commit(SHARD, state, commitOf(6, ['e2']), T0).catch((thrown: unknown) => thrown);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(7, 7) });
    onLedgerQuery().resolves({ Items: [ledgerItem(4, ['e1']), ledgerItem(7, ['e9'])] });
    const reloaded = await store.load(SHARD, T0);

    // Assess
    expect(error).toBeInstanceOf(CheckpointConflictError);
    expect(error).toMatchObject({
      name: 'CheckpointConflictError',
      message: `checkpoint of shardId-000000000000 moved past ${sequenceAt(4)} while this batch was being committed`,
    });
    expect(store.itemWrites).toBe(writesBefore);
    expect(queries()).toStrictEqual([queryInput(T0)]);
    expect(reloaded.state).toStrictEqual({ checkpoint: sequenceAt(7), watermarkMs: T0 });
    expect(seen(reloaded, 'e1', 'e2', 'e9')).toStrictEqual({ e1: true, e2: false, e9: true });
  });

  it.each([
    [
      'a cancellation for another reason',
      new TransactionCanceledException({
        message: 'Transaction cancelled',
        $metadata: {},
        CancellationReasons: [{ Code: 'None' }, { Code: 'None' }, { Code: 'ValidationError' }],
      }),
    ],
    ['a cancellation without reasons', new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {} })],
    ['throttling', new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} })],
  ])('rethrows %s unchanged and keeps the ledger cache', async (_name, failure) => {
    // Prepare
    const store = await warmStore(4, ['e1']);
    ddbMock.on(GetCommand).resolves({ Item: checkpointItem(4, 4) });
    const { state } = await store.load(SHARD, T0);
    const writesBefore = store.itemWrites;
    ddbMock.on(TransactWriteCommand).rejects(failure);

    // Act
    const error = await store.commit(SHARD, state, commitOf(6, ['e2']), T0).catch((thrown: unknown) => thrown);
    const reloaded = await store.load(SHARD, T0);

    // Assess
    expect(error).toBe(failure);
    expect(store.itemWrites).toBe(writesBefore);
    expect(queries()).toStrictEqual([]);
    expect(seen(reloaded, 'e1', 'e2')).toStrictEqual({ e1: true, e2: false });
  });
});
