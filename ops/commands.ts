import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  ListStreamsCommand,
  type _Record as KinesisRecord,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { GetFunctionConfigurationCommand, InvokeCommand } from '@aws-sdk/client-lambda';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { kinesisEventRecord } from '../local/lambda/kinesis-event-source';
import { METRICS_PATH } from '../local/telemetry/local-cloud-metrics';
import { classifyMessage, compareFailedBatches, functionNameOfArn, groupByReason, streamNameOfStreamArn, type ClassifiedMessage, type KinesisFailedBatch } from './core/messages';
import { parsePrometheusText } from './core/prometheus-text';
import { compareSequenceNumbers, decodeData, decodedText, type DecodedData } from './core/records';
import { table } from './core/table';
import { explainAwsError, OpsError, type OpsTarget } from './target';

/** Where a command writes: data to `out`, diagnostics to `err`. */
export interface OpsIo {
  out(text: string): void;
  err(text: string): void;
  /** Aborted on Ctrl-C: `tail` stops. */
  readonly signal: AbortSignal;
}

const STREAM_NAME_OUTPUT = /StreamName$/;
const QUEUE_URL_OUTPUT = /QueueUrl$/;

async function aws<T>(target: OpsTarget, what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw explainAwsError(error, target, what);
  }
}

/** The streams the outputs name (every `...StreamName` output). */
function outputStreams(target: OpsTarget): string[] {
  return Object.entries(target.outputs).filter(([key]) => STREAM_NAME_OUTPUT.test(key)).map(([, value]) => value);
}

/** The queues the outputs name, `{ key: url }` (every `...QueueUrl` output). */
function outputQueues(target: OpsTarget): { key: string; url: string }[] {
  return Object.entries(target.outputs).filter(([key]) => QUEUE_URL_OUTPUT.test(key)).map(([key, url]) => ({ key, url }));
}

async function listShards(target: OpsTarget, stream: string): Promise<Shard[]> {
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await aws(target, `listing the shards of stream ${stream}`, async () => {
      try {
        return await target.kinesis.send(new ListShardsCommand(nextToken === undefined ? { StreamName: stream } : { NextToken: nextToken }));
      } catch (error) {
        if ((error as Error).name !== 'ResourceNotFoundException') throw error;
        const known = await target.kinesis.send(new ListStreamsCommand({})).then((answer) => answer.StreamNames ?? [], () => []);
        throw new OpsError(`Stream ${stream} does not exist at ${target.endpoint ?? `AWS (${target.kind})`}. Streams there: ${known.join(', ') || 'none'}`);
      }
    });
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return shards;
}

// ---------------------------------------------------------------------------------------------
// status

export interface StatusReport {
  target: string;
  endpoint?: string;
  streams: { stream: string; status?: string; retentionHours?: number; shards: { shardId: string; state: 'open' | 'closed'; parent?: string; adjacentParent?: string }[] }[];
  /** Per mapping and shard; from the local cloud's metrics endpoint (AWS keeps IteratorAge in CloudWatch, per function). */
  iteratorAges: { stream: string; shard: string; function: string; iteratorAgeMs: number; queuedRecords: number }[];
  queues: { key: string; url: string; visible: number; inFlight: number; delayed: number }[];
  functions: { name: string; state: string; lastUpdate?: string; runtime?: string }[];
}

