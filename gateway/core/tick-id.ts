import { createHash } from 'node:crypto';

/**
 * Deterministic tick keys. A tick's id depends only on where it came from, never on when the
 * gateway saw it, so a resent (PossDupFlag=Y) or re-polled message yields the same tickIds and
 * the lakehouse's upsert on tickId absorbs it.
 */

/**
 * `fix:<session>:<epoch>:<MsgSeqNum>:<entry index>`. The epoch is when the session's sequence
 * numbers last started from 1 (kept in the session table), so ids stay unique across a sequence
 * reset (a new trading day, or ResetSeqNumFlag=Y) while a resend within one epoch repeats them.
 */
export function fixTickId(session: string, epochMs: number, msgSeqNum: number, entryIndex: number): string {
  return `fix:${session}:${epochMs.toString(36)}:${msgSeqNum}:${entryIndex}`;
}

/** The source field of FIX ticks. */
export function fixSource(session: string): string {
  return `fix:${session}`;
}

export function restSource(feed: string): string {
  return `rest:${feed}`;
}

/** The quote fields a REST tickId is derived from when the API gives no id of its own. */
export interface QuoteIdentity {
  symbol: string;
  eventTime: number;
  bidPrice: number | null;
  bidSize: number | null;
  askPrice: number | null;
  askSize: number | null;
  lastPrice: number | null;
  lastSize: number | null;
}

/**
 * `rest:<feed>:<id>` with the API's own quote id, else `rest:<feed>:h<hash>` over the quote's
 * content: an unchanged quote polled again (an API without ETags) is the same tick, not a new one.
 */
export function restTickId(feed: string, apiQuoteId: string | undefined, quote: QuoteIdentity): string {
  if (apiQuoteId !== undefined) return `rest:${feed}:${apiQuoteId}`;
  const canonical = JSON.stringify([
    quote.symbol, quote.eventTime, quote.bidPrice, quote.bidSize, quote.askPrice, quote.askSize, quote.lastPrice, quote.lastSize,
  ]);
  return `rest:${feed}:h${createHash('sha256').update(canonical).digest('hex').slice(0, 24)}`;
}
