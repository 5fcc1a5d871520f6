import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient, ProvisionedThroughputExceededException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Context, KinesisStreamRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AggregatorSettings } from '../../contracts/aggregator-settings';
import { DeadLetterMessage, LateEventMessage, type ClickEventInput } from '../../contracts/clickstream';
import { aggregateClicks, aggregateShardBatch } from '../../lambdas/clickstream/aggregate';
import { sortableSequence } from '../../lambdas/clickstream/core/sequence';
import { CheckpointConflictError, ShardStore } from '../../lambdas/clickstream/shard-store';
import { MAX_DEAD_LETTER_DATA_CHARS } from '../../lambdas/clickstream/sinks';
import { kinesisRecordFactory, sequenceAt, TEST_STREAM_ARN } from '../support/kinesis-records';

const T0 = Date.parse('2026-01-01T00:10:00Z');
const SHARD_ID = 'shardId-000000000000';
const SETTINGS: AggregatorSettings = {
  windowTableName: 'click-windows',
  stateTableName: 'aggregator-state',
  deadLetterQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/clicks-dead-letters',
  lateEventsQueueUrl: 'https://sqs.us-east-1.amazonaws.com/000000000000/clicks-late-events',
  allowedLatenessSeconds: 60,
  dedupHorizonSeconds: 900,
  maxEventBytes: 4096,
  maxFutureSkewSeconds: 300,
};
const DLQ = SETTINGS.deadLetterQueueUrl;
const LATE_QUEUE = SETTINGS.lateEventsQueueUrl;
const CHECKPOINT_KEY = { pk: `checkpoint#${TEST_STREAM_ARN}#${SHARD_ID}`, sk: 'checkpoint' };
const LEDGER_PK = `ledger#${TEST_STREAM_ARN}#${SHARD_ID}`;
const PENDING_PK = `pending#${TEST_STREAM_ARN}#${SHARD_ID}`;
const CONTEXT: Context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'aggregator',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:aggregator',
  memoryLimitInMB: '512',
  awsRequestId: 'request-1',
  logGroupName: '/aws/lambda/aggregator',
  logStreamName: 'stream-1',
  getRemainingTimeInMillis: () => 60_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
};

const ddbMock = mockClient(DynamoDBDocumentClient);
const sqsMock = mockClient(SQSClient);
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }), {
  marshallOptions: { removeUndefinedValues: true },
});
const sqs = new SQSClient({ region: 'us-east-1', credentials });

/** Records are named by their index in the batch; the record at index i has Kinesis position 11 + i. */
const FIRST_POSITION = 11;
const seqOf = (index: number) => sequenceAt(FIRST_POSITION + index);
const ledgerKeyOf = (index: number) => sortableSequence(seqOf(index));
const recordAt = (index: number, body: ClickEventInput | string, shardId = SHARD_ID) =>
  kinesisRecordFactory(FIRST_POSITION + index, body, { shardId });
const click = (eventId: string, url = '/a', timestamp: number = T0 - 1000): ClickEventInput => ({ eventId, url, userId: 'u1', timestamp });
const failureAt = (index: number) => ({ batchItemFailures: [{ itemIdentifier: seqOf(index) }] });
/** The committed checkpoint item for "everything up to the record at `index`". */
const checkpointAt = (index: number) => ({
  ...CHECKPOINT_KEY,
  sequenceNumber: seqOf(index),
  watermarkMs: T0 - 1000,
  ledgerKey: ledgerKeyOf(index),
  updatedAt: new Date(T0 - 60_000).toISOString(),
});

function dependencies() {
  const logger = new Logger({ logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'Watershed', serviceName: 'aggregator' });
  const spies = {
    error: vi.spyOn(logger, 'error'),
    addMetric: vi.spyOn(metrics, 'addMetric').mockReturnThis(),
    publishStoredMetrics: vi.spyOn(metrics, 'publishStoredMetrics').mockReturnThis(),
  };
  const store = new ShardStore(ddb, {
    windowTableName: SETTINGS.windowTableName,
    stateTableName: SETTINGS.stateTableName,
    dedupHorizonMs: SETTINGS.dedupHorizonSeconds * 1000,
  });
  return { deps: { store, sqs, settings: SETTINGS, logger, metrics, now: () => T0 }, spies };
}

