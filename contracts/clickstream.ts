import * as z from 'zod';

/**
 * The clickstream contracts: the event producers write, the items the aggregator keeps,
 * and the messages its sinks receive. Simulator, handler, local cloud and tests import
 * these; nothing else redefines them.
 */

export const MAX_ID_LENGTH = 128;
export const MAX_URL_LENGTH = 2048;

/** How an ISO-8601 event timestamp becomes epoch milliseconds; fast paths reuse it. */
export const isoToEpochMs = (iso: string): number => Date.parse(iso);

/** ISO-8601 with an explicit zone, or epoch milliseconds; both become epoch ms. */
export const EventTimestamp = z.union([
  z.number().int().nonnegative().max(8.64e15),
  z.iso.datetime({ offset: true }).transform(isoToEpochMs),
]);

export const ClickEvent = z.object({
  eventId: z.string().min(1).max(MAX_ID_LENGTH),
  url: z.string().min(1).max(MAX_URL_LENGTH),
  userId: z.string().min(1).max(MAX_ID_LENGTH),
  timestamp: EventTimestamp,
});
/** What producers send (timestamp as ISO string or epoch ms). */
export type ClickEventInput = z.input<typeof ClickEvent>;
/** What the aggregator works with (timestamp normalised to epoch ms). */
export type Click = z.output<typeof ClickEvent>;

export const WINDOW_MS = 60_000;

/**
 * One item per (url, window) in the window table. `count` is exact; `lateCount` counts
 * events that arrived after the window closed and were sent to the late-events sink.
 */
export const ClickWindowItem = z.object({
  url: z.string(),
  windowStart: z.iso.datetime(),
  windowEnd: z.iso.datetime(),
  count: z.number().int().nonnegative(),
  lateCount: z.number().int().nonnegative(),
  updatedAt: z.iso.datetime(),
});
export type ClickWindowItem = z.infer<typeof ClickWindowItem>;

/** Why a record was rejected; the dead-letter message carries one of these. */
export const RejectionReason = z.enum(['not-json', 'schema', 'oversized', 'future-timestamp']);
export type RejectionReason = z.infer<typeof RejectionReason>;

/** Where a record came from, so a dead-lettered or late record can be found and replayed. */
export const RecordOrigin = z.object({
  shardId: z.string(),
  sequenceNumber: z.string(),
  partitionKey: z.string(),
  approximateArrivalTimestamp: z.number(),
});

export const DeadLetterMessage = z.object({
  kind: z.literal('invalid-record'),
  reason: RejectionReason,
  detail: z.string(),
  origin: RecordOrigin,
  /** The raw record data, base64, possibly truncated for oversized records. */
  data: z.string(),
  dataTruncated: z.boolean(),
});
export type DeadLetterMessage = z.infer<typeof DeadLetterMessage>;

export const LateEventMessage = z.object({
  kind: z.literal('late-event'),
  event: z.object({ eventId: z.string(), url: z.string(), userId: z.string(), timestamp: z.number() }),
  windowStart: z.iso.datetime(),
  /** The shard watermark when the event arrived: its window had closed before this. */
  watermark: z.number(),
  origin: RecordOrigin,
});
export type LateEventMessage = z.infer<typeof LateEventMessage>;
