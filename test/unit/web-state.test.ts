import { describe, expect, it } from 'vitest';
import { DASHBOARD_HISTORY_MINUTES, PROTOCOL_VERSION, type ServerMessage, type WindowCount } from '../../contracts/dashboard';
import {
  currentMinuteTotals,
  eventsPerSecond,
  initialState,
  MAX_ALERTS,
  minuteSeries,
  reduce,
  topUrls,
  windowSummaries,
  type DashboardAction,
  type DashboardState,
} from '../../web/src/state';

const MINUTE = 60_000;
/** 20 s into the minute 00:10. */
const T0 = Date.parse('2026-01-01T00:10:20.000Z');
const M10 = Date.parse('2026-01-01T00:10:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

function windowCountFactory(url: string, startMs: number, count: number, { delta = 0, lateCount = 0, final = false } = {}): WindowCount {
  return { url, windowStart: iso(startMs), windowEnd: iso(startMs + MINUTE), count, lateCount, delta, final };
}

function frame(type: 'snapshot' | 'windows', windows: WindowCount[], sentAt = T0): string {
  return JSON.stringify({ v: PROTOCOL_VERSION, type, sentAt: iso(sentAt), windows } satisfies ServerMessage);
}

const received = (data: unknown, at = T0): DashboardAction => ({ type: 'received', data, at });

function run(...actions: DashboardAction[]): DashboardState {
  return actions.reduce(reduce, initialState({ allowedLatenessMs: 60_000 }));
}

const counts = (state: DashboardState) => Object.fromEntries([...state.windows.values()].map((w) => [`${w.url}|${w.windowStart}`, w.count]));

describe('snapshot, then windows updates', () => {
  it('holds the counts per (url, window) from the snapshot and applies later updates on top', () => {
    // Prepare
    const snapshot = frame('snapshot', [
      windowCountFactory('/products/1', M10, 40),
      windowCountFactory('/blog/x', M10, 25),
      windowCountFactory('/products/1', M10 - MINUTE, 7, { final: true }),
    ]);
    const update = frame('windows', [windowCountFactory('/products/1', M10, 43, { delta: 3 }), windowCountFactory('/about', M10, 2, { delta: 2 })], T0 + 500);

    // Act
    const state = run({ type: 'connected', at: T0 - 100 }, received(snapshot), received(update, T0 + 500));

    // Assess
    expect(counts(state)).toStrictEqual({
      [`/products/1|${iso(M10)}`]: 43,
      [`/blog/x|${iso(M10)}`]: 25,
      [`/about|${iso(M10)}`]: 2,
      [`/products/1|${iso(M10 - MINUTE)}`]: 7,
    });
    expect(state.snapshotsApplied).toBe(1);
    expect(state.messages).toBe(2);
    expect(state.invalidMessages).toBe(0);
    expect(currentMinuteTotals(state, T0 + 500)).toStrictEqual({ startMs: M10, clicks: 70, urls: 3 });
  });

  it('ignores an update whose count is lower than the one it holds (reordered or re-delivered)', () => {
    const state = run(
      received(frame('snapshot', [windowCountFactory('/a', M10, 10)])),
      received(frame('windows', [windowCountFactory('/a', M10, 12, { delta: 2 })]), T0 + 100),
      received(frame('windows', [windowCountFactory('/a', M10, 11, { delta: 1 })]), T0 + 200),
    );

    expect(counts(state)).toStrictEqual({ [`/a|${iso(M10)}`]: 12 });
  });

  it('replaces the windows with the first snapshot of a new connection, and merges the parts that follow', () => {
    const state = run(
      { type: 'connected', at: T0 },
      received(frame('snapshot', [windowCountFactory('/old', M10, 5), windowCountFactory('/a', M10, 50)])),
      { type: 'connected', at: T0 + 1000 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 3)]), T0 + 1100),
      received(frame('snapshot', [windowCountFactory('/b', M10, 4)]), T0 + 1200),
    );

    expect(counts(state)).toStrictEqual({ [`/a|${iso(M10)}`]: 3, [`/b|${iso(M10)}`]: 4 });
    expect(state.snapshotsApplied).toBe(3);
  });

  it('merges the snapshot of a handover (no `connected`) without lowering a count or resetting events/s', () => {
    const state = run(
      { type: 'connected', at: T0 - 2000 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 10)]), T0 - 2000),
      received(frame('windows', [windowCountFactory('/a', M10, 15, { delta: 5 })]), T0 - 1000),
      received(frame('windows', [windowCountFactory('/b', M10, 4, { delta: 4 })]), T0),
      // The new connection's snapshot was read before the last update to /a, and after the one to /b.
      received(frame('snapshot', [windowCountFactory('/a', M10, 12), windowCountFactory('/b', M10, 6), windowCountFactory('/c', M10, 1)]), T0 + 100),
      // An update both connections delivered adds nothing the second time.
      received(frame('windows', [windowCountFactory('/b', M10, 6, { delta: 2 })]), T0 + 200),
    );

    expect(counts(state)).toStrictEqual({ [`/a|${iso(M10)}`]: 15, [`/b|${iso(M10)}`]: 6, [`/c|${iso(M10)}`]: 1 });
    expect(state.observingSince).toBe(T0 - 2000);
    expect(state.arrivals.map((arrival) => arrival.clicks)).toStrictEqual([5, 4]);
  });

  it('drops windows older than the history horizon as time passes', () => {
    const oldest = M10 - (DASHBOARD_HISTORY_MINUTES - 1) * MINUTE;
    const state = run(
      received(frame('snapshot', [windowCountFactory('/a', oldest, 1, { final: true }), windowCountFactory('/a', M10, 2)])),
      { type: 'tick', at: T0 + MINUTE },
    );

    expect(counts(state)).toStrictEqual({ [`/a|${iso(M10)}`]: 2 });
  });
});

