import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium, type Page } from 'playwright-core';
import { WebSocketServer } from 'ws';
import { PROTOCOL_VERSION, type DashboardConfig, type WindowCount } from '../contracts/dashboard';
import { snapshotPayloads } from '../lambdas/dashboard/core/messages';
import { buildDashboardSync } from '../web/build';
import { CHROMIUM_PATH } from './dashboard';

/**
 * The dashboard web app's own cost, without the local cloud:
 *   bundle  the files web/build.ts writes, raw and gzip (what CloudFront serves compressed);
 *   render  in headless Chromium, against a WebSocket server in this process: the time the page
 *           spends on a snapshot of `minutes` x `urls` windows (split into messages under
 *           MAX_MESSAGE_BYTES, as the $default route sends it) and on one `windows` update.
 *
 * Render time is measured inside the page with the Performance API: an init script wraps the
 * socket's onmessage, so it times the app's handler (decode, validate, reduce) and, in the next
 * animation frame, the app's draw plus a forced style and layout (`offsetHeight`). Waiting for
 * the frame and painting are not counted: they depend on the display, not on the code.
 */

export interface WebBenchOptions {
  /** @default 30 */
  minutes?: number;
  /** @default 1000 */
  urls?: number;
  /** Windows in one update message (about what a 1,000-event batch touches with Zipf traffic). @default 280 */
  updateWindows?: number;
  /** @default 7 */
  runs?: number;
  log?: (line: string) => void;
}

export interface WebBenchResult {
  files: { name: string; bytes: number; gzipBytes: number }[];
  snapshot: { windows: number; messages: number; bytes: number; busyMs: number[]; handlerMs: number[]; firstToDrawnMs: number[] };
  update: { windows: number; bytes: number; busyMs: number[]; handlerMs: number[] };
}

const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

/** Runs in the page before the app: wraps WebSocket#onmessage to time handlers and the draw that follows. */
const INSTRUMENT = `(() => {
  const bench = { handlerMs: 0, drawMs: 0, messages: 0, frames: 0, firstAt: undefined, drawnAt: undefined, frameStart: 0, pending: false };
  window.__bench = bench;
  window.__benchReset = () => Object.assign(bench, { handlerMs: 0, drawMs: 0, messages: 0, frames: 0, firstAt: undefined, drawnAt: undefined, pending: false });
  const native = Object.getOwnPropertyDescriptor(WebSocket.prototype, 'onmessage');
  Object.defineProperty(WebSocket.prototype, 'onmessage', {
    configurable: true,
    get() { return native.get.call(this); },
    set(handler) {
      native.set.call(this, handler === null ? null : function (event) {
        const start = performance.now();
        if (bench.firstAt === undefined) bench.firstAt = start;
        // Registered before the app's own requestAnimationFrame, so it runs just before the app's draw...
        const hook = !bench.pending;
        if (hook) { bench.pending = true; requestAnimationFrame(() => { bench.frameStart = performance.now(); }); }
        handler.call(this, event);
        bench.handlerMs += performance.now() - start;
        bench.messages += 1;
        // ...and this one just after it: the draw, then forced style and layout.
        if (hook) requestAnimationFrame(() => {
          void document.body.offsetHeight;
          const end = performance.now();
          bench.drawMs += end - bench.frameStart;
          bench.drawnAt = end;
          bench.frames += 1;
          bench.pending = false;
        });
      });
    },
  });
})();`;

interface PageTotals {
  handlerMs: number;
  drawMs: number;
  messages: number;
  frames: number;
  firstAt: number | undefined;
  drawnAt: number | undefined;
}

/** Seeded so every run renders the same windows. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

/** `minutes` x `urls` windows ending in the current minute, Zipf-like counts, the older ones final. */
export function benchWindows(nowMs: number, minutes: number, urls: number): WindowCount[] {
  const random = lcg(42);
  const current = Math.floor(nowMs / 60_000) * 60_000;
  const windows: WindowCount[] = [];
  for (let minute = minutes - 1; minute >= 0; minute -= 1) {
    const start = current - minute * 60_000;
    for (let rank = 1; rank <= urls; rank += 1) {
      const count = Math.max(1, Math.round((3000 / rank) * (0.8 + 0.4 * random())));
      windows.push({
        url: `/products/${rank}`,
        windowStart: new Date(start).toISOString(),
        windowEnd: new Date(start + 60_000).toISOString(),
        count,
        lateCount: random() < 0.01 ? 1 : 0,
        delta: 0,
        final: minute >= 2,
      });
    }
  }
  return windows;
}

