import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue as SdkAttributeValue,
  type StreamViewType,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBStreamSchema } from '@aws-lambda-powertools/parser/schemas';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import type { EventSourceMappingSpec } from '../../local/cloudformation/provision';
import { startEdge, type Edge } from '../../local/edge';
import { startDynamoDb, type RunningService } from '../../local/emulators';
import { DynamoDbStreamEventSource } from '../../local/lambda/dynamodb-event-source';
import type { InvokeResult } from '../../local/lambda/runtime';
import { startSqs, type SqsServer } from '../../local/sqs';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

const ACCOUNT = '000000000000';
const FUNCTION_NAME = 'broadcaster';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SEQUENCE_NUMBER = /^\d+$/;

let dynamoDbLocal: RunningService;
let sqsServer: SqsServer;
let edge: Edge;
let dynamodb: DynamoDBClient;
let streams: DynamoDBStreamsClient;
let sqs: SQSClient;
const queueUrls = new Map<string, string>();
const sources: DynamoDbStreamEventSource[] = [];

beforeAll(async () => {
  if (!java.available) return;
  [dynamoDbLocal, sqsServer] = await Promise.all([startDynamoDb(), startSqs()]);
  // Everything through the edge, as in the local cloud: DynamoDB Streams requests are signed for `dynamodb`.
  edge = await startEdge({ port: 0, targets: { dynamodb: dynamoDbLocal.endpoint, sqs: sqsServer.handler } });
  dynamodb = new DynamoDBClient(localClientConfig(edge.url));
  streams = new DynamoDBStreamsClient(localClientConfig(edge.url));
  sqs = new SQSClient(localClientConfig(edge.url));
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((source) => source.stop()));
});

afterAll(async () => {
  for (const client of [dynamodb, streams, sqs]) client?.destroy();
  await Promise.allSettled([edge?.stop(), dynamoDbLocal?.stop(), sqsServer?.stop()]);
});

// ---------------------------------------------------------------------------------------------
// Table, queue and mapping factories
// ---------------------------------------------------------------------------------------------

interface TestTable {
  name: string;
  streamArn: string;
}

async function tableFactory(viewType: StreamViewType = 'NEW_AND_OLD_IMAGES'): Promise<TestTable> {
  const name = `esm-${randomUUID().slice(0, 8)}`;
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamEnabled: true, StreamViewType: viewType },
    }),
  );
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
  return { name, streamArn: Table!.LatestStreamArn! };
}

/** One INSERT per label, in order; the item's key is its label. */
async function putItems(table: TestTable, labels: string[]): Promise<void> {
  for (const label of labels) await dynamodb.send(new PutItemCommand({ TableName: table.name, Item: { pk: { S: label }, n: { N: '1' } } }));
}

async function destinationFactory(): Promise<{ arn: string; url: string }> {
  const name = `failed-${randomUUID().slice(0, 8)}`;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  const arn = `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`;
  queueUrls.set(arn, QueueUrl!);
  return { arn, url: QueueUrl! };
}

async function drainQueue(url: string): Promise<unknown[]> {
  const bodies: unknown[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    if (Messages.length === 0) return bodies;
    bodies.push(...Messages.map((message) => JSON.parse(message.Body ?? 'null') as unknown));
    await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })) }));
  }
}

/** An AWS::Lambda::EventSourceMapping on a table's stream, as provisionStack hands it over. */
function mappingSpecFactory(table: TestTable, properties: Record<string, unknown>): EventSourceMappingSpec {
  return { logicalId: 'BroadcasterDynamoDBEventSource', uuid: randomUUID(), functionName: FUNCTION_NAME, eventSourceArn: table.streamArn, properties };
}

interface DeliveredBatch {
  /** The item key of each record. */
  labels: string[];
  records: DynamoDBRecord[];
  /** The mapping's checkpoint when the function was invoked, as the label of that record. */
  checkpointAtInvoke: string | undefined;
}

type Responder = (batch: DeliveredBatch, call: number) => InvokeResult;