describe('ranking of the current minute', () => {
  it('orders by count, highest first, breaks ties by URL and keeps the limit', () => {
    const state = run(
      received(
        frame('snapshot', [
          windowCountFactory('/c', M10, 5),
          windowCountFactory('/b', M10, 9),
          windowCountFactory('/a', M10, 5),
          windowCountFactory('/d', M10, 1),
          windowCountFactory('/zero', M10, 0),
          windowCountFactory('/b', M10 - MINUTE, 30, { final: true }),
        ]),
      ),
    );

    expect(topUrls(state, T0, 3)).toStrictEqual([
      { rank: 1, url: '/b', count: 9, lateCount: 0, previousCount: 30 },
      { rank: 2, url: '/a', count: 5, lateCount: 0, previousCount: 0 },
      { rank: 3, url: '/c', count: 5, lateCount: 0, previousCount: 0 },
    ]);
  });

  it('follows the server clock: a client 2 minutes behind still ranks the server\'s current minute', () => {
    const serverNow = T0 + 2 * MINUTE;
    const state = run(received(frame('snapshot', [windowCountFactory('/a', M10, 1), windowCountFactory('/b', M10 + 2 * MINUTE, 7)], serverNow), T0));

    expect(topUrls(state, T0).map(({ url, count }) => ({ url, count }))).toStrictEqual([{ url: '/b', count: 7 }]);
  });

  it('is empty right after the minute rolls over', () => {
    const state = run(received(frame('snapshot', [windowCountFactory('/a', M10, 4)])));

    expect(topUrls(state, M10 + MINUTE + 1)).toStrictEqual([]);
  });
});

describe('per-minute series', () => {
  it('has one point per minute of the horizon, zero-filled, for the top URLs by total', () => {
    const state = run(
      received(
        frame('snapshot', [
          windowCountFactory('/a', M10, 4),
          windowCountFactory('/a', M10 - 2 * MINUTE, 6, { final: true }),
          windowCountFactory('/b', M10 - MINUTE, 8, { final: true }),
          windowCountFactory('/c', M10, 1),
        ]),
      ),
    );

    const set = minuteSeries(state, T0, 2);

    expect(set.minutes).toHaveLength(DASHBOARD_HISTORY_MINUTES);
    expect(set.minutes.at(-1)).toBe(M10);
    expect(set.minutes[0]).toBe(M10 - (DASHBOARD_HISTORY_MINUTES - 1) * MINUTE);
    expect(set.series.map(({ url, total, points }) => ({ url, total, tail: points.slice(-3) }))).toStrictEqual([
      { url: '/a', total: 10, tail: [6, 0, 4] },
      { url: '/b', total: 8, tail: [0, 8, 0] },
    ]);
    expect(set.series.every((series) => series.points.length === DASHBOARD_HISTORY_MINUTES)).toBe(true);
  });
});

