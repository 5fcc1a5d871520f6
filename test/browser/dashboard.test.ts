import { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINDOW_MS, type ClickEventInput } from '../../contracts/clickstream';
import { DEMO_VENUES, GatewayConfig, GatewayEnv } from '../../contracts/market-data-gateway';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import type { GeneratedRecord } from '../../simulator/clicks';
import { putAll } from '../../simulator/producer';
import { FixVenue } from '../../simulator/venues/fix-venue';
import { RestQuoteVenue } from '../../simulator/venues/rest-venue';
import { formatPrice } from '../../web/src/market-panel';
import { startTestCloud } from '../support/local-cloud';
import { requireJava, titled, type Requirement } from '../support/requirements';
import {
  collectPageErrors,
  eventsPerSecondShown,
  launchChromium,
  rankedCounts,
  requireChromium,
  saveScreenshot,
  waitForConnectionState,
  waitForCounts,
} from './support';

/**
 * The whole system in a real browser: the local cloud serves the built dashboard and its
 * config.json, the page gets a dev token, connects to the local WebSocket API and subscribes;
 * clicks put on the stream flow through the aggregator, the window table's stream and the
 * broadcaster to the page. Counts are read from the DOM as text.
 */

const KNOWN_CLICKS: Record<string, number> = { '/products/1': 40, '/blog/x': 25, '/about': 10 };

function clickRecords(counts: Record<string, number>, at: number): GeneratedRecord[] {
  return Object.entries(counts).flatMap(([url, count]) =>
    Array.from({ length: count }, (_, index) => {
      const userId = `browser-user-${index % 7}`;
      const event: ClickEventInput = { eventId: `browser-${url}-${index}-${at}`, url, userId, timestamp: at };
      return { partitionKey: userId, data: Buffer.from(JSON.stringify(event)), emittedAt: at, truth: { kind: 'valid', event } } satisfies GeneratedRecord;
    }),
  );
}

/** Waits for a new minute if this one has less than `needMs` left, so all clicks and the assertions share one window. */
async function awaitRoomInMinute(needMs: number): Promise<void> {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 250));
}

const java = await requireJava();
const chromium = requireChromium();
const requirement: Requirement = !java.available ? java : chromium;

describe.skipIf(!java.available || !chromium.available)(titled('dashboard in Chromium on the local cloud', requirement), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let rest: RestQuoteVenue;
  let fix: FixVenue;

  beforeAll(async () => {
    // The venue simulators on OS-picked ports, and the template's gateway configuration pointed at them.
    rest = new RestQuoteVenue({ symbols: ['AAPL', 'MSFT'], seed: 5, updateEveryMs: 300 });
    fix = new FixVenue({ symbols: ['EUR/USD', 'USD/JPY'], senderCompId: DEMO_VENUES.fixTargetCompId, targetCompId: DEMO_VENUES.fixSenderCompId, rate: 5 });
    const [, fixPort] = await Promise.all([rest.start(), fix.start()]);
    [{ cloud, dispose }, browser] = await Promise.all([
      startTestCloud({
        serviceEnvironment: (_service, container) => {
          const config = GatewayConfig.parse(JSON.parse(container.environment[GatewayEnv.config]!));
          return {
            [GatewayEnv.config]: JSON.stringify({
              ...config,
              fixSessions: config.fixSessions.map((session) => ({ ...session, port: fixPort, symbols: ['EUR/USD', 'USD/JPY'] })),
              restFeeds: config.restFeeds.map((feed) => ({ ...feed, url: rest.url, intervalMs: 300 })),
            }),
          };
        },
      }),
      launchChromium(),
    ]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    pageErrors = collectPageErrors(page);
  });
  afterAll(async () => {
    await browser?.close();
    await dispose?.();
    await fix?.stop();
    await rest?.stop();
  });

  it('renders exactly the clicks produced, live, and shows a non-zero event rate', async () => {
    await page.goto(cloud.dashboardUrl);
    await waitForConnectionState(page, 'open', 60_000);
    await awaitRoomInMinute(40_000);

    const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
    try {
      // Two bursts, two updates apart: the page shows a rate from its second update on.
      const records = clickRecords(KNOWN_CLICKS, Date.now());
      const half = Math.ceil(records.length / 2);
      const first = await putAll(kinesis, cloud.outputs.ClicksStreamName!, records.slice(0, half), { rate: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const second = await putAll(kinesis, cloud.outputs.ClicksStreamName!, records.slice(half), { rate: 5000 });
      expect(first.sent + second.sent).toBe(75);
    } finally {
      kinesis.destroy();
    }

    await waitForCounts(page, KNOWN_CLICKS, 30_000);
    expect(await eventsPerSecondShown(page)).toBeGreaterThan(0);
    // Nothing more arrives: the counts are exact, not just at least the clicks produced.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(Object.fromEntries(await rankedCounts(page))).toStrictEqual(KNOWN_CLICKS);
    expect(await page.getAttribute('[data-testid="connection"]', 'data-state')).toBe('open');
    await saveScreenshot(page, 'dashboard.png');
    expect(pageErrors.filter((error) => error.startsWith('pageerror'))).toStrictEqual([]);
  }, 150_000);

  it('gives a new tab the same counts from its snapshot', async () => {
    const other = await browser.newPage();
    try {
      await other.goto(cloud.dashboardUrl);
      await waitForConnectionState(other, 'open', 60_000);

      expect(await waitForCounts(other, KNOWN_CLICKS, 10_000)).toStrictEqual(KNOWN_CLICKS);
    } finally {
      await other.close();
    }
  }, 90_000);

  it('shows the FIX and REST venue simulators\' prices in the market panel, through the gateway, the stream and the prices broadcaster', async () => {
    const rows = '[data-testid="market-quotes"] tbody tr';
    await page.waitForFunction(
      (selector) => ['AAPL', 'MSFT', 'EUR/USD', 'USD/JPY'].every((symbol) => document.querySelector(`${selector}[data-symbol="${symbol}"]`) !== null),
      rows,
      { timeout: 60_000, polling: 200 },
    );
    const shown: Record<string, string[]> = await page.$$eval(rows, (trs) =>
      Object.fromEntries(trs.map((tr) => [tr.getAttribute('data-symbol'), ['bid', 'ask', 'last-price'].map((id) => tr.querySelector(`[data-testid="${id}"]`)?.textContent ?? '')])),
    );
    // REST quotes carry all three prices; the FIX venue sends bids and offers (trades only now and then).
    const price = (text: string) => Number(text.replace(/,/g, ''));
    for (const symbol of ['AAPL', 'MSFT']) expect(shown[symbol]!.map(price).every((value) => value > 0)).toBe(true);
    for (const symbol of ['EUR/USD', 'USD/JPY']) expect(shown[symbol]!.slice(0, 2).map(price).every((value) => value > 0)).toBe(true);
    // What the page shows for a REST symbol is a quote the venue served.
    const served = [...rest.served.values()].filter((quote) => quote.symbol === 'AAPL');
    expect(served.some((quote) => shown.AAPL![0] === formatPrice(quote.bid) && shown.AAPL![1] === formatPrice(quote.ask))).toBe(true);
    await saveScreenshot(page, 'dashboard-market.png');
  }, 90_000);
});
