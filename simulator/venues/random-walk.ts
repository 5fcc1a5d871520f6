import { createRandom, type Random } from '../random';

/** One symbol's book top and last trade, moved by a seeded random walk. */
export interface Quote {
  symbol: string;
  bid: number;
  bidSize: number;
  ask: number;
  askSize: number;
  last: number;
  lastSize: number;
}

const START_PRICES: Record<string, number> = { 'EUR/USD': 1.08, 'GBP/USD': 1.27, 'USD/JPY': 151.2, AAPL: 189.5, MSFT: 410.1 };

/**
 * Prices move by up to `stepBps` basis points per step, never below one tick; the spread stays
 * between 1 and 5 ticks. Deterministic for a seed, so tests can replay what a venue sent.
 */
export class RandomWalk {
  private readonly random: Random;
  private readonly quotes = new Map<string, Quote>();

  constructor(symbols: readonly string[], seed: number, private readonly stepBps = 5) {
    this.random = createRandom(seed);
    for (const symbol of symbols) {
      const mid = START_PRICES[symbol] ?? 100;
      this.quotes.set(symbol, { symbol, bid: mid, bidSize: 1_000, ask: mid, askSize: 1_000, last: mid, lastSize: 100 });
      this.step(symbol);
    }
  }

  get symbols(): string[] {
    return [...this.quotes.keys()];
  }

  quote(symbol: string): Quote {
    const quote = this.quotes.get(symbol);
    if (quote === undefined) throw new RangeError(`unknown symbol ${symbol}; this venue quotes ${this.symbols.join(', ')}`);
    return { ...quote };
  }

  /** Moves one symbol (a random one when not named) and returns its new quote. */
  step(symbol: string = this.random.pick(this.symbols)): Quote {
    const quote = this.quotes.get(symbol)!;
    const tick = quote.last >= 10 ? 0.01 : 0.00001;
    const mid = Math.max(tick * 10, quote.last * (1 + ((this.random.next() * 2 - 1) * this.stepBps) / 10_000));
    const halfSpread = tick * (1 + this.random.int(5)) / 2;
    const round = (value: number) => Math.round(value / tick) * tick;
    quote.bid = Number(round(mid - halfSpread).toFixed(5));
    quote.ask = Number(Math.max(round(mid + halfSpread), quote.bid + tick).toFixed(5));
    quote.last = Number(round(mid).toFixed(5));
    quote.bidSize = 100 * (1 + this.random.int(100));
    quote.askSize = 100 * (1 + this.random.int(100));
    quote.lastSize = 10 * (1 + this.random.int(50));
    return { ...quote };
  }
}
