import * as z from 'zod';

/**
 * The clickstream contracts: the event producers write, the items the aggregator keeps,
 * and the messages its sinks receive. Simulator, handler, local cloud and tests import
 * these; nothing else redefines them.
 */

export const MAX_ID_LENGTH = 128;
export const MAX_URL_LENGTH = 2048;
/**
 * Byte limits of the click's string fields in UTF-8, as DynamoDB measures them: a URL of 1,100 'é'
 * is 1,100 characters but 2,200 bytes. 2,048 is DynamoDB's partition-key limit, so a click that
 * passes can always be named in a key or an expression (README, "The window table").
 */
export const MAX_URL_BYTES = 2048;
export const MAX_ID_BYTES = 512;

/** UTF-8 length without allocating: this runs for every click on the aggregator's hot path. */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a pair: 2 UTF-16 units, 4 bytes
        index++;
        continue;
      }
      bytes += 2; // a lone surrogate: rejected elsewhere; counted as its replacement character
    } else bytes += 2;
  }
  return bytes;
}

/** A UTF-16 surrogate that is not part of a pair (u-flag regexes see pairs as one code point). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * What keeps a schema-valid click from being stored faithfully, or undefined when nothing does.
 * Checked after the schema: string fields within DynamoDB's limits in bytes, and no lone
 * surrogates, which have no UTF-8 form (DynamoDB would store '\ud800' and '\udc00' alike, and
 * two distinct eventIds would look like one re-send). Such a click is dead-lettered, not written.
 */
export function unstorableClickFields(click: Pick<Click, 'eventId' | 'url' | 'userId'>): string | undefined {
  const problems: string[] = [];
  for (const [field, limit] of [['eventId', MAX_ID_BYTES], ['url', MAX_URL_BYTES], ['userId', MAX_ID_BYTES]] as const) {
    const value = click[field];
    const surrogate = LONE_SURROGATE.exec(value);
    if (surrogate !== null) {
      const unit = value.charCodeAt(surrogate.index).toString(16);
      problems.push(`${field}: lone surrogate \\u${unit} at index ${surrogate.index} has no UTF-8 form`);
      continue;
    }
    const bytes = utf8ByteLength(value);
    if (bytes > limit) problems.push(`${field}: ${bytes} UTF-8 bytes; at most ${limit} can be stored`);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

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
