import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { DashboardConfig } from '../../contracts/dashboard';
import { titled } from '../support/requirements';
import { startFakeDashboardServer, type FakeDashboardServer } from './fake-dashboard-server';
import { collectPageErrors, launchChromium, rankedCounts, requireChromium, serveDashboard, waitForConnectionState, waitForCounts, type DashboardSite } from './support';

/**
 * A long dashboard session in a few seconds: the fake server issues 4-second tokens and ends
 * connections after 6 s (as API Gateway does at 2 hours), and config.json shortens the page's
 * connection limit to match (`maxConnectionSeconds`). The page must refresh its token silently,
 * hand over to a new connection before the limit, and keep showing live updates throughout.
 */

const TOKEN_LIFETIME_SECONDS = 4;
const MAX_CONNECTION_SECONDS = 6;

const chromium = requireChromium();

/** Every value the connection badge's `data-state` and the body's `data-stale` take, in order, across navigations. */
async function recordStates(page: Page): Promise<string[]> {
  const seen: string[] = [];
  await page.exposeFunction('recordDashboardState', (entry: string) => seen.push(entry));
  await page.addInitScript(() => {
    const record = (window as unknown as { recordDashboardState: (entry: string) => void }).recordDashboardState;
    document.addEventListener('DOMContentLoaded', () => {
      const connection = document.querySelector('[data-testid="connection"]');
      let last = '';
      const observe = () => {
        const entry = `${connection?.getAttribute('data-state') ?? ''}${document.body.getAttribute('data-stale') === 'true' ? ' stale' : ''}`;
        if (entry !== last) record(entry);
        last = entry;
      };
      new MutationObserver(observe).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state', 'data-stale'] });
      observe();
    });
  });
  return seen;
}

const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number };

describe.skipIf(!chromium.available)(titled('a dashboard session outliving its tokens and connections', chromium), () => {
  let fake: FakeDashboardServer;
  let site: DashboardSite;
  let browser: Browser;
  let config: DashboardConfig;
  let page: Page | undefined;

  beforeAll(async () => {
    fake = await startFakeDashboardServer({ tokenLifetimeSeconds: TOKEN_LIFETIME_SECONDS, maxConnectionMs: MAX_CONNECTION_SECONDS * 1000 });
    site = await serveDashboard(() => config);
    browser = await launchChromium();
  });
  afterEach(async () => {
    await page?.close();
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await fake?.close();
  });

  it('Cognito: refreshes the ID token with the refresh token, and stays live across its expiry and a handover', async () => {
    config = fake.cognitoConfig(site.url, { maxConnectionSeconds: MAX_CONNECTION_SECONDS });
    fake.snapshot = [fake.windowCount('/a', 10)];
    page = await browser.newPage();
    const errors = collectPageErrors(page);
    const states = await recordStates(page);

    // Sign-in: the fake managed login redirects back at once with a code.
    await page.goto(site.url);
    await waitForConnectionState(page, 'open');
    await waitForCounts(page, { '/a': 10 });
    const [signIn] = fake.grants;
    expect(signIn).toMatchObject({ grantType: 'authorization_code' });
    const firstToken = fake.connections[0]!.token;
    expect(firstToken).toBe(signIn!.idToken);

    // The handover: a second connection opens and the page closes the first, before the server would.
    await expect.poll(() => fake.connections[0]?.closedBy, { timeout: 15_000, interval: 100 }).toBe('client');
    // Past the first ID token's expiry, an update pushed now must still reach the page.
    await expect.poll(() => Date.now(), { timeout: 10_000, interval: 100 }).toBeGreaterThan(claims(firstToken).exp * 1000);
    fake.broadcast(fake.message('windows', [fake.windowCount('/a', 12, { delta: 2 }), fake.windowCount('/b', 3, { delta: 3 })]));
    await waitForCounts(page, { '/a': 12, '/b': 3 }, 5000);

    // The refresh happened, with the refresh token of the sign-in, and the new connection used its token.
    const refreshes = fake.grants.filter((grant) => grant.grantType === 'refresh_token');
    expect(refreshes.length).toBeGreaterThanOrEqual(1);
    expect(signIn!.issuedRefreshToken).toBeDefined();
    expect(refreshes.map((grant) => [grant.refreshToken, grant.idToken !== undefined])).toStrictEqual(refreshes.map(() => [signIn!.issuedRefreshToken, true]));
    const [first, second] = fake.connections;
    expect(first!.closeCode).toBe(1000);
    expect(first!.closedAt! - first!.openedAt).toBeLessThan(MAX_CONNECTION_SECONDS * 1000);
    expect(second!.token).not.toBe(firstToken);
    expect(refreshes.map((grant) => grant.idToken)).toContain(second!.token);
    expect(second!.closedAt).toBeUndefined();
    // No sign-in after the first, no gap: live ("open") and never stale from the first connection on.
    expect(fake.authorizations).toBe(1);
    expect(states.slice(states.indexOf('open'))).toStrictEqual(['open']);
    // Both connections delivered their snapshot and the update was applied once.
    expect(await rankedCounts(page)).toStrictEqual([
      ['/a', 12],
      ['/b', 3],
    ]);
    expect(errors).toStrictEqual([]);
  });
});
