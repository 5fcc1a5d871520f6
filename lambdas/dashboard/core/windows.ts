import { WINDOW_MS, type ClickWindowItem } from '../../../contracts/clickstream';
import type { WindowCount } from '../../../contracts/dashboard';

/** The window-table attributes the dashboard shows (ClickWindowItem without its bookkeeping). */
export type WindowImage = Pick<ClickWindowItem, 'url' | 'windowStart' | 'windowEnd' | 'count' | 'lateCount'>;

/**
 * Whether no more on-time clicks can arrive for a window: its end plus the aggregator's allowed
 * lateness has passed on the wall clock. (The aggregator closes windows by the shard's event-time
 * watermark, which trails the wall clock, so a window flagged final here is closed there too
 * unless producers' clocks run ahead.)
 */
export function isFinal(windowEnd: string, nowMs: number, allowedLatenessMs: number): boolean {
  return nowMs > Date.parse(windowEnd) + allowedLatenessMs;
}

export function toWindowCount(image: WindowImage, delta: number, nowMs: number, allowedLatenessMs: number): WindowCount {
  return {
    url: image.url,
    windowStart: image.windowStart,
    windowEnd: image.windowEnd,
    count: image.count,
    lateCount: image.lateCount,
    delta,
    final: isFinal(image.windowEnd, nowMs, allowedLatenessMs),
  };
}

/**
 * The first windowStart a snapshot covers: `historyMinutes` one-minute windows, the current one
 * included, as the dashboard keeps them. Window starts are `Date#toISOString()` strings, which
 * sort lexicographically in time order, so a `windowStart >= cutoff` filter selects them.
 */
export function snapshotCutoff(nowMs: number, historyMinutes: number): string {
  const currentMinute = Math.floor(nowMs / WINDOW_MS) * WINDOW_MS;
  return new Date(currentMinute - (historyMinutes - 1) * WINDOW_MS).toISOString();
}

/** A snapshot: every window at or after the cutoff, oldest first, with no delta (history, not news). */
export function snapshotWindows(
  images: readonly WindowImage[],
  nowMs: number,
  historyMinutes: number,
  allowedLatenessMs: number,
): WindowCount[] {
  const cutoff = snapshotCutoff(nowMs, historyMinutes);
  return images
    .filter((image) => image.windowStart >= cutoff)
    .sort((a, b) => (a.windowStart === b.windowStart ? compare(a.url, b.url) : compare(a.windowStart, b.windowStart)))
    .map((image) => toWindowCount(image, 0, nowMs, allowedLatenessMs));
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
