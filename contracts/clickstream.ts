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
 * The window table (README, "The window table"). Keys are generic (`pk`, `sk`) because it holds
 * two kinds of item, and its layout makes every shard write only its own items:
 *
 * - **Shard partials**, `pk = minute#<windowStart>`, `sk = partial#<shardId>#<chunk>`: one shard's
 *   counts for one minute, packed as a map of url -> count, in chunks of at most
 *   PARTIAL_CHUNK_BYTES. A chunk is rewritten whole when its shard commits a batch that touches it,
 *   guarded by its sequence high-water mark `seq`. "Clicks for URL X in minute M" is one Query of
 *   `pk = minute#M` summing `counts.X` over the items (`clicksForUrl` below).
 * - **Recovered partials**, `pk = minute#<windowStart>`, `sk = partial#recovery#<shardId>#<first>#<chunk>`:
 *   the counts of records the event source mapping had skipped and a replay (`npm run ops -- replay`)
 *   brought back, keyed by the first such record, written once. Same shape; readers sum them alike.
 * - **Shard progress**, `pk = shards`, `sk = <shardId>`: the shard's committed sequence number and
 *   its watermark. The minimum watermark over the stream's shards decides which windows are final.
 */
export const WINDOW_TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', timeToLiveAttribute: 'expiresAt' } as const;
export const SHARDS_PARTITION = 'shards';
export const PARTIAL_SORT_KEY_PREFIX = 'partial#';
/** A chunk is closed to new URLs past this many bytes, far below DynamoDB's 400 KB item limit. */
export const PARTIAL_CHUNK_BYTES = 32 * 1024;

export const minutePartition = (windowStartIso: string): string => `minute#${windowStartIso}`;
export const partialSortKey = (shardId: string, chunk: number): string =>
  `${PARTIAL_SORT_KEY_PREFIX}${shardId}#${String(chunk).padStart(3, '0')}`;

/** Never a shard id (those start with `shardId-`), so a shard's own partials never include these. */
export const recoveryPartialSortKey = (shardId: string, firstSequenceNumber: string, chunk: number): string =>
  `${PARTIAL_SORT_KEY_PREFIX}recovery#${shardId}#${firstSequenceNumber}#${String(chunk).padStart(3, '0')}`;

const Counts = z.record(z.string(), z.number().int().nonnegative());

/** One chunk of one shard's counts for one minute. */
export const ShardPartialItem = z.object({
  pk: z.string().startsWith('minute#'),
  sk: z.string().startsWith(PARTIAL_SORT_KEY_PREFIX),
  windowStart: z.iso.datetime(),
  windowEnd: z.iso.datetime(),
  shardId: z.string(),
  chunk: z.number().int().nonnegative(),
  /** url -> clicks counted exactly once by this shard in this minute. */
  counts: Counts,
  /** url -> clicks that arrived after the window had closed on this shard; not in `counts`. */
  lateCounts: Counts,
  /** The last sequence number of the batch that wrote this chunk (sortable: fixed width). */
  seq: z.string(),
  /** TTL: windowEnd + the window retention (7 days by default), epoch seconds. */
  expiresAt: z.number().int(),
});
export type ShardPartialItem = z.infer<typeof ShardPartialItem>;

/** Where a shard is: committed through `seq`, with its watermark. */
export const ShardProgressItem = z.object({
  pk: z.literal(SHARDS_PARTITION),
  sk: z.string(),
  streamArn: z.string(),
  /** The last committed sequence number (as Kinesis writes it). */
  sequenceNumber: z.string(),
  /** Highest event time committed, each event capped at its arrival; absent before the first click. */
  watermarkMs: z.number().optional(),
});
export type ShardProgressItem = z.infer<typeof ShardProgressItem>;

/** A (url, window) total across shards: what readers and the dashboard see. */
export interface ClickWindowCount {
  url: string;
  windowStart: string;
  windowEnd: string;
  count: number;
  lateCount: number;
}

/** Sums shard partials into one total per (url, window), in first-seen order. */
export function sumPartials(items: Iterable<ShardPartialItem>): ClickWindowCount[] {
  const totals = new Map<string, ClickWindowCount>();
  const entry = (item: ShardPartialItem, url: string): ClickWindowCount => {
    const key = `${url}|${item.windowStart}`;
    let total = totals.get(key);
    if (total === undefined) {
      total = { url, windowStart: item.windowStart, windowEnd: item.windowEnd, count: 0, lateCount: 0 };
      totals.set(key, total);
    }
    return total;
  };
  for (const item of items) {
    for (const [url, count] of Object.entries(item.counts)) entry(item, url).count += count;
    for (const [url, count] of Object.entries(item.lateCounts)) entry(item, url).lateCount += count;
  }
  return [...totals.values()];
}

/**
 * Clicks for one URL in one minute from the items of `Query pk = minute#<windowStart>` (with a
 * projection of `counts.#url`, or whole items): the sum over the shards' partials.
 */
export function clicksForUrl(items: Iterable<{ counts?: Record<string, number> }>, url: string): number {
  let total = 0;
  for (const item of items) total += item.counts?.[url] ?? 0;
  return total;
}

/**
 * The watermark below which no shard can still change a count: the minimum over the stream's
 * shards. -Infinity while any shard has none yet, or when there are no shards.
 */
export function streamWatermark(shards: Iterable<Pick<ShardProgressItem, 'watermarkMs'>>): number {
  let minimum = Number.POSITIVE_INFINITY;
  for (const shard of shards) minimum = Math.min(minimum, shard.watermarkMs ?? Number.NEGATIVE_INFINITY);
  return minimum === Number.POSITIVE_INFINITY ? Number.NEGATIVE_INFINITY : minimum;
}

/**
 * A window is final when the stream's watermark has passed its end by the allowed lateness: every
 * shard has closed it, so no on-time click can still change its count.
 */
export function isWindowFinal(windowEndMs: number, streamWatermarkMs: number, allowedLatenessMs: number): boolean {
  return windowEndMs + allowedLatenessMs <= streamWatermarkMs;
}

/** Why a record was rejected; the dead-letter message carries one of these. */
/**
 * `unwritable`: DynamoDB refused the click's step with a validation error that no retry can cure;
 * the click was isolated and dead-lettered so the rest of its shard carries on.
 */
export const RejectionReason = z.enum(['not-json', 'schema', 'oversized', 'future-timestamp', 'unwritable']);
export type RejectionReason = z.infer<typeof RejectionReason>;

/** Where a record came from, so a dead-lettered or late record can be found and replayed. */
export const RecordOrigin = z.object({
  shardId: z.string(),
  sequenceNumber: z.string(),
  partitionKey: z.string(),
  approximateArrivalTimestamp: z.number(),
});

/**
 * A record a pipeline rejected, as its dead-letter sink receives it. Every pipeline's message has
 * this shape; each names its own `kind` and its reasons.
 */
export const rejectedRecordMessage = <Kind extends string, Reason extends z.ZodType<string>>(kind: Kind, reason: Reason) =>
  z.object({
    kind: z.literal(kind),
    reason,
    detail: z.string(),
    origin: RecordOrigin,
    /** The raw record data, base64, possibly truncated for oversized records. */
    data: z.string(),
    dataTruncated: z.boolean(),
  });

export const DeadLetterMessage = rejectedRecordMessage('invalid-record', RejectionReason);
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
