import { WINDOW_MS } from '../../contracts/clickstream';
import { AGGREGATOR_DEFAULTS } from '../../contracts/aggregator-settings';
import { DASHBOARD_HISTORY_MINUTES, PROTOCOL_VERSION, ServerMessage, type AlertMessage, type HealthMessage, type WindowCount } from '../../contracts/dashboard';

/**
 * The dashboard's state and the pure reducer that applies server messages to it. No DOM, no
 * sockets, no clock: every action carries the time it happened, so the module is deterministic
 * and unit-tested without a browser. Selectors at the bottom derive what the page shows.
 */

/** One (url, window) count as the dashboard holds it. */
export interface WindowState {
  readonly url: string;
  /** ISO-8601, as the server sent it. */
  readonly windowStart: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly count: number;
  readonly lateCount: number;
  /** The server said no more on-time clicks can arrive. */
  readonly final: boolean;
}

export type Alert = AlertMessage['alert'];

export type HealthState = Pick<HealthMessage, 'status' | 'detail' | 'sentAt'>;

/** Clicks that arrived with one message, for the events/s rate. */
export interface Arrival {
  readonly at: number;
  readonly clicks: number;
}

export interface DashboardState {
  /** Keyed by `windowKey(url, startMs)`. */
  readonly windows: ReadonlyMap<string, WindowState>;
  /** Arrivals within the last RATE_WINDOW_MS, oldest first. */
  readonly arrivals: readonly Arrival[];
  /** When the current connection started delivering updates; the events/s rate never looks further back. */
  readonly observingSince: number | undefined;
  /** A new connection opened: its first snapshot replaces the windows instead of merging into them. */
  readonly awaitingSnapshot: boolean;
  readonly snapshotsApplied: number;
  /** Valid messages applied, of any type. */
  readonly messages: number;
  /** Messages that failed ServerMessage validation (not JSON, wrong shape, other protocol version). */
  readonly invalidMessages: number;
  /** Some invalid message declared a protocol version newer than this build's. */
  readonly newerProtocolSeen: boolean;
  /** Newest first, at most MAX_ALERTS. */
  readonly alerts: readonly Alert[];
  readonly health: HealthState | undefined;
  /** Server clock minus client clock, from the last message's `sentAt`: "now" is the server's minute. */
  readonly clockOffsetMs: number;
  readonly lastMessageAt: number | undefined;
  /** The aggregator's allowed lateness, for display; finality itself comes only from the server. */
  readonly allowedLatenessMs: number;
}

export type DashboardAction =
  /** A connection opened; the snapshot it is about to receive supersedes what the page holds. */
  | { readonly type: 'connected'; readonly at: number }
  /** A WebSocket frame, unparsed: the reducer validates it. */
  | { readonly type: 'received'; readonly data: unknown; readonly at: number }
  /** Time passed: prunes windows and arrivals that fell out of their horizons. */
  | { readonly type: 'tick'; readonly at: number };

/** events/s is the clicks received in this sliding window divided by its length. */
export const RATE_WINDOW_MS = 10_000;
export const MAX_ALERTS = 20;
export const HISTORY_MS = DASHBOARD_HISTORY_MINUTES * WINDOW_MS;

export const windowKey = (url: string, startMs: number): string => `${startMs}|${url}`;

export function initialState({ allowedLatenessMs = AGGREGATOR_DEFAULTS.allowedLatenessSeconds * 1000 } = {}): DashboardState {
  return {
    windows: new Map(),
    arrivals: [],
    observingSince: undefined,
    awaitingSnapshot: true,
    snapshotsApplied: 0,
    messages: 0,
    invalidMessages: 0,
    newerProtocolSeen: false,
    alerts: [],
    health: undefined,
    clockOffsetMs: 0,
    lastMessageAt: undefined,
    allowedLatenessMs,
  };
}

/** The server's "now", estimated from the last message's `sentAt`. */
export const serverNow = (state: DashboardState, now: number): number => now + state.clockOffsetMs;
export const minuteStart = (ms: number): number => Math.floor(ms / WINDOW_MS) * WINDOW_MS;
/** Start of the current one-minute window, on the server's clock. */
export const currentMinute = (state: DashboardState, now: number): number => minuteStart(serverNow(state, now));
/** Start of the oldest minute the dashboard keeps: DASHBOARD_HISTORY_MINUTES minutes including the current one. */
const oldestMinute = (state: DashboardState, now: number): number => currentMinute(state, now) - HISTORY_MS + WINDOW_MS;

export function reduce(state: DashboardState, action: DashboardAction): DashboardState {
  switch (action.type) {
    case 'connected':
      return { ...state, awaitingSnapshot: true };
    case 'tick':
      return prune(state, action.at);
    case 'received':
      return prune(receive(state, action.data, action.at), action.at);
  }
}

