import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { AggregatorSettings } from '../../contracts/aggregator-settings';
import { DeadLetterMessage, LateEventMessage, SHARDS_PARTITION, ShardPartialItem, sumPartials, type ClickEventInput } from '../../contracts/clickstream';
import { aggregateClicks, aggregateShardBatch } from '../../lambdas/clickstream/aggregate';
import { ShardStore } from '../../lambdas/clickstream/shard-store';
import { MAX_DEAD_LETTER_DATA_CHARS } from '../../lambdas/clickstream/core/sink-messages';
import { decodeDeltas } from '../../lambdas/clickstream/core/log-entry';
import { FakeDynamoDb } from '../support/fake-dynamodb';
import { kinesisRecordFactory, sequenceAt } from '../support/kinesis-records';

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
  windowRetentionSeconds: 7 * 86_400,
};
const DLQ = SETTINGS.deadLetterQueueUrl;
const LATE_QUEUE = SETTINGS.lateEventsQueueUrl;
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

const sqsMock = mockClient(SQSClient);
const sqs = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

/** Records are named by their index in the batch; the record at index i has Kinesis position 11 + i. */
const FIRST_POSITION = 11;
const seqOf = (index: number) => sequenceAt(FIRST_POSITION + index);
const recordAt = (index: number, body: ClickEventInput | string, shardId = SHARD_ID) =>
  kinesisRecordFactory(FIRST_POSITION + index, body, { shardId });
const click = (eventId: string, url = '/a', timestamp: number = T0 - 1000): ClickEventInput => ({ eventId, url, userId: 'u1', timestamp });
const failureAt = (index: number) => ({ batchItemFailures: [{ itemIdentifier: seqOf(index) }] });

function dependencies(fake = new FakeDynamoDb()) {
  const logger = new Logger({ logLevel: 'SILENT' });
  const metrics = new Metrics({ namespace: 'Watershed', serviceName: 'aggregator' });
  const spies = {
    error: vi.spyOn(logger, 'error'),
    warn: vi.spyOn(logger, 'warn'),
    addMetric: vi.spyOn(metrics, 'addMetric').mockReturnThis(),
    publishStoredMetrics: vi.spyOn(metrics, 'publishStoredMetrics').mockReturnThis(),
  };
  const store = new ShardStore(fake.client(), {
    windowTableName: SETTINGS.windowTableName,
    stateTableName: SETTINGS.stateTableName,
    dedupHorizonMs: SETTINGS.dedupHorizonSeconds * 1000,
    windowRetentionMs: SETTINGS.windowRetentionSeconds * 1000,
  });
  return { fake, deps: { store, sqs, settings: SETTINGS, logger, metrics, now: () => T0 }, spies };
}

/** The shard's committed checkpoint, from its progress item. */
const progressOf = (fake: FakeDynamoDb, shardId = SHARD_ID) =>
  fake.items(SETTINGS.windowTableName).find((item) => item.pk === SHARDS_PARTITION && item.sk === shardId)?.sequenceNumber;
/** Clicks counted per url, across shards and minutes. */
const countedByUrl = (fake: FakeDynamoDb) => {
  const partials = fake.items(SETTINGS.windowTableName).filter((item) => item.pk !== SHARDS_PARTITION).map((item) => ShardPartialItem.parse(item));
  const byUrl: Record<string, number> = {};
  for (const total of sumPartials(partials)) if (total.count > 0) byUrl[total.url] = (byUrl[total.url] ?? 0) + total.count;
  return byUrl;
};
const writes = (fake: FakeDynamoDb) => fake.requests.filter((request) => request.kind === 'Put');
const sentTo = (queueUrl: string) =>
  sqsMock
    .commandCalls(SendMessageBatchCommand)
    .map((call) => call.args[0].input)
    .filter((input) => input.QueueUrl === queueUrl)
    .flatMap((input) => input.Entries ?? []);
const metricValues = (addMetric: ReturnType<typeof dependencies>['spies']['addMetric']) =>
  Object.fromEntries(addMetric.mock.calls.map(([name, , value]) => [name, value]));

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

