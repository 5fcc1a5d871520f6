import type { MarketQuote, ServerMessage } from '../../contracts/dashboard';
import { element } from './render';

/**
 * The market panel: the latest bid, ask and last price per symbol from `prices` messages (sent
 * by the prices broadcaster at most about once a second, and once after subscribing). Its own
 * module and state, fed the same messages as the rest of the page (main.ts), like the fraud panel.
 * The page's stale marking (body[data-stale]) greys its table out with the others.
 */

export type Direction = 'up' | 'down' | 'flat';

export interface ShownQuote extends MarketQuote {
  /** Epoch ms of `at`. */
  readonly atMs: number;
  /** How the last price moved at its latest change; flat until it changed while the page watched. */
  readonly direction: Direction;
}

export interface MarketPanelState {
  /** By symbol. */
  readonly quotes: ReadonlyMap<string, ShownQuote>;
}

export const initialMarketState = (): MarketPanelState => ({ quotes: new Map() });

/**
 * Pure: applies one server message. A quote older (by event time) than the one shown is ignored:
 * a snapshot read just before a broadcast, or a re-delivered batch, cannot move a price back.
 */
export function reduceMarket(state: MarketPanelState, message: ServerMessage): MarketPanelState {
  if (message.type !== 'prices' || message.quotes.length === 0) return state;
  const quotes = new Map(state.quotes);
  let changed = false;
  for (const quote of message.quotes) {
    const atMs = Date.parse(quote.at);
    const shown = quotes.get(quote.symbol);
    if (shown !== undefined && atMs < shown.atMs) continue;
    const direction: Direction =
      shown?.last == null || quote.last === null || quote.last === shown.last ? (shown?.direction ?? 'flat') : quote.last > shown.last ? 'up' : 'down';
    quotes.set(quote.symbol, { ...quote, atMs, direction });
    changed = true;
  }
  return changed ? { quotes } : state;
}

/** Symbols in order. */
export const shownQuotes = (state: MarketPanelState): ShownQuote[] =>
  [...state.quotes.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));

/** Enough digits for FX (1.08345) and equities (190.12), no more. */
const priceFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 5 });
export const formatPrice = (price: number | null): string => (price === null ? '–' : priceFormat.format(price));
// 24-hour: the column stays narrow enough for a phone in every locale.
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const ARROWS: Record<Direction, { text: string; label: string }> = {
  up: { text: '▲', label: 'up' },
  down: { text: '▼', label: 'down' },
  flat: { text: '·', label: 'unchanged' },
};

/** The panel's DOM: a section appended to `main`, rendered from MarketPanelState. */
export class MarketPanelView {
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly rows = new Map<string, HTMLElement>();
  private shown: MarketPanelState | undefined;

  constructor(root: Document) {
    const section = element('section', { className: 'panel market', attrs: { 'data-testid': 'market-panel', 'aria-labelledby': 'market-title' } });
    const scroll = element('div', { className: 'scroll' });
    const table = element('table', { attrs: { 'data-testid': 'market-quotes' } });
    const head = element('tr');
    head.append(
      element('th', { text: 'Symbol', attrs: { scope: 'col' } }),
      element('th', { text: 'Bid', attrs: { scope: 'col', class: 'num' } }),
      element('th', { text: 'Ask', attrs: { scope: 'col', class: 'num' } }),
      element('th', { text: 'Last', attrs: { scope: 'col', class: 'num' } }),
      element('th', { text: 'Updated', attrs: { scope: 'col', class: 'num' } }),
    );
    table.append(element('thead'), element('tbody'));
    table.tHead!.append(head);
    this.body = table.tBodies[0]!;
    scroll.append(table);
    this.empty = element('p', { className: 'empty', text: 'No prices yet.', attrs: { 'data-testid': 'market-empty' } });
    section.append(
      element('h2', { text: 'Market · latest prices', attrs: { id: 'market-title' } }),
      scroll,
      this.empty,
      element('p', { className: 'note', text: 'Latest bid, ask and last trade per symbol from the market-data stream, at most one update a second; ▲▼ is the last price\'s latest move. Updated is the venue\'s time of the newest tick.' }),
    );
    (root.querySelector('main') ?? root.body).append(section);
  }

  render(state: MarketPanelState): void {
    if (state === this.shown) return;
    this.shown = state;
    const quotes = shownQuotes(state);
    this.empty.hidden = quotes.length > 0;
    for (const [symbol, row] of this.rows) {
      if (state.quotes.has(symbol)) continue;
      row.remove();
      this.rows.delete(symbol);
    }
    quotes.forEach((quote, index) => {
      let row = this.rows.get(quote.symbol);
      if (row === undefined) {
        row = element('tr', { attrs: { 'data-symbol': quote.symbol } });
        const last = element('td', { className: 'num', attrs: { 'data-testid': 'last' } });
        last.append(element('span', { attrs: { 'data-testid': 'last-price' } }), element('span', { className: 'arrow', attrs: { 'data-testid': 'direction' } }));
        row.append(
          element('th', { text: quote.symbol, attrs: { scope: 'row' } }),
          element('td', { className: 'num', attrs: { 'data-testid': 'bid' } }),
          element('td', { className: 'num', attrs: { 'data-testid': 'ask' } }),
          last,
          element('td', { className: 'num muted', attrs: { 'data-testid': 'updated' } }),
        );
        this.rows.set(quote.symbol, row);
      }
      const [, bid, ask, last, updated] = Array.from(row.children) as HTMLElement[];
      bid!.textContent = formatPrice(quote.bid);
      ask!.textContent = formatPrice(quote.ask);
      const [lastPrice, arrow] = Array.from(last!.children) as HTMLElement[];
      lastPrice!.textContent = formatPrice(quote.last);
      arrow!.textContent = ARROWS[quote.direction].text;
      arrow!.setAttribute('aria-label', ARROWS[quote.direction].label);
      row.setAttribute('data-direction', quote.direction);
      updated!.textContent = timeFormat.format(new Date(quote.atMs));
      updated!.setAttribute('title', `${quote.at} from ${quote.source}`);
      if (this.body.children[index] !== row) this.body.insertBefore(row, this.body.children[index] ?? null);
    });
  }
}