export async function status(target: OpsTarget): Promise<StatusReport> {
  const report: StatusReport = { target: target.kind, ...(target.endpoint !== undefined ? { endpoint: target.endpoint } : {}), streams: [], iteratorAges: [], queues: [], functions: [] };
  for (const stream of outputStreams(target)) {
    const summary = await aws(target, `describing stream ${stream}`, () => target.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream })));
    const shards = await listShards(target, stream);
    report.streams.push({
      stream,
      status: summary.StreamDescriptionSummary?.StreamStatus,
      retentionHours: summary.StreamDescriptionSummary?.RetentionPeriodHours,
      shards: shards.map((shard) => ({
        shardId: shard.ShardId!,
        state: shard.SequenceNumberRange?.EndingSequenceNumber === undefined ? 'open' : 'closed',
        ...(shard.ParentShardId !== undefined ? { parent: shard.ParentShardId } : {}),
        ...(shard.AdjacentParentShardId !== undefined ? { adjacentParent: shard.AdjacentParentShardId } : {}),
      })),
    });
  }
  for (const { key, url } of outputQueues(target)) {
    const { Attributes = {} } = await aws(target, `reading the depth of ${url}`, () =>
      target.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] })),
    );
    report.queues.push({
      key,
      url,
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
      delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
    });
  }
  if (target.kind === 'local' && target.endpoint !== undefined) {
    const text = await aws(target, 'reading the metrics', async () => (await fetch(`${target.endpoint}${METRICS_PATH}`)).text());
    const samples = parsePrometheusText(text);
    const queued = new Map(samples.filter((sample) => sample.name === 'watershed_stream_queued_records').map((sample) => [JSON.stringify(sample.labels), sample.value]));
    const functions = new Set<string>();
    for (const sample of samples) {
      if (sample.name === 'watershed_function_invocations_total') functions.add(sample.labels.function!);
      if (sample.name !== 'watershed_stream_iterator_age_seconds') continue;
      const { stream = '', shard = '', function: fn = '' } = sample.labels;
      functions.add(fn);
      report.iteratorAges.push({ stream, shard, function: fn, iteratorAgeMs: Math.round(sample.value * 1000), queuedRecords: queued.get(JSON.stringify(sample.labels)) ?? 0 });
    }
    for (const name of [...functions].sort()) {
      const configuration = await aws(target, `reading function ${name}`, () => target.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name })));
      report.functions.push({ name, state: configuration.State ?? 'unknown', ...(configuration.Runtime !== undefined ? { runtime: configuration.Runtime } : {}) });
    }
  }
  return report;
}

export function formatStatus(report: StatusReport): string {
  const sections = [`target ${report.target}${report.endpoint === undefined ? '' : ` (${report.endpoint})`}`];
  sections.push(
    report.streams.length === 0
      ? 'streams: none named in the outputs (pass --outputs-file)'
      : table(
          ['STREAM', 'SHARD', 'STATE', 'PARENTS'],
          report.streams.flatMap((stream) => stream.shards.map((shard) => [stream.stream, shard.shardId, shard.state, [shard.parent, shard.adjacentParent].filter(Boolean).join(', ') || '-'])),
        ),
  );
  if (report.iteratorAges.length > 0) {
    sections.push(table(['STREAM', 'SHARD', 'FUNCTION', 'ITERATOR AGE', 'QUEUED'], report.iteratorAges.map((age) => [age.stream, age.shard, age.function, `${age.iteratorAgeMs} ms`, age.queuedRecords])));
  } else if (report.target !== 'local') {
    sections.push('iterator age: in CloudWatch (AWS/Lambda IteratorAge, per function); per shard only on the local cloud');
  }
  if (report.queues.length > 0) sections.push(table(['QUEUE', 'VISIBLE', 'IN FLIGHT', 'DELAYED'], report.queues.map((queue) => [queue.key, queue.visible, queue.inFlight, queue.delayed])));
  if (report.functions.length > 0) sections.push(table(['FUNCTION', 'STATE', 'RUNTIME'], report.functions.map((fn) => [fn.name, fn.state, fn.runtime ?? '-'])));
  return `${sections.join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// tail

export interface TailOptions {
  readonly stream: string;
  /** `latest`, `trim-horizon`, or a point in time. */
  readonly from: 'latest' | 'trim-horizon' | Date;
  readonly shard?: string;
  readonly json: boolean;
  /** Stop after this many records. */
  readonly limit?: number;
  /** How often an idle shard is polled, in ms. */
  readonly pollMs?: number;
}

export interface TailedRecord {
  shard: string;
  sequenceNumber: string;
  partitionKey: string;
  arrival?: string;
  data: DecodedData;
}

/** Prints records as they arrive on every shard (or one), until the limit or Ctrl-C. Resolves to the number printed. */
export async function tail(target: OpsTarget, options: TailOptions, io: OpsIo): Promise<number> {
  const shards = (await listShards(target, options.stream)).filter((shard) => options.shard === undefined || shard.ShardId === options.shard);
  if (shards.length === 0) throw new OpsError(`Stream ${options.stream} has no shard ${options.shard ?? ''}: run \`npm run ops -- status\` to list its shards`);
  const position =
    options.from === 'latest'
      ? { ShardIteratorType: 'LATEST' as const }
      : options.from === 'trim-horizon'
        ? { ShardIteratorType: 'TRIM_HORIZON' as const }
        : { ShardIteratorType: 'AT_TIMESTAMP' as const, Timestamp: options.from };
  let printed = 0;
  const done = () => io.signal.aborted || (options.limit !== undefined && printed >= options.limit);
  if (!options.json) io.err(`tailing ${options.stream} (${shards.length} shard${shards.length === 1 ? '' : 's'}, from ${options.from instanceof Date ? options.from.toISOString() : options.from}); Ctrl-C stops\n`);
  const print = (record: TailedRecord) => {
    if (done()) return;
    printed += 1;
    io.out(options.json ? `${JSON.stringify(record)}\n` : `${record.shard}  ${record.sequenceNumber}  ${record.arrival ?? '-'}  ${record.partitionKey}  ${decodedText(record.data)}\n`);
  };
  await Promise.all(
    shards.map(async (shard) => {
      let iterator = (await aws(target, `reading ${shard.ShardId}`, () => target.kinesis.send(new GetShardIteratorCommand({ StreamName: options.stream, ShardId: shard.ShardId!, ...position })))).ShardIterator;
      while (iterator !== undefined && !done()) {
        const page = await aws(target, `reading ${shard.ShardId}`, () => target.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 })));
        for (const record of page.Records ?? []) print(tailedRecord(shard.ShardId!, record));
        iterator = page.NextShardIterator;
        if ((page.Records ?? []).length === 0) await pause(options.pollMs ?? 500, io.signal);
      }
    }),
  );
  return printed;
}