const transactions = () => ddbMock.commandCalls(TransactWriteCommand).map((call) => call.args[0].input);
/** A commit's own transaction starts with its checkpoint; a written-ahead commit's apply transactions start with a Delete. */
const isCheckpointTransaction = (input: TransactWriteCommandInput) => input.TransactItems?.[0]?.Put?.Item?.sk === 'checkpoint';
const checkpointTransactions = () => transactions().filter(isCheckpointTransaction);
const checkpointPuts = () => checkpointTransactions().map((input) => input.TransactItems?.[0]?.Put);
const committedEventIds = () => checkpointTransactions().map((input) => input.TransactItems?.[1]?.Put?.Item?.eventIds as Set<string> | undefined);
/** Ledger Queries are routed by partition, so the pending Query every load makes neither answers nor counts against them. */
const onLedgerQuery = () => ddbMock.on(QueryCommand, { ExpressionAttributeValues: { ':pk': LEDGER_PK } });
/** Every Query except the pending partition's (which finds nothing in these tests). */
const queries = () =>
  ddbMock
    .commandCalls(QueryCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.ExpressionAttributeValues?.[':pk'] !== PENDING_PK);
const sentTo = (queueUrl: string) =>
  sqsMock
    .commandCalls(SendMessageBatchCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.QueueUrl === queueUrl)
    .flatMap((input) => input.Entries ?? []);
const metricValues = (addMetric: ReturnType<typeof dependencies>['spies']['addMetric']) =>
  Object.fromEntries(addMetric.mock.calls.map(([name, , value]) => [name, value]));

