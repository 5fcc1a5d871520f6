import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { shownAt, watchRenderedUrls, watchShownCount } from '../../bench/dashboard';
import { PROTOCOL_VERSION } from '../../contracts/dashboard';
import { titled } from '../support/requirements';
import { openFakeDashboard, startFakeDashboardServer, type FakeDashboardFixture, type FakeDashboardServer } from './fake-dashboard-server';
import {
  collectPageErrors,
  connectionState,
  eventsPerSecondShown,
  launchChromium,
  rankedCounts,
  requireChromium,
  saveDocScreenshot,
  saveScreenshot,
  serveDashboard,
  waitForConnectionState,
  waitForCounts,
  type DashboardSite,
} from './support';

/**
 * The built dashboard in real headless Chromium against a fake WebSocket server that speaks the
 * protocol: rendering, updates, invalid frames, reconnects and backoff, without the local cloud.
 * test/browser/dashboard.test.ts runs the same page against the real system.
 */

const chromium = requireChromium();

describe.skipIf(!chromium.available)(titled('dashboard in Chromium against a fake WebSocket server', chromium), () => {
  let fake: FakeDashboardServer;
  let site: DashboardSite;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];

  let fixture: FakeDashboardFixture | undefined;

  beforeAll(async () => {
    fixture = await openFakeDashboard({ width: 1280, height: 900 });
    ({ fake, site, browser, page, pageErrors } = fixture);
  });
  afterAll(() => fixture?.close());

  it('connects with a dev token, subscribes, and renders the snapshot as text', async () => {
    fake.snapshot = [
      fake.windowCount('/products/1', 40),
      fake.windowCount('/blog/x', 25),
      fake.windowCount('/about', 10),
      fake.windowCount('/pricing', 10),
      fake.windowCount('/products/1', 33, { minuteOffset: -1 }),
      fake.windowCount('/products/1', 12, { minuteOffset: -5 }),
    ];

    await page.goto(site.url);
    await waitForConnectionState(page, 'open');

    expect(await rankedCounts(page)).toStrictEqual([
      ['/products/1', 40],
      ['/blog/x', 25],
      ['/about', 10],
      ['/pricing', 10],
    ]);
    expect(fake.subscriptions).toHaveLength(1);
    expect(fake.subscriptions[0]).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(await page.textContent('tr[data-url="/products/1"] [data-testid="previous"]')).toBe('33');
    expect(await page.textContent('[data-testid="clicks-this-minute"]')).toBe('85');
    const phase = (minuteOffset: number) =>
      page.getAttribute(`tr[data-window-start="${new Date(fake.minute(minuteOffset)).toISOString()}"] [data-testid="window-status"]`, 'data-phase');
    expect([await phase(0), await phase(-1), await phase(-5)]).toStrictEqual(['open', 'closing', 'final']);
    const legend = () => page.$$eval('[data-testid="series-legend"] li', (items) => items.map((item) => item.getAttribute('data-url')));
    expect(await legend()).toStrictEqual(['All URLs']);
    // The chart shows the total by default, the top URLs on demand.
    expect(await page.locator('[data-testid="series-chart"] polyline').count()).toBe(1);
    await page.click('[data-testid="series-top"]');
    expect(await page.locator('[data-testid="series-chart"] polyline').count()).toBe(4);
    expect(await legend()).toStrictEqual(['/products/1', '/blog/x', '/about', '/pricing']);
    // The current minute is drawn apart, as partial: a dashed segment per line, marked with its minute.
    expect(await page.getAttribute('[data-testid="partial-minute"]', 'data-minute')).toBe(new Date(fake.minute()).toISOString());
    expect(await page.locator('[data-testid="series-chart"] .partial-segment').count()).toBe(4);
    await page.click('[data-testid="series-total"]');
    expect(await page.textContent('[data-testid="events-per-second"]')).toBe('–');
    expect(await page.textContent('[data-testid="rate-hint"]')).toBe('measuring…');
    // No placeholder health in the footer.
    expect(await page.isHidden('[data-testid="health"]')).toBe(true);
  });

  it('applies windows updates to the counts, the ranking and events/s', async () => {
    fake.broadcast(fake.message('windows', [fake.windowCount('/blog/x', 45, { delta: 20 }), fake.windowCount('/contact', 3, { delta: 3 })]));

    expect(await waitForCounts(page, { '/blog/x': 45, '/contact': 3 })).toStrictEqual({ '/blog/x': 45, '/contact': 3 });
    expect((await rankedCounts(page)).map(([url]) => url)).toStrictEqual(['/blog/x', '/products/1', '/about', '/pricing', '/contact']);
    // A second update 1 s later: the rate is measured between the two (5 + 2 clicks... per second).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    fake.broadcast(fake.message('windows', [fake.windowCount('/blog/x', 47, { delta: 2 })]));
    await expect.poll(() => eventsPerSecondShown(page), { timeout: 5000 }).toBeGreaterThan(0);
    await saveScreenshot(page, 'dashboard-fake.png');
  });

  it('counts and ignores invalid frames, and lists alerts', async () => {
    fake.broadcast('not json');
    fake.broadcast(JSON.stringify({ v: PROTOCOL_VERSION, type: 'windows', sentAt: 'yesterday', windows: [] }));
    fake.broadcast(
      JSON.stringify({
        v: PROTOCOL_VERSION,
        type: 'alert',
        sentAt: new Date(fake.now()).toISOString(),
        alert: { orderId: 'order-42', userId: 'user-7', score: 0.93, reasons: ['card velocity', 'new device'], at: new Date(fake.now()).toISOString() },
      }),
    );

    await page.waitForSelector('[data-testid="alerts"] li[data-order-id="order-42"]');
    expect(await page.textContent('[data-testid="invalid-messages"]')).toBe('2 invalid ignored');
    expect(await page.textContent('[data-testid="alerts"] li[data-order-id="order-42"] .reasons')).toBe('card velocity, new device');
    expect(await connectionState(page)).toBe('open');
  });

  it('lays out on a 390 px phone with no clipped column (element bounds)', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      fake.snapshot = [fake.windowCount('/products/1', 40), fake.windowCount('/products/1', 33, { minuteOffset: -1 }), fake.windowCount('/old', 0, { minuteOffset: -6, final: true, lateCount: 2 })];
      await phone.goto(site.url);
      await waitForConnectionState(phone, 'open');
      await phone.waitForSelector('[data-testid="windows"] tbody tr');
      const clipped = await phone.$$eval('[data-testid="windows"] tr > *', (cells) =>
        cells
          .filter((cell) => getComputedStyle(cell).display !== 'none')
          .filter((cell) => {
            const box = cell.getBoundingClientRect();
            const frame = cell.closest('.scroll')!.getBoundingClientRect();
            return box.right > Math.min(frame.right, window.innerWidth) + 0.5 || box.left < frame.left - 0.5;
          })
          .map((cell) => cell.textContent),
      );
      expect(clipped).toStrictEqual([]);
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      // The chart's minute labels do not run into each other.
      const labels = await phone.$$eval('[data-testid="series-chart"] .grid text[text-anchor]:not([dominant-baseline])', (texts) =>
        texts.map((text) => {
          const box = text.getBoundingClientRect();
          return { text: text.textContent, left: box.left, right: box.right };
        }),
      );
      expect(labels.length).toBeGreaterThanOrEqual(3);
      const overlapping = labels.slice(1).filter((label, index) => label.left < labels[index]!.right);
      expect(overlapping).toStrictEqual([]);
      // A minute with only late clicks says so.
      expect(await phone.textContent(`tr[data-window-start="${new Date(fake.minute(-6)).toISOString()}"] [data-testid="window-status"]`)).toBe('final · late only');
      await saveScreenshot(phone, 'dashboard-phone.png');
    } finally {
      await phone.close();
    }
  });

  it('marks the numbers stale the moment the socket drops, and live again when it is back', async () => {
    await fake.kill();
    await page.waitForSelector('body[data-stale="true"] [data-testid="stale"]:not([hidden])', { timeout: 2000 });
    expect(await page.textContent('[data-testid="stale"]')).toMatch(/^Not live: the numbers below are as of \d{1,2}:\d{2}:\d{2}( [AP]M)? and are not updating\.$/);
    expect(await page.textContent('[data-testid="open-windows-hint"]')).toMatch(/^as of /);
    await fake.restart();
    await waitForConnectionState(page, 'open');
    expect(await page.getAttribute('body', 'data-stale')).toBe('false');
  });

  it('shows "reconnecting" when the server dies, and re-applies the snapshot when it comes back', async () => {
    const subscriptionsBefore = fake.subscriptions.length;
    await fake.kill();
    await waitForConnectionState(page, 'reconnecting');
    expect(await page.textContent('[data-testid="connection"] .label')).toMatch(/^Reconnecting in \d+ s$/);

    fake.snapshot = [fake.windowCount('/products/1', 99), fake.windowCount('/after-restart', 5)];
    await fake.restart();

    await waitForConnectionState(page, 'open');
    // The first snapshot of the new connection replaces what the page held.
    await waitForCounts(page, { '/products/1': 99, '/after-restart': 5 });
    expect(await rankedCounts(page)).toStrictEqual([
      ['/products/1', 99],
      ['/after-restart', 5],
    ]);
    expect(fake.subscriptions).toHaveLength(subscriptionsBefore + 1);
  });

  it('backs off exponentially, with jitter, while every handshake is refused', async () => {
    fake.refuse();
    const firstAttempt = fake.attempts.length;
    await waitForConnectionState(page, 'reconnecting');
    await expect.poll(() => fake.attempts.length - firstAttempt, { timeout: 20_000, interval: 100 }).toBeGreaterThanOrEqual(4);
    const times = fake.attempts.slice(firstAttempt, firstAttempt + 4);
    const gaps = times.slice(1).map((time, index) => time - times[index]!);

    // Retry n waits a random time in [step/2, step], step = 500 ms * 2^(n-1): each gap is at least the
    // previous one (less timer noise), and the third is at least twice the first.
    expect(gaps[1]!).toBeGreaterThanOrEqual(gaps[0]! - 50);
    expect(gaps[2]!).toBeGreaterThanOrEqual(gaps[1]! - 50);
    expect(gaps[2]!).toBeGreaterThanOrEqual(1.9 * gaps[0]!);
    expect(gaps[0]!).toBeGreaterThanOrEqual(450);

    fake.accept();
    await waitForConnectionState(page, 'open', 20_000);
    expect(pageErrors.filter((error) => error.startsWith('pageerror'))).toStrictEqual([]);
  });

  it('lets the put-to-screen benchmark read counts as they are rendered, across a minute boundary too', async () => {
    const probe = await browser.newPage();
    try {
      await probe.goto(site.url);
      await waitForConnectionState(probe, 'open');
      const observations = await watchShownCount(probe, '/bench/latency');
      const warmup = await watchRenderedUrls(probe, '/bench/warmup');

      const sentAt = Date.now();
      fake.broadcast(fake.message('windows', [fake.windowCount('/bench/latency', 3, { delta: 3 }), fake.windowCount('/bench/warmup', 1, { delta: 1 })]));
      await expect.poll(() => shownAt(observations, fake.minute(), 3), { timeout: 5000, interval: 20 }).toBeDefined();

      expect(shownAt(observations, fake.minute(), 3)!).toBeGreaterThanOrEqual(sentAt);
      expect(shownAt(observations, fake.minute(), 4)).toBeUndefined();
      // Each binding call crosses from the page on its own, so this one may land just after the count's.
      await expect.poll(() => warmup.has('/bench/warmup'), { timeout: 5000, interval: 20 }).toBe(true);
      // Seen from the next minute, the same clicks are in the previous-minute column.
      expect(shownAt([{ at: 1, minute: fake.minute(1), count: 0, previous: 3 }], fake.minute(), 3)).toBe(1);
    } finally {
      await probe.close();
    }
  });

  it('shows "unauthorized" when no token can be had', async () => {
    fake.denyTokens = true;
    const other = await browser.newPage();
    try {
      await other.goto(site.url);
      await waitForConnectionState(other, 'unauthorized');
      expect(await other.textContent('[data-testid="connection"] .label')).toMatch(/^Unauthorized · retrying in \d+ s$/);
    } finally {
      fake.denyTokens = false;
      await other.close();
    }
  });
});