function tailedRecord(shard: string, record: KinesisRecord): TailedRecord {
  return {
    shard,
    sequenceNumber: record.SequenceNumber!,
    partitionKey: record.PartitionKey ?? '',
    ...(record.ApproximateArrivalTimestamp !== undefined ? { arrival: record.ApproximateArrivalTimestamp.toISOString() } : {}),
    data: decodeData(record.Data ?? new Uint8Array()),
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// dlq

/** A queue named by its output key (`DeadLetterQueueUrl`), its name, or its URL. */
async function queueUrlOf(target: OpsTarget, queue: string): Promise<{ key: string; url: string }> {
  const named = outputQueues(target).find(({ key, url }) => key === queue || url === queue || url.endsWith(`/${queue}`));
  if (named !== undefined) return named;
  if (/^https?:\/\//.test(queue)) return { key: queue, url: queue };
  const { QueueUrl } = await aws(target, `finding queue ${queue}`, async () => {
    try {
      return await target.sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
    } catch (error) {
      if (!/NonExistentQueue|QueueDoesNotExist/.test((error as Error).name)) throw error;
      throw new OpsError(`Queue ${queue} does not exist. Queues in the outputs: ${outputQueues(target).map(({ key }) => key).join(', ') || 'none (pass --outputs-file)'}`);
    }
  });
  return { key: queue, url: QueueUrl! };
}

/**
 * Every message now in a queue, read without consuming it: each is received with a short
 * visibility timeout (so the next receive returns the others) and made visible again at once.
 */
async function peekAll(target: OpsTarget, url: string, visibilityTimeout = 30): Promise<Message[]> {
  const seen = new Map<string, Message>();
  for (;;) {
    const { Messages = [] } = await aws(target, `reading ${url}`, () =>
      target.sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: visibilityTimeout })),
    );
    const fresh = Messages.filter((message) => !seen.has(message.MessageId!));
    for (const message of fresh) seen.set(message.MessageId!, message);
    if (fresh.length === 0) break;
  }
  const received = [...seen.values()];
  for (let start = 0; start < received.length; start += 10) {
    const batch = received.slice(start, start + 10);
    await aws(target, `releasing messages of ${url}`, () =>
      target.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: batch.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle!, VisibilityTimeout: 0 })) })),
    );
  }
  return received;
}

export interface DlqOptions {
  /** A queue (output key, name or URL); every `...QueueUrl` output without it. */
  readonly queue?: string;
  readonly reason?: string;
}

export async function dlq(target: OpsTarget, options: DlqOptions): Promise<ReturnType<typeof groupByReason>> {
  const queues = options.queue !== undefined ? [await queueUrlOf(target, options.queue)] : outputQueues(target);
  if (queues.length === 0) throw new OpsError('No queue to read: the outputs name none. Pass a QUEUE (name or URL) or --outputs-file');
  const messages: ClassifiedMessage[] = [];
  for (const { key, url } of queues) {
    for (const message of await peekAll(target, url)) messages.push(classifyMessage({ queue: key, messageId: message.MessageId!, body: message.Body ?? '' }));
  }
  return groupByReason(messages, options.reason);
}