beforeEach(() => {
  ddbMock.reset();
  sqsMock.reset();
  ddbMock.on(GetCommand).resolves({});
  ddbMock.on(QueryCommand).resolves({ Items: [] });
  ddbMock.on(QueryCommand, { ExpressionAttributeValues: { ':pk': PENDING_PK } }).resolves({ Items: [] });
  ddbMock.on(TransactWriteCommand).resolves({});
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('a batch of valid clicks', () => {
  const records = [
    recordAt(0, click('e0', '/a', T0 - 5000)),
    recordAt(1, click('e1', '/a', T0 - 4000)),
    recordAt(2, click('e2', '/b', T0 - 3000)),
    recordAt(3, click('e3', '/a', T0 + 61_000)),
  ];
  const windowUpdate = (url: string, windowStart: string, windowEnd: string, count: number) => ({
    Update: {
      TableName: SETTINGS.windowTableName,
      Key: { url, windowStart },
      UpdateExpression: 'ADD #count :count, lateCount :late SET windowEnd = :end, updatedAt = :now',
      ExpressionAttributeNames: { '#count': 'count' },
      ExpressionAttributeValues: { ':count': count, ':late': 0, ':end': windowEnd, ':now': '2026-01-01T00:10:00.000Z' },
    },
  });

  it.each([
    ['the first commit of the shard', undefined, { ConditionExpression: 'attribute_not_exists(pk)' }],
    [
      'a commit after a checkpoint',
      { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(10), watermarkMs: T0 - 30_000, ledgerKey: sortableSequence(sequenceAt(10)) },
      { ConditionExpression: 'sequenceNumber = :from', ExpressionAttributeValues: { ':from': sequenceAt(10) } },
    ],
  ])('are counted in one transaction for %s', async (_name, checkpoint, condition) => {
    // Prepare
    const { deps, spies } = dependencies();
    ddbMock.on(GetCommand).resolves({ Item: checkpoint });

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(transactions()).toStrictEqual([
      {
        TransactItems: [
          {
            Put: {
              TableName: SETTINGS.stateTableName,
              Item: { ...CHECKPOINT_KEY, sequenceNumber: seqOf(3), watermarkMs: T0 /* e3 is stamped ahead of its arrival at T0: the watermark stops at T0 */, ledgerKey: ledgerKeyOf(3), updatedAt: '2026-01-01T00:10:00.000Z' },
              ...condition,
            },
          },
          {
            Put: {
              TableName: SETTINGS.stateTableName,
              Item: { pk: LEDGER_PK, sk: ledgerKeyOf(3), eventIds: new Set(['e0', 'e1', 'e2', 'e3']), expiresAt: (T0 + 900_000) / 1000 },
            },
          },
          windowUpdate('/a', '2026-01-01T00:09:00.000Z', '2026-01-01T00:10:00.000Z', 2),
          windowUpdate('/b', '2026-01-01T00:09:00.000Z', '2026-01-01T00:10:00.000Z', 1),
          windowUpdate('/a', '2026-01-01T00:11:00.000Z', '2026-01-01T00:12:00.000Z', 1),
        ],
        ClientRequestToken: expect.stringMatching(/^[0-9a-f]{36}$/),
      },
    ]);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toStrictEqual([]);
    expect(metricValues(spies.addMetric)).toStrictEqual({
      ClicksCounted: 4,
      DuplicateClicks: 0,
      LateClicks: 0,
      InvalidRecords: 0,
      ReplayedRecords: 0,
      WindowWrites: 3,
    });
    expect(spies.publishStoredMetrics).toHaveBeenCalledTimes(1);
    expect(deps.store.itemWrites).toBe(5);
  });

  it('returns no failures and touches nothing for an empty batch', async () => {
    const { deps, spies } = dependencies();

    const response = await aggregateClicks({ Records: [] }, CONTEXT, deps);

    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(ddbMock.calls()).toStrictEqual([]);
    expect(spies.publishStoredMetrics).toHaveBeenCalledTimes(1);
  });
});

describe('a sink that cannot take a message', () => {
  // 0 counted, 1 invalid (dead letter), 2 counted, 3 late (late-events queue), 4 counted
  const records = () => [
    recordAt(0, click('e0')),
    recordAt(1, 'not json'),
    recordAt(2, click('e2')),
    recordAt(3, click('e3', '/old', T0 - 200_000)),
    recordAt(4, click('e4')),
  ];
  const unavailable = Object.assign(new Error('queue unavailable'), { name: 'ServiceUnavailable' });

  it.each([
    ['the dead-letter queue rejects the batch', DLQ, 'rejects', 1, 'ServiceUnavailable: queue unavailable', ['e0']],
    ['the dead-letter queue fails the entry', DLQ, 'fails-entry', 1, 'InternalError: try again', ['e0']],
    ['the late-events queue rejects the batch', LATE_QUEUE, 'rejects', 3, 'ServiceUnavailable: queue unavailable', ['e0', 'e2']],
    ['the late-events queue fails the entry', LATE_QUEUE, 'fails-entry', 3, 'InternalError: try again', ['e0', 'e2']],
  ] as const)('ends the batch at that record when %s', async (_name, queueUrl, mode, failedIndex, cause, committed) => {
    // Prepare
    const { deps, spies } = dependencies();
    const failing = sqsMock.on(SendMessageBatchCommand, { QueueUrl: queueUrl });
    if (mode === 'rejects') failing.rejects(unavailable);
    else failing.resolves({ Successful: [], Failed: [{ Id: String(failedIndex), SenderFault: false, Code: 'InternalError', Message: 'try again' }] });

    // Act
    const response = await aggregateClicks({ Records: records() }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(failedIndex));
    expect(checkpointPuts().map((put) => put?.Item?.sequenceNumber)).toStrictEqual([seqOf(failedIndex - 1)]);
    expect(committedEventIds()).toStrictEqual([new Set(committed)]);
    expect(spies.error).toHaveBeenCalledExactlyOnceWith('Could not deliver to a sink; the batch ends before this record', {
      queueUrl,
      recordIndex: failedIndex,
      cause,
    });
    expect(metricValues(spies.addMetric)).toMatchObject({ ClicksCounted: committed.length });
  });

  it('sends no late event past a dead letter that failed', async () => {
    // Prepare
    const { deps } = dependencies();
    sqsMock.on(SendMessageBatchCommand, { QueueUrl: DLQ }).rejects(unavailable);

    // Act
    await aggregateClicks({ Records: records() }, CONTEXT, deps);

    // Assess
    expect(sentTo(DLQ).map((entry) => entry.Id)).toStrictEqual(['1']);
    expect(sentTo(LATE_QUEUE)).toStrictEqual([]);
  });

  it('commits nothing when the very first record cannot be dead-lettered', async () => {
    // Prepare
    const { deps } = dependencies();
    sqsMock.on(SendMessageBatchCommand, { QueueUrl: DLQ }).rejects(unavailable);

    // Act
    const response = await aggregateClicks({ Records: [recordAt(0, '{}'), recordAt(1, click('e1'))] }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(0));
    expect(transactions()).toStrictEqual([]);
  });
});

describe('a record whose Kinesis envelope is malformed', () => {
  const malformations: [string, (record: KinesisStreamRecord) => unknown][] = [
    ['data is not a string', (record) => ({ ...record, kinesis: { ...record.kinesis, data: 42 } })],
    [
      'the arrival timestamp is missing',
      (record) => {
        const { approximateArrivalTimestamp: _dropped, ...kinesis } = record.kinesis;
        return { ...record, kinesis };
      },
    ],
    ['the event source is not Kinesis', (record) => ({ ...record, eventSource: 'aws:sqs' })],
  ];

  it.each(malformations)('is reported and ends the batch when %s', async (_name, malform) => {
    // Prepare
    const { deps } = dependencies();
    const records = [
      recordAt(0, click('e0')),
      recordAt(1, click('e1')),
      malform(recordAt(2, click('e2'))) as KinesisStreamRecord,
      recordAt(3, click('e3')),
    ];

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(2));
    expect(checkpointPuts().map((put) => put?.Item?.sequenceNumber)).toStrictEqual([seqOf(1)]);
    expect(committedEventIds()).toStrictEqual([new Set(['e0', 'e1'])]);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toStrictEqual([]);
  });

  it('is reported when it is the first record, and nothing is committed', async () => {
    // Prepare
    const { deps } = dependencies();
    const malformed = { ...recordAt(0, click('e0')), kinesis: { ...recordAt(0, click('e0')).kinesis, data: null } };

    // Act
    const response = await aggregateClicks({ Records: [malformed as unknown as KinesisStreamRecord, recordAt(1, click('e1'))] }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(0));
    expect(transactions()).toStrictEqual([]);
  });

  it('fails the whole invocation when every record is malformed, and commits nothing', async () => {
    // Prepare
    const { deps } = dependencies();
    const malformed = [0, 1].map((index) => ({ ...recordAt(index, click(`e${index}`)), eventName: 'unknown' }));

    // Act
    const result = aggregateClicks({ Records: malformed }, CONTEXT, deps);

    // Assess
    await expect(result).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(transactions()).toStrictEqual([]);
  });
});

describe('a commit that fails', () => {
  /** One click per url, so every record is a window delta of its own: 9,702 of them fill a commit. */
  const manyWindows = (count: number) => Array.from({ length: count }, (_, index) => recordAt(index, click(`e${index}`, `/page-${index}`)));
  /** A 128-character eventId takes 129 bytes of ledger item, so 2,325 of them fill a commit's 300 KB. */
  const longId = (index: number) => `e${index}-`.padEnd(128, 'x');
  /** Clicks with long eventIds on three urls: the ledger item closes each commit, which then has three windows. */
  const manyLongIds = (count: number) => Array.from({ length: count }, (_, index) => recordAt(index, click(longId(index), `/page-${index % 3}`)));
  const throttled = () => new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });
  /** Every transaction succeeds except the checkpoint transaction of the `failing`-th commit. */
  function failCommit(failing: number, failure: Error): void {
    let commits = 0;
    ddbMock.on(TransactWriteCommand).callsFake((input: TransactWriteCommandInput) => {
      if (isCheckpointTransaction(input)) commits += 1;
      return isCheckpointTransaction(input) && commits === failing ? Promise.reject(failure) : Promise.resolve({});
    });
  }

  it('throws when it is the first commit, so that Lambda retries or bisects the batch', async () => {
    // Prepare
    const { deps, spies } = dependencies();
    const failure = throttled();
    ddbMock.on(TransactWriteCommand).rejects(failure);

    // Act
    const result = aggregateClicks({ Records: manyWindows(3) }, CONTEXT, deps);

    // Assess
    await expect(result).rejects.toBe(failure);
    expect(transactions()).toHaveLength(1);
    expect(spies.publishStoredMetrics).not.toHaveBeenCalled();
  });

  it.each([
    // name, records, failing commit, committed checkpoints, retry from, window writes, transactions, item writes
    ['the second of two, closed by a full ledger item', () => manyLongIds(2400), 2, [seqOf(2324)], 2325, 3, 2, 5],
    ['the third of three, closed by full ledger items', () => manyLongIds(5000), 3, [seqOf(2324), seqOf(4649)], 4650, 6, 3, 10],
    // The first commit writes 98 pending items ahead, then applies each in its own transaction.
    ['the second of two, the first closed at 9,702 windows', () => manyWindows(9800), 2, [seqOf(9701)], 9702, 9702, 1 + 98 + 1, 100 + 98 + 9702],
  ])(
    'keeps the earlier commits when it is %s and retries from the first uncommitted record',
    async (_name, records, failingCommit, committed, retryFrom, windowWrites, transactionCount, itemWrites) => {
      // Prepare
      const { deps, spies } = dependencies();
      const failure = throttled();
      failCommit(failingCommit, failure);

      // Act
      const response = await aggregateClicks({ Records: records() }, CONTEXT, deps);

      // Assess
      expect(response).toStrictEqual(failureAt(retryFrom));
      const puts = checkpointPuts();
      expect(puts).toHaveLength(failingCommit);
      expect(puts.slice(0, -1).map((put) => put?.Item?.sequenceNumber)).toStrictEqual(committed);
      // Each commit is guarded by the checkpoint the previous one wrote.
      expect(puts.map((put) => put?.ExpressionAttributeValues?.[':from'])).toStrictEqual([undefined, ...committed]);
      expect(transactions()).toHaveLength(transactionCount);
      expect(deps.store.itemWrites).toBe(itemWrites);
      expect(spies.error).toHaveBeenCalledExactlyOnceWith('Commit failed; the batch ends at the last committed record', { error: failure });
      expect(metricValues(spies.addMetric)).toStrictEqual({
        ClicksCounted: retryFrom,
        DuplicateClicks: 0,
        LateClicks: 0,
        InvalidRecords: 0,
        ReplayedRecords: 0,
        WindowWrites: windowWrites,
      });
    },
  );

  it('still counts a ledger duplicate as a duplicate after a later commit fails', async () => {
    // Prepare: the ledger already holds record 5's eventId; records 0-2325 (2,325 counted) fill one ledger item
    const { deps, spies } = dependencies();
    ddbMock.on(GetCommand).resolves({ Item: { ...CHECKPOINT_KEY, sequenceNumber: sequenceAt(10), ledgerKey: sortableSequence(sequenceAt(10)) } });
    onLedgerQuery().resolves({ Items: [{ pk: LEDGER_PK, sk: sortableSequence(sequenceAt(10)), eventIds: new Set([longId(5)]), expiresAt: (T0 + 60_000) / 1000 }] });
    failCommit(2, throttled());

    // Act
    const response = await aggregateClicks({ Records: manyLongIds(2327) }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(2326));
    expect(checkpointPuts().map((put) => put?.Item?.sequenceNumber)).toStrictEqual([seqOf(2325), seqOf(2326)]);
    expect(committedEventIds().map((eventIds) => eventIds?.size)).toStrictEqual([2325, 1]);
    expect(metricValues(spies.addMetric)).toStrictEqual({
      ClicksCounted: 2325,
      DuplicateClicks: 1,
      LateClicks: 0,
      InvalidRecords: 0,
      ReplayedRecords: 0,
      WindowWrites: 3,
    });
  });

  it('throws CheckpointConflictError when another invocation moved the checkpoint, and the retry re-reads the ledger', async () => {
    // Prepare: the shard was committed up to record 0; this container reads that ledger cold
    const { deps } = dependencies();
    ddbMock.on(GetCommand).resolves({ Item: checkpointAt(0) });
    onLedgerQuery().resolves({ Items: [{ pk: LEDGER_PK, sk: ledgerKeyOf(0), eventIds: new Set(['e0']), expiresAt: (T0 + 60_000) / 1000 }] });
    ddbMock
      .on(TransactWriteCommand)
      .rejectsOnce(
        new TransactionCanceledException({
          message: 'Transaction cancelled',
          $metadata: {},
          CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }, { Code: 'None' }],
        }),
      )
      .resolves({});
    const batch = { Records: [recordAt(0, click('e0')), recordAt(1, click('e1'))] };

    // Act
    const first = await aggregateClicks(batch, CONTEXT, deps).catch((error: unknown) => error);
    const retry = await aggregateClicks(batch, CONTEXT, deps);

    // Assess
    expect(first).toBeInstanceOf(CheckpointConflictError);
    expect(retry).toStrictEqual({ batchItemFailures: [] });
    expect(queries().map((input) => input.KeyConditionExpression)).toStrictEqual(['pk = :pk', 'pk = :pk']);
    expect(committedEventIds()).toStrictEqual([new Set(['e1']), new Set(['e1'])]);
  });
});

