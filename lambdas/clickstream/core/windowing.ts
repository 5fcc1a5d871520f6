import { WINDOW_MS } from '../../../contracts/clickstream';

export function windowStartOf(timestampMs: number): number {
  return timestampMs - (((timestampMs % WINDOW_MS) + WINDOW_MS) % WINDOW_MS);
}

/**
 * A window stays open until the watermark passes its end by the allowed lateness; an event
 * for a closed window is late. The watermark is the highest event time the shard has seen.
 */
export function isWindowClosed(windowStartMs: number, watermarkMs: number, allowedLatenessMs: number): boolean {
  return windowStartMs + WINDOW_MS + allowedLatenessMs <= watermarkMs;
}

const isoCache = new Map<number, string>();

/** Window starts repeat constantly; caching their ISO form keeps toISOString off the hot path. */
export function windowIso(windowStartMs: number): string {
  let iso = isoCache.get(windowStartMs);
  if (iso === undefined) {
    if (isoCache.size > 10_000) isoCache.clear();
    iso = new Date(windowStartMs).toISOString();
    isoCache.set(windowStartMs, iso);
  }
  return iso;
}
