import { QueueDoesNotExist, RequestThrottled, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DeadLetterMessage, LateEventMessage } from '../../contracts/clickstream';
import type { LateEvent, Rejection } from '../../lambdas/clickstream/core/batch-plan';
import { deadLetterMessage, lateEventMessage, MAX_DEAD_LETTER_DATA_CHARS, type SinkMessage } from '../../lambdas/clickstream/core/sink-messages';
import { sendInRecordOrder } from '../../lambdas/clickstream/sinks';
import { OrderDeadLetterMessage } from '../../contracts/fraud';
import { orderDeadLetterMessage } from '../../lambdas/fraud/score-orders';
import { sequenceAt, shardRecordFactory } from '../support/kinesis-records';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/000000000000/clicks-dead-letters';
const SHARD_ID = 'shardId-000000000003';
const ARRIVAL_MS = Date.parse('2026-01-01T00:10:00Z');

const sqsMock = mockClient(SQSClient);
const sqs = new SQSClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });

const messages = (...recordIndexes: number[]): SinkMessage[] => recordIndexes.map((recordIndex) => ({ recordIndex, body: `body-${recordIndex}` }));
const entriesOf = (...recordIndexes: number[]) => recordIndexes.map((index) => ({ Id: String(index), MessageBody: `body-${index}` }));
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, n) => from + n);
const sentBatches = () => sqsMock.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input);

describe('orderDeadLetterMessage', () => {
  it('follows the OrderDeadLetterMessage contract, built like the clicks\' dead letters', () => {
    const record = { ...shardRecordFactory(9, 'unused'), data: 'e30=' };
    const message = orderDeadLetterMessage({ recordIndex: 2, record, reason: 'total-mismatch', detail: 'amount 10 vs items 12' }, SHARD_ID);
    expect(OrderDeadLetterMessage.parse(JSON.parse(message.body))).toStrictEqual({
      kind: 'invalid-order',
      reason: 'total-mismatch',
      detail: 'amount 10 vs items 12',
      origin: { shardId: SHARD_ID, sequenceNumber: sequenceAt(9), partitionKey: 'user-1', approximateArrivalTimestamp: ARRIVAL_MS },
      data: 'e30=',
      dataTruncated: false,
    });
    expect(message.recordIndex).toBe(2);
  });
});

describe('deadLetterMessage', () => {
  it.each([
    ['short data', 'eyJ9', 'eyJ9', false],
    ['data of exactly the limit', 'A'.repeat(MAX_DEAD_LETTER_DATA_CHARS), 'A'.repeat(MAX_DEAD_LETTER_DATA_CHARS), false],
    ['data one character over the limit', `${'A'.repeat(MAX_DEAD_LETTER_DATA_CHARS)}B`, 'A'.repeat(MAX_DEAD_LETTER_DATA_CHARS), true],
  ])('follows the DeadLetterMessage contract for %s', (_name, data, expectedData, truncated) => {
    // Prepare
    const record = { ...shardRecordFactory(7, 'unused'), data };
    const rejection: Rejection = { recordIndex: 4, record, reason: 'oversized', detail: 'too big' };

    // Act
    const message = deadLetterMessage(rejection, SHARD_ID);

    // Assess
    expect(message.recordIndex).toBe(4);
    expect(DeadLetterMessage.parse(JSON.parse(message.body))).toStrictEqual({
      kind: 'invalid-record',
      reason: 'oversized',
      detail: 'too big',
      origin: { shardId: SHARD_ID, sequenceNumber: sequenceAt(7), partitionKey: 'user-1', approximateArrivalTimestamp: ARRIVAL_MS },
      data: expectedData,
      dataTruncated: truncated,
    });
  });
});

