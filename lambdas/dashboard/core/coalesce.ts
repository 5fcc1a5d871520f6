import type { WindowCount } from '../../../contracts/dashboard';
import { toWindowCount, type WindowImage } from './windows';

/** One window-table change from its DynamoDB stream, decoded and validated. */
export type WindowChange =
  | { readonly eventName: 'INSERT' | 'MODIFY'; readonly newImage: WindowImage; readonly oldImage?: WindowImage }
  | { readonly eventName: 'REMOVE'; readonly key: Pick<WindowImage, 'url' | 'windowStart'> };

const keyOf = (window: Pick<WindowImage, 'url' | 'windowStart'>): string => JSON.stringify([window.url, window.windowStart]);

/**
 * Coalesces a batch of changes, in stream order, into one WindowCount per (url, windowStart):
 * - the latest image wins;
 * - delta is the sum of (new count - old count) over the batch, so it equals the clicks the batch
 *   added to the window, however many times the aggregator updated it (an INSERT's old count is 0);
 * - a REMOVE drops the window: the protocol has no removal message, and a window that no longer
 *   exists must not be re-announced. A later INSERT of the same key starts it afresh.
 * Windows come out in the order they first changed.
 */
export function coalesceWindowChanges(
  changes: Iterable<WindowChange>,
  nowMs: number,
  allowedLatenessMs: number,
): WindowCount[] {
  const latest = new Map<string, { image: WindowImage; delta: number }>();
  for (const change of changes) {
    if (change.eventName === 'REMOVE') {
      latest.delete(keyOf(change.key));
      continue;
    }
    const key = keyOf(change.newImage);
    const added = change.newImage.count - (change.oldImage?.count ?? 0);
    latest.set(key, { image: change.newImage, delta: (latest.get(key)?.delta ?? 0) + added });
  }
  return [...latest.values()].map(({ image, delta }) => toWindowCount(image, delta, nowMs, allowedLatenessMs));
}
