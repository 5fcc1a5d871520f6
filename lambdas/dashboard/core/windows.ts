import { isWindowFinal, WINDOW_MS, type ClickWindowCount } from '../../../contracts/clickstream';
import type { WindowCount } from '../../../contracts/dashboard';

/** A (url, window) total across shards, as the dashboard shows it. */
export type WindowImage = ClickWindowCount;

/**
 * A WindowCount with `final` from the stream's watermark (the minimum over its shards): final
 * only when no shard can still change the count, whatever the wall clock says.
 */
export function toWindowCount(image: WindowImage, delta: number, streamWatermarkMs: number, allowedLatenessMs: number): WindowCount {
  return {
    url: image.url,
    windowStart: image.windowStart,
    windowEnd: image.windowEnd,
    count: image.count,
    lateCount: image.lateCount,
    delta,
    final: isWindowFinal(Date.parse(image.windowEnd), streamWatermarkMs, allowedLatenessMs),
  };
}

/**
 * The first windowStart a snapshot covers: `historyMinutes` one-minute windows, the current one
 * included, as the dashboard keeps them.
 */
export function snapshotCutoff(nowMs: number, historyMinutes: number): string {
  const currentMinute = Math.floor(nowMs / WINDOW_MS) * WINDOW_MS;
  return new Date(currentMinute - (historyMinutes - 1) * WINDOW_MS).toISOString();
}

/** The window starts a snapshot reads, oldest first: one minute partition each. */
export function snapshotMinutes(nowMs: number, historyMinutes: number): string[] {
  const first = Date.parse(snapshotCutoff(nowMs, historyMinutes));
  return Array.from({ length: historyMinutes }, (_, index) => new Date(first + index * WINDOW_MS).toISOString());
}

/** A snapshot: every window at or after the cutoff, oldest first, with no delta (history, not news). */
export function snapshotWindows(
  images: readonly WindowImage[],
  nowMs: number,
  historyMinutes: number,
  streamWatermarkMs: number,
  allowedLatenessMs: number,
): WindowCount[] {
  const cutoff = snapshotCutoff(nowMs, historyMinutes);
  return images
    .filter((image) => image.windowStart >= cutoff)
    .sort((a, b) => (a.windowStart === b.windowStart ? compare(a.url, b.url) : compare(a.windowStart, b.windowStart)))
    .map((image) => toWindowCount(image, 0, streamWatermarkMs, allowedLatenessMs));
}

/**
 * Window starts that became final when the stream's watermark moved from `before` to `after`:
 * those whose end + lateness lies in (before, after]. A watermark that was unknown before reaches
 * back at most `historyMinutes`, what a page can show.
 */
export function newlyFinalMinutes(before: number, after: number, allowedLatenessMs: number, historyMinutes: number): string[] {
  if (!(after > before) || !Number.isFinite(after)) return [];
  const lastStart = Math.floor((after - allowedLatenessMs - WINDOW_MS) / WINDOW_MS) * WINDOW_MS;
  const floor = lastStart - (historyMinutes - 1) * WINDOW_MS;
  const starts: string[] = [];
  for (let start = lastStart; start >= floor; start -= WINDOW_MS) {
    if (isWindowFinal(start + WINDOW_MS, before, allowedLatenessMs)) break;
    starts.push(new Date(start).toISOString());
  }
  return starts.reverse();
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