export async function benchWeb({ minutes = 30, urls = 1000, updateWindows = 280, runs = 7, log = () => undefined }: WebBenchOptions = {}): Promise<WebBenchResult> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-bench-web-'));
  buildDashboardSync(directory);
  const files = ['app.js', 'styles.css', 'index.html'].map((name) => {
    const content = readFileSync(join(directory, name));
    return { name, bytes: statSync(join(directory, name)).size, gzipBytes: gzipSync(content, { level: 9 }).byteLength };
  });

  let snapshot: string[] = [];
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path === '/config.json') {
      const config: DashboardConfig = { webSocketUrl: `ws://127.0.0.1:${port}/live`, auth: { mode: 'dev', tokenUrl: `http://127.0.0.1:${port}/dev-token` }, allowedLatenessSeconds: 60 };
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(config));
      return;
    }
    if (path === '/dev-token') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: 'bench.bench.bench' }));
      return;
    }
    const file = normalize(join(directory, path === '/' ? 'index.html' : path));
    if (!file.startsWith(directory)) return void response.writeHead(404).end();
    try {
      response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    } catch {
      response.writeHead(404).end();
    }
  });
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (socket) => {
    socket.on('message', (data) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.from(new Uint8Array(data)).toString('utf8');
      if ((JSON.parse(text) as { type?: string }).type === 'subscribe') for (const payload of snapshot) socket.send(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  const totals = (page: Page) => page.evaluate(() => (window as unknown as { __bench: PageTotals }).__bench);

  try {
    const windows = benchWindows(Date.now(), minutes, urls);
    const split = snapshotPayloads(Date.now(), windows);
    snapshot = split.payloads;
    const result: WebBenchResult = {
      files,
      snapshot: { windows: windows.length, messages: snapshot.length, bytes: snapshot.reduce((sum, payload) => sum + Buffer.byteLength(payload), 0), busyMs: [], handlerMs: [], firstToDrawnMs: [] },
      update: { windows: updateWindows, bytes: 0, busyMs: [], handlerMs: [] },
    };
    let page: Page | undefined;
    for (let run = 1; run <= runs; run += 1) {
      log(`web: snapshot of ${windows.length.toLocaleString('en-US')} windows in ${snapshot.length} messages, run ${run} of ${runs}...`);
      await page?.close();
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.addInitScript(INSTRUMENT);
      await page.goto(`http://127.0.0.1:${port}/`);
      await page.waitForFunction((count) => {
        const bench = (window as unknown as { __bench: PageTotals }).__bench;
        return bench.messages >= count && !(bench as unknown as { pending: boolean }).pending;
      }, snapshot.length, { timeout: 120_000, polling: 50 });
      const shown = await totals(page);
      result.snapshot.busyMs.push(shown.handlerMs + shown.drawMs);
      result.snapshot.handlerMs.push(shown.handlerMs);
      result.snapshot.firstToDrawnMs.push(shown.drawnAt! - shown.firstAt!);
    }
    // Updates on the last page: the current minute's top URLs grow, as one broadcaster batch reports them.
    const current = windows.slice(-urls).slice(0, updateWindows);
    for (let run = 1; run <= runs; run += 1) {
      log(`web: one windows update of ${updateWindows} windows, run ${run} of ${runs}...`);
      await page!.evaluate(() => (window as unknown as { __benchReset: () => void }).__benchReset());
      const update = JSON.stringify({
        v: PROTOCOL_VERSION,
        type: 'windows',
        sentAt: new Date().toISOString(),
        windows: current.map((window) => ({ ...window, count: window.count + run, delta: 1 })),
      });
      result.update.bytes = Buffer.byteLength(update);
      for (const client of sockets.clients) client.send(update);
      await page!.waitForFunction(() => {
        const bench = (window as unknown as { __bench: PageTotals & { pending: boolean } }).__bench;
        return bench.messages >= 1 && !bench.pending;
      }, undefined, { timeout: 30_000, polling: 20 });
      const shown = await totals(page!);
      result.update.busyMs.push(shown.handlerMs + shown.drawMs);
      result.update.handlerMs.push(shown.handlerMs);
      // Let the page's once-a-second tick pass between runs.
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    return result;
  } finally {
    await browser.close();
    sockets.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(directory, { recursive: true, force: true });
  }
}