const success = (payload: unknown = null): InvokeResult => ({ ok: true, payload, durationMs: 1 });
const functionError = (message = 'poison record'): InvokeResult => ({ ok: false, errorType: 'PoisonRecordError', errorMessage: message, durationMs: 1 });
const labelOf = (record: DynamoDBRecord): string => String(record.dynamodb?.Keys?.pk?.S);
const sequenceOf = (batch: DeliveredBatch, label: string): string =>
  batch.records.find((record) => labelOf(record) === label)!.dynamodb!.SequenceNumber!;

/**
 * The function under the mapping: records every batch, answers as scripted, and checks each event
 * against Powertools' DynamoDB stream schema.
 */
function functionDouble(respond: Responder = () => success(), checkpoints?: Map<string, string>) {
  const batches: DeliveredBatch[] = [];
  const responses: InvokeResult[] = [];
  const labelBySequence = new Map<string, string>();
  const invoke = async (functionName: string, event: DynamoDBStreamEvent): Promise<InvokeResult> => {
    expect(functionName).toBe(FUNCTION_NAME);
    expect(DynamoDBStreamSchema.safeParse(event).error).toBeUndefined();
    for (const record of event.Records) labelBySequence.set(record.dynamodb!.SequenceNumber!, labelOf(record));
    const checkpoint = [...(checkpoints?.values() ?? [])][0];
    const batch: DeliveredBatch = {
      labels: event.Records.map(labelOf),
      records: event.Records,
      checkpointAtInvoke: checkpoint === undefined ? undefined : labelBySequence.get(checkpoint),
    };
    batches.push(batch);
    const response = respond(batch, batches.length);
    responses.push(response);
    return response;
  };
  return { batches, responses, invoke, labels: () => batches.map((batch) => batch.labels) };
}

async function startSource(
  spec: EventSourceMappingSpec,
  invoke: (functionName: string, event: DynamoDBStreamEvent) => Promise<InvokeResult>,
  checkpoints?: Map<string, string>,
): Promise<DynamoDbStreamEventSource> {
  const source = new DynamoDbStreamEventSource(spec, {
    streams,
    sqs,
    invoke,
    queueUrlForArn: (arn) => {
      const url = queueUrls.get(arn);
      if (url === undefined) throw new Error(`no queue for ${arn}`);
      return url;
    },
    checkpoints,
    idlePollMs: 25,
  });
  sources.push(source);
  await source.start();
  return source;
}

