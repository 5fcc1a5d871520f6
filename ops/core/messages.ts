/**
 * The messages of the dead-letter, late-event and failed-batch queues, classified and grouped by
 * reason for `npm run ops -- dlq`, and the failed batches `replay` re-drives. Pure.
 */
import * as z from 'zod';
import { DeadLetterMessage, LateEventMessage } from '../../contracts/clickstream';
import { decodeData, type DecodedData } from './records';

/**
 * What Lambda sends an on-failure destination for a Kinesis batch it gave up on (and what the
 * local cloud sends, local/lambda/stream-event-source.ts): the shard and the sequence range.
 */
export const KinesisFailedBatch = z.object({
  requestContext: z.object({ functionArn: z.string(), condition: z.string(), approximateInvokeCount: z.number().optional() }),
  timestamp: z.string().optional(),
  KinesisBatchInfo: z.object({
    shardId: z.string(),
    startSequenceNumber: z.string().regex(/^\d+$/),
    endSequenceNumber: z.string().regex(/^\d+$/),
    batchSize: z.number().int().positive(),
    streamArn: z.string(),
    approximateArrivalOfFirstRecord: z.string().optional(),
    approximateArrivalOfLastRecord: z.string().optional(),
  }),
});
export type KinesisFailedBatch = z.infer<typeof KinesisFailedBatch>;

/** By function, stream and shard, then by first sequence number (decimal strings of any length). */
export function compareFailedBatches(a: KinesisFailedBatch, b: KinesisFailedBatch): number {
  const keyOf = (batch: KinesisFailedBatch) => [batch.requestContext.functionArn, batch.KinesisBatchInfo.streamArn, batch.KinesisBatchInfo.shardId].join(' ');
  const byShard = keyOf(a).localeCompare(keyOf(b));
  if (byShard !== 0) return byShard;
  const [first, second] = [BigInt(a.KinesisBatchInfo.startSequenceNumber), BigInt(b.KinesisBatchInfo.startSequenceNumber)];
  return first < second ? -1 : first > second ? 1 : 0;
}

export interface QueueMessage {
  readonly queue: string;
  readonly messageId: string;
  readonly body: string;
}

export type ClassifiedMessage = QueueMessage &
  (
    | { readonly kind: 'invalid-record'; readonly reason: string; readonly detail: string; readonly record: DecodedData; readonly origin: unknown; readonly truncated: boolean }
    | { readonly kind: 'late-event'; readonly reason: 'late-event'; readonly detail: string; readonly record: DecodedData; readonly origin: unknown }
    | { readonly kind: 'failed-batch'; readonly reason: string; readonly detail: string; readonly batch: KinesisFailedBatch }
    | { readonly kind: 'unrecognised'; readonly reason: 'unrecognised'; readonly detail: string; readonly record: DecodedData }
  );

export function classifyMessage(message: QueueMessage): ClassifiedMessage {
  let body: unknown;
  try {
    body = JSON.parse(message.body);
  } catch {
    return { ...message, kind: 'unrecognised', reason: 'unrecognised', detail: 'the body is not JSON', record: { text: message.body } };
  }
  const invalid = DeadLetterMessage.safeParse(body);
  if (invalid.success) {
    const { reason, detail, origin, data, dataTruncated } = invalid.data;
    return { ...message, kind: 'invalid-record', reason, detail, origin, record: decodeData(Buffer.from(data, 'base64')), truncated: dataTruncated };
  }
  const late = LateEventMessage.safeParse(body);
  if (late.success) {
    const { event, windowStart, watermark, origin } = late.data;
    return {
      ...message,
      kind: 'late-event',
      reason: 'late-event',
      detail: `window ${windowStart} had closed (shard watermark ${new Date(watermark).toISOString()})`,
      origin,
      record: { json: event },
    };
  }
  const batch = KinesisFailedBatch.safeParse(body);
  if (batch.success) {
    const info = batch.data.KinesisBatchInfo;
    return {
      ...message,
      kind: 'failed-batch',
      reason: batch.data.requestContext.condition,
      detail: `${info.batchSize} records of ${info.shardId}, sequence ${info.startSequenceNumber}..${info.endSequenceNumber}`,
      batch: batch.data,
    };
  }
  return { ...message, kind: 'unrecognised', reason: 'unrecognised', detail: 'not a dead-letter, late-event or failed-batch message', record: { json: body } };
}

export interface MessageGroup {
  readonly queue: string;
  readonly reason: string;
  readonly count: number;
  readonly messages: readonly ClassifiedMessage[];
}

/** Groups by queue and reason, largest group first within a queue; `reason` keeps only that reason. */
export function groupByReason(messages: readonly ClassifiedMessage[], reason?: string): MessageGroup[] {
  const groups = new Map<string, ClassifiedMessage[]>();
  for (const message of messages) {
    if (reason !== undefined && message.reason !== reason) continue;
    const key = `${message.queue}\u0000${message.reason}`;
    const group = groups.get(key) ?? [];
    group.push(message);
    groups.set(key, group);
  }
  return [...groups.values()]
    .map((group) => ({ queue: group[0]!.queue, reason: group[0]!.reason, count: group.length, messages: group }))
    .sort((a, b) => a.queue.localeCompare(b.queue) || b.count - a.count || a.reason.localeCompare(b.reason));
}

/** `arn:aws:lambda:r:a:function:name[:qualifier]` -> `name`. */
export function functionNameOfArn(arn: string): string {
  return arn.split(':function:').at(-1)?.split(':')[0] ?? arn;
}

/** `arn:aws:kinesis:r:a:stream/name` -> `name`. */
export function streamNameOfStreamArn(arn: string): string {
  return arn.split(':stream/').at(-1) ?? arn;
}