/** Parses and validates one frame. Returns undefined for anything ServerMessage rejects. */
export function decodeServerMessage(data: unknown): ServerMessage | undefined {
  if (typeof data !== 'string') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return undefined;
  }
  const parsed = ServerMessage.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

function declaresNewerProtocol(data: unknown): boolean {
  if (typeof data !== 'string') return false;
  try {
    const json = JSON.parse(data) as { v?: unknown };
    return typeof json?.v === 'number' && json.v > PROTOCOL_VERSION;
  } catch {
    return false;
  }
}

function receive(state: DashboardState, data: unknown, at: number): DashboardState {
  const message = decodeServerMessage(data);
  if (message === undefined) {
    return { ...state, invalidMessages: state.invalidMessages + 1, newerProtocolSeen: state.newerProtocolSeen || declaresNewerProtocol(data) };
  }
  const base: DashboardState = {
    ...state,
    messages: state.messages + 1,
    lastMessageAt: at,
    clockOffsetMs: Date.parse(message.sentAt) - at,
  };
  switch (message.type) {
    case 'snapshot':
      return applySnapshot(base, message.windows, at);
    case 'windows':
      return applyWindows(base, message.windows, at);
    case 'alert':
      return { ...base, alerts: [message.alert, ...state.alerts].slice(0, MAX_ALERTS) };
    case 'decisions':
      // Fraud decision rates: the fraud panel (fraud-panel.ts) keeps them.
      return base;
    case 'health':
      return { ...base, health: { status: message.status, detail: message.detail, sentAt: message.sentAt } };
  }
}

function toWindowState(window: WindowCount): WindowState {
  return {
    url: window.url,
    windowStart: window.windowStart,
    startMs: Date.parse(window.windowStart),
    endMs: Date.parse(window.windowEnd),
    count: window.count,
    lateCount: window.lateCount,
    final: window.final,
  };
}

/**
 * A snapshot may arrive in several parts (each under MAX_MESSAGE_BYTES). The first part after a
 * new connection replaces the windows, so a restarted server's truth wins; later parts merge.
 * So does the snapshot of a handover (a new connection replacing a live one, which is not
 * `connected`): it may be older than an update the old connection just delivered, so a count it
 * holds never lowers one the page shows.
 * A snapshot carries no clicks for the events/s rate: they are history, not arrivals.
 */
function applySnapshot(state: DashboardState, windows: readonly WindowCount[], at: number): DashboardState {
  const next = state.awaitingSnapshot ? new Map<string, WindowState>() : new Map(state.windows);
  for (const window of windows) {
    const incoming = toWindowState(window);
    const key = windowKey(incoming.url, incoming.startMs);
    const known = next.get(key);
    if (known !== undefined && known.count > incoming.count) continue;
    next.set(key, known === undefined ? incoming : { ...incoming, lateCount: Math.max(known.lateCount, incoming.lateCount), final: known.final || incoming.final });
  }
  if (!state.awaitingSnapshot) return { ...state, windows: next, snapshotsApplied: state.snapshotsApplied + 1 };
  // A new subscription: the rate restarts from it, since clicks during the gap were never seen.
  return { ...state, windows: next, awaitingSnapshot: false, snapshotsApplied: state.snapshotsApplied + 1, observingSince: at, arrivals: [] };
}

/**
 * Counts only grow, so an update older than what the page holds (a reordered or re-delivered
 * message) is ignored. The clicks an update adds to events/s are the growth of the count the page
 * saw, which makes a re-delivered message add nothing; for a window the page did not know, the
 * message's own delta.
 */
function applyWindows(state: DashboardState, windows: readonly WindowCount[], at: number): DashboardState {
  const next = new Map(state.windows);
  let clicks = 0;
  for (const window of windows) {
    const incoming = toWindowState(window);
    const key = windowKey(incoming.url, incoming.startMs);
    const known = next.get(key);
    if (known === undefined) {
      clicks += Math.min(incoming.count, Math.max(0, window.delta));
      next.set(key, incoming);
      continue;
    }
    if (incoming.count < known.count) continue;
    clicks += incoming.count - known.count;
    next.set(key, {
      ...incoming,
      lateCount: Math.max(known.lateCount, incoming.lateCount),
      final: known.final || incoming.final,
    });
  }
  return {
    ...state,
    windows: next,
    arrivals: clicks > 0 ? [...state.arrivals, { at, clicks }] : state.arrivals,
    observingSince: state.observingSince ?? at,
  };
}

