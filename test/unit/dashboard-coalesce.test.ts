import { describe, expect, it } from 'vitest';
import { coalesceWindowChanges } from '../../lambdas/dashboard/core/coalesce';
import { toWindowChange } from '../../lambdas/dashboard/broadcast';
import { insert, modify, remove, T0, windowItem, windowStreamRecord } from './dashboard-fixtures';

const LATENESS_MS = 60_000;
const changesOf = (...records: ReturnType<typeof insert>[]) => records.map(toWindowChange);
const coalesce = (...records: ReturnType<typeof insert>[]) => coalesceWindowChanges(changesOf(...records), T0, LATENESS_MS);

describe('decoding window-table stream records', () => {
  it('reads an INSERT as the new image without an old one', () => {
    // Prepare
    const item = windowItem('/a', 0, 3);

    // Act
    const change = toWindowChange(insert(1, item));

    // Assess
    expect(change).toStrictEqual({
      eventName: 'INSERT',
      newImage: { url: '/a', windowStart: item.windowStart, windowEnd: item.windowEnd, count: 3, lateCount: 0 },
    });
  });

  it('reads a MODIFY with both images', () => {
    const change = toWindowChange(modify(1, windowItem('/a', 0, 3), windowItem('/a', 0, 5, 1)));
    expect(change).toMatchObject({ eventName: 'MODIFY', oldImage: { count: 3 }, newImage: { count: 5, lateCount: 1 } });
  });

  it('reads a REMOVE as its key', () => {
    const item = windowItem('/a', 0, 3);
    expect(toWindowChange(remove(1, item))).toStrictEqual({
      eventName: 'REMOVE',
      key: { url: '/a', windowStart: item.windowStart },
    });
  });

  it.each([
    ['an image that breaks the window contract', () => insert(1, { ...windowItem('/a', 0, 1), count: -1 })],
    ['an image without its count', () => {
      const record = insert(1, windowItem('/a', 0, 1));
      delete record.dynamodb!.NewImage!.count;
      return record;
    }],
    ['a record from another source', () => ({ ...insert(1, windowItem('/a', 0, 1)), eventSource: 'aws:kinesis' })],
    ['an INSERT without a new image', () => windowStreamRecord(1, 'INSERT', { oldImage: windowItem('/a', 0, 1) })],
  ])('rejects %s', (_name, record) => {
    expect(() => toWindowChange(record())).toThrow();
  });
});

describe('coalescing a batch', () => {
  it('turns one INSERT into a window whose delta is its whole count', () => {
    const item = windowItem('/a', 0, 4);
    expect(coalesce(insert(1, item))).toStrictEqual([
      { url: '/a', windowStart: item.windowStart, windowEnd: item.windowEnd, count: 4, lateCount: 0, delta: 4, final: false },
    ]);
  });

  it('keeps the latest image of a window updated several times and sums the deltas', () => {
    // Prepare: the aggregator wrote the same window three times in one batch.
    const v1 = windowItem('/a', 0, 2);
    const v2 = windowItem('/a', 0, 5);
    const v3 = windowItem('/a', 0, 9, 1);

    // Act
    const windows = coalesce(insert(1, v1), modify(2, v1, v2), modify(3, v2, v3));

    // Assess: one window, the last image, delta = 2 + 3 + 4.
    expect(windows).toStrictEqual([
      { url: '/a', windowStart: v3.windowStart, windowEnd: v3.windowEnd, count: 9, lateCount: 1, delta: 9, final: false },
    ]);
  });

  it('gives a MODIFY the difference between its images', () => {
    const [window] = coalesce(modify(1, windowItem('/a', 0, 10), windowItem('/a', 0, 13)));
    expect(window).toMatchObject({ count: 13, delta: 3 });
  });

  it('reports a change of the late count alone with delta 0', () => {
    const [window] = coalesce(modify(1, windowItem('/a', 0, 10), windowItem('/a', 0, 10, 2)));
    expect(window).toMatchObject({ count: 10, lateCount: 2, delta: 0 });
  });

  it('keeps different windows apart, in the order they first changed', () => {
    const a0 = windowItem('/a', 0, 1);
    const b0 = windowItem('/b', 0, 7);
    const a1 = windowItem('/a', 1, 30);
    const windows = coalesce(insert(1, a0), insert(2, b0), modify(3, windowItem('/a', 1, 29), a1), modify(4, a0, windowItem('/a', 0, 2)));
    expect(windows.map(({ url, windowStart, count, delta }) => ({ url, windowStart, count, delta }))).toStrictEqual([
      { url: '/a', windowStart: a0.windowStart, count: 2, delta: 2 },
      { url: '/b', windowStart: b0.windowStart, count: 7, delta: 7 },
      { url: '/a', windowStart: a1.windowStart, count: 30, delta: 1 },
    ]);
  });

  it('drops a window removed later in the batch', () => {
    const item = windowItem('/a', 0, 3);
    expect(coalesce(insert(1, item), remove(2, item), insert(3, windowItem('/b', 0, 1))).map((w) => w.url)).toStrictEqual(['/b']);
  });

  it('starts a window afresh when it is inserted again after a REMOVE', () => {
    const item = windowItem('/a', 0, 3);
    const [window] = coalesce(insert(1, item), remove(2, item), insert(3, windowItem('/a', 0, 2)));
    expect(window).toMatchObject({ count: 2, delta: 2 });
  });

  it('ignores a REMOVE of a window the batch never showed', () => {
    expect(coalesce(remove(1, windowItem('/a', 0, 3)))).toStrictEqual([]);
  });

  it.each([
    // T0 is 30 s into its minute: the window of two minutes ago ended 90 s ago.
    ['the current window', 0, false],
    ['a window that ended 30 s ago, inside the lateness', 1, false],
    ['a window that ended 90 s ago, past the lateness', 2, true],
  ])('flags %s final: %s', (_name, minute, final) => {
    const [window] = coalesce(insert(1, windowItem('/a', minute, 1)));
    expect(window?.final).toBe(final);
  });
});
