import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCORING_CONFIG, type DecisionItem } from '../../contracts/fraud';
import { alertMessages } from '../../lambdas/fraud/alerts';
import { decodeBatch, planBatch } from '../../lambdas/fraud/core/plan';
import { titled } from '../support/requirements';
import { orderFactory, orderRecordFactory } from '../support/orders';
import { openFakeDashboard, type FakeDashboardFixture, type FakeDashboardServer } from './fake-dashboard-server';
import { requireChromium, saveScreenshot, waitForConnectionState, type DashboardSite } from './support';

/**
 * The fraud panel in headless Chromium: a crafted order is scored by the scorer's own core, its
 * decision becomes the alert broadcaster's messages, and a fake server sends them to the page.
 * test/integration/fraud.test.ts proves the same messages reach a client through the local cloud.
 */

const chromium = requireChromium();

/** Decisions for a user with a steady history whose last order is a takeover: new IP, large amount. */
function craftedDecisions(): DecisionItem[] {
  const at = Date.parse('2026-01-01T12:00:00Z');
  const orders = [
    ...[0, 1, 2, 3].map((index) => orderFactory({ orderId: `history-${index}`, timestamp: at - (4 - index) * 86_400_000, items: [{ sku: 'book', quantity: 1, unitPrice: 40 + index * 5 }] })),
    orderFactory({ orderId: 'takeover-1', timestamp: at, ipAddress: '2001:db8::bad', items: [{ sku: 'laptop', quantity: 1, unitPrice: 2400 }] }),
  ];
  const settings = { maxOrderBytes: 16_384, shardKey: 'fake#shard-0', shardId: 'shard-0', nowMs: at + 120 };
  const batch = decodeBatch(orders.map((order, index) => orderRecordFactory(index + 1, order)), undefined, settings, DEFAULT_SCORING_CONFIG);
  return planBatch(batch, { users: new Map(), ipActivities: new Map(), decided: new Set() }, { active: DEFAULT_SCORING_CONFIG, shadows: [] }, settings).decisions;
}

describe.skipIf(!chromium.available)(titled('fraud panel in Chromium', chromium), () => {
  let fake: FakeDashboardServer;
  let site: DashboardSite;
  let page: Page;
  let pageErrors: string[];

  let fixture: FakeDashboardFixture | undefined;

  beforeAll(async () => {
    fixture = await openFakeDashboard({ width: 1280, height: 1400 });
    ({ fake, site, page, pageErrors } = fixture);
  });
  afterAll(() => fixture?.close());

  it('shows the alert for a crafted order with its reasons, and the decision rates', async () => {
    await page.goto(site.url);
    await waitForConnectionState(page, 'open');
    expect(await page.textContent('[data-testid="fraud-rates"]')).toBe('No decisions yet.');

    const decisions = craftedDecisions();
    expect(decisions.map((decision) => decision.decision)).toStrictEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW', 'BLOCK']);
    for (const message of alertMessages(decisions, new Date(fake.now()).toISOString())) fake.broadcast(message);

    const alert = '[data-testid="fraud-alerts"] li[data-order-id="takeover-1"]';
    await page.waitForSelector(alert);
    expect(await page.getAttribute(alert, 'data-decision')).toBe('BLOCK');
    expect(await page.textContent(`${alert} .decision`)).toBe('BLOCK');
    const reasons = await page.$$eval(`${alert} .reasons li`, (items) => items.map((item) => item.textContent));
    expect(reasons[0]).toMatch(/^amount 10\.0 standard deviations above this user's mean \(\+5\.00\)$/);
    expect(reasons).toContain("IP address not among this user's recent ones (+2.20)");
    expect(await page.textContent('[data-testid="fraud-rates"]')).toBe('ALLOW 80.0% · REVIEW 0.0% · BLOCK 20.0% of 5 decisions');
    expect(await page.isHidden('[data-testid="fraud-alerts-empty"]')).toBe(true);
    await saveScreenshot(page, 'fraud-panel.png');
    expect(pageErrors).toStrictEqual([]);
  });
});
