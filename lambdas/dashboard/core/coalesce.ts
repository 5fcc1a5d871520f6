import type { ShardPartialItem } from '../../../contracts/clickstream';
import type { WindowCount } from '../../../contracts/dashboard';
import { toWindowCount, type WindowImage } from './windows';

/** One window-table change from its DynamoDB stream, decoded and validated. */
export type TableChange =
  | {
      readonly kind: 'partial';
      readonly newImage: Pick<ShardPartialItem, 'windowStart' | 'windowEnd' | 'counts' | 'lateCounts' | 'shardId'>;
      readonly oldImage?: Pick<ShardPartialItem, 'counts' | 'lateCounts'>;
    }
  | { readonly kind: 'progress'; readonly shardId: string; readonly oldWatermarkMs?: number; readonly newWatermarkMs?: number }
  /** A partial or progress item removed (TTL, or by hand): nothing to announce. */
  | { readonly kind: 'removed' };

/** Clicks a batch of changes added, per window start, then url. */
export type ChangedWindows = Map<string, Map<string, number>>;

/**
 * The (url, window) pairs a batch of partial changes touched and the clicks they added: per
 * chunk, the new count minus the old (an INSERT's old count is 0), summed over the batch, so it
 * equals the clicks the batch added however many times a shard rewrote the chunk. A url whose
 * late count alone changed is listed with 0.
 */
export function changedWindows(changes: Iterable<TableChange>): ChangedWindows {
  const changed: ChangedWindows = new Map();
  for (const change of changes) {
    if (change.kind !== 'partial') continue;
    const { newImage, oldImage } = change;
    let byUrl = changed.get(newImage.windowStart);
    if (byUrl === undefined) {
      byUrl = new Map();
      changed.set(newImage.windowStart, byUrl);
    }
    for (const [url, count] of Object.entries(newImage.counts)) {
      const added = count - (oldImage?.counts[url] ?? 0);
      if (added !== 0) byUrl.set(url, (byUrl.get(url) ?? 0) + added);
    }
    for (const [url, late] of Object.entries(newImage.lateCounts)) {
      if (late !== (oldImage?.lateCounts[url] ?? 0) && !byUrl.has(url)) byUrl.set(url, 0);
    }
  }
  return changed;
}

/**
 * The earliest watermark each shard had in this batch, from the old images of its progress
 * changes: with the stream's watermark now, what it was before the batch.
 */
export function watermarksBefore(changes: Iterable<TableChange>): Map<string, number> {
  const before = new Map<string, number>();
  for (const change of changes) {
    if (change.kind !== 'progress' || before.has(change.shardId)) continue;
    before.set(change.shardId, change.oldWatermarkMs ?? Number.NEGATIVE_INFINITY);
  }
  return before;
}

/**
 * The messages' windows: every changed (url, window) with its total and the clicks added, then
 * every window of the newly final minutes not already listed, with delta 0. Totals come from the
 * reads that followed the changes, so a count is never older than the change that announced it.
 */
export function windowsToAnnounce(
  totals: readonly WindowImage[],
  changed: ChangedWindows,
  newlyFinal: ReadonlySet<string>,
  streamWatermarkMs: number,
  allowedLatenessMs: number,
): WindowCount[] {
  const announced: WindowCount[] = [];
  for (const total of totals) {
    const delta = changed.get(total.windowStart)?.get(total.url);
    if (delta === undefined && !newlyFinal.has(total.windowStart)) continue;
    announced.push(toWindowCount(total, delta ?? 0, streamWatermarkMs, allowedLatenessMs));
  }
  return announced;
}