describe('lateEventMessage', () => {
  it('follows the LateEventMessage contract', () => {
    // Prepare
    const click = { eventId: 'e9', url: '/late', userId: 'u1', timestamp: ARRIVAL_MS - 200_000 };
    const late: LateEvent = {
      recordIndex: 2,
      record: shardRecordFactory(9, click),
      click,
      windowStartMs: Date.parse('2026-01-01T00:06:00Z'),
      watermarkMs: ARRIVAL_MS,
    };

    // Act
    const message = lateEventMessage(late, SHARD_ID);

    // Assess
    expect(message.recordIndex).toBe(2);
    expect(LateEventMessage.parse(JSON.parse(message.body))).toStrictEqual({
      kind: 'late-event',
      event: click,
      windowStart: '2026-01-01T00:06:00.000Z',
      watermark: ARRIVAL_MS,
      origin: { shardId: SHARD_ID, sequenceNumber: sequenceAt(9), partitionKey: 'user-1', approximateArrivalTimestamp: ARRIVAL_MS },
    });
  });
});

describe('sendInRecordOrder', () => {
  beforeEach(() => {
    sqsMock.reset();
    sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  });

  it('sends nothing for no messages', async () => {
    const failure = await sendInRecordOrder(sqs, QUEUE_URL, []);

    expect(failure).toBeUndefined();
    expect(sentBatches()).toStrictEqual([]);
  });

  it('sends batches of 10 in record order, whatever order the messages come in', async () => {
    // Prepare
    const shuffled = messages(...range(0, 23).reverse());

    // Act
    const failure = await sendInRecordOrder(sqs, QUEUE_URL, shuffled);

    // Assess
    expect(failure).toBeUndefined();
    expect(sentBatches()).toStrictEqual([
      { QueueUrl: QUEUE_URL, Entries: entriesOf(...range(0, 10)) },
      { QueueUrl: QUEUE_URL, Entries: entriesOf(...range(10, 20)) },
      { QueueUrl: QUEUE_URL, Entries: entriesOf(...range(20, 23)) },
    ]);
  });

  it.each([
    ['the first batch', 1, new QueueDoesNotExist({ message: 'no such queue', $metadata: {} }), 3, 'QueueDoesNotExist: no such queue'],
    ['the second batch', 2, new RequestThrottled({ message: 'slow down', $metadata: {} }), 33, 'RequestThrottled: slow down'],
  ])('stops when %s is rejected and blames its first record', async (_name, failingCall, error, recordIndex, cause) => {
    // Prepare: record indexes 3, 6, 9, ... so that the blamed index is not a batch position
    const input = messages(...range(0, 15).map((n) => 3 + n * 3));
    if (failingCall === 1) sqsMock.on(SendMessageBatchCommand).rejectsOnce(error);
    else sqsMock.on(SendMessageBatchCommand).resolvesOnce({ Successful: [], Failed: [] }).rejectsOnce(error);

    // Act
    const failure = await sendInRecordOrder(sqs, QUEUE_URL, input);

    // Assess
    expect(failure).toStrictEqual({ recordIndex, cause });
    expect(sentBatches()).toHaveLength(failingCall);
  });

  it.each([
    ['one failed entry', [{ Id: '14', SenderFault: false, Code: 'InternalError', Message: 'try again' }], 14, 'InternalError: try again'],
    [
      'several failed entries, reported out of order',
      [
        { Id: '17', SenderFault: false, Code: 'InternalError', Message: 'try again' },
        { Id: '12', SenderFault: true, Code: 'InvalidMessageContents', Message: 'bad body' },
      ],
      12,
      'InvalidMessageContents: bad body',
    ],
    ['a failed entry without a message', [{ Id: '19', SenderFault: false, Code: 'ServiceUnavailable' }], 19, 'ServiceUnavailable: no message'],
  ])('returns the lowest record of %s and sends no further batch', async (_name, failed, recordIndex, cause) => {
    // Prepare: the failure is in the second of three batches
    sqsMock
      .on(SendMessageBatchCommand)
      .resolvesOnce({ Successful: [], Failed: [] })
      .resolvesOnce({ Successful: [], Failed: failed });

    // Act
    const failure = await sendInRecordOrder(sqs, QUEUE_URL, messages(...range(0, 25)));

    // Assess
    expect(failure).toStrictEqual({ recordIndex, cause });
    expect(sentBatches().map((batch) => batch.Entries?.length)).toStrictEqual([10, 10]);
  });
});
