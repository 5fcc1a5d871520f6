import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import type { ClickEventInput } from '../contracts/clickstream';
import { DashboardConfig, PROTOCOL_VERSION, ServerMessage } from '../contracts/dashboard';
import { localClientConfig } from '../local/clients';
import { startLocalCloud, type LocalCloud } from '../local/cloud';

/**
 * Dashboard benchmarks on the local cloud:
 *   latency    put one click every `intervalMs` for `seconds`, and time until the dashboard in
 *              headless Chromium shows the count that includes it;
 *   broadcast  hold `clients` WebSocket connections open, put a click, and time until every one of
 *              them has received the `windows` message that carries it.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface DashboardLatencyResult {
  clicks: number;
  /** Clicks the page showed within 15 s of the last put. */
  seen: number;
  /** Put to screen of the warm-up click, with the functions' cold starts; not in the percentiles. */
  coldStartMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface BroadcastResult {
  clients: number;
  /** Time to open, authorize and subscribe all clients (each got its snapshot). */
  connectMs: number;
  rounds: number;
  /** Per round: from the put until the last client received the update. */
  allReceivedMs: number[];
  p50Ms: number;
  maxMs: number;
  /** Per round: from the put until the first client received it. */
  firstReceivedP50Ms: number;
}

export interface DashboardBenchResult {
  latency: DashboardLatencyResult;
  broadcast: BroadcastResult;
}