async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const labels = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}${String(index).padStart(2, '0')}`);
const delivered = (double: { batches: DeliveredBatch[] }) => double.batches.flatMap((batch) => batch.labels);

// ---------------------------------------------------------------------------------------------

describe.skipIf(!java.available)(titled('DynamoDbStreamEventSource over DynamoDB Local, through the edge', java), () => {
  describe('the Lambda DynamoDB event', () => {
    it('delivers INSERT, MODIFY and REMOVE in order, with keys and images as AttributeValue JSON', async () => {
      // Prepare: every attribute type, binary ones included (base64 in the event, as Lambda sends them)
      const table = await tableFactory();
      const double = functionDouble();
      await startSource(mappingSpecFactory(table, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10 }), double.invoke);
      const item: Record<string, SdkAttributeValue> = {
        pk: { S: 'item-1' },
        count: { N: '41' },
        bytes: { B: new Uint8Array([0, 1, 254, 255]) },
        final: { BOOL: false },
        nothing: { NULL: true },
        tags: { SS: ['a', 'b'] },
        sizes: { NS: ['1', '2.5'] },
        blobs: { BS: [new Uint8Array([1]), new Uint8Array([2, 3])] },
        nested: { M: { list: { L: [{ S: 'x' }, { N: '7' }, { M: { deep: { B: new Uint8Array([9]) } } }] } } },
      };
      const startedAt = Date.now() / 1000;

      // Act
      await dynamodb.send(new PutItemCommand({ TableName: table.name, Item: item }));
      await dynamodb.send(new UpdateItemCommand({
        TableName: table.name,
        Key: { pk: { S: 'item-1' } },
        UpdateExpression: 'SET #count = #count + :one, #final = :yes',
        ExpressionAttributeNames: { '#count': 'count', '#final': 'final' },
        ExpressionAttributeValues: { ':one': { N: '1' }, ':yes': { BOOL: true } },
      }));
      await dynamodb.send(new DeleteItemCommand({ TableName: table.name, Key: { pk: { S: 'item-1' } } }));
      await waitUntil(() => delivered(double).length >= 3, 'three changes');
      await sleep(200);

      // Assess
      const imageJson = {
        pk: { S: 'item-1' },
        count: { N: '41' },
        bytes: { B: 'AAH+/w==' },
        final: { BOOL: false },
        nothing: { NULL: true },
        tags: { SS: ['a', 'b'] },
        sizes: { NS: ['1', '2.5'] },
        blobs: { BS: ['AQ==', 'AgM='] },
        nested: { M: { list: { L: [{ S: 'x' }, { N: '7' }, { M: { deep: { B: 'CQ==' } } }] } } },
      };
      const updatedJson = { ...imageJson, count: { N: '42' }, final: { BOOL: true } };
      const records = double.batches.flatMap((batch) => batch.records);
      const change = (eventName: string, images: Record<string, unknown>) => ({
        eventID: expect.any(String),
        eventName,
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: 'us-east-1',
        dynamodb: {
          ApproximateCreationDateTime: expect.any(Number),
          Keys: { pk: { S: 'item-1' } },
          ...images,
          SequenceNumber: expect.stringMatching(SEQUENCE_NUMBER),
          SizeBytes: expect.any(Number),
          StreamViewType: 'NEW_AND_OLD_IMAGES',
        },
        eventSourceARN: table.streamArn,
      });
      expect(records).toStrictEqual([
        change('INSERT', { NewImage: imageJson }),
        change('MODIFY', { NewImage: updatedJson, OldImage: imageJson }),
        change('REMOVE', { OldImage: updatedJson }),
      ]);
      const sequenceNumbers = records.map((record) => BigInt(record.dynamodb!.SequenceNumber!));
      expect([...sequenceNumbers].sort((a, b) => (a < b ? -1 : 1))).toStrictEqual(sequenceNumbers);
      expect(new Set(records.map((record) => record.eventID)).size).toBe(3);
      for (const record of records) {
        // DynamoDB Local rounds the creation time down to the minute.
        expect(record.dynamodb!.ApproximateCreationDateTime!).toBeGreaterThan(startedAt - 61);
        expect(record.dynamodb!.ApproximateCreationDateTime!).toBeLessThanOrEqual(Date.now() / 1000);
        expect(record.dynamodb!.SizeBytes!).toBeGreaterThan(0);
      }
    });

    describe.each<[StreamViewType, Record<string, string[]>]>([
      ['KEYS_ONLY', { INSERT: ['Keys'], MODIFY: ['Keys'], REMOVE: ['Keys'] }],
      ['NEW_IMAGE', { INSERT: ['Keys', 'NewImage'], MODIFY: ['Keys', 'NewImage'], REMOVE: ['Keys'] }],
      ['OLD_IMAGE', { INSERT: ['Keys'], MODIFY: ['Keys', 'OldImage'], REMOVE: ['Keys', 'OldImage'] }],
      ['NEW_AND_OLD_IMAGES', { INSERT: ['Keys', 'NewImage'], MODIFY: ['Keys', 'NewImage', 'OldImage'], REMOVE: ['Keys', 'OldImage'] }],
    ])('a %s stream', (viewType, expected) => {
      it('carries exactly the images its view type names', async () => {
        // Prepare
        const table = await tableFactory(viewType);
        const double = functionDouble();
        await startSource(mappingSpecFactory(table, { StartingPosition: 'TRIM_HORIZON' }), double.invoke);

        // Act
        await putItems(table, ['k']);
        await dynamodb.send(new UpdateItemCommand({ TableName: table.name, Key: { pk: { S: 'k' } }, UpdateExpression: 'SET n = :two', ExpressionAttributeValues: { ':two': { N: '2' } } }));
        await dynamodb.send(new DeleteItemCommand({ TableName: table.name, Key: { pk: { S: 'k' } } }));
        await waitUntil(() => delivered(double).length >= 3, 'three changes');

        // Assess
        const records = double.batches.flatMap((batch) => batch.records);
        const present = (record: DynamoDBRecord) => ['Keys', 'NewImage', 'OldImage'].filter((key) => key in record.dynamodb!);
        expect(Object.fromEntries(records.map((record) => [record.eventName, present(record)]))).toStrictEqual(expected);
        expect(records.map((record) => record.dynamodb!.StreamViewType)).toStrictEqual([viewType, viewType, viewType]);
      });
    });
  });

  describe('batching', () => {
    it('delivers records in order, in batches of at most BatchSize, checkpointing after each', async () => {
      // Prepare
      const table = await tableFactory();
      const items = labels('r', 25);
      await putItems(table, items);
      const checkpoints = new Map<string, string>();
      const double = functionDouble(() => success(), checkpoints);

      // Act
      const source = await startSource(mappingSpecFactory(table, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10 }), double.invoke, checkpoints);
      await waitUntil(() => delivered(double).length >= 25, '25 records');
      await sleep(200);

      // Assess
      expect(double.labels()).toStrictEqual([items.slice(0, 10), items.slice(10, 20), items.slice(20)]);
      expect(double.batches.map((batch) => batch.checkpointAtInvoke)).toStrictEqual([undefined, 'r09', 'r19']);
      const [shard] = source.progress();
      expect(shard).toStrictEqual({
        shardId: expect.stringMatching(/^shardId-/),
        checkpoint: sequenceOf(double.batches[2]!, 'r24'),
        millisBehindLatest: expect.any(Number),
        recordsRead: 25,
        recordsDelivered: 25,
        invocations: 3,
        functionErrors: 0,
        partialFailures: 0,
        discardedBatches: 0,
        finished: false,
        retries: 0,
        bisections: 0,
        recordsToDestination: 0,
      });
      expect(checkpoints).toStrictEqual(new Map([[shard!.shardId, shard!.checkpoint]]));
    });

    it.each<[string, string[]]>([
      ['TRIM_HORIZON', ['old0', 'old1', 'new0', 'new1']],
      ['LATEST', ['new0', 'new1']],
    ])('StartingPosition %s delivers %j', async (startingPosition, expected) => {
      // Prepare
      const table = await tableFactory();
      await putItems(table, ['old0', 'old1']);
      const double = functionDouble();

      // Act
      await startSource(mappingSpecFactory(table, { StartingPosition: startingPosition }), double.invoke);
      await sleep(300);
      await putItems(table, ['new0', 'new1']);
      await waitUntil(() => delivered(double).includes('new1'), 'the new records');
      await sleep(200);

      // Assess
      expect(delivered(double)).toStrictEqual(expected);
    });

    it('delivers a change within a few hundred milliseconds of the write', async () => {
      // Prepare: the dashboard's budget from click to screen is 1-2 s in all
      const table = await tableFactory();
      const double = functionDouble();
      await startSource(mappingSpecFactory(table, { StartingPosition: 'LATEST' }), double.invoke);
      await sleep(200);

      // Act
      const writtenAt = Date.now();
      await putItems(table, ['fast']);
      await waitUntil(() => delivered(double).includes('fast'), 'the change', 5_000);

      // Assess
      // The mapping polls every 100 ms; a generous bound that still rules out waiting for a window.
      expect(Date.now() - writtenAt).toBeLessThan(2_000);
    });

    it.each(['LATEST', 'TRIM_HORIZON'])(
      'with StartingPosition %s on an empty stream, delivers every change even when a cancelled transaction took the first sequence number',
      async (startingPosition) => {
        // Prepare: DynamoDB Local breaks an iterator taken on an empty shard in this case (TrimmedDataAccessException)
        const table = await tableFactory();
        const double = functionDouble();
        await startSource(mappingSpecFactory(table, { StartingPosition: startingPosition }), double.invoke);
        await sleep(300);

        // Act
        const cancelled = dynamodb.send(new TransactWriteItemsCommand({
          TransactItems: [
            { Update: { TableName: table.name, Key: { pk: { S: 'cancelled' } }, UpdateExpression: 'SET n = :one', ExpressionAttributeValues: { ':one': { N: '1' } } } },
            { ConditionCheck: { TableName: table.name, Key: { pk: { S: 'absent' } }, ConditionExpression: 'attribute_exists(pk)' } },
          ],
        }));
        await expect(cancelled).rejects.toMatchObject({ name: 'TransactionCanceledException' });
        await putItems(table, ['first', 'second']);
        await waitUntil(() => delivered(double).includes('second'), 'the changes after the cancelled transaction');
        await sleep(200);

        // Assess
        expect(delivered(double)).toStrictEqual(['first', 'second']);
      },
    );

    it('refuses StartingPosition AT_TIMESTAMP, which DynamoDB Streams mappings do not have', async () => {
      // Prepare
      const table = await tableFactory();

      // Act
      const create = () => new DynamoDbStreamEventSource(mappingSpecFactory(table, { StartingPosition: 'AT_TIMESTAMP', StartingPositionTimestamp: 1 }), {
        streams,
        sqs,
        invoke: async () => success(),
        queueUrlForArn: () => '',
      });

      // Assess
      expect(create).toThrow('BroadcasterDynamoDBEventSource: DynamoDB Streams mappings support StartingPosition TRIM_HORIZON or LATEST. Received AT_TIMESTAMP');
    });
  });

  // -------------------------------------------------------------------------------------------
  // Partial batch responses: itemIdentifier is dynamodb.SequenceNumber
  // -------------------------------------------------------------------------------------------

  describe.each<[string, (batch: DeliveredBatch) => unknown, string[][], (string | undefined)[]]>([
    [
      'a failure at record k checkpoints before k and retries from k',
      (batch) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf(batch, 'r02') }] }),
      [labels('r', 5), ['r02', 'r03', 'r04'], labels('r', 10).slice(5)],
      [undefined, 'r01', 'r04'],
    ],
    [
      'several failures retry from the lowest sequence number',
      (batch) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf(batch, 'r03') }, { itemIdentifier: sequenceOf(batch, 'r01') }] }),
      [labels('r', 5), ['r01', 'r02', 'r03', 'r04'], labels('r', 10).slice(5)],
      [undefined, 'r00', 'r04'],
    ],
    [
      'an itemIdentifier that is no sequence number of the batch (e.g. the eventID) fails the whole batch',
      (batch) => ({ batchItemFailures: [{ itemIdentifier: batch.records[3]!.eventID }] }),
      [labels('r', 5), labels('r', 5), labels('r', 10).slice(5)],
      [undefined, undefined, 'r04'],
    ],
    ['an empty batchItemFailures list is a success', () => ({ batchItemFailures: [] }), [labels('r', 5), labels('r', 10).slice(5)], [undefined, 'r04']],
  ])('partial batch response: %s', (_name, firstResponse, expectedBatches, expectedCheckpoints) => {
    it('delivers exactly the expected batches', async () => {
      // Prepare
      const table = await tableFactory();
      await putItems(table, labels('r', 10));
      const checkpoints = new Map<string, string>();
      const double = functionDouble((batch, call) => (call === 1 ? success(firstResponse(batch)) : success()), checkpoints);

      // Act
      await startSource(
        mappingSpecFactory(table, { StartingPosition: 'TRIM_HORIZON', BatchSize: 5, FunctionResponseTypes: ['ReportBatchItemFailures'], MaximumRetryAttempts: 5 }),
        double.invoke,
        checkpoints,
      );
      await waitUntil(() => delivered(double).includes('r09'), 'the last record');
      await sleep(250);

      // Assess
      expect(double.labels()).toStrictEqual(expectedBatches);
      expect(double.batches.map((batch) => batch.checkpointAtInvoke)).toStrictEqual(expectedCheckpoints);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Errors: bisection, retries, the on-failure destination
  // -------------------------------------------------------------------------------------------

  describe.each<[string, Record<string, unknown>, 'throws' | 'reports', string[][], { first: string; last: string; batchSize: number; approximateInvokeCount: number }]>([
    [
      'BisectBatchOnFunctionError bisects down to the poison record, retries it alone, then gives up on it',
      { BisectBatchOnFunctionError: true, MaximumRetryAttempts: 2 },
      'throws',
      [labels('r', 8), labels('r', 4), ['r04', 'r05', 'r06', 'r07'], ['r04', 'r05'], ['r04'], ['r05'], ['r05'], ['r05'], ['r06', 'r07'], ['r08', 'r09']],
      { first: 'r05', last: 'r05', batchSize: 1, approximateInvokeCount: 3 },
    ],
    [
      'without bisection, the whole batch is retried and then given up on',
      { MaximumRetryAttempts: 1 },
      'throws',
      [labels('r', 8), labels('r', 8), ['r08', 'r09']],
      { first: 'r00', last: 'r07', batchSize: 8, approximateInvokeCount: 2 },
    ],
    [
      'a record reported failed on every retry is given up on with the records after it',
      { FunctionResponseTypes: ['ReportBatchItemFailures'], BisectBatchOnFunctionError: true, MaximumRetryAttempts: 1 },
      'reports',
      [labels('r', 8), ['r05', 'r06', 'r07'], ['r08', 'r09']],
      { first: 'r05', last: 'r07', batchSize: 3, approximateInvokeCount: 2 },
    ],
  ])('%s', (_name, properties, fails, expectedBatches, discarded) => {
    it('delivers the expected batches and sends the on-failure record with DDBStreamBatchInfo', async () => {
      // Prepare
      const table = await tableFactory();
      const destination = await destinationFactory();
      await putItems(table, labels('r', 10));
      const double = functionDouble((batch) => {
        if (!batch.labels.includes('r05')) return success();
        return fails === 'throws' ? functionError() : success({ batchItemFailures: [{ itemIdentifier: sequenceOf(batch, 'r05') }] });
      });

      // Act
      const source = await startSource(
        mappingSpecFactory(table, { StartingPosition: 'TRIM_HORIZON', BatchSize: 8, DestinationConfig: { OnFailure: { Destination: destination.arn } }, ...properties }),
        double.invoke,
      );
      await waitUntil(() => delivered(double).includes('r09'), 'the records after the poison record');
      await sleep(300);
      const messages = await drainQueue(destination.url);

      // Assess
      expect(double.labels()).toStrictEqual(expectedBatches);
      const firstBatch = double.batches[0]!;
      const seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
      expect(messages).toStrictEqual([
        {
          requestContext: {
            requestId: expect.stringMatching(UUID),
            functionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${FUNCTION_NAME}`,
            condition: 'RetryAttemptsExhausted',
            approximateInvokeCount: discarded.approximateInvokeCount,
          },
          responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
          version: '1.0',
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          DDBStreamBatchInfo: {
            shardId: source.progress()[0]!.shardId,
            startSequenceNumber: sequenceOf(firstBatch, discarded.first),
            endSequenceNumber: sequenceOf(firstBatch, discarded.last),
            approximateArrivalOfFirstRecord: expect.stringMatching(seconds),
            approximateArrivalOfLastRecord: expect.stringMatching(seconds),
            batchSize: discarded.batchSize,
            streamArn: table.streamArn,
          },
        },
      ]);
      expect(source.progress()[0]).toMatchObject({ discardedBatches: 1, recordsRead: 10, checkpoint: sequenceOf(double.batches.at(-1)!, 'r09') });
    });
  });

  describe('checkpoints', () => {
    it('a new mapping given the same checkpoints resumes after the last processed record', async () => {
      // Prepare
      const table = await tableFactory();
      const checkpoints = new Map<string, string>();
      const spec = mappingSpecFactory(table, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10 });
      await putItems(table, labels('r', 5));
      const before = functionDouble();
      const first = await startSource(spec, before.invoke, checkpoints);
      await waitUntil(() => delivered(before).includes('r04'), 'the first records');
      await first.stop();

      // Act
      await putItems(table, ['s0', 's1', 's2']);
      const after = functionDouble();
      await startSource(spec, after.invoke, checkpoints);
      await waitUntil(() => delivered(after).includes('s2'), 'the records written while stopped');
      await sleep(300);

      // Assess
      expect(before.labels()).toStrictEqual([labels('r', 5)]);
      expect(after.labels()).toStrictEqual([['s0', 's1', 's2']]);
    });
  });
});
