import type { MarketQuote } from '../../../contracts/dashboard';
import type { MarketTick } from '../../../contracts/market-data';

/**
 * The market panel's pure core: the latest quote per symbol from a batch of ticks. No I/O.
 *
 * A tick carries one side or several (a FIX entry is one bid, offer or trade; a REST quote may
 * carry all three), so a quote is merged side by side: each price is the one of the newest tick
 * that carried it. Ticks are ordered by their venue event time, not by stream order: a tick older
 * than the quote it would update (a late or re-sent tick) is ignored. Ticks with the same event
 * time merge in stream order, so the bid and offer entries of one FIX message both count.
 */

export interface LatestQuote {
  readonly symbol: string;
  readonly bid: number | null;
  readonly ask: number | null;
  readonly last: number | null;
  /** Event time (epoch ms) of the newest tick merged in. */
  readonly eventTimeMs: number;
  /** Source of that tick. */
  readonly source: string;
}

/** The quote after `tick`; `current` itself when the tick is older than it. */
export function mergeTick(current: LatestQuote | undefined, tick: MarketTick): LatestQuote {
  if (current !== undefined && tick.eventTime < current.eventTimeMs) return current;
  return {
    symbol: tick.symbol,
    bid: tick.bidPrice ?? current?.bid ?? null,
    ask: tick.askPrice ?? current?.ask ?? null,
    last: tick.lastPrice ?? current?.last ?? null,
    eventTimeMs: tick.eventTime,
    source: tick.source,
  };
}

/** One quote per symbol that the batch touched, in symbol order. */
export function latestQuotes(ticks: readonly MarketTick[]): LatestQuote[] {
  const bySymbol = new Map<string, LatestQuote>();
  for (const tick of ticks) bySymbol.set(tick.symbol, mergeTick(bySymbol.get(tick.symbol), tick));
  return [...bySymbol.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
}

/** The wire form (contracts/dashboard.ts). */
export const toMarketQuote = (quote: LatestQuote): MarketQuote => ({
  symbol: quote.symbol,
  bid: quote.bid,
  ask: quote.ask,
  last: quote.last,
  at: new Date(quote.eventTimeMs).toISOString(),
  source: quote.source,
});