export interface DashboardBenchOptions {
  /** @default 30 */
  seconds?: number;
  /** @default 200 */
  intervalMs?: number;
  /** @default 1000 */
  clients?: number;
  /** @default 7 */
  rounds?: number;
  log?: (line: string) => void;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The local cloud's dashboard endpoints, read from the config.json it serves (as the page does). */
async function dashboardConfig(dashboardUrl: string): Promise<DashboardConfig> {
  const response = await fetch(new URL('config.json', dashboardUrl));
  if (!response.ok) throw new Error(`GET ${dashboardUrl}config.json answered ${response.status}`);
  return DashboardConfig.parse(await response.json());
}

async function devToken(config: DashboardConfig): Promise<string> {
  if (config.auth.mode !== 'dev') throw new Error(`the local dashboard should use dev tokens, its config.json says ${config.auth.mode}`);
  const response = await fetch(config.auth.tokenUrl, { method: 'POST' });
  if (!response.ok) throw new Error(`POST ${config.auth.tokenUrl} answered ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

/**
 * Puts one click with the contract's event shape, timestamped `at`; resolves when Kinesis
 * acknowledged it. One partition key, so the bench's clicks stay in order on one shard.
 */
async function putClick(kinesis: KinesisClient, stream: string, url: string, id: string, at = Date.now()): Promise<void> {
  const click: ClickEventInput = { eventId: id, url, userId: 'bench-user', timestamp: at };
  const result = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: [{ Data: Buffer.from(JSON.stringify(click)), PartitionKey: click.userId }] }));
  if ((result.FailedRecordCount ?? 0) > 0) throw new Error(`PutRecords failed: ${result.Records?.[0]?.ErrorCode}`);
}

/**
 * Reports when an element carrying `data-url` with this prefix first appears in the page: a
 * MutationObserver calls a binding with the page's Date.now() at the mutation. Returns the map it
 * fills, url -> epoch ms.
 */
export async function watchRenderedUrls(page: Page, prefix: string): Promise<Map<string, number>> {
  const seenAt = new Map<string, number>();
  await page.exposeBinding('__watershedSeen', (_source, url: string, at: number) => {
    if (!seenAt.has(url)) seenAt.set(url, at);
  });
  // A string, not a function: tsx (esbuild keepNames) would wrap a function's inner closures in a
  // `__name` helper the page does not have.
  await page.evaluate(`(() => {
    const wanted = ${JSON.stringify(prefix)};
    const reported = new Set();
    const scan = () => {
      const at = Date.now();
      for (const node of document.querySelectorAll('[data-url]')) {
        const url = node.getAttribute('data-url');
        if (!url.startsWith(wanted) || reported.has(url)) continue;
        reported.add(url);
        void window.__watershedSeen(url, at);
      }
    };
    new MutationObserver(scan).observe(document.body, { childList: true, subtree: true, attributeFilter: ['data-url'] });
    scan();
  })()`);
  return seenAt;
}

/** What the page shows for one URL, observed at a DOM mutation. */
export interface CountObservation {
  /** Page time (Date.now()) of the mutation. */
  at: number;
  /** Start of the minute the ranking shows, epoch ms. */
  minute: number;
  /** The URL's count in that minute (0 without a row). */
  count: number;
  /** Its count in the minute before, from the "Prev. min" column (0 without a row). */
  previous: number;
}

/**
 * Records every change of what the ranking shows for `url`: the page's minute, the URL's count and
 * its previous-minute count. A MutationObserver reads them at each DOM mutation and hands them to
 * a binding with the page's Date.now(), so the time is when the DOM changed (paint follows within
 * a frame).
 */
export async function watchShownCount(page: Page, url: string): Promise<CountObservation[]> {
  const observations: CountObservation[] = [];
  await page.exposeBinding('__watershedCount', (_source, minute: string, count: number, previous: number, at: number) => {
    observations.push({ at, minute: Date.parse(minute), count, previous });
  });
  // A string, not a function: tsx (esbuild keepNames) would wrap a function's inner closures in a
  // `__name` helper the page does not have.
  await page.evaluate(`(() => {
    const url = ${JSON.stringify(url)};
    const digits = (text) => Number((text || '').replace(/[^0-9]/g, '')) || 0;
    let last = '';
    const scan = () => {
      const at = Date.now();
      const minute = document.querySelector('[data-testid="current-minute"]').getAttribute('datetime') || '';
      const row = Array.from(document.querySelectorAll('[data-testid="ranking"] tbody tr')).find((tr) => tr.getAttribute('data-url') === url);
      const count = row ? digits(row.querySelector('[data-testid="count"]').textContent) : 0;
      const previous = row ? digits(row.querySelector('[data-testid="previous"]').textContent) : 0;
      const key = minute + '|' + count + '|' + previous;
      if (key === last) return;
      last = key;
      void window.__watershedCount(minute, count, previous, at);
    };
    new MutationObserver(scan).observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
    scan();
  })()`);
  return observations;
}

/**
 * When the page first showed the k-th click of `minute`: its count in that minute reached k, or,
 * once the page had moved on to the next minute, the previous-minute column did (a click put just
 * before a minute ends can arrive after the page rolled over).
 */
export function shownAt(observations: readonly CountObservation[], minute: number, k: number): number | undefined {
  return observations.find((seen) => (seen.minute === minute && seen.count >= k) || (seen.minute === minute + 60_000 && seen.previous >= k))?.at;
}

/**
 * (a) Put-to-screen latency. One click to `/bench/latency` every `intervalMs`, put one at a time
 * with one partition key, so Kinesis, the aggregator and the window count take them in order: the
 * k-th click of a minute is on screen when the page shows a count of at least k for that minute
 * (watchShownCount, shownAt). Latency runs from the start of its PutRecords call. A warm-up click
 * first wakes the functions; its cold-start latency is reported apart.
 */
export async function benchPutToScreen(cloud: LocalCloud, dashboardUrl: string, { seconds = 30, intervalMs = 200, log = (_: string): void => undefined } = {}): Promise<DashboardLatencyResult> {
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
  try {
    const page = await browser.newPage();
    await page.goto(dashboardUrl);
    await page.waitForSelector('[data-testid="connection"][data-state="open"]', { timeout: 60_000 });
    const warmup = await watchRenderedUrls(page, '/bench/warmup');
    const observations = await watchShownCount(page, '/bench/latency');
    const stream = cloud.outputs.ClicksStreamName!;
    const runId = Date.now().toString(36);

    const warmupStarted = Date.now();
    await putClick(kinesis, stream, '/bench/warmup', `${runId}-warmup`, warmupStarted);
    while (!warmup.has('/bench/warmup')) {
      if (Date.now() - warmupStarted > 120_000) throw new Error('the dashboard did not show the warm-up click within 120 s');
      await sleep(20);
    }
    const coldStartMs = warmup.get('/bench/warmup')! - warmupStarted;
    log(`dashboard: warm-up click on screen after ${coldStartMs} ms (cold starts)`);
    await sleep(2000);

    const total = Math.floor((seconds * 1000) / intervalMs);
    const clicks: { putAt: number; minute: number; k: number }[] = [];
    const perMinute = new Map<number, number>();
    log(`dashboard: putting a click to /bench/latency every ${intervalMs} ms for ${seconds} s, watching headless Chromium`);
    const started = performance.now();
    for (let i = 0; i < total; i++) {
      const wait = started + i * intervalMs - performance.now();
      if (wait > 0) await sleep(wait);
      const putAt = Date.now();
      const minute = Math.floor(putAt / 60_000) * 60_000;
      const k = (perMinute.get(minute) ?? 0) + 1;
      perMinute.set(minute, k);
      clicks.push({ putAt, minute, k });
      await putClick(kinesis, stream, '/bench/latency', `${runId}-${i}`, putAt);
    }
    const shown = () => clicks.map((click) => shownAt(observations, click.minute, click.k));
    const deadline = Date.now() + 15_000;
    while (shown().some((at) => at === undefined) && Date.now() < deadline) await sleep(100);

    const times = shown();
    const latencies = clicks.flatMap((click, index) => (times[index] === undefined ? [] : [times[index] - click.putAt])).sort((a, b) => a - b);
    return { clicks: total, seen: latencies.length, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: latencies.at(-1) ?? Number.NaN, coldStartMs };
  } finally {
    kinesis.destroy();
    await browser.close();
  }
}

interface BenchClient {
  socket: WebSocket;
  /** Resolves when the message carrying `url` arrives, with its arrival time. */
  waitFor(url: string): Promise<number>;
}

function connectClient(url: string): Promise<BenchClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const waiting = new Map<string, (at: number) => void>();
    const arrived = new Map<string, number>();
    let subscribed = false;
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error('no snapshot within 60 s'));
    }, 60_000);
    socket.on('open', () => socket.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'subscribe' })));
    socket.on('message', (raw) => {
      const at = Date.now();
      const parsed = ServerMessage.safeParse(JSON.parse((Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw)).toString('utf8')));
      if (!parsed.success) return;
      const message = parsed.data;
      if (message.type === 'snapshot' && !subscribed) {
        subscribed = true;
        clearTimeout(timer);
        resolve({
          socket,
          waitFor: (wanted) =>
            arrived.has(wanted) ? Promise.resolve(arrived.get(wanted)!) : new Promise((done) => waiting.set(wanted, done)),
        });
      }
      if (message.type !== 'windows') return;
      for (const window of message.windows) {
        if (arrived.has(window.url)) continue;
        arrived.set(window.url, at);
        waiting.get(window.url)?.(at);
        waiting.delete(window.url);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * (b) Broadcast fan-out. Opens `clients` connections (50 handshakes in flight) with one dev token,
 * each subscribed; then per round puts one click to a new URL and times until all clients got it.
 */
export async function benchBroadcast(cloud: LocalCloud, config: DashboardConfig, { clients = 1000, rounds = 7, log = (_: string): void => undefined } = {}): Promise<BroadcastResult> {
  const token = await devToken(config);
  const url = new URL(config.webSocketUrl);
  url.searchParams.set('token', token);
  const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
  const connected: BenchClient[] = [];
  try {
    log(`dashboard: opening ${clients} WebSocket connections`);
    const connectStarted = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(50, clients) }, async () => {
        while (next < clients) {
          next += 1;
          connected.push(await connectClient(url.toString()));
        }
      }),
    );
    const connectMs = Date.now() - connectStarted;
    log(`dashboard: ${clients} clients subscribed in ${connectMs} ms; ${rounds} broadcast rounds`);

    const runId = Date.now().toString(36);
    const allReceived: number[] = [];
    const firstReceived: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const clickUrl = `/bench/broadcast/${runId}/${round}`;
      const arrivals = connected.map((client) => client.waitFor(clickUrl));
      const putAt = Date.now();
      await putClick(kinesis, cloud.outputs.ClicksStreamName!, clickUrl, `${runId}-b${round}`);
      const times = await withTimeout(Promise.all(arrivals), 60_000, `round ${round + 1}: not every client received the update within 60 s`);
      allReceived.push(Math.max(...times) - putAt);
      firstReceived.push(Math.min(...times) - putAt);
      log(`dashboard: round ${round + 1}: first ${firstReceived.at(-1)} ms, all ${allReceived.at(-1)} ms`);
      await sleep(1000);
    }
    const sorted = [...allReceived].sort((a, b) => a - b);
    return {
      clients,
      connectMs,
      rounds,
      allReceivedMs: allReceived,
      p50Ms: percentile(sorted, 50),
      maxMs: sorted.at(-1)!,
      firstReceivedP50Ms: percentile([...firstReceived].sort((a, b) => a - b), 50),
    };
  } finally {
    for (const client of connected) client.socket.terminate();
    kinesis.destroy();
  }
}

export async function benchDashboard({ seconds = 30, intervalMs = 200, clients = 1000, rounds = 7, log = (_line: string): void => undefined }: DashboardBenchOptions = {}): Promise<DashboardBenchResult> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-bench-dashboard-'));
  let cloud: LocalCloud | undefined;
  try {
    cloud = await startLocalCloud({ edgePort: 0, dashboardPort: 0, stateDirectory: join(directory, 'state'), assemblyDirectory: join(directory, 'cdk.out') });
    const dashboardUrl = cloud.dashboardUrl;
    const config = await dashboardConfig(dashboardUrl);
    const latency = await benchPutToScreen(cloud, dashboardUrl, { seconds, intervalMs, log });
    // Let the latency run's windows settle so the fan-out rounds start from a quiet pipeline.
    await sleep(2000);
    const broadcast = await benchBroadcast(cloud, config, { clients, rounds, log });
    return { latency, broadcast };
  } finally {
    await cloud?.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}