describe('a batch of valid clicks', () => {
  it('is counted per url and window, and checkpointed at its last record', async () => {
    // Prepare
    const { fake, deps, spies } = dependencies();
    const records = [recordAt(0, click('e0', '/a', T0 - 5000)), recordAt(1, click('e1', '/a')), recordAt(2, click('e2', '/b')), recordAt(3, click('e3', '/a', T0 + 61_000))];

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 3, '/b': 1 });
    expect(progressOf(fake)).toBe(seqOf(3));
    expect(metricValues(spies.addMetric)).toMatchObject({ ClicksCounted: 4, DuplicateClicks: 0, WindowWrites: 4 });
  });

  it('returns no failures and touches nothing for an empty batch', async () => {
    const { fake, deps, spies } = dependencies();

    const response = await aggregateClicks({ Records: [] }, CONTEXT, deps);

    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(fake.requests).toStrictEqual([]);
    expect(spies.publishStoredMetrics).toHaveBeenCalledTimes(1);
  });
});

describe('a click no DynamoDB key or item could hold', () => {
  // 1,100 'é' fit the 2,048-character limit but are 2,230 UTF-8 bytes: such a click used to stall its shard.
  const unwritable = `/p/${'é'.repeat(1100)}/x/${'y'.repeat(24)}`;

  it.each([
    ['a small batch', 3],
    ['a large batch', 1200],
  ])('is dead-lettered with its reason in %s, and the rest is counted', async (_name, size) => {
    // Prepare
    const { fake, deps } = dependencies();
    const records = Array.from({ length: size }, (_, index) => recordAt(index, index === 1 ? click('bad', unwritable) : click(`e${index}`, `/page-${index % 50}`)));

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    const deadLetters = sentTo(DLQ).map((entry) => DeadLetterMessage.parse(JSON.parse(entry.MessageBody ?? 'null')));
    expect(deadLetters.map((message) => [message.reason, message.detail, message.origin.sequenceNumber])).toStrictEqual([
      ['schema', 'url: 2230 UTF-8 bytes; at most 2048 can be stored', seqOf(1)],
    ]);
    expect(Object.values(countedByUrl(fake)).reduce((sum, count) => sum + count, 0)).toBe(size - 1);
    expect(progressOf(fake)).toBe(seqOf(size - 1));
  });
});

describe('a step DynamoDB refuses with a validation error', () => {
  it('dead-letters the one click it cannot store, with DynamoDB\'s reason, and counts the rest', async () => {
    // Prepare: whatever passes validation, a write can still be refused for good; this fake refuses any log
    // entry carrying '/poison', as DynamoDB refuses an item it cannot store. Without isolation the shard would stall.
    const { fake, deps } = dependencies();
    fake.beforeRequest = (request) => {
      if (request.kind !== 'Put' || request.tableName !== SETTINGS.stateTableName) return;
      if (decodeDeltas(request.item!.deltas as Uint8Array).some((delta) => delta.url === '/poison')) {
        throw Object.assign(new Error('One or more parameter values were invalid: item too large'), { name: 'ValidationException' });
      }
    };
    const records = Array.from({ length: 8 }, (_, index) => recordAt(index, click(`e${index}`, index === 5 ? '/poison' : '/a')));

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    const deadLetters = sentTo(DLQ).map((entry) => DeadLetterMessage.parse(JSON.parse(entry.MessageBody ?? 'null')));
    expect(deadLetters.map((message) => [message.reason, message.detail, message.origin.sequenceNumber])).toStrictEqual([
      ['unwritable', 'One or more parameter values were invalid: item too large', seqOf(5)],
    ]);
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 7 });
    expect(progressOf(fake)).toBe(seqOf(7));
  });
});