describe('events per second', () => {
  it('is measured between updates: the clicks after the first update in the last 10 s over the time they span', () => {
    const state = run(
      { type: 'connected', at: T0 - 20_000 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 100)]), T0 - 20_000),
      received(frame('windows', [windowCountFactory('/a', M10, 130, { delta: 30 })]), T0 - 12_000),
      received(frame('windows', [windowCountFactory('/a', M10, 150, { delta: 20 }), windowCountFactory('/b', M10, 5, { delta: 5 })]), T0 - 5_000),
      received(frame('windows', [windowCountFactory('/a', M10, 165, { delta: 15 })]), T0 - 1_000),
    );

    // In (T0 - 10 s, T0]: updates at -5 s (25, accumulated before) and -1 s (15): 15 clicks in 4 s.
    expect(eventsPerSecond(state, T0)).toBe(3.75);
  });

  it('is right from the second update after a page load, never above the true rate, at 200 clicks/s', () => {
    // The first update after the snapshot carries 1.3 s of clicks (260) that arrived before the page watched.
    const actions: Parameters<typeof run> = [{ type: 'connected', at: T0 }, received(frame('snapshot', [windowCountFactory('/a', M10, 1000)]), T0)];
    let count = 1000;
    const shown: (number | undefined)[] = [];
    let state = run(...actions);
    for (let second = 1; second <= 12; second++) {
      const delta = second === 1 ? 260 : 200;
      count += delta;
      state = reduce(state, { type: 'received', data: frame('windows', [windowCountFactory('/a', M10, count, { delta })]), at: T0 + second * 1000 });
      shown.push(eventsPerSecond(state, T0 + second * 1000 + 500));
    }
    expect(shown[0]).toBeUndefined();
    expect(shown.slice(1)).toStrictEqual(Array.from({ length: 11 }, () => 200));
  });

  it('decays when updates stop, and is 0 once the window holds none', () => {
    const state = run(
      { type: 'connected', at: T0 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 100)]), T0),
      received(frame('windows', [windowCountFactory('/a', M10, 120, { delta: 20 })]), T0 + 1000),
      received(frame('windows', [windowCountFactory('/a', M10, 140, { delta: 20 })]), T0 + 2000),
    );

    expect(eventsPerSecond(state, T0 + 2500)).toBe(20);
    expect(eventsPerSecond(state, T0 + 7000)).toBe(5);
    expect(eventsPerSecond(reduce(state, { type: 'tick', at: T0 + 13_000 }), T0 + 13_000)).toBe(0);
  });

  it('starts over from a new connection\'s snapshot: clicks before the drop no longer count', () => {
    const state = run(
      { type: 'connected', at: T0 - 9000 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 10)]), T0 - 9000),
      received(frame('windows', [windowCountFactory('/a', M10, 40, { delta: 30 })]), T0 - 8000),
      { type: 'connected', at: T0 - 3000 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 45)]), T0 - 3000),
      received(frame('windows', [windowCountFactory('/a', M10, 49, { delta: 4 })]), T0 - 2000),
      received(frame('windows', [windowCountFactory('/a', M10, 51, { delta: 2 })]), T0 - 1000),
    );

    expect(eventsPerSecond(state, T0)).toBe(2);
  });

  it('counts a snapshot as history, not arrivals, and a re-delivered update once', () => {
    const update = frame('windows', [windowCountFactory('/a', M10, 12, { delta: 2 })]);
    const state = run(
      { type: 'connected', at: T0 - 10_000 },
      received(frame('snapshot', [windowCountFactory('/a', M10, 10)]), T0 - 10_000),
      received(update, T0 - 1000),
      received(update, T0 - 500),
    );

    // One update (the re-delivery adds nothing), after 10 s of watching: averaged over the window.
    expect(eventsPerSecond(state, T0)).toBe(0.2);
  });
});