describe('dead letters', () => {
  const notJsonDetail = (() => {
    try {
      JSON.parse('not json');
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  })();
  const oversized = click('e-big', `/${'x'.repeat(20_000)}`);
  const oversizedData = Buffer.from(JSON.stringify(oversized)).toString('base64');

  it.each([
    ['not-json', 'not json', notJsonDetail, Buffer.from('not json').toString('base64'), false],
    [
      'oversized',
      oversized,
      `record is ${Buffer.byteLength(JSON.stringify(oversized))} bytes; the limit is 4096`,
      oversizedData.slice(0, MAX_DEAD_LETTER_DATA_CHARS),
      true,
    ],
    [
      'future-timestamp',
      click('e-future', '/a', T0 + 301_000),
      'timestamp is 301 s after the record arrived; at most 300 s is allowed',
      Buffer.from(JSON.stringify(click('e-future', '/a', T0 + 301_000))).toString('base64'),
      false,
    ],
  ] as const)('carry the reason %s, the record origin and its data', async (reason, body, detail, data, dataTruncated) => {
    // Prepare
    const { deps } = dependencies();
    const records = [recordAt(0, click('e0')), recordAt(1, body), recordAt(2, click('e2'))];

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    const entries = sentTo(DLQ);
    expect(entries.map((entry) => entry.Id)).toStrictEqual(['1']);
    expect(DeadLetterMessage.parse(JSON.parse(entries[0]?.MessageBody ?? 'null'))).toStrictEqual({
      kind: 'invalid-record',
      reason,
      detail,
      origin: { shardId: SHARD_ID, sequenceNumber: seqOf(1), partitionKey: 'user-1', approximateArrivalTimestamp: T0 },
      data,
      dataTruncated,
    });
    expect(checkpointPuts().map((put) => put?.Item?.sequenceNumber)).toStrictEqual([seqOf(2)]);
  });

  it('reports schema violations by field', async () => {
    // Prepare
    const { deps } = dependencies();

    // Act
    await aggregateClicks({ Records: [recordAt(0, { eventId: 'e0', url: '/a', timestamp: T0 } as unknown as ClickEventInput)] }, CONTEXT, deps);

    // Assess
    const message = DeadLetterMessage.parse(JSON.parse(sentTo(DLQ)[0]?.MessageBody ?? 'null'));
    expect(message.reason).toBe('schema');
    expect(message.detail).toMatch(/^userId: /);
  });

  it('sends a late event to the late-events queue with its window and watermark', async () => {
    // Prepare
    const { deps } = dependencies();
    const late = click('e-late', '/old', T0 - 200_000);

    // Act
    await aggregateClicks({ Records: [recordAt(0, click('e0')), recordAt(1, late)] }, CONTEXT, deps);

    // Assess
    const entries = sentTo(LATE_QUEUE);
    expect(entries.map((entry) => entry.Id)).toStrictEqual(['1']);
    expect(LateEventMessage.parse(JSON.parse(entries[0]?.MessageBody ?? 'null'))).toStrictEqual({
      kind: 'late-event',
      event: late,
      windowStart: '2026-01-01T00:06:00.000Z',
      watermark: T0 - 1000,
      origin: { shardId: SHARD_ID, sequenceNumber: seqOf(1), partitionKey: 'user-1', approximateArrivalTimestamp: T0 },
    });
  });
});

describe('replayed records', () => {
  it('are not committed again', async () => {
    // Prepare: records 0 and 1 were committed by an earlier attempt
    const { deps, spies } = dependencies();
    ddbMock.on(GetCommand).resolves({ Item: checkpointAt(1) });
    const records = [0, 1, 2, 3].map((index) => recordAt(index, click(`e${index}`)));

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(checkpointPuts()).toStrictEqual([
      {
        TableName: SETTINGS.stateTableName,
        Item: { ...CHECKPOINT_KEY, sequenceNumber: seqOf(3), watermarkMs: T0 - 1000, ledgerKey: ledgerKeyOf(3), updatedAt: '2026-01-01T00:10:00.000Z' },
        ConditionExpression: 'sequenceNumber = :from',
        ExpressionAttributeValues: { ':from': seqOf(1) },
      },
    ]);
    expect(committedEventIds()).toStrictEqual([new Set(['e2', 'e3'])]);
    expect(transactions()[0]?.TransactItems?.[2]?.Update?.ExpressionAttributeValues?.[':count']).toBe(2);
    expect(metricValues(spies.addMetric)).toMatchObject({ ReplayedRecords: 2, ClicksCounted: 2 });
  });

  it('write nothing and send nothing when the whole batch is a replay', async () => {
    // Prepare: an invalid record among them was dead-lettered by the earlier attempt
    const { deps, spies } = dependencies();
    ddbMock.on(GetCommand).resolves({ Item: checkpointAt(2) });
    const records = [recordAt(0, click('e0')), recordAt(1, 'not json'), recordAt(2, click('e2', '/old', T0 - 200_000))];

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(transactions()).toStrictEqual([]);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toStrictEqual([]);
    expect(metricValues(spies.addMetric)).toStrictEqual({
      ClicksCounted: 0,
      DuplicateClicks: 0,
      LateClicks: 0,
      InvalidRecords: 0,
      ReplayedRecords: 3,
      WindowWrites: 0,
    });
  });
});

describe('aggregateClicks with records from two shards', () => {
  it('commits each shard on its own and reports only the failing shard’s record', async () => {
    // Prepare
    const { deps } = dependencies();
    const otherShard = 'shardId-000000000001';
    sqsMock.on(SendMessageBatchCommand, { QueueUrl: DLQ }).rejects(new Error('queue unavailable'));
    const records = [
      recordAt(0, click('a0')),
      recordAt(0, click('b0'), otherShard),
      recordAt(1, click('a1')),
      recordAt(1, 'not json', otherShard),
    ];

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(1));
    expect(checkpointPuts().map((put) => [put?.Item?.pk, put?.Item?.sequenceNumber])).toStrictEqual([
      [CHECKPOINT_KEY.pk, seqOf(1)],
      [`checkpoint#${TEST_STREAM_ARN}#${otherShard}`, seqOf(0)],
    ]);
  });
});

describe('aggregateShardBatch', () => {
  it('returns no failures for no records without reading the store', async () => {
    const { deps } = dependencies();

    const response = await aggregateShardBatch([], CONTEXT, deps);

    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(ddbMock.calls()).toStrictEqual([]);
  });
});
