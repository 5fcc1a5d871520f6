import { randomUUID } from 'node:crypto';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import type { EventSourceMappingSpec } from '../../local/cloudformation/provision';
import { startKinesis, type RunningService } from '../../local/emulators';
import { KinesisEventSource, kinesisMappingSettings, type KinesisMappingSettings } from '../../local/lambda/kinesis-event-source';
import type { InvokeResult } from '../../local/lambda/runtime';
import { startSqs, type SqsServer } from '../../local/sqs';

const ACCOUNT = '000000000000';
const SHARD = 'shardId-000000000000';
const FUNCTION_NAME = 'recorder';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let kinesisService: RunningService;
let sqsServer: SqsServer;
let kinesis: KinesisClient;
let sqs: SQSClient;
const queueUrls = new Map<string, string>();
const sources: KinesisEventSource[] = [];

beforeAll(async () => {
  [kinesisService, sqsServer] = await Promise.all([startKinesis({}), startSqs({})]);
  kinesis = new KinesisClient(localClientConfig(kinesisService.endpoint));
  sqs = new SQSClient(localClientConfig(sqsServer.endpoint));
});

afterEach(async () => {
  await Promise.all(sources.splice(0).map((source) => source.stop()));
});

afterAll(async () => {
  kinesis?.destroy();
  sqs?.destroy();
  await Promise.all([kinesisService?.stop(), sqsServer?.stop()]);
});

// ---------------------------------------------------------------------------------------------
// Stream, queue and mapping factories
// ---------------------------------------------------------------------------------------------

interface TestStream {
  name: string;
  arn: string;
  /** Label -> sequence number of every record put so far. */
  sequenceOf: Map<string, string>;
  /** Sequence number -> label. */
  labelOf: Map<string, string>;
  /** Label -> arrival time Kinesis gave the record. */
  arrivalOf: Map<string, Date>;
}

async function streamFactory(): Promise<TestStream> {
  const name = `esm-${randomUUID().slice(0, 8)}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  await waitUntil(
    async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
    `stream ${name} to be ACTIVE`,
  );
  return { name, arn: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/${name}`, sequenceOf: new Map(), labelOf: new Map(), arrivalOf: new Map() };
}

/** Puts one record per label, in order, on the stream's single shard; the record's data is its label. */
async function putRecords(stream: TestStream, labels: string[]): Promise<void> {
  const { FailedRecordCount, Records = [] } = await kinesis.send(
    new PutRecordsCommand({ StreamName: stream.name, Records: labels.map((label) => ({ Data: Buffer.from(label), PartitionKey: 'user-1' })) }),
  );
  expect(FailedRecordCount).toBe(0);
  labels.forEach((label, index) => {
    const sequenceNumber = Records[index]!.SequenceNumber!;
    stream.sequenceOf.set(label, sequenceNumber);
    stream.labelOf.set(sequenceNumber, label);
  });
}

/** A real queue of the SQS stand-in, as the on-failure destination; returns its ARN. */
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
    await sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: url, Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })) }),
    );
  }
}

/** An AWS::Lambda::EventSourceMapping as provisionStack hands it over: properties in CloudFormation shape. */
function mappingSpecFactory(stream: TestStream, properties: Record<string, unknown>): EventSourceMappingSpec {
  return { logicalId: 'RecorderKinesisEventSource', uuid: randomUUID(), functionName: FUNCTION_NAME, eventSourceArn: stream.arn, properties };
}

interface DeliveredBatch {
  labels: string[];
  sequenceNumbers: string[];
  /** The mapping's checkpoint for the shard when the function was invoked, as a label. */
  checkpointAtInvoke: string | undefined;
  invokedAt: number;
}

type Responder = (batch: DeliveredBatch, call: number) => InvokeResult;

const success = (payload: unknown = null): InvokeResult => ({ ok: true, payload, durationMs: 1 });
const functionError = (message = 'poison record'): InvokeResult => ({ ok: false, errorType: 'PoisonRecordError', errorMessage: message, durationMs: 1 });

/**
 * The Lambda function under the mapping: records each batch it is invoked with and answers as
 * scripted. It also checks every event has the shape Lambda gives a Kinesis consumer.
 */
