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

  /**
   * Opens the dashboard, waits for the handover (the page closes its first connection before the
   * server's limit) and for the first token's expiry, pushes an update and waits until the page
   * shows it. Returns the connection states the page went through.
   */
  async function liveAcrossExpiryAndHandover(newConfig: DashboardConfig) {
    config = newConfig;
    fake.snapshot = [fake.windowCount('/a', 10)];
    const connectionsBefore = fake.connections.length;
    page = await browser.newPage();
    const errors = collectPageErrors(page);
    const states = await recordStates(page);

    await page.goto(site.url);
    await waitForConnectionState(page, 'open');
    await waitForCounts(page, { '/a': 10 });
    const first = () => fake.connections[connectionsBefore]!;
    const firstToken = first().token;

    await expect.poll(() => first().closedBy, { timeout: 15_000, interval: 100 }).toBe('client');
    await expect.poll(() => Date.now(), { timeout: 10_000, interval: 100 }).toBeGreaterThan(claims(firstToken).exp * 1000);
    fake.broadcast(fake.message('windows', [fake.windowCount('/a', 12, { delta: 2 }), fake.windowCount('/b', 3, { delta: 3 })]));
    await waitForCounts(page, { '/a': 12, '/b': 3 }, 5000);

    const [firstConnection, second] = fake.connections.slice(connectionsBefore);
    expect(firstConnection!.closeCode).toBe(1000);
    expect(firstConnection!.closedAt! - firstConnection!.openedAt).toBeLessThan(MAX_CONNECTION_SECONDS * 1000);
    expect(second!.token).not.toBe(firstToken);
    expect(second!.closedAt).toBeUndefined();
    // No gap: live ("open") and never stale from the first connection on.
    expect(states.slice(states.indexOf('open'))).toStrictEqual(['open']);
    // Both connections delivered a snapshot of /a = 10; the update was applied once.
    expect(await rankedCounts(page)).toStrictEqual([
      ['/a', 12],
      ['/b', 3],
    ]);
    expect(errors).toStrictEqual([]);
    return { firstToken, secondToken: second!.token };
  }

  it('Cognito: refreshes the ID token with the refresh token, and stays live across its expiry and a handover', async () => {
    const { firstToken, secondToken } = await liveAcrossExpiryAndHandover(fake.cognitoConfig(site.url, { maxConnectionSeconds: MAX_CONNECTION_SECONDS }));

    // Signed in once (the fake managed login redirects back at once with a code), never again.
    expect(fake.authorizations).toBe(1);
    const [signIn, ...refreshes] = fake.grants;
    expect(signIn).toMatchObject({ grantType: 'authorization_code', idToken: firstToken });
    expect(signIn!.issuedRefreshToken).toBeDefined();
    // Refreshed silently, with the sign-in's refresh token, and the new connection used a refreshed token.
    expect(refreshes.length).toBeGreaterThanOrEqual(1);
    expect(refreshes.map((grant) => [grant.grantType, grant.refreshToken, grant.idToken !== undefined])).toStrictEqual(
      refreshes.map(() => ['refresh_token', signIn!.issuedRefreshToken, true]),
    );
    expect(refreshes.map((grant) => grant.idToken)).toContain(secondToken);
  });

  it('development issuer: gets a new token before the old one expires, and stays live across a handover', async () => {
    const tokensBefore = fake.devTokens.length;

    const { firstToken, secondToken } = await liveAcrossExpiryAndHandover({ ...fake.config, maxConnectionSeconds: MAX_CONNECTION_SECONDS });

    const issued = fake.devTokens.slice(tokensBefore);
    expect(issued[0]).toBe(firstToken);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect(issued).toContain(secondToken);
  });
});
