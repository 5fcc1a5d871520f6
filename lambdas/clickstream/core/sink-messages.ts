import type { DeadLetterMessage, LateEventMessage } from '../../../contracts/clickstream';
import type { LateEvent, Rejection, ShardRecord } from './batch-plan';
import { windowIso } from './windowing';

/** Dead-lettered data is kept whole up to this size, so the message stays far below SQS's 256 KiB. */
export const MAX_DEAD_LETTER_DATA_CHARS = 16_384;

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

/** A record a pipeline could not use, as its dead-letter sink gets it: the reason, the origin and the data. */
interface RecordRejection<Reason extends string> {
  recordIndex: number;
  record: ShardRecord;
  reason: Reason;
  detail: string;
}

/**
 * The dead-letter message of a rejected record, for any pipeline: `kind` names the pipeline's
 * contract (`invalid-record` for clicks, `invalid-order` for orders), whose shape is otherwise shared.
 */
export function rejectionMessage<Kind extends string, Reason extends string>(kind: Kind, rejection: RecordRejection<Reason>, shardId: string): SinkMessage {
  const { data } = rejection.record;
  const message = {
    kind,
    reason: rejection.reason,
    detail: rejection.detail,
    origin: originOf(rejection.record, shardId),
    data: data.slice(0, MAX_DEAD_LETTER_DATA_CHARS),
    dataTruncated: data.length > MAX_DEAD_LETTER_DATA_CHARS,
  };
  return { recordIndex: rejection.recordIndex, body: JSON.stringify(message) };
}

export const deadLetterMessage = (rejection: Rejection, shardId: string): SinkMessage =>
  rejectionMessage<DeadLetterMessage['kind'], DeadLetterMessage['reason']>('invalid-record', rejection, shardId);

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