function functionDouble(stream: TestStream, respond: Responder = () => success(), checkpoints?: Map<string, string>) {
  const batches: DeliveredBatch[] = [];
  const responses: InvokeResult[] = [];
  const invoke = async (functionName: string, event: KinesisStreamEvent): Promise<InvokeResult> => {
    expect(functionName).toBe(FUNCTION_NAME);
    const checkpoint = checkpoints?.get(SHARD);
    const batch: DeliveredBatch = {
      labels: event.Records.map((record) => Buffer.from(record.kinesis.data, 'base64').toString()),
      sequenceNumbers: event.Records.map((record) => record.kinesis.sequenceNumber),
      checkpointAtInvoke: checkpoint === undefined ? undefined : stream.labelOf.get(checkpoint),
      invokedAt: Date.now(),
    };
    for (const record of event.Records) stream.arrivalOf.set(Buffer.from(record.kinesis.data, 'base64').toString(), new Date(record.kinesis.approximateArrivalTimestamp * 1000));
    batches.push(batch);
    const response = respond(batch, batches.length);
    responses.push(response);
    return response;
  };
  return { batches, responses, invoke, labels: () => batches.map((batch) => batch.labels) };
}

async function startSource(
  spec: EventSourceMappingSpec,
  invoke: (functionName: string, event: KinesisStreamEvent) => Promise<InvokeResult>,
  checkpoints?: Map<string, string>,
): Promise<KinesisEventSource> {
  const source = new KinesisEventSource(spec, {
    kinesis,
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

/** The on-failure record Lambda sends for discarded Kinesis records. */
function onFailureRecord(stream: TestStream, condition: string, first: string, last: string, batchSize: number, approximateInvokeCount: number) {
  return {
    requestContext: {
      requestId: expect.stringMatching(UUID),
      functionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${FUNCTION_NAME}`,
      condition,
      approximateInvokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    KinesisBatchInfo: {
      shardId: SHARD,
      startSequenceNumber: stream.sequenceOf.get(first),
      endSequenceNumber: stream.sequenceOf.get(last),
      approximateArrivalOfFirstRecord: expect.stringMatching(/Z$/),
      approximateArrivalOfLastRecord: expect.stringMatching(/Z$/),
      batchSize,
      streamArn: stream.arn,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

describe('kinesisMappingSettings', () => {
  const AWS_DEFAULTS: KinesisMappingSettings = {
    batchSize: 100,
    maximumBatchingWindowMs: 0,
    startingPosition: 'TRIM_HORIZON',
    startingPositionTimestamp: undefined,
    reportBatchItemFailures: false,
    bisectBatchOnFunctionError: false,
    maximumRetryAttempts: -1,
    maximumRecordAgeMs: -1,
    onFailureDestinationArn: undefined,
  };

  it.each<[string, Record<string, unknown>, KinesisMappingSettings]>([
    ['only a starting position: the AWS defaults', { StartingPosition: 'TRIM_HORIZON' }, AWS_DEFAULTS],
    ['LATEST', { StartingPosition: 'LATEST' }, { ...AWS_DEFAULTS, startingPosition: 'LATEST' }],
    [
      'AT_TIMESTAMP, with the timestamp in seconds',
      { StartingPosition: 'AT_TIMESTAMP', StartingPositionTimestamp: 1_767_225_600.5 },
      { ...AWS_DEFAULTS, startingPosition: 'AT_TIMESTAMP', startingPositionTimestamp: 1_767_225_600_500 },
    ],
    [
      'every error-handling property, as the Watershed stack sets them',
      {
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 1000,
        MaximumBatchingWindowInSeconds: 1,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 10,
        MaximumRecordAgeInSeconds: 3600,
        ParallelizationFactor: 1,
        DestinationConfig: { OnFailure: { Destination: 'arn:aws:sqs:us-east-1:000000000000:failed' } },
      },
      {
        batchSize: 1000,
        maximumBatchingWindowMs: 1000,
        startingPosition: 'TRIM_HORIZON',
        startingPositionTimestamp: undefined,
        reportBatchItemFailures: true,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 10,
        maximumRecordAgeMs: 3_600_000,
        onFailureDestinationArn: 'arn:aws:sqs:us-east-1:000000000000:failed',
      },
    ],
    [
      'values as strings, as a resolved template may hold them',
      { StartingPosition: 'LATEST', BatchSize: '10', MaximumRetryAttempts: '0', MaximumRecordAgeInSeconds: '-1', BisectBatchOnFunctionError: 'true' },
      { ...AWS_DEFAULTS, startingPosition: 'LATEST', batchSize: 10, maximumRetryAttempts: 0, bisectBatchOnFunctionError: true },
    ],
    ['explicit -1 for retries and age', { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: -1, MaximumRecordAgeInSeconds: -1 }, AWS_DEFAULTS],
    ['FunctionResponseTypes without ReportBatchItemFailures', { StartingPosition: 'TRIM_HORIZON', FunctionResponseTypes: [] }, AWS_DEFAULTS],
    ['a destination config without OnFailure', { StartingPosition: 'TRIM_HORIZON', DestinationConfig: {} }, AWS_DEFAULTS],
  ])('%s', (_name, properties, expected) => {
    // Act
    const settings = kinesisMappingSettings(properties);

    // Assess
    expect(settings).toStrictEqual(expected);
  });
});

// ---------------------------------------------------------------------------------------------
// Batching
// ---------------------------------------------------------------------------------------------

describe('KinesisEventSource over kinesalite', () => {
  describe('batching', () => {
    it('delivers records in order, in batches of at most BatchSize, with the Lambda Kinesis event shape', async () => {
      // Prepare
      const stream = await streamFactory();
      const records = labels('r', 25);
      await putRecords(stream, records);
      const checkpoints = new Map<string, string>();
      const double = functionDouble(stream, () => success(), checkpoints);
      let firstEvent: KinesisStreamEvent | undefined;
      const invoke = async (name: string, event: KinesisStreamEvent) => {
        firstEvent ??= event;
        return double.invoke(name, event);
      };

      // Act
      const source = await startSource(mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10 }), invoke, checkpoints);
      await waitUntil(() => delivered(double).length >= 25, '25 records');
      await sleep(200);

      // Assess
      expect(double.labels()).toStrictEqual([records.slice(0, 10), records.slice(10, 20), records.slice(20)]);
      expect(double.batches.map((batch) => batch.checkpointAtInvoke)).toStrictEqual([undefined, 'r09', 'r19']);
      expect(checkpoints).toStrictEqual(new Map([[SHARD, stream.sequenceOf.get('r24')]]));
      expect(firstEvent!.Records[0]).toStrictEqual({
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: 'user-1',
          sequenceNumber: stream.sequenceOf.get('r00'),
          data: Buffer.from('r00').toString('base64'),
          approximateArrivalTimestamp: expect.any(Number),
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `${SHARD}:${stream.sequenceOf.get('r00')}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: `arn:aws:iam::${ACCOUNT}:role/${FUNCTION_NAME}`,
        awsRegion: 'us-east-1',
        eventSourceARN: stream.arn,
      });
      expect(Math.abs(firstEvent!.Records[0]!.kinesis.approximateArrivalTimestamp * 1000 - Date.now())).toBeLessThan(10_000);
      expect(source.progress()).toStrictEqual([
        {
          shardId: SHARD,
          checkpoint: stream.sequenceOf.get('r24'),
          millisBehindLatest: 0,
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
        },
      ]);
    });

    it('with MaximumBatchingWindowInSeconds, waits for the window to fill one batch from two bursts', async () => {
      // Prepare
      const stream = await streamFactory();
      const double = functionDouble(stream);
      await startSource(mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', BatchSize: 100, MaximumBatchingWindowInSeconds: 2 }), double.invoke);

      // Act
      const firstPutAt = Date.now();
      await putRecords(stream, ['a0', 'a1', 'a2']);
      await sleep(500);
      await putRecords(stream, ['b0', 'b1', 'b2']);
      await waitUntil(() => double.batches.length >= 1, 'a batch');
      await sleep(300);

      // Assess
      expect(double.labels()).toStrictEqual([['a0', 'a1', 'a2', 'b0', 'b1', 'b2']]);
      expect(double.batches[0]!.invokedAt - firstPutAt).toBeGreaterThanOrEqual(1_900);
    });

    it('with MaximumBatchingWindowInSeconds 0, delivers each burst promptly', async () => {
      // Prepare
      const stream = await streamFactory();
      const double = functionDouble(stream);
      await startSource(mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', BatchSize: 100, MaximumBatchingWindowInSeconds: 0 }), double.invoke);

      // Act
      await putRecords(stream, ['a0', 'a1', 'a2']);
      await sleep(500);
      const secondPutAt = Date.now();
      await putRecords(stream, ['b0', 'b1', 'b2']);
      await waitUntil(() => double.batches.length >= 2, 'two batches');
      await sleep(200);

      // Assess
      expect(double.labels()).toStrictEqual([
        ['a0', 'a1', 'a2'],
        ['b0', 'b1', 'b2'],
      ]);
      // Delivered before the second burst existed: nothing waited to fill the batch.
      expect(double.batches[0]!.invokedAt).toBeLessThan(secondPutAt);
    });

    it('delivers a full batch without waiting for the rest of the window', async () => {
      // Prepare
      const stream = await streamFactory();
      const double = functionDouble(stream);
      await startSource(mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', BatchSize: 4, MaximumBatchingWindowInSeconds: 30 }), double.invoke);

      // Act
      const putAt = Date.now();
      await putRecords(stream, ['a0', 'a1', 'a2', 'a3']);
      await waitUntil(() => double.batches.length >= 1, 'a batch');

      // Assess
      expect(double.labels()).toStrictEqual([['a0', 'a1', 'a2', 'a3']]);
      expect(double.batches[0]!.invokedAt - putAt).toBeLessThan(2_000);
    });
  });

  describe.each<[string, string[]]>([
    ['TRIM_HORIZON', ['old0', 'old1', 'new0', 'new1']],
    ['LATEST', ['new0', 'new1']],
  ])('StartingPosition %s', (startingPosition, expected) => {
    it(`delivers ${expected.join(', ')}`, async () => {
      // Prepare
      const stream = await streamFactory();
      await putRecords(stream, ['old0', 'old1']);
      const double = functionDouble(stream);

      // Act
      await startSource(mappingSpecFactory(stream, { StartingPosition: startingPosition }), double.invoke);
      // Lambda positions a new mapping asynchronously, as here: give it time to take its iterator.
      await sleep(300);
      await putRecords(stream, ['new0', 'new1']);
      await waitUntil(() => delivered(double).includes('new1'), 'the new records');
      await sleep(200);

      // Assess
      expect(delivered(double)).toStrictEqual(expected);
    });
  });

  // -------------------------------------------------------------------------------------------
  // Partial batch responses
  // -------------------------------------------------------------------------------------------

  describe.each<[string, string[], (batch: DeliveredBatch, sequenceOf: (label: string) => string) => unknown, string[][], (string | undefined)[]]>([
    [
      'a failure at record k checkpoints before k and retries from k',
      ['ReportBatchItemFailures'],
      (_batch, sequenceOf) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf('r02') }] }),
      [labels('r', 5), ['r02', 'r03', 'r04'], labels('r', 10).slice(5)],
      [undefined, 'r01', 'r04'],
    ],
    [
      'several failures retry from the lowest sequence number',
      ['ReportBatchItemFailures'],
      (_batch, sequenceOf) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf('r03') }, { itemIdentifier: sequenceOf('r01') }] }),
      [labels('r', 5), ['r01', 'r02', 'r03', 'r04'], labels('r', 10).slice(5)],
      [undefined, 'r00', 'r04'],
    ],
    [
      'a failure at the first record retries the whole batch',
      ['ReportBatchItemFailures'],
      (_batch, sequenceOf) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf('r00') }] }),
      [labels('r', 5), labels('r', 5), labels('r', 10).slice(5)],
      [undefined, undefined, 'r04'],
    ],
    [
      'an itemIdentifier not in the batch fails the whole batch',
      ['ReportBatchItemFailures'],
      (_batch, sequenceOf) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf('r03') }, { itemIdentifier: '12345' }] }),
      [labels('r', 5), labels('r', 5), labels('r', 10).slice(5)],
      [undefined, undefined, 'r04'],
    ],
    [
      'an empty itemIdentifier fails the whole batch',
      ['ReportBatchItemFailures'],
      () => ({ batchItemFailures: [{ itemIdentifier: '' }] }),
      [labels('r', 5), labels('r', 5), labels('r', 10).slice(5)],
      [undefined, undefined, 'r04'],
    ],
    [
      'an empty batchItemFailures list is a success',
      ['ReportBatchItemFailures'],
      () => ({ batchItemFailures: [] }),
      [labels('r', 5), labels('r', 10).slice(5)],
      [undefined, 'r04'],
    ],
    ['a null response is a success', ['ReportBatchItemFailures'], () => null, [labels('r', 5), labels('r', 10).slice(5)], [undefined, 'r04']],
    [
      'without ReportBatchItemFailures, reported failures are ignored',
      [],
      (_batch, sequenceOf) => ({ batchItemFailures: [{ itemIdentifier: sequenceOf('r02') }] }),
      [labels('r', 5), labels('r', 10).slice(5)],
      [undefined, 'r04'],
    ],
  ])('partial batch response: %s', (_name, functionResponseTypes, firstResponse, expectedBatches, expectedCheckpoints) => {
    it('delivers exactly the expected batches', async () => {
      // Prepare
      const stream = await streamFactory();
      await putRecords(stream, labels('r', 10));
      const checkpoints = new Map<string, string>();
      const sequenceOf = (label: string) => stream.sequenceOf.get(label)!;
      const double = functionDouble(stream, (batch, call) => (call === 1 ? success(firstResponse(batch, sequenceOf)) : success()), checkpoints);

      // Act
      await startSource(
        mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', BatchSize: 5, FunctionResponseTypes: functionResponseTypes, MaximumRetryAttempts: 5 }),
        double.invoke,
        checkpoints,
      );
      await waitUntil(() => delivered(double).includes('r09'), 'the last record');
      await sleep(250);

      // Assess
      expect(double.labels()).toStrictEqual(expectedBatches);
      expect(double.batches.map((batch) => batch.checkpointAtInvoke)).toStrictEqual(expectedCheckpoints);
      expect(checkpoints.get(SHARD)).toBe(sequenceOf('r09'));
    });
  });

  // -------------------------------------------------------------------------------------------
  // Errors: bisection, retries, the on-failure destination
  // -------------------------------------------------------------------------------------------

  interface ErrorCase {
    properties: Record<string, unknown>;
    /** Whether the function throws on the poison record or reports it as a batch item failure. */
    fails: 'throws' | 'reports';
    batches: string[][];
    succeeded: string[];
    discarded: { first: string; last: string; batchSize: number; approximateInvokeCount: number };
    progress: { invocations: number; functionErrors: number; partialFailures: number; recordsDelivered: number; retries: number; bisections: number; recordsToDestination: number };
  }

  describe.each<[string, ErrorCase]>([
    [
      'BisectBatchOnFunctionError bisects down to the poison record, retries it alone, then gives up on it',
      {
        properties: { BisectBatchOnFunctionError: true, MaximumRetryAttempts: 2 },
        fails: 'throws',
        batches: [labels('r', 8), labels('r', 4), ['r04', 'r05', 'r06', 'r07'], ['r04', 'r05'], ['r04'], ['r05'], ['r05'], ['r05'], ['r06', 'r07'], ['r08', 'r09']],
        succeeded: ['r00', 'r01', 'r02', 'r03', 'r04', 'r06', 'r07', 'r08', 'r09'],
        discarded: { first: 'r05', last: 'r05', batchSize: 1, approximateInvokeCount: 3 },
        progress: { invocations: 10, functionErrors: 6, partialFailures: 0, recordsDelivered: 9, retries: 2, bisections: 3, recordsToDestination: 1 },
      },
    ],
    [
      'BisectBatchOnFunctionError with MaximumRetryAttempts 0 still bisects: splitting is no retry',
      {
        properties: { BisectBatchOnFunctionError: true, MaximumRetryAttempts: 0 },
        fails: 'throws',
        batches: [labels('r', 8), labels('r', 4), ['r04', 'r05', 'r06', 'r07'], ['r04', 'r05'], ['r04'], ['r05'], ['r06', 'r07'], ['r08', 'r09']],
        succeeded: ['r00', 'r01', 'r02', 'r03', 'r04', 'r06', 'r07', 'r08', 'r09'],
        discarded: { first: 'r05', last: 'r05', batchSize: 1, approximateInvokeCount: 1 },
        progress: { invocations: 8, functionErrors: 4, partialFailures: 0, recordsDelivered: 9, retries: 0, bisections: 3, recordsToDestination: 1 },
      },
    ],
    [
      'without bisection, the whole batch is retried and then given up on',
      {
        properties: { MaximumRetryAttempts: 1 },
        fails: 'throws',
        batches: [labels('r', 8), labels('r', 8), ['r08', 'r09']],
        succeeded: ['r08', 'r09'],
        discarded: { first: 'r00', last: 'r07', batchSize: 8, approximateInvokeCount: 2 },
        progress: { invocations: 3, functionErrors: 2, partialFailures: 0, recordsDelivered: 2, retries: 1, bisections: 0, recordsToDestination: 8 },
      },
    ],
    [
      'a record reported failed on every retry is given up on with the records after it',
      {
        properties: { FunctionResponseTypes: ['ReportBatchItemFailures'], BisectBatchOnFunctionError: true, MaximumRetryAttempts: 1 },
        fails: 'reports',
        batches: [labels('r', 8), ['r05', 'r06', 'r07'], ['r08', 'r09']],
        succeeded: ['r08', 'r09'],
        discarded: { first: 'r05', last: 'r07', batchSize: 3, approximateInvokeCount: 2 },
        progress: { invocations: 3, functionErrors: 0, partialFailures: 2, recordsDelivered: 7, retries: 1, bisections: 0, recordsToDestination: 3 },
      },
    ],
  ])('%s', (_name, errorCase) => {
    it('delivers the expected batches, sends the AWS on-failure record to the destination, and moves on', async () => {
      // Prepare
      const stream = await streamFactory();
      const destination = await destinationFactory();
      await putRecords(stream, labels('r', 10));
      const poisoned = (batch: DeliveredBatch) => batch.labels.includes('r05');
      const double = functionDouble(stream, (batch) => {
        if (!poisoned(batch)) return success();
        return errorCase.fails === 'throws' ? functionError() : success({ batchItemFailures: [{ itemIdentifier: stream.sequenceOf.get('r05') }] });
      });

      // Act
      const source = await startSource(
        mappingSpecFactory(stream, {
          StartingPosition: 'TRIM_HORIZON',
          BatchSize: 8,
          DestinationConfig: { OnFailure: { Destination: destination.arn } },
          ...errorCase.properties,
        }),
        double.invoke,
      );
      await waitUntil(() => delivered(double).includes('r09'), 'the records after the poison record');
      await sleep(300);
      const messages = await drainQueue(destination.url);

      // Assess
      expect(double.labels()).toStrictEqual(errorCase.batches);
      const succeeded = double.batches.filter((_batch, index) => {
        const response = double.responses[index]!;
        return response.ok && response.payload === null;
      });
      expect(succeeded.flatMap((batch) => batch.labels)).toStrictEqual(errorCase.succeeded);
      const { first, last, batchSize, approximateInvokeCount } = errorCase.discarded;
      expect(messages).toStrictEqual([onFailureRecord(stream, 'RetryAttemptsExhausted', first, last, batchSize, approximateInvokeCount)]);
      const info = (messages[0] as { KinesisBatchInfo: { approximateArrivalOfFirstRecord: string; approximateArrivalOfLastRecord: string } }).KinesisBatchInfo;
      expect(info.approximateArrivalOfFirstRecord).toBe(stream.arrivalOf.get(first)!.toISOString());
      expect(info.approximateArrivalOfLastRecord).toBe(stream.arrivalOf.get(last)!.toISOString());
      expect(source.progress()).toStrictEqual([
        {
          shardId: SHARD,
          checkpoint: stream.sequenceOf.get('r09'),
          millisBehindLatest: 0,
          recordsRead: 10,
          discardedBatches: 1,
          finished: false,
          ...errorCase.progress,
        },
      ]);
    });
  });

  describe('MaximumRecordAgeInSeconds', () => {
    it('discards records already too old when read, without invoking the function, then moves on', async () => {
      // Prepare: records 2.5 s old when the mapping reads them, with a 2 s maximum age
      const stream = await streamFactory();
      const destination = await destinationFactory();
      await putRecords(stream, ['stale0', 'stale1', 'stale2']);
      await sleep(2_500);
      const double = functionDouble(stream);

      // Act
      const source = await startSource(
        mappingSpecFactory(stream, {
          StartingPosition: 'TRIM_HORIZON',
          MaximumRecordAgeInSeconds: 2,
          DestinationConfig: { OnFailure: { Destination: destination.arn } },
        }),
        double.invoke,
      );
      await waitUntil(() => source.progress()[0]?.discardedBatches === 1, 'the stale records to be discarded');
      await putRecords(stream, ['fresh0']);
      await waitUntil(() => delivered(double).includes('fresh0'), 'the fresh record');
      const messages = await drainQueue(destination.url);

      // Assess
      expect(double.labels()).toStrictEqual([['fresh0']]);
      expect(messages).toStrictEqual([onFailureRecord(stream, 'RecordAgeExceeded', 'stale0', 'stale2', 3, 0)]);
    });

    it('stops retrying a failing batch once its records are too old, then moves on', async () => {
      // Prepare: unbounded retries, so only the record age ends them
      const stream = await streamFactory();
      const destination = await destinationFactory();
      const double = functionDouble(stream, (batch) => (batch.labels.includes('bad') ? functionError() : success()));
      const source = await startSource(
        mappingSpecFactory(stream, {
          StartingPosition: 'TRIM_HORIZON',
          MaximumRetryAttempts: -1,
          MaximumRecordAgeInSeconds: 1,
          DestinationConfig: { OnFailure: { Destination: destination.arn } },
        }),
        double.invoke,
      );

      // Act
      await putRecords(stream, ['bad']);
      await waitUntil(() => source.progress()[0]?.discardedBatches === 1, 'the failing record to expire', 5_000);
      await putRecords(stream, ['good']);
      await waitUntil(() => delivered(double).includes('good'), 'the next record');
      const messages = await drainQueue(destination.url);

      // Assess
      const attempts = double.batches.filter((batch) => batch.labels.includes('bad')).length;
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(double.labels()).toStrictEqual([...Array.from({ length: attempts }, () => ['bad']), ['good']]);
      expect(messages).toStrictEqual([onFailureRecord(stream, 'RecordAgeExceeded', 'bad', 'bad', 1, attempts)]);
    });
  });

  describe('checkpoints', () => {
    it('a new mapping given the same checkpoints resumes after the last processed record', async () => {
      // Prepare
      const stream = await streamFactory();
      const checkpoints = new Map<string, string>();
      const spec = mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', BatchSize: 10 });
      await putRecords(stream, labels('r', 5));
      const before = functionDouble(stream);
      const first = await startSource(spec, before.invoke, checkpoints);
      await waitUntil(() => delivered(before).includes('r04'), 'the first records');
      await first.stop();

      // Act
      await putRecords(stream, ['s0', 's1', 's2']);
      const after = functionDouble(stream);
      await startSource(spec, after.invoke, checkpoints);
      await waitUntil(() => delivered(after).includes('s2'), 'the records put while stopped');
      await sleep(300);

      // Assess
      expect(before.labels()).toStrictEqual([labels('r', 5)]);
      expect(after.labels()).toStrictEqual([['s0', 's1', 's2']]);
      expect(checkpoints).toStrictEqual(new Map([[SHARD, stream.sequenceOf.get('s2')]]));
    });

    it('a batch still failing when the mapping stops is delivered again after the restart', async () => {
      // Prepare
      const stream = await streamFactory();
      const checkpoints = new Map<string, string>();
      const spec = mappingSpecFactory(stream, { StartingPosition: 'TRIM_HORIZON', MaximumRetryAttempts: -1 });
      await putRecords(stream, ['r0', 'r1']);
      const failing = functionDouble(stream, () => functionError('dependency down'));
      const first = await startSource(spec, failing.invoke, checkpoints);
      await waitUntil(() => failing.batches.length >= 2, 'a retry');

      // Act
      await first.stop();
      const checkpointWhileStopped = checkpoints.get(SHARD);
      const recovered = functionDouble(stream);
      await startSource(spec, recovered.invoke, checkpoints);
      await waitUntil(() => recovered.batches.length >= 1, 'the redelivery');
      await sleep(300);

      // Assess
      expect(checkpointWhileStopped).toBeUndefined();
      expect(new Set(failing.labels().map((batch) => batch.join()))).toStrictEqual(new Set(['r0,r1']));
      expect(recovered.labels()).toStrictEqual([['r0', 'r1']]);
      expect(checkpoints).toStrictEqual(new Map([[SHARD, stream.sequenceOf.get('r1')]]));
    });
  });
});