export function formatDlq(groups: ReturnType<typeof groupByReason>, perGroup = 5): string {
  if (groups.length === 0) return 'no messages\n';
  const lines = [table(['QUEUE', 'REASON', 'MESSAGES'], groups.map((group) => [group.queue, group.reason, group.count])), ''];
  for (const group of groups) {
    lines.push(`${group.queue} / ${group.reason} (${group.count})`);
    for (const message of group.messages.slice(0, perGroup)) {
      lines.push(`  ${message.detail}`);
      if ('record' in message) lines.push(`    ${decodedText(message.record)}`);
    }
    if (group.count > perGroup) lines.push(`  ... ${group.count - perGroup} more (--json lists them all)`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// replay

export interface ReplayOptions {
  /** The failed-batch queue (output key, name or URL). @default - the FailedBatchQueueUrl output */
  readonly queue?: string;
  readonly dryRun: boolean;
  /** Seconds a message stays hidden from other replays while its records are re-driven. */
  readonly visibilityTimeout?: number;
}

export interface ReplayedBatch {
  messageId: string;
  functionName: string;
  stream: string;
  shard: string;
  startSequenceNumber: string;
  endSequenceNumber: string;
  records: number;
  outcome: 'replayed' | 'would replay' | 'failed' | 'skipped';
  detail?: string;
}

/**
 * Re-drives the records behind each failed-batch message through the function that gave up on
 * them, in order, then deletes the message. A message is deleted only after the function
 * processed every record (no error, no batchItemFailures); otherwise it stays for the next run.
 * Safe to repeat: the functions process exactly once, so records already counted are absorbed.
 */
export async function replay(target: OpsTarget, options: ReplayOptions, io: OpsIo): Promise<ReplayedBatch[]> {
  const queue = await queueUrlOf(target, options.queue ?? 'FailedBatchQueueUrl').catch((error: unknown) => {
    if (options.queue === undefined && Object.keys(target.outputs).length > 0 && !('FailedBatchQueueUrl' in target.outputs)) {
      throw new OpsError('The outputs name no FailedBatchQueueUrl: pass --queue NAME');
    }
    throw error;
  });
  const visibilityTimeout = options.visibilityTimeout ?? 300;
  const results: ReplayedBatch[] = [];
  const seen = new Set<string>();
  /** Messages kept (dry run, failed again): message id -> the receipt handle of their latest receive. */
  const kept = new Map<string, string>();
  const batches: { messageId: string; receiptHandle: string; batch: KinesisFailedBatch }[] = [];
  // Every message is received (and hidden) first, so each shard's batches can be re-driven in
  // sequence order: the receive order is arbitrary, and a function that checkpoints a shard
  // must see its records in order (two halves of a bisected batch, for example).
  for (;;) {
    const { Messages = [] } = await aws(target, `reading ${queue.url}`, () =>
      target.sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: visibilityTimeout })),
    );
    // A kept message received again is hidden again: remember its newest receipt handle to release it.
    for (const message of Messages) if (kept.has(message.MessageId!)) kept.set(message.MessageId!, message.ReceiptHandle!);
    const fresh = Messages.filter((message) => !seen.has(message.MessageId!));
    if (fresh.length === 0) break;
    for (const message of fresh) {
      seen.add(message.MessageId!);
      const classified = classifyMessage({ queue: queue.key, messageId: message.MessageId!, body: message.Body ?? '' });
      if (classified.kind !== 'failed-batch') {
        kept.set(message.MessageId!, message.ReceiptHandle!);
        io.err(`skipping message ${message.MessageId}: ${classified.detail}\n`);
        results.push({ messageId: message.MessageId!, functionName: '-', stream: '-', shard: '-', startSequenceNumber: '-', endSequenceNumber: '-', records: 0, outcome: 'skipped', detail: classified.detail });
        continue;
      }
      batches.push({ messageId: message.MessageId!, receiptHandle: message.ReceiptHandle!, batch: classified.batch });
    }
  }
  batches.sort((a, b) => compareFailedBatches(a.batch, b.batch));
  for (const { messageId, receiptHandle, batch } of batches) {
    const result = await replayBatch(target, batch, messageId, options.dryRun);
    results.push(result);
    if (result.outcome === 'replayed') {
      await aws(target, `deleting message ${messageId}`, () => target.sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: receiptHandle })));
    } else {
      kept.set(messageId, receiptHandle);
    }
  }
  // Kept messages are left for the next run (or for dlq to show): visible again now, not after the timeout.
  const handles = [...kept.values()];
  for (let start = 0; start < handles.length; start += 10) {
    const batch = handles.slice(start, start + 10);
    await aws(target, `releasing messages of ${queue.url}`, () =>
      target.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queue.url, Entries: batch.map((handle, index) => ({ Id: String(index), ReceiptHandle: handle, VisibilityTimeout: 0 })) })),
    );
  }
  return results;
}