describe('open and final windows', () => {
  it.each([
    { name: 'the current minute is open', now: T0, flags: [false], expected: 'open' },
    { name: 'an ended minute within the allowed lateness is closing', now: M10 + MINUTE + 30_000, flags: [false], expected: 'closing' },
    // The server decides finality from the slowest shard's watermark: the clock alone never does.
    { name: 'an ended minute past the allowed lateness stays closing until the server says final', now: M10 + 10 * MINUTE, flags: [false], expected: 'closing' },
    { name: 'any window the server flagged final makes its minute final', now: M10 + MINUTE + 1000, flags: [false, true], expected: 'final' },
  ])('$name', ({ now, flags, expected }) => {
    const windows = flags.map((final, index) => windowCountFactory(`/u${index}`, M10, 1, { final }));
    const state = run(received(frame('snapshot', windows, now), now));

    expect(windowSummaries(state, now).map(({ startMs, phase }) => ({ startMs, phase }))).toStrictEqual([{ startMs: M10, phase: expected }]);
  });

  it('treats minutes older than a final one as final, and totals each minute', () => {
    const state = run(
      received(
        frame('snapshot', [
          windowCountFactory('/a', M10, 3),
          windowCountFactory('/b', M10, 2),
          windowCountFactory('/a', M10 - MINUTE, 5, { final: true, lateCount: 1 }),
          windowCountFactory('/a', M10 - 2 * MINUTE, 4),
        ]),
      ),
    );

    expect(windowSummaries(state, T0)).toStrictEqual([
      { startMs: M10, endMs: M10 + MINUTE, clicks: 5, lateClicks: 0, urls: 2, phase: 'open', lateOnly: false, topUrl: { url: '/a', count: 3 } },
      { startMs: M10 - MINUTE, endMs: M10, clicks: 5, lateClicks: 1, urls: 1, phase: 'final', lateOnly: false, topUrl: { url: '/a', count: 5 } },
      { startMs: M10 - 2 * MINUTE, endMs: M10 - MINUTE, clicks: 4, lateClicks: 0, urls: 1, phase: 'final', lateOnly: false, topUrl: { url: '/a', count: 4 } },
    ]);
  });

  it('marks a minute with only late clicks as late only, not as a minute without traffic', () => {
    const state = run(received(frame('snapshot', [windowCountFactory('/a', M10 - 5 * MINUTE, 0, { final: true, lateCount: 3 })])));

    expect(windowSummaries(state, T0)).toMatchObject([{ clicks: 0, lateClicks: 3, phase: 'final', lateOnly: true, topUrl: undefined }]);
  });

  it('keeps a window final once the server said so', () => {
    const state = run(
      received(frame('snapshot', [windowCountFactory('/a', M10 - MINUTE, 5, { final: true })])),
      received(frame('windows', [windowCountFactory('/a', M10 - MINUTE, 5, { final: false, lateCount: 1 })]), T0 + 10),
    );

    expect([...state.windows.values()].map(({ final, lateCount }) => ({ final, lateCount }))).toStrictEqual([{ final: true, lateCount: 1 }]);
  });
});

describe('invalid and other messages', () => {
  const valid = JSON.parse(frame('windows', [windowCountFactory('/a', M10, 1, { delta: 1 })])) as Record<string, unknown>;

  it.each([
    { name: 'not JSON', data: '{"v":1,' },
    { name: 'binary frame', data: new ArrayBuffer(8) },
    { name: 'unknown type', data: JSON.stringify({ ...valid, type: 'gossip' }) },
    { name: 'missing sentAt', data: JSON.stringify({ ...valid, sentAt: undefined }) },
    { name: 'negative count', data: JSON.stringify({ ...valid, windows: [{ ...(valid.windows as object[])[0], count: -1 }] }) },
    { name: 'a protocol version this build does not know', data: JSON.stringify({ ...valid, v: PROTOCOL_VERSION + 1 }) },
  ])('counts and ignores $name', ({ data }) => {
    const before = run(received(frame('snapshot', [windowCountFactory('/a', M10, 1)])));

    const after = reduce(before, received(data, T0 + 10));

    expect(after.invalidMessages).toBe(1);
    expect(after.messages).toBe(before.messages);
    expect(after.windows).toBe(before.windows);
  });

  it('notes a newer protocol version, so the page can ask for a reload', () => {
    const state = run(received(JSON.stringify({ v: PROTOCOL_VERSION + 1, type: 'windows' })));

    expect(state.newerProtocolSeen).toBe(true);
  });

  it('keeps the newest alerts first, at most MAX_ALERTS', () => {
    const alert = (index: number): string =>
      JSON.stringify({
        v: PROTOCOL_VERSION,
        type: 'alert',
        sentAt: iso(T0),
        alert: { orderId: `o-${index}`, userId: 'u-1', score: 0.9, reasons: ['velocity'], at: iso(T0) },
      } satisfies ServerMessage);

    const state = run(...Array.from({ length: MAX_ALERTS + 2 }, (_, index) => received(alert(index))));

    expect(state.alerts).toHaveLength(MAX_ALERTS);
    expect(state.alerts[0]?.orderId).toBe(`o-${MAX_ALERTS + 1}`);
    expect(state.windows.size).toBe(0);
  });

  it('keeps the last health message', () => {
    const state = run(received(JSON.stringify({ v: PROTOCOL_VERSION, type: 'health', sentAt: iso(T0), status: 'degraded', detail: 'iterator age 42 s' })));

    expect(state.health).toStrictEqual({ status: 'degraded', detail: 'iterator age 42 s', sentAt: iso(T0) });
  });
});