function prune(state: DashboardState, now: number): DashboardState {
  const oldest = oldestMinute(state, now);
  let windows = state.windows;
  for (const [key, window] of state.windows) {
    if (window.startMs >= oldest) continue;
    if (windows === state.windows) windows = new Map(state.windows);
    (windows as Map<string, WindowState>).delete(key);
  }
  const firstKept = state.arrivals.findIndex((arrival) => arrival.at > now - RATE_WINDOW_MS);
  const arrivals = firstKept === 0 ? state.arrivals : firstKept === -1 ? [] : state.arrivals.slice(firstKept);
  return windows === state.windows && arrivals.length === state.arrivals.length ? state : { ...state, windows, arrivals };
}

// ---------------------------------------------------------------------------------------------
// Selectors

export interface RankedUrl {
  readonly rank: number;
  readonly url: string;
  readonly count: number;
  readonly lateCount: number;
  /** Clicks in the previous minute, for context; 0 when the page holds none. */
  readonly previousCount: number;
}

/** Orders by count, highest first; ties by URL, so equal counts keep a stable order. */
export const byCountThenUrl = (a: { count: number; url: string }, b: { count: number; url: string }): number =>
  b.count - a.count || (a.url < b.url ? -1 : a.url > b.url ? 1 : 0);

/** The top URLs of the current minute (server clock). */
export function topUrls(state: DashboardState, now: number, limit = 10): RankedUrl[] {
  const minute = currentMinute(state, now);
  const current = [...state.windows.values()].filter((window) => window.startMs === minute && window.count > 0);
  current.sort(byCountThenUrl);
  return current.slice(0, limit).map((window, index) => ({
    rank: index + 1,
    url: window.url,
    count: window.count,
    lateCount: window.lateCount,
    previousCount: state.windows.get(windowKey(window.url, minute - WINDOW_MS))?.count ?? 0,
  }));
}

export interface MinuteTotals {
  readonly startMs: number;
  readonly clicks: number;
  readonly urls: number;
}

/** Clicks and distinct URLs in the current minute. */
export function currentMinuteTotals(state: DashboardState, now: number): MinuteTotals {
  const minute = currentMinute(state, now);
  let clicks = 0;
  let urls = 0;
  for (const window of state.windows.values()) {
    if (window.startMs !== minute || window.count === 0) continue;
    clicks += window.count;
    urls += 1;
  }
  return { startMs: minute, clicks, urls };
}

export interface Series {
  readonly url: string;
  /** Clicks per minute, aligned with `SeriesSet.minutes`; 0 where the page holds no window. */
  readonly points: readonly number[];
  readonly total: number;
}

export interface SeriesSet {
  /** Window starts, oldest first: DASHBOARD_HISTORY_MINUTES minutes ending with the current one. */
  readonly minutes: readonly number[];
  readonly series: readonly Series[];
}

/**
 * Per-minute counts for the top URLs over the last DASHBOARD_HISTORY_MINUTES minutes. "Top" is by
 * total clicks across the whole horizon, which keeps the chart's lines stable while the current
 * minute's ranking churns.
 */
export function minuteSeries(state: DashboardState, now: number, limit = 5): SeriesSet {
  const last = currentMinute(state, now);
  const minutes = Array.from({ length: DASHBOARD_HISTORY_MINUTES }, (_, index) => last - (DASHBOARD_HISTORY_MINUTES - 1 - index) * WINDOW_MS);
  const first = minutes[0]!;
  const totals = new Map<string, number>();
  for (const window of state.windows.values()) {
    if (window.startMs < first || window.startMs > last) continue;
    totals.set(window.url, (totals.get(window.url) ?? 0) + window.count);
  }
  const top = [...totals].map(([url, count]) => ({ url, count })).filter(({ count }) => count > 0).sort(byCountThenUrl).slice(0, limit);
  const series = top.map(({ url, count }) => ({
    url,
    total: count,
    points: minutes.map((minute) => state.windows.get(windowKey(url, minute))?.count ?? 0),
  }));
  return { minutes, series };
}

/** Without an update for this long after the newest one, traffic counts as slowing: the rate decays. */
export const RATE_QUIET_MS = 2_000;

/**
 * Clicks per second over the last RATE_WINDOW_MS, or undefined while there is not enough to say.
 *
 * Updates arrive in batches (the event source mapping's batching window, then the broadcaster), and
 * the first update a page sees carries clicks that accumulated before it was watching. So the rate
 * is measured between updates: the clicks of every update after the first in the window, divided
 * by the time from the first to the last. That is right from the second update on, with no
 * overshoot after a page load. When updates stop, the time runs on from RATE_QUIET_MS after the last
 * one, so the rate decays, and it is 0 once the window holds none.
 */
