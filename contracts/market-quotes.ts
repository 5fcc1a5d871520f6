import * as z from 'zod';

/**
 * The market panel's latest-quotes table (lib/market-panel.ts): one item per symbol, all in one
 * partition so a snapshot is one strongly consistent Query, never a Scan. The prices broadcaster
 * merges each batch's quotes into it; the $default route reads it for a new subscriber.
 * One partition holds up to 1,000 writes/s: one write per symbol per batch (about one batch a
 * second per shard) stays far below that for any realistic symbol list.
 */
export const QUOTES_TABLE_KEYS = { partitionKey: 'pk', sortKey: 'symbol' } as const;
/** The partition every quote item lives in. */
export const QUOTES_PARTITION = 'quotes';

const price = z.number().positive().nullable();

export const LatestQuoteItem = z.object({
  pk: z.literal(QUOTES_PARTITION),
  symbol: z.string().min(1),
  /** A side is absent until a tick carried it. */
  bid: price.optional(),
  ask: price.optional(),
  last: price.optional(),
  /** Event time (epoch ms) of the newest tick merged in: a write with an older one is refused. */
  eventTimeMs: z.number().int().nonnegative(),
  source: z.string(),
});
export type LatestQuoteItem = z.infer<typeof LatestQuoteItem>;