/**
 * The page at a fixed time (Playwright's clock: Date is fixed, timers run) with fixed data, in UTC
 * and en-GB (24-hour times): the rate after load, the data table and footer, and the screenshot in docs/.
 */
describe.skipIf(!chromium.available)(titled('dashboard at a fixed time, with fixed data', chromium), () => {
  const MINUTE = 60_000;
  const T = Date.parse('2026-03-02T14:37:05Z');
  const CURRENT = Math.floor(T / MINUTE) * MINUTE;
  const iso = (ms: number) => new Date(ms).toISOString();
  const URLS = ['/products/1', '/blog/kinesis-101', '/pricing', '/docs/getting-started', '/about'];
  /** Clicks per minute of each URL: about 44 a second in all. */
  const BASE = [1200, 640, 410, 250, 120];
  let fake: FakeDashboardServer;
  let site: DashboardSite;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let sent = 0;
  let lastSentAt = T;
  /** The time on the page's clock and the server's (`sentAt`): fixed, moved by the tests. */
  let now = T;
  const setNow = async (at: number) => {
    now = at;
    await page.clock.setFixedTime(at);
  };

  const windowAt = (url: string, minuteOffset: number, count: number, lateCount = 0) => ({
    url,
    windowStart: iso(CURRENT + minuteOffset * MINUTE),
    windowEnd: iso(CURRENT + (minuteOffset + 1) * MINUTE),
    count,
    lateCount,
    delta: 0,
    // The allowed lateness is 60 s: the minute before the current one is still closing.
    final: minuteOffset < -1,
  });
  /** Minutes -29..-1 except a quiet gap (-20..-15), and 5 s of the current minute. */
  const snapshotWindows = () => {
    const windows = [];
    for (let minute = -29; minute <= 0; minute += 1) {
      if (minute >= -20 && minute <= -15) continue;
      URLS.forEach((url, rank) => {
        const count = minute === 0 ? Math.round(BASE[rank]! / 12) : Math.round(BASE[rank]! * (1 + 0.25 * Math.sin(minute + rank)));
        windows.push(windowAt(url, minute, count, minute === -3 && rank === 2 ? 2 : 0));
      });
    }
    // A minute where only late events fell, and a window with nothing at all: the table shows the first, not the second.
    windows.push(windowAt('/old-campaign', -18, 0, 3));
    windows.push(windowAt('/nothing', -25, 0, 0));
    return windows;
  };
  const send = (message: object) => {
    sent += 1;
    lastSentAt = now;
    fake.broadcast(JSON.stringify({ v: PROTOCOL_VERSION, sentAt: new Date(now).toISOString(), ...message }));
  };

  beforeAll(async () => {
    fake = await startFakeDashboardServer({ now: () => now });
    site = await serveDashboard(() => fake.config);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, timezoneId: 'UTC', locale: 'en-GB' });
    pageErrors = collectPageErrors(page);
    await setNow(T);
    fake.snapshot = snapshotWindows();
    await page.goto(site.url);
    await waitForConnectionState(page, 'open');
    sent += 1; // the snapshot
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await fake?.close();
  });

  it('shows the true rate from the second update after load, never the backlog the first one carries', async () => {
    await page.waitForSelector('tr[data-url="/products/1"]');
    expect(await page.textContent('[data-testid="events-per-second"]')).toBe('–');
    // Updates once a second, as the broadcaster sends them; the first carries 300 clicks from before the page loaded.
    const counts = new Map(URLS.map((url, rank) => [url, Math.round(BASE[rank]! / 12)]));
    const update = (at: number, clicks: number) => {
      counts.set('/products/1', counts.get('/products/1')! + clicks);
      return setNow(at).then(() => send({ type: 'windows', windows: [{ ...windowAt('/products/1', 0, counts.get('/products/1')!), delta: clicks }] }));
    };
    await update(T + 1000, 300);
    await expect.poll(() => page.textContent('[data-testid="clicks-this-minute"]')).toBe([...counts.values()].reduce((a, b) => a + b, 0).toLocaleString('en-US'));
    expect(await page.textContent('[data-testid="events-per-second"]')).toBe('–');
    expect(await page.textContent('[data-testid="rate-hint"]')).toBe('measuring…');
    for (const [second, shown] of [[2, '44'], [3, '44'], [4, '44']] as const) {
      await update(T + second * 1000, 44);
      await expect.poll(() => page.textContent('[data-testid="events-per-second"]'), { timeout: 5000 }).toBe(shown);
    }
    expect(await page.textContent('[data-testid="rate-hint"]')).toBe('clicks counted, last 10 s');
    // The chart marks the current minute as partial, with how much of it has passed (redrawn every 5 s).
    await setNow(T + 10_000);
    await expect.poll(() => page.getAttribute('[data-testid="partial-minute"]', 'data-elapsed'), { timeout: 5000 }).toBe((15 / 60).toFixed(2));
    expect(await page.getAttribute('[data-testid="partial-minute"]', 'data-minute')).toBe(iso(CURRENT));
    expect(await page.locator('[data-testid="series-chart"] .partial-segment').count()).toBe(1);
  });

  it('has a data table of only the minutes with clicks or late clicks, newest first, with totals and late explained', async () => {
    await page.click('[data-testid="series-table"] >> xpath=ancestor::details/summary');
    const rows = await page.$$eval('[data-testid="series-table"] tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-minute'), ...Array.from(tr.children).map((cell) => cell.textContent)]));
    const expectedMinutes = [0, ...Array.from({ length: 29 }, (_, index) => -1 - index).filter((minute) => minute < -20 || minute > -15 || minute === -18)];
    expect(rows.map((row) => row[0])).toStrictEqual(expectedMinutes.map((minute) => iso(CURRENT + minute * MINUTE)));
    // The current minute says it is partial; the late-only minute shows 0 clicks and its late ones.
    expect(rows[0]!.slice(1, 3)).toStrictEqual(['14:37 (so far)', ([...URLS.keys()].reduce((sum, rank) => sum + Math.round(BASE[rank]! / 12), 0) + 300 + 3 * 44).toLocaleString('en-US')]);
    const lateOnly = rows.find((row) => row[0] === iso(CURRENT - 18 * MINUTE))!;
    expect(lateOnly.slice(1)).toStrictEqual(['14:19', '0', '3', '–']);
    const threeAgo = rows.find((row) => row[0] === iso(CURRENT - 3 * MINUTE))!;
    expect(threeAgo[3]).toBe('2');
    expect(threeAgo[4]).toBe(`/products/1 (${Math.round(BASE[0]! * (1 + 0.25 * Math.sin(-3))).toLocaleString('en-US')})`);
    // Totals: every click and every late click of the rows.
    const total = await page.$$eval('[data-testid="series-table-total"] > *', (cells) => cells.map((cell) => cell.textContent));
    const sum = (column: number) => rows.reduce((acc, row) => acc + Number(row[column]!.replace(/,/g, '')), 0);
    expect(total).toStrictEqual([`Total, ${rows.length} minutes`, sum(2).toLocaleString('en-US'), '5', '']);
    expect(await page.textContent('[data-testid="series-table-note"]')).toBe('Late: clicks that arrived after their minute had closed; they are not in Clicks (see Windows).');
  });

  it('has a footer with real values only: protocol, messages, invalid frames, time of the last update; no health until the server reports it', async () => {
    const footer = () => page.$$eval('footer > span:not([hidden])', (spans) => spans.map((span) => span.textContent));
    const lastUpdate = () => `last update ${iso(lastSentAt).slice(11, 19)}`;
    await expect.poll(footer).toStrictEqual([`protocol v${PROTOCOL_VERSION}`, `${sent} message${sent === 1 ? '' : 's'}`, '0 invalid ignored', lastUpdate()]);
    await setNow(now + 1000);
    send({ type: 'health', status: 'ok' });
    await expect.poll(footer).toStrictEqual([`protocol v${PROTOCOL_VERSION}`, `${sent} messages`, '0 invalid ignored', lastUpdate(), 'health: ok']);
  });

  it('keeps docs/dashboard.png current: the same page at the same time with the same data', async () => {
    send({
      type: 'alert',
      alert: { orderId: 'order-1042', userId: 'user-77', score: 8.8, reasons: ['amount 10.0 standard deviations above this user\'s mean (+5.00)', 'IP address not among this user\'s recent ones (+2.20)'], at: iso(T - 20_000), decision: 'BLOCK', amount: 2400, currency: 'EUR', modelVersion: 'v3' },
    });
    send({ type: 'decisions', counts: { ALLOW: 97, REVIEW: 2, BLOCK: 1 } });
    send({
      type: 'prices',
      quotes: [
        { symbol: 'AAPL', bid: 189.42, ask: 189.46, last: 189.44, at: iso(T - 1200), source: 'rest:demo-rest' },
        { symbol: 'EUR/USD', bid: 1.08341, ask: 1.08347, last: 1.08344, at: iso(T - 800), source: 'fix:demo-fix' },
        { symbol: 'MSFT', bid: 410.05, ask: 410.11, last: 410.08, at: iso(T - 1500), source: 'rest:demo-rest' },
      ],
    });
    await page.waitForSelector('[data-testid="market-quotes"] tr[data-symbol="MSFT"]');
    send({
      type: 'prices',
      quotes: [
        { symbol: 'AAPL', bid: 189.45, ask: 189.49, last: 189.47, at: iso(T - 200), source: 'rest:demo-rest' },
        { symbol: 'EUR/USD', bid: 1.08338, ask: 1.08344, last: 1.0834, at: iso(T - 100), source: 'fix:demo-fix' },
      ],
    });
    await page.waitForSelector('[data-testid="market-quotes"] tr[data-symbol="EUR/USD"][data-direction="down"]');
    await page.waitForSelector('[data-testid="fraud-alerts"] li[data-order-id="order-1042"]');
    // The data table folded and the page at its top, as a visitor first sees it.
    await page.$eval('[data-testid="series-table"]', (table) => table.closest('details')!.removeAttribute('open'));
    await page.evaluate(() => window.scrollTo(0, 0));
    const changed = await saveDocScreenshot(page, 'docs/dashboard.png');
    // A second shot of the unchanged page is byte-identical: the image only changes when the page does.
    expect(await saveDocScreenshot(page, 'docs/dashboard.png')).toBe(false);
    if (changed) console.warn('docs/dashboard.png changed: commit it with the change to the page');
    expect(pageErrors).toStrictEqual([]);
  });
});