async function replayBatch(target: OpsTarget, batch: KinesisFailedBatch, messageId: string, dryRun: boolean): Promise<ReplayedBatch> {
  const info = batch.KinesisBatchInfo;
  const stream = streamNameOfStreamArn(info.streamArn);
  const functionName = functionNameOfArn(batch.requestContext.functionArn);
  const base = { messageId, functionName, stream, shard: info.shardId, startSequenceNumber: info.startSequenceNumber, endSequenceNumber: info.endSequenceNumber };
  const records = await readRange(target, stream, info.shardId, info.startSequenceNumber, info.endSequenceNumber);
  if (records.length === 0) {
    return { ...base, records: 0, outcome: 'failed', detail: `no record of ${info.shardId} in ${info.startSequenceNumber}..${info.endSequenceNumber} is left in the stream (past its retention?); the message is kept` };
  }
  if (dryRun) return { ...base, records: records.length, outcome: 'would replay' };
  const region = /^arn:aws[^:]*:lambda:([^:]+):(\d+):/.exec(batch.requestContext.functionArn);
  const event = {
    Records: records.map((record) =>
      kinesisEventRecord({ shardId: info.shardId, record, eventSourceArn: info.streamArn, functionName, region: region?.[1] ?? 'us-east-1', accountId: region?.[2] ?? '000000000000' }),
    ),
  };
  const answer = await aws(target, `invoking ${functionName}`, () => target.lambda.send(new InvokeCommand({ FunctionName: batch.requestContext.functionArn, Payload: Buffer.from(JSON.stringify(event)) })));
  const payloadText = answer.Payload === undefined ? '' : Buffer.from(answer.Payload).toString('utf8');
  if (answer.FunctionError !== undefined) return { ...base, records: records.length, outcome: 'failed', detail: `${functionName} failed: ${payloadText}` };
  let failures: unknown[] = [];
  try {
    failures = ((JSON.parse(payloadText || 'null') as { batchItemFailures?: unknown[] } | null)?.batchItemFailures ?? []);
  } catch {
    // A handler that returns no JSON reports no item failures.
  }
  if (failures.length > 0) return { ...base, records: records.length, outcome: 'failed', detail: `${functionName} reported ${failures.length} item failures: ${JSON.stringify(failures)}` };
  return { ...base, records: records.length, outcome: 'replayed' };
}

/** The records of a shard from `start` to `end` inclusive, as the stream still holds them. */
async function readRange(target: OpsTarget, stream: string, shardId: string, start: string, end: string): Promise<KinesisRecord[]> {
  const records: KinesisRecord[] = [];
  let iterator = (await aws(target, `reading ${shardId} of ${stream}`, () =>
    target.kinesis.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: start })),
  )).ShardIterator;
  let emptyReads = 0;
  while (iterator !== undefined && emptyReads < 5) {
    const page = await aws(target, `reading ${shardId} of ${stream}`, () => target.kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 })));
    const batch = page.Records ?? [];
    emptyReads = batch.length === 0 ? emptyReads + 1 : 0;
    for (const record of batch) {
      if (compareSequenceNumbers(record.SequenceNumber!, end) > 0) return records;
      records.push(record);
    }
    if (records.length > 0 && compareSequenceNumbers(records.at(-1)!.SequenceNumber!, end) >= 0) return records;
    // Caught up with the tip without reaching `end`: the rest is not there.
    if (page.MillisBehindLatest === 0 && batch.length === 0) break;
    iterator = page.NextShardIterator;
  }
  return records;
}

export function formatReplay(results: readonly ReplayedBatch[]): string {
  if (results.length === 0) return 'no failed batches to replay\n';
  return `${table(
    ['OUTCOME', 'FUNCTION', 'STREAM', 'SHARD', 'RECORDS', 'SEQUENCES', 'DETAIL'],
    results.map((result) => [result.outcome, result.functionName, result.stream, result.shard, result.records, `${result.startSequenceNumber}..${result.endSequenceNumber}`, result.detail ?? '']),
  )}\n`;
}
