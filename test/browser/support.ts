import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { DashboardConfig } from '../../contracts/dashboard';
import { buildDashboardSync } from '../../web/build';
import type { Requirement } from '../support/requirements';

/** Debian's Chromium; `CHROMIUM_PATH` overrides it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_INSTALL_HINT = 'on Debian or Ubuntu: apt-get install -y chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
export const ARTIFACTS_DIR = join(__dirname, '..', '..', 'test-artifacts');

/**
 * Chromium for the browser suites. In CI (`CI=true`) a missing browser is an error, so the suite
 * fails and never skips; elsewhere it returns `available: false` with how to install it.
 */
export function requireChromium(): Requirement {
  if (existsSync(CHROMIUM_PATH)) return { available: true, reason: `Chromium at ${CHROMIUM_PATH}` };
  const reason = `the browser tests need Chromium at ${CHROMIUM_PATH} (or CHROMIUM_PATH): ${CHROMIUM_INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${reason}`);
  console.warn(`Skipping the browser tests: ${reason}`);
  return { available: false, reason };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
};

export interface DashboardSite {
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  close(): Promise<void>;
}

/** The built dashboard on an OS-picked port, with `config.json` from `config()` (read per request). */
export async function serveDashboard(config: () => DashboardConfig): Promise<DashboardSite> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-dashboard-'));
  buildDashboardSync(directory);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(config()));
      return;
    }
    const file = normalize(join(directory, path === '/' ? 'index.html' : path));
    if (!file.startsWith(directory) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  const port = await listen(server, 0);
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      await closeServer(server);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

export function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------------
// Reading the page: text and attributes only, never pixels.

export const connectionState = (page: Page): Promise<string | null> => page.getAttribute('[data-testid="connection"]', 'data-state');

export function waitForConnectionState(page: Page, state: string, timeout = 30_000): Promise<unknown> {
  return page.waitForSelector(`[data-testid="connection"][data-state="${state}"]`, { timeout });
}

const parseCount = (text: string | null | undefined): number => Number((text ?? '').replace(/[^\d.]/g, ''));

/** The ranking as `url -> count`, in rendered order. */
export async function rankedCounts(page: Page): Promise<[string, number][]> {
  const rows = await page.$$eval('[data-testid="ranking"] tbody tr', (trs) =>
    trs.map((tr) => [tr.getAttribute('data-url') ?? '', tr.querySelector('[data-testid="count"]')?.textContent ?? ''] as const),
  );
  return rows.map(([url, count]) => [url, parseCount(count)]);
}

/** Waits until the ranking shows at least these counts for these URLs (and returns what it shows). */
export async function waitForCounts(page: Page, expected: Record<string, number>, timeout = 30_000): Promise<Record<string, number>> {
  await page
    .waitForFunction(
      (wanted) =>
        Object.entries(wanted).every(([url, count]) => {
          const row = Array.from(document.querySelectorAll('[data-testid="ranking"] tbody tr')).find((tr) => tr.getAttribute('data-url') === url);
          return Number((row?.querySelector('[data-testid="count"]')?.textContent ?? '').replace(/[^\d.]/g, '')) >= count;
        }),
      expected,
      { timeout, polling: 100 },
    )
    .catch(async (error: Error) => {
      throw new Error(`${error.message}\nexpected at least ${JSON.stringify(expected)}, the page shows ${JSON.stringify(Object.fromEntries(await rankedCounts(page)))}`);
    });
  const shown = Object.fromEntries(await rankedCounts(page));
  return Object.fromEntries(Object.keys(expected).map((url) => [url, shown[url] ?? 0]));
}

export async function eventsPerSecondShown(page: Page): Promise<number> {
  return parseCount(await page.textContent('[data-testid="events-per-second"][role="status"]'));
}

export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * A screenshot kept in the repository (docs/): written only when its bytes differ, so a run that
 * renders the same page leaves the working tree clean. Returns whether it changed.
 */
export async function saveDocScreenshot(page: Page, relativePath: string): Promise<boolean> {
  const path = join(__dirname, '..', '..', relativePath);
  const png = await page.screenshot({ fullPage: true, animations: 'disabled', caret: 'hide' });
  if (existsSync(path) && readFileSync(path).equals(png)) return false;
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, png);
  return true;
}

/** Puts the page's errors in the test output: a failing dashboard test then says why. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}