describe('a sink that cannot take a message', () => {
  // 0 counted, 1 invalid (dead letter), 2 counted, 3 late (late-events queue), 4 counted
  const records = () => [
    recordAt(0, click('e0')),
    recordAt(1, 'not json'),
    recordAt(2, click('e2', '/b')),
    recordAt(3, click('e3', '/old', T0 - 200_000)),
    recordAt(4, click('e4')),
  ];
  const unavailable = Object.assign(new Error('queue unavailable'), { name: 'ServiceUnavailable' });

  it.each([
    ['the dead-letter queue rejects the batch', DLQ, 'rejects', 1, 'ServiceUnavailable: queue unavailable', { '/a': 1 }],
    ['the dead-letter queue fails the entry', DLQ, 'fails-entry', 1, 'InternalError: try again', { '/a': 1 }],
    ['the late-events queue rejects the batch', LATE_QUEUE, 'rejects', 3, 'ServiceUnavailable: queue unavailable', { '/a': 1, '/b': 1 }],
    ['the late-events queue fails the entry', LATE_QUEUE, 'fails-entry', 3, 'InternalError: try again', { '/a': 1, '/b': 1 }],
  ] as const)('ends the batch at that record when %s', async (_name, queueUrl, mode, failedIndex, cause, counted) => {
    // Prepare
    const { fake, deps, spies } = dependencies();
    const failing = sqsMock.on(SendMessageBatchCommand, { QueueUrl: queueUrl });
    if (mode === 'rejects') failing.rejects(unavailable);
    else failing.resolves({ Successful: [], Failed: [{ Id: String(failedIndex), SenderFault: false, Code: 'InternalError', Message: 'try again' }] });

    // Act
    const response = await aggregateClicks({ Records: records() }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual(failureAt(failedIndex));
    expect(progressOf(fake)).toBe(seqOf(failedIndex - 1));
    expect(countedByUrl(fake)).toStrictEqual(counted);
    expect(spies.error).toHaveBeenCalledExactlyOnceWith('Could not deliver to a sink; the batch ends before this record', {
      sink: queueUrl === DLQ ? 'dead-letters' : 'late-events',
      recordIndex: failedIndex,
      cause,
    });
    expect(metricValues(spies.addMetric)).toMatchObject({ ClicksCounted: Object.keys(counted).length });
  });

  it('sends no late event past a dead letter that failed', async () => {
    const { deps } = dependencies();
    sqsMock.on(SendMessageBatchCommand, { QueueUrl: DLQ }).rejects(unavailable);

    await aggregateClicks({ Records: records() }, CONTEXT, deps);

    expect(sentTo(DLQ).map((entry) => entry.Id)).toStrictEqual(['1']);
    expect(sentTo(LATE_QUEUE)).toStrictEqual([]);
  });

  it('commits nothing when the very first record cannot be dead-lettered', async () => {
    const { fake, deps } = dependencies();
    sqsMock.on(SendMessageBatchCommand, { QueueUrl: DLQ }).rejects(unavailable);

    const response = await aggregateClicks({ Records: [recordAt(0, '{}'), recordAt(1, click('e1'))] }, CONTEXT, deps);

    expect(response).toStrictEqual(failureAt(0));
    expect(writes(fake)).toStrictEqual([]);
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
    const { fake, deps } = dependencies();
    const records = [recordAt(0, click('e0')), recordAt(1, click('e1')), malform(recordAt(2, click('e2'))) as KinesisStreamRecord, recordAt(3, click('e3'))];

    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    expect(response).toStrictEqual(failureAt(2));
    expect(progressOf(fake)).toBe(seqOf(1));
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 2 });
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toStrictEqual([]);
  });

  it('is reported when it is the first record, and nothing is committed', async () => {
    const { fake, deps } = dependencies();
    const malformed = { ...recordAt(0, click('e0')), kinesis: { ...recordAt(0, click('e0')).kinesis, data: null } };

    const response = await aggregateClicks({ Records: [malformed as unknown as KinesisStreamRecord, recordAt(1, click('e1'))] }, CONTEXT, deps);

    expect(response).toStrictEqual(failureAt(0));
    expect(writes(fake)).toStrictEqual([]);
  });

  it('fails the whole invocation when every record is malformed, and commits nothing', async () => {
    const { fake, deps } = dependencies();
    const malformed = [0, 1].map((index) => ({ ...recordAt(index, click(`e${index}`)), eventName: 'unknown' }));

    await expect(aggregateClicks({ Records: malformed }, CONTEXT, deps)).rejects.toBeInstanceOf(FullBatchFailureError);
    expect(writes(fake)).toStrictEqual([]);
  });
});

