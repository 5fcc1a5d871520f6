import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterMessage, LateEventMessage } from '../../contracts/clickstream';
import type { LateEvent, Rejection, ShardRecord } from './core/batch-plan';
import { windowIso } from './core/windowing';

/** Dead-lettered data is kept whole up to this size, so the message stays far below SQS's 256 KiB. */
export const MAX_DEAD_LETTER_DATA_CHARS = 16_384;
const SQS_BATCH_ENTRIES = 10;

export interface SinkMessage {
  recordIndex: number;
  body: string;
}

/** Where a record came from, as sink messages name it (RecordOrigin). */
export const originOf = (record: ShardRecord, shardId: string) => ({
  shardId,
  sequenceNumber: record.sequenceNumber,
  partitionKey: record.partitionKey,
  approximateArrivalTimestamp: record.approximateArrivalMs,
});

export function deadLetterMessage(rejection: Rejection, shardId: string): SinkMessage {
  const { data } = rejection.record;
  const message: DeadLetterMessage = {
    kind: 'invalid-record',
    reason: rejection.reason,
    detail: rejection.detail,
    origin: originOf(rejection.record, shardId),
    data: data.slice(0, MAX_DEAD_LETTER_DATA_CHARS),
    dataTruncated: data.length > MAX_DEAD_LETTER_DATA_CHARS,
  };
  return { recordIndex: rejection.recordIndex, body: JSON.stringify(message) };
}

export function lateEventMessage(late: LateEvent, shardId: string): SinkMessage {
  const { eventId, url, userId, timestamp } = late.click;
  const message: LateEventMessage = {
    kind: 'late-event',
    event: { eventId, url, userId, timestamp },
    windowStart: windowIso(late.windowStartMs),
    watermark: late.watermarkMs,
    origin: originOf(late.record, shardId),
  };
  return { recordIndex: late.recordIndex, body: JSON.stringify(message) };
}

export interface SendFailure {
  /** The first record whose message may not have been delivered. */
  recordIndex: number;
  cause: string;
}

/**
 * Sends messages in record order and stops at the first failure, so the caller can commit
 * only the records before it and report it as the batch item failure: nothing is lost, and
 * a retry re-sends at most what this attempt already sent.
 */
export async function sendInRecordOrder(sqs: SQSClient, queueUrl: string, messages: readonly SinkMessage[]): Promise<SendFailure | undefined> {
  const ordered = [...messages].sort((a, b) => a.recordIndex - b.recordIndex);
  for (let start = 0; start < ordered.length; start += SQS_BATCH_ENTRIES) {
    const entries = ordered.slice(start, start + SQS_BATCH_ENTRIES);
    try {
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((message) => ({ Id: String(message.recordIndex), MessageBody: message.body })),
        }),
      );
      const failed = [...(result.Failed ?? [])].sort((a, b) => Number(a.Id) - Number(b.Id))[0];
      if (failed !== undefined) return { recordIndex: Number(failed.Id), cause: `${failed.Code}: ${failed.Message ?? 'no message'}` };
    } catch (error) {
      return { recordIndex: entries[0]!.recordIndex, cause: `${(error as Error).name}: ${(error as Error).message}` };
    }
  }
  return undefined;
}
