import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type MarketQuote } from '../../contracts/dashboard';
import { MarketTick } from '../../contracts/market-data';
import { ticksFromRestBody } from '../../gateway/core/rest-ticks';
import { pricesPayloads } from '../../lambdas/dashboard/core/messages';
import { latestQuotes, toMarketQuote } from '../../lambdas/dashboard/core/quotes';
import { REST_VENUE_MAPPING, RestQuoteVenue } from '../../simulator/venues/rest-venue';
import { formatPrice } from '../../web/src/market-panel';
import { titled } from '../support/requirements';
import { openFakeDashboard, type FakeDashboardFixture, type FakeDashboardServer } from './fake-dashboard-server';
import { requireChromium, saveScreenshot, waitForConnectionState, type DashboardSite } from './support';

/**
 * The market panel in headless Chromium: quotes from the REST venue simulator go through the
 * gateway's own parsing (gateway/core/rest-ticks.ts) and the prices broadcaster's core into
 * `prices` messages, which a fake server sends to the page. test/browser/dashboard.test.ts shows
 * the simulator's prices reaching the page through the local cloud.
 */

const chromium = requireChromium();
const SYMBOLS = ['AAPL', 'EUR/USD', 'MSFT'];

/** What the venue serves now, as the prices broadcaster would send it. */
async function pricesFromVenue(venue: RestQuoteVenue, sentAt: number): Promise<{ payloads: string[]; quotes: MarketQuote[] }> {
  const body: unknown = await (await fetch(venue.url)).json();
  const { ticks, rejects } = ticksFromRestBody(body, { feed: 'demo-rest', mapping: REST_VENUE_MAPPING, ingestTime: sentAt, maxPrice: 1e9 });
  expect(rejects).toStrictEqual([]);
  const quotes = latestQuotes(ticks.map((tick) => MarketTick.parse(tick))).map(toMarketQuote);
  return { payloads: pricesPayloads(sentAt, quotes), quotes };
}

/** The panel as `symbol -> [bid, ask, last, direction]`, as rendered. */
const panelRows = (page: Page) =>
  page.$$eval('[data-testid="market-quotes"] tbody tr', (rows) =>
    rows.map((row) => [
      row.getAttribute('data-symbol'),
      row.querySelector('[data-testid="bid"]')?.textContent,
      row.querySelector('[data-testid="ask"]')?.textContent,
      row.querySelector('[data-testid="last-price"]')?.textContent,
      row.getAttribute('data-direction'),
    ]),
  );

describe.skipIf(!chromium.available)(titled('market panel in Chromium', chromium), () => {
  let fake: FakeDashboardServer;
  let site: DashboardSite;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let venue: RestQuoteVenue;

  let fixture: FakeDashboardFixture | undefined;

  beforeAll(async () => {
    venue = new RestQuoteVenue({ symbols: SYMBOLS, seed: 7, updateEveryMs: 0 });
    [fixture] = await Promise.all([openFakeDashboard({ width: 1280, height: 1400 }), venue.start()]);
    ({ fake, site, browser, page, pageErrors } = fixture);
  });
  afterAll(async () => {
    await fixture?.close();
    await venue?.stop();
  });

  it('shows the simulator\'s bid, ask and last per symbol, and which way the last price moved', async () => {
    await page.goto(site.url);
    await waitForConnectionState(page, 'open');
    expect(await page.isVisible('[data-testid="market-empty"]')).toBe(true);

    const first = await pricesFromVenue(venue, fake.now());
    expect(first.quotes.map((quote) => quote.symbol)).toStrictEqual(SYMBOLS);
    for (const payload of first.payloads) fake.broadcast(payload);
    await page.waitForSelector('[data-testid="market-quotes"] tbody tr[data-symbol="MSFT"]');
    expect(await panelRows(page)).toStrictEqual(first.quotes.map((quote) => [quote.symbol, formatPrice(quote.bid), formatPrice(quote.ask), formatPrice(quote.last), 'flat']));
    expect(first.quotes.every((quote) => quote.bid !== null && quote.ask !== null && quote.last !== null)).toBe(true);

    // The venue moves: the next batch's prices replace them, with the direction of each move.
    venue.advance();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = await pricesFromVenue(venue, fake.now());
    for (const payload of second.payloads) fake.broadcast(payload);
    const direction = (symbol: string) => {
      const before = first.quotes.find((quote) => quote.symbol === symbol)!.last!;
      const after = second.quotes.find((quote) => quote.symbol === symbol)!.last!;
      return after > before ? 'up' : after < before ? 'down' : 'flat';
    };
    const expected = second.quotes.map((quote) => [quote.symbol, formatPrice(quote.bid), formatPrice(quote.ask), formatPrice(quote.last), direction(quote.symbol)]);
    await expect.poll(() => panelRows(page), { timeout: 5000 }).toStrictEqual(expected);
    expect(await page.getAttribute('[data-symbol="AAPL"] [data-testid="updated"]', 'title')).toBe(`${second.quotes[0]!.at} from rest:demo-rest`);

    // A quote older than the one shown (a late batch) changes nothing.
    const stale: MarketQuote = { ...first.quotes[0]!, last: 1 };
    fake.broadcast(JSON.stringify({ v: PROTOCOL_VERSION, type: 'prices', sentAt: new Date(fake.now()).toISOString(), quotes: [stale] }));
    fake.broadcast(JSON.stringify({ v: PROTOCOL_VERSION, type: 'health', sentAt: new Date(fake.now()).toISOString(), status: 'ok' }));
    await page.waitForSelector('[data-testid="health"]:not([hidden])');
    expect(await panelRows(page)).toStrictEqual(expected);
    await saveScreenshot(page, 'market-panel.png');
    expect(pageErrors).toStrictEqual([]);
  });

  it('fits a 390 px phone: no market column clipped (element bounds), and greys out when the socket drops', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      await phone.goto(site.url);
      await waitForConnectionState(phone, 'open');
      for (const payload of (await pricesFromVenue(venue, fake.now())).payloads) fake.broadcast(payload);
      await phone.waitForSelector('[data-testid="market-quotes"] tbody tr[data-symbol="EUR/USD"]');
      const clipped = await phone.$$eval('[data-testid="market-quotes"] tr > *', (cells) =>
        cells
          .filter((cell) => {
            const box = cell.getBoundingClientRect();
            const frame = cell.closest('.scroll')!.getBoundingClientRect();
            return box.right > Math.min(frame.right, window.innerWidth) + 0.5 || box.left < frame.left - 0.5;
          })
          .map((cell) => cell.textContent),
      );
      expect(clipped).toStrictEqual([]);
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

      await fake.kill();
      await phone.waitForSelector('body[data-stale="true"]', { timeout: 2000 });
      expect(await phone.$eval('[data-testid="market-quotes"]', (table) => Number(getComputedStyle(table).opacity))).toBeLessThan(1);
      await fake.restart();
    } finally {
      await phone.close();
    }
  });
});
