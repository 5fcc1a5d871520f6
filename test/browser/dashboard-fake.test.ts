import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { shownAt, watchRenderedUrls, watchShownCount } from '../../bench/dashboard';
import { PROTOCOL_VERSION } from '../../contracts/dashboard';
import { titled } from '../support/requirements';
import { startFakeDashboardServer, type FakeDashboardServer } from './fake-dashboard-server';
import {
  collectPageErrors,
  connectionState,
  eventsPerSecondShown,
  launchChromium,
  rankedCounts,
  requireChromium,
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

  beforeAll(async () => {
    fake = await startFakeDashboardServer();
    site = await serveDashboard(() => fake.config);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    pageErrors = collectPageErrors(page);
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await fake?.close();
  });

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