export function eventsPerSecond(state: DashboardState, now: number): number | undefined {
  if (state.observingSince === undefined) return undefined;
  const inWindow = state.arrivals.filter((arrival) => arrival.at > now - RATE_WINDOW_MS && arrival.at <= now);
  const observedMs = now - state.observingSince;
  if (inWindow.length === 0) return observedMs >= RATE_QUIET_MS ? 0 : undefined;
  const first = inWindow[0]!;
  if (inWindow.length === 1) {
    // One batch in a whole window: sparse traffic, averaged over the window once it has been watched that long.
    return observedMs >= RATE_WINDOW_MS ? first.clicks / (RATE_WINDOW_MS / 1000) : undefined;
  }
  const last = inWindow.at(-1)!;
  let clicks = 0;
  for (const arrival of inWindow.slice(1)) clicks += arrival.clicks;
  const spanMs = Math.max(last.at - first.at, now - first.at - RATE_QUIET_MS);
  return spanMs <= 0 ? undefined : clicks / (spanMs / 1000);
}

/**
 * Clicks per minute over all URLs (the chart's default), aligned with minuteSeries' minutes, and
 * the late clicks of each minute (not in the counts).
 */
export function totalSeries(state: DashboardState, now: number): { readonly minutes: readonly number[]; readonly points: readonly number[]; readonly late: readonly number[]; readonly total: number } {
  const { minutes } = minuteSeries(state, now, 0);
  const index = new Map(minutes.map((minute, position) => [minute, position]));
  const points = minutes.map(() => 0);
  const late = minutes.map(() => 0);
  for (const window of state.windows.values()) {
    const position = index.get(window.startMs);
    if (position === undefined) continue;
    points[position]! += window.count;
    late[position]! += window.lateCount;
  }
  return { minutes, points, late, total: points.reduce((sum, value) => sum + value, 0) };
}

/** How far the current minute has run on the server's clock, 0..1: its count is partial until 1. */
export const currentMinuteElapsed = (state: DashboardState, now: number): number => (serverNow(state, now) - currentMinute(state, now)) / WINDOW_MS;

export type WindowPhase =
  /** The current minute: clicks are arriving. */
  | 'open'
  /** Ended, but within the allowed lateness: delayed clicks are still counted. */
  | 'closing'
  /** No more on-time clicks can arrive; the counts are final. */
  | 'final';

export interface WindowSummary {
  readonly startMs: number;
  readonly endMs: number;
  readonly clicks: number;
  readonly lateClicks: number;
  readonly urls: number;
  readonly phase: WindowPhase;
  /**
   * No on-time click, only late ones: a minute that was already closed when its first click
   * arrived (late events land in old minutes). Not a bug and not a drop in traffic.
   */
  readonly lateOnly: boolean;
  /** The minute's most clicked URL, if any. */
  readonly topUrl: { readonly url: string; readonly count: number } | undefined;
}

/**
 * One row per minute the page holds, newest first. A minute is final only when the server flagged
 * one of its windows final, or a later minute: the server decides from the stream's watermark (the
 * slowest shard's), and announces every window of a minute when it becomes final. The clock alone
 * never makes a minute final, since a lagging shard can still change it.
 */
export function windowSummaries(state: DashboardState, now: number): WindowSummary[] {
  const byMinute = new Map<number, { endMs: number; clicks: number; lateClicks: number; urls: number; final: boolean; top: WindowState | undefined }>();
  for (const window of state.windows.values()) {
    const entry = byMinute.get(window.startMs) ?? { endMs: window.endMs, clicks: 0, lateClicks: 0, urls: 0, final: false, top: undefined };
    entry.clicks += window.count;
    entry.lateClicks += window.lateCount;
    entry.urls += window.count > 0 ? 1 : 0;
    entry.final ||= window.final;
    if (window.count > 0 && (entry.top === undefined || byCountThenUrl(window, entry.top) < 0)) entry.top = window;
    byMinute.set(window.startMs, entry);
  }
  const serverTime = serverNow(state, now);
  const newestFinal = Math.max(Number.NEGATIVE_INFINITY, ...[...byMinute].filter(([, entry]) => entry.final).map(([start]) => start));
  return [...byMinute]
    .sort(([a], [b]) => b - a)
    .map(([startMs, entry]) => {
      const final = entry.final || startMs <= newestFinal;
      const phase: WindowPhase = final ? 'final' : serverTime < entry.endMs ? 'open' : 'closing';
      return {
        startMs,
        endMs: entry.endMs,
        clicks: entry.clicks,
        lateClicks: entry.lateClicks,
        urls: entry.urls,
        phase,
        lateOnly: entry.clicks === 0 && entry.lateClicks > 0,
        topUrl: entry.top === undefined ? undefined : { url: entry.top.url, count: entry.top.count },
      };
    });
}