describe('a commit that fails', () => {
  /** A 128-character eventId costs 8 bytes of fingerprint; its url costs its bytes: long urls fill a 300 KB entry. */
  const manyLongUrls = (count: number) => Array.from({ length: count }, (_, index) => recordAt(index, click(`e${index}`, `/${String(index).padStart(1500, 'u')}`)));
  const throttled = () => new ProvisionedThroughputExceededException({ message: 'Rate exceeded', $metadata: {} });

  it('throws when it is the first commit, so that Lambda retries or bisects the batch', async () => {
    const { fake, deps, spies } = dependencies();
    const failure = throttled();
    fake.beforeRequest = (request) => {
      if (request.kind === 'Put') throw failure;
    };

    await expect(aggregateClicks({ Records: [recordAt(0, click('e0'))] }, CONTEXT, deps)).rejects.toBe(failure);
    expect(spies.publishStoredMetrics).not.toHaveBeenCalled();
  });

  it('keeps the earlier commits when a later one fails, and retries from the first uncommitted record', async () => {
    // Prepare: 400 urls of 1.5 KB fill two log entries (300 KB each); the second entry's write is throttled.
    const { fake, deps, spies } = dependencies();
    const failure = throttled();
    let entries = 0;
    fake.beforeRequest = (request) => {
      if (request.kind === 'Put' && request.tableName === SETTINGS.stateTableName && ++entries === 2) throw failure;
    };

    // Act
    const response = await aggregateClicks({ Records: manyLongUrls(400) }, CONTEXT, deps);

    // Assess
    const committedThrough = Number(BigInt(progressOf(fake) as string) - BigInt(seqOf(0))) / 1000;
    expect(committedThrough).toBeGreaterThan(100);
    expect(response).toStrictEqual(failureAt(committedThrough + 1));
    expect(Object.values(countedByUrl(fake)).reduce((sum, count) => sum + count, 0)).toBe(committedThrough + 1);
    expect(spies.error).toHaveBeenCalledExactlyOnceWith('Commit failed; the batch ends at the last committed record', { error: failure });
    expect(metricValues(spies.addMetric)).toMatchObject({ ClicksCounted: committedThrough + 1 });
  });
});

describe('two invocations racing on one shard', () => {
  it('lets the one that commits second stop without an error, reporting the first record the winner did not cover', async () => {
    // Prepare: the same fake table, two containers; the winner commits records 0-2 while the loser holds 0-5.
    const fake = new FakeDynamoDb();
    const winner = dependencies(fake);
    const loser = dependencies(fake);
    const all = [0, 1, 2, 3, 4, 5].map((index) => recordAt(index, click(`e${index}`)));
    let heldBack: (() => void) | undefined;
    let loaded = false;
    fake.beforeRequest = async (request) => {
      // Hold the loser's first write until the winner has committed.
      if (request.kind === 'Put' && !loaded) {
        loaded = true;
        await new Promise<void>((resolve) => {
          heldBack = resolve;
        });
      }
    };

    // Act
    const losing = aggregateClicks({ Records: all }, CONTEXT, loser.deps);
    await vi.waitUntil(() => heldBack !== undefined);
    fake.beforeRequest = () => undefined;
    const won = await aggregateClicks({ Records: all.slice(0, 3) }, CONTEXT, winner.deps);
    heldBack!();
    const lost = await losing;

    // Assess
    expect(won).toStrictEqual({ batchItemFailures: [] });
    expect(lost).toStrictEqual(failureAt(3));
    expect(loser.spies.error).not.toHaveBeenCalled();
    expect(metricValues(loser.spies.addMetric)).toMatchObject({ SupersededCommits: 1, ClicksCounted: 0 });
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 3 });
    // The retry from record 3 counts the rest once.
    expect(await aggregateClicks({ Records: all.slice(3) }, CONTEXT, loser.deps)).toStrictEqual({ batchItemFailures: [] });
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 6 });
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
    const { fake, deps } = dependencies();
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
    expect(progressOf(fake)).toBe(seqOf(2));
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
    const { fake, deps, spies } = dependencies();
    await aggregateClicks({ Records: [0, 1].map((index) => recordAt(index, click(`e${index}`))) }, CONTEXT, dependencies(fake).deps);
    const records = [0, 1, 2, 3].map((index) => recordAt(index, click(`e${index}`)));

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(progressOf(fake)).toBe(seqOf(3));
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 4 });
    expect(metricValues(spies.addMetric)).toMatchObject({ ReplayedRecords: 2, ClicksCounted: 2 });
  });

  it('write nothing and send nothing when the whole batch is a replay', async () => {
    // Prepare: an invalid record among them was dead-lettered by the earlier attempt
    const { fake, deps, spies } = dependencies();
    const records = [recordAt(0, click('e0')), recordAt(1, 'not json'), recordAt(2, click('e2', '/old', T0 - 200_000))];
    await aggregateClicks({ Records: records }, CONTEXT, dependencies(fake).deps);
    sqsMock.resetHistory();
    fake.requests.length = 0;

    // Act
    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(writes(fake)).toStrictEqual([]);
    expect(sqsMock.commandCalls(SendMessageBatchCommand)).toStrictEqual([]);
    expect(metricValues(spies.addMetric)).toMatchObject({ ClicksCounted: 0, DuplicateClicks: 0, LateClicks: 0, InvalidRecords: 0, ReplayedRecords: 3 });
  });
});

