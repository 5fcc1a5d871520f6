import { describe, expect, it } from 'vitest';
import { toTableChange } from '../../lambdas/dashboard/broadcast';
import { changedWindows, watermarksBefore, windowsToAnnounce } from '../../lambdas/dashboard/core/coalesce';
import { newlyFinalMinutes } from '../../lambdas/dashboard/core/windows';
import { insert, modify, partialItem, progressItem, remove, T0, windowItem, windowStreamRecord, windowTotal } from './dashboard-fixtures';

const LATENESS_MS = 60_000;
const changesOf = (...records: ReturnType<typeof insert>[]) => records.map(toTableChange);

describe('toTableChange', () => {
  it('decodes a partial with its old image, a shard\'s progress, and a removal', () => {
    const before = windowItem('/a', 0, 3);
    const after = windowItem('/a', 0, 5, 1);
    expect(toTableChange(modify(1, before, after))).toStrictEqual({
      kind: 'partial',
      newImage: { windowStart: after.windowStart, windowEnd: after.windowEnd, counts: { '/a': 5 }, lateCounts: { '/a': 1 }, shardId: after.shardId },
      oldImage: { counts: { '/a': 3 }, lateCounts: {} },
    });
    expect(toTableChange(modify(2, progressItem('s1', T0 - 5000), progressItem('s1', T0)))).toStrictEqual({
      kind: 'progress', shardId: 's1', oldWatermarkMs: T0 - 5000, newWatermarkMs: T0,
    });
    expect(toTableChange(remove(3, before))).toStrictEqual({ kind: 'removed' });
  });

  it.each([
    ['a partial that breaks the contract', () => insert(1, { ...windowItem('/a', 0, 1), counts: { '/a': -1 } })],
    ['a record from another source', () => ({ ...insert(1, windowItem('/a', 0, 1)), eventSource: 'aws:kinesis' })],
    ['an INSERT without a new image', () => windowStreamRecord(1, 'INSERT', { oldImage: windowItem('/a', 0, 1) })],
  ])('throws for %s, which marks the record failed', (_name, record) => {
    expect(() => toTableChange(record())).toThrow();
  });
});

describe('changedWindows', () => {
  it('sums, per (url, window), the clicks each rewrite of a shard\'s chunk added', () => {
    const v1 = partialItem(0, { '/a': 2, '/b': 1 });
    const v2 = partialItem(0, { '/a': 5, '/b': 1 });
    const v3 = partialItem(0, { '/a': 9, '/b': 1, '/c': 1 });
    const other = partialItem(0, { '/a': 4 }, {}, 'shardId-000000000001');

    const changed = changedWindows(changesOf(insert(1, v1), modify(2, v1, v2), modify(3, v2, v3), insert(4, other)));

    expect(changed).toStrictEqual(new Map([[v1.windowStart, new Map([['/a', 13], ['/b', 1], ['/c', 1]])]]));
  });

  it('lists a url whose late count alone changed, with 0 clicks added', () => {
    const changed = changedWindows(changesOf(modify(1, windowItem('/a', 0, 10), windowItem('/a', 0, 10, 2))));
    expect(changed.get(windowItem('/a', 0, 0).windowStart)).toStrictEqual(new Map([['/a', 0]]));
  });

  it('ignores progress and removals', () => {
    expect(changedWindows(changesOf(modify(1, progressItem('s1', 1), progressItem('s1', 2)), remove(2, windowItem('/a', 0, 1))))).toStrictEqual(new Map());
  });
});

describe('watermarksBefore', () => {
  it('keeps each shard\'s earliest old watermark in the batch', () => {
    const changes = changesOf(
      modify(1, progressItem('s1', 100), progressItem('s1', 200)),
      modify(2, progressItem('s1', 200), progressItem('s1', 300)),
      insert(3, progressItem('s2', 50)),
    );
    expect(watermarksBefore(changes)).toStrictEqual(new Map([['s1', 100], ['s2', Number.NEGATIVE_INFINITY]]));
  });
});

describe('newlyFinalMinutes', () => {
  const start = (minute: number) => windowTotal('/', minute, 0).windowStart;
  const end = (minute: number) => Date.parse(windowTotal('/', minute, 0).windowEnd);

  it('lists the minutes whose end + lateness the stream watermark passed in this move, oldest first', () => {
    expect(newlyFinalMinutes(end(5) + LATENESS_MS, end(2) + LATENESS_MS, LATENESS_MS, 30)).toStrictEqual([start(4), start(3), start(2)]);
  });

  it('lists nothing when the watermark did not move past another minute', () => {
    expect(newlyFinalMinutes(end(2) + LATENESS_MS, end(2) + LATENESS_MS + 59_000, LATENESS_MS, 30)).toStrictEqual([]);
    expect(newlyFinalMinutes(end(2), end(3), LATENESS_MS, 30)).toStrictEqual([]);
  });

  it('reaches back at most the dashboard history when the watermark was unknown', () => {
    expect(newlyFinalMinutes(Number.NEGATIVE_INFINITY, end(0) + LATENESS_MS, LATENESS_MS, 3)).toStrictEqual([start(2), start(1), start(0)]);
  });
});

describe('windowsToAnnounce', () => {
  it('announces changed windows with their totals and the clicks added, and every window of a newly final minute', () => {
    const totals = [windowTotal('/a', 0, 12), windowTotal('/z', 0, 3), windowTotal('/a', 2, 4), windowTotal('/b', 2, 1)];
    const changed = new Map([[windowTotal('/', 0, 0).windowStart, new Map([['/a', 2]])]]);

    const windows = windowsToAnnounce(totals, changed, new Set([windowTotal('/', 2, 0).windowStart]), T0, LATENESS_MS);

    expect(windows).toStrictEqual([
      { ...windowTotal('/a', 0, 12), delta: 2, final: false },
      { ...windowTotal('/a', 2, 4), delta: 0, final: true },
      { ...windowTotal('/b', 2, 1), delta: 0, final: true },
    ]);
  });
});