describe('records the event source mapping gave up on, replayed after the shard moved on', () => {
  it('are counted once by a recovery step, whatever replays them again, and the checkpoint stays', async () => {
    // Prepare: records 0-2 went to the on-failure destination (never counted); 3-4 were counted,
    // and 4 is a producer re-send of record 1's click. Then records 5-6 came and were counted.
    const { fake, deps } = dependencies();
    const failed = [recordAt(0, click('e0', '/r')), recordAt(1, click('e1', '/r')), recordAt(2, 'not json')];
    await aggregateClicks({ Records: [recordAt(3, click('e3')), recordAt(4, click('e1', '/r'))] }, CONTEXT, deps);
    await aggregateClicks({ Records: [recordAt(5, click('e5')), recordAt(6, click('e6'))] }, CONTEXT, deps);
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 3, '/r': 1 });

    // Act: the replay (ops replay) delivers the failed records, in a cold container and in a warm one.
    const first = await aggregateClicks({ Records: failed }, CONTEXT, dependencies(fake).deps);
    const again = await aggregateClicks({ Records: failed }, CONTEXT, deps);
    const whole = await aggregateClicks({ Records: [...failed, recordAt(3, click('e3'))] }, CONTEXT, dependencies(fake).deps);

    // Assess: e0 counted once, e1 was already counted by its re-send, the bad record dead-lettered once.
    expect([first, again, whole]).toStrictEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 3, '/r': 2 });
    expect(sentTo(DLQ).map((entry) => DeadLetterMessage.parse(JSON.parse(entry.MessageBody!)).reason)).toStrictEqual(['not-json']);
    expect(progressOf(fake)).toBe(seqOf(6));
  });

  it('are not counted again when they were handled: a retry of committed records is no gap', async () => {
    const { fake, deps } = dependencies();
    const records = [0, 1, 2].map((index) => recordAt(index, click(`e${index}`)));
    await aggregateClicks({ Records: records }, CONTEXT, deps);
    await aggregateClicks({ Records: [recordAt(3, click('e3'))] }, CONTEXT, deps);

    await aggregateClicks({ Records: records.slice(1) }, CONTEXT, dependencies(fake).deps);

    expect(countedByUrl(fake)).toStrictEqual({ '/a': 4 });
  });

  it('are recovered when a later batch started right after the gap in a new container', async () => {
    // The shard's very first records were given up: its first step starts after them.
    const { fake, deps } = dependencies();
    await aggregateClicks({ Records: [recordAt(2, click('e2'))] }, CONTEXT, deps);
    const response = await aggregateClicks({ Records: [recordAt(0, click('e0')), recordAt(1, click('e1'))] }, CONTEXT, dependencies(fake).deps);
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(countedByUrl(fake)).toStrictEqual({ '/a': 3 });
  });
});

describe('aggregateClicks with records from two shards', () => {
  it('commits each shard on its own and reports only the failing shard’s record', async () => {
    const { fake, deps } = dependencies();
    const otherShard = 'shardId-000000000001';
    sqsMock.on(SendMessageBatchCommand, { QueueUrl: DLQ }).rejects(new Error('queue unavailable'));
    const records = [recordAt(0, click('a0')), recordAt(0, click('b0'), otherShard), recordAt(1, click('a1')), recordAt(1, 'not json', otherShard)];

    const response = await aggregateClicks({ Records: records }, CONTEXT, deps);

    expect(response).toStrictEqual(failureAt(1));
    expect([progressOf(fake), progressOf(fake, otherShard)]).toStrictEqual([seqOf(1), seqOf(0)]);
  });
});

describe('aggregateShardBatch', () => {
  it('returns no failures for no records without reading the store', async () => {
    const { fake, deps } = dependencies();

    const response = await aggregateShardBatch([], CONTEXT, deps);

    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(fake.requests).toStrictEqual([]);
  });
});
