import { describe, expect, it } from 'vitest';
import { DEFAULT_COMMIT_LIMITS, planBatch, type PlanSettings } from '../../lambdas/clickstream/core/batch-plan';
import { decodeClick } from '../../lambdas/clickstream/core/decode';
import { fingerprint } from '../../lambdas/clickstream/core/ledger';
import { compareSequenceNumbers, sortableSequence } from '../../lambdas/clickstream/core/sequence';
import { isWindowClosed, windowStartOf } from '../../lambdas/clickstream/core/windowing';
import { sequenceAt, shardRecordFactory } from '../support/kinesis-records';

const SETTINGS: PlanSettings = { maxEventBytes: 4096, maxFutureSkewMs: 300_000, allowedLatenessMs: 60_000, ...DEFAULT_COMMIT_LIMITS };
const T0 = Date.parse('2026-01-01T00:10:00Z');
const NO_STATE = { watermarkMs: Number.NEGATIVE_INFINITY };
const click = (eventId: string, url: string, timestamp: number | string) => ({ eventId, url, userId: 'u1', timestamp });

describe('windowing', () => {
  it.each([
    ['2026-01-01T00:10:00.000Z', '2026-01-01T00:10:00.000Z'],
    ['2026-01-01T00:10:59.999Z', '2026-01-01T00:10:00.000Z'],
    ['2026-01-01T00:11:00.000Z', '2026-01-01T00:11:00.000Z'],
    ['1970-01-01T00:00:30.000Z', '1970-01-01T00:00:00.000Z'],
  ])('puts %s in the window starting %s', (timestamp, windowStart) => {
    expect(new Date(windowStartOf(Date.parse(timestamp))).toISOString()).toBe(windowStart);
  });

  it('closes a window only when the watermark passes its end by the allowed lateness', () => {
    const start = Date.parse('2026-01-01T00:10:00Z');
    expect(isWindowClosed(start, start + 60_000 + 59_999, 60_000)).toBe(false);
    expect(isWindowClosed(start, start + 60_000 + 60_000, 60_000)).toBe(true);
  });
});

describe('sequence numbers', () => {
  it.each([
    ['9', '10', -1],
    ['10', '9', 1],
    ['49600000000000000000000000000000000000000000000000000001', '49600000000000000000000000000000000000000000000000000002', -1],
    ['123', '123', 0],
  ])('compares %s with %s as integers', (a, b, expected) => {
    expect(compareSequenceNumbers(a, b)).toBe(expected);
  });

  it('pads sequence numbers so that string order is numeric order', () => {
    expect(sortableSequence('9') < sortableSequence('10')).toBe(true);
    expect(sortableSequence('10')).toHaveLength(128);
  });
});

describe('decodeClick', () => {
  const decode = (body: unknown, arrivalMs = T0) =>
    decodeClick(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)).toString('base64'), arrivalMs, SETTINGS);

  it('accepts ISO-8601 and epoch-millisecond timestamps and normalises both to epoch ms', () => {
    expect(decode(click('e1', '/a', '2026-01-01T00:09:30.000Z'))).toStrictEqual({
      ok: true,
      click: { eventId: 'e1', url: '/a', userId: 'u1', timestamp: Date.parse('2026-01-01T00:09:30.000Z') },
    });
    expect(decode(click('e1', '/a', T0 - 1000))).toMatchObject({ ok: true, click: { timestamp: T0 - 1000 } });
  });

  it.each([
    ['not JSON', '{"eventId": ', 'not-json'],
    ['a missing field', { eventId: 'e1', url: '/a', timestamp: T0 }, 'schema'],
    ['a wrong type', { eventId: 'e1', url: 42, userId: 'u1', timestamp: T0 }, 'schema'],
    ['an empty eventId', { eventId: '', url: '/a', userId: 'u1', timestamp: T0 }, 'schema'],
    ['a timestamp without a zone', { eventId: 'e1', url: '/a', userId: 'u1', timestamp: '2026-01-01 00:00:00' }, 'schema'],
    ['an oversized record', { eventId: 'e1', url: `/${'x'.repeat(5000)}`, userId: 'u1', timestamp: T0 }, 'oversized'],
    ['a timestamp far in the future', click('e1', '/a', T0 + 301_000), 'future-timestamp'],
  ])('rejects %s with reason %s', (_name, body, reason) => {
    expect(decode(body)).toMatchObject({ ok: false, reason });
  });

  it('rejects a URL that fits the character limit but not DynamoDB\'s byte limit, naming its size', () => {
    // 1,100 'é' is under the 2,048-character limit but 2,230 UTF-8 bytes with its path: it would stall its shard.
    const url = `/p/${'é'.repeat(1100)}/x/${'y'.repeat(24)}`;
    expect(url.length).toBeLessThan(2048);
    expect(Buffer.byteLength(url)).toBe(2230);
    expect(decode(click('e1', url, T0))).toStrictEqual({ ok: false, reason: 'schema', detail: 'url: 2230 UTF-8 bytes; at most 2048 can be stored' });
    const justFits = `/${'é'.repeat(1023)}a`;
    expect(Buffer.byteLength(justFits)).toBe(2048);
    expect(decode(click('e1', justFits, T0))).toMatchObject({ ok: true });
  });

  it.each([
    ['a lone high surrogate in the url', { eventId: 'e1', url: '/a\ud800', userId: 'u1', timestamp: T0 }, 'url: lone surrogate \\ud800 at index 2'],
    ['a lone low surrogate in the eventId', { eventId: 'e\udc00', url: '/a', userId: 'u1', timestamp: T0 }, 'eventId: lone surrogate \\udc00 at index 1'],
  ])('rejects %s instead of storing it as a different string', (_name, body, detail) => {
    // JSON.stringify escapes lone surrogates, so the record carries them as \uXXXX escapes, as a producer would.
    const result = decode(JSON.stringify(body));
    expect(result).toMatchObject({ ok: false, reason: 'schema' });
    expect(!result.ok && result.detail).toContain(detail);
  });

  it('accepts surrogate pairs (emoji) and counts them as 4 bytes', () => {
    expect(decode(click('e1', '/😀', T0))).toMatchObject({ ok: true, click: { url: '/😀' } });
  });

  it('names the offending field in schema errors', () => {
    const result = decode({ eventId: 'e1', url: '/a', timestamp: T0 });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toContain('userId');
  });
});

describe('planBatch', () => {
  it('pre-aggregates a batch into one delta per (url, window) and checkpoints at the last record', () => {
    const records = [
      shardRecordFactory(1, click('e1', '/a', T0 - 5000)),
      shardRecordFactory(2, click('e2', '/a', T0 - 4000)),
      shardRecordFactory(3, click('e3', '/b', T0 - 3000)),
      shardRecordFactory(4, click('e4', '/a', T0 + 61_000)),
    ];

    const plan = planBatch(records, NO_STATE, SETTINGS);

    expect(plan.commits).toStrictEqual([
      {
        firstSequenceNumber: sequenceAt(1),
        lastSequenceNumber: sequenceAt(4),
        // e4 is stamped 61 s after it arrived (at T0): it is counted, but moves the watermark only to T0.
        watermarkMs: T0,
        windows: [
          { url: '/a', windowStartMs: windowStartOf(T0 - 5000), count: 2, lateCount: 0 },
          { url: '/b', windowStartMs: windowStartOf(T0 - 3000), count: 1, lateCount: 0 },
          { url: '/a', windowStartMs: windowStartOf(T0 + 61_000), count: 1, lateCount: 0 },
        ],
        lastArrivalMs: T0,
        fingerprints: ['e1', 'e2', 'e3', 'e4'].map(fingerprint),
      },
    ]);
    expect(plan.outcomes).toStrictEqual({ replayed: 0, counted: 4, duplicate: 0, late: 0, invalid: 0 });
  });

  it('skips records at or below the checkpoint, so a replayed batch changes nothing', () => {
    const records = [1, 2, 3].map((n) => shardRecordFactory(n, click(`e${n}`, '/a', T0)));

    const plan = planBatch(records, { checkpoint: sequenceAt(2), watermarkMs: T0 }, SETTINGS);

    expect(plan.outcomes).toMatchObject({ replayed: 2, counted: 1 });
    expect(plan.commits[0]?.windows).toStrictEqual([{ url: '/a', windowStartMs: windowStartOf(T0), count: 1, lateCount: 0 }]);
  });

  it('records each step\'s first record, so the log shows which records a step skipped', () => {
    // The batch starts after a gap (records 3 and 4 went to the on-failure destination).
    const records = [5, 6, 7].map((n) => shardRecordFactory(n, click(`e${n}`, '/a', T0)));
    const plan = planBatch(records, { checkpoint: sequenceAt(2), watermarkMs: T0 }, { ...SETTINGS, maxEntryBytes: 2 + 16 + 2 * 8 });
    expect(plan.commits.map((commit) => [commit.firstSequenceNumber, commit.lastSequenceNumber])).toStrictEqual([
      [sequenceAt(5), sequenceAt(6)],
      [sequenceAt(7), sequenceAt(7)],
    ]);
  });

  it('counts skipped records behind the checkpoint in recovery steps, which move neither checkpoint nor watermark', () => {
    // Records 3 and 4 were skipped (the mapping gave up on them); 1, 2 and 5 were handled; 6 is new.
    const records = [1, 2, 3, 4, 5, 6].map((n) => shardRecordFactory(n, click(`e${n}`, n === 4 ? '/b' : '/a', T0 - 1000), T0 + n));
    const skipped = new Set([sequenceAt(3), sequenceAt(4)]);
    const state = { checkpoint: sequenceAt(5), watermarkMs: T0 - 30_000 };

    const plan = planBatch(records, state, SETTINGS, () => false, (sequenceNumber) => (skipped.has(sequenceNumber) ? 'skipped' : 'handled'));

    expect(plan.outcomeOf).toStrictEqual(['replayed', 'replayed', 'counted', 'counted', 'replayed', 'counted']);
    expect(plan.recoveries).toStrictEqual([{
      firstSequenceNumber: sequenceAt(3),
      lastSequenceNumber: sequenceAt(4),
      watermarkMs: T0 - 30_000,
      lastArrivalMs: T0 + 4,
      windows: [
        { url: '/a', windowStartMs: windowStartOf(T0 - 1000), count: 1, lateCount: 0 },
        { url: '/b', windowStartMs: windowStartOf(T0 - 1000), count: 1, lateCount: 0 },
      ],
      fingerprints: [fingerprint('e3'), fingerprint('e4')],
    }]);
    // Only record 6 moves the checkpoint, and the watermark follows it alone.
    expect(plan.commits.map((commit) => [commit.firstSequenceNumber, commit.lastSequenceNumber, commit.watermarkMs])).toStrictEqual([
      [sequenceAt(6), sequenceAt(6), T0 - 1000],
    ]);
  });

  it('deduplicates a recovered record against the ledger, and judges its lateness by the shard\'s watermark', () => {
    const records = [shardRecordFactory(3, click('e3', '/a', T0 - 200_000)), shardRecordFactory(4, click('resent', '/a', T0))];
    const plan = planBatch(records, { checkpoint: sequenceAt(9), watermarkMs: T0 }, SETTINGS, (value) => value === fingerprint('resent'), () => 'skipped');
    expect(plan.outcomeOf).toStrictEqual(['late', 'duplicate']);
    expect(plan.recoveries[0]?.windows).toStrictEqual([{ url: '/a', windowStartMs: windowStartOf(T0 - 200_000), count: 0, lateCount: 1 }]);
    expect(plan.lateEvents.map((late) => late.recordIndex)).toStrictEqual([0]);
  });

  it('counts a re-sent eventId once, whether the first copy is in this batch or in the ledger', () => {
    const records = [
      shardRecordFactory(1, click('e1', '/a', T0)),
      shardRecordFactory(2, click('e1', '/a', T0)),
      shardRecordFactory(3, click('e0', '/a', T0)),
    ];

    const plan = planBatch(records, NO_STATE, SETTINGS, (eventFingerprint) => eventFingerprint === fingerprint('e0'));

    expect(plan.outcomes).toMatchObject({ counted: 1, duplicate: 2 });
    expect(plan.commits[0]?.fingerprints).toStrictEqual([fingerprint('e1')]);
    expect(plan.commits[0]?.lastSequenceNumber).toBe(sequenceAt(3));
  });

  it('counts out-of-order events within the allowed lateness and sends later ones to the late sink', () => {
    const records = [
      shardRecordFactory(1, click('e1', '/a', T0)),
      shardRecordFactory(2, click('e2', '/a', T0 - 59_999)), // less than the allowed lateness behind: counted
      shardRecordFactory(3, click('e3', '/a', T0 - 200_000)), // window closed long ago
    ];

    const plan = planBatch(records, NO_STATE, SETTINGS);

    expect(plan.outcomes).toMatchObject({ counted: 2, late: 1 });
    expect(plan.lateEvents).toHaveLength(1);
    expect(plan.lateEvents[0]).toMatchObject({ recordIndex: 2, watermarkMs: T0, click: { eventId: 'e3' } });
    expect(plan.commits[0]?.windows).toContainEqual({ url: '/a', windowStartMs: windowStartOf(T0 - 200_000), count: 0, lateCount: 1 });
    expect(plan.commits[0]?.fingerprints).toContain(fingerprint('e3'));
  });

  it('never lets an event move the watermark past its own arrival, so a fast producer clock closes no window', () => {
    // Reproduces the defect: one click stamped 290 s ahead, then five on-time clicks. With the watermark
    // taken from event time alone this gave counted 1, late 5 for about five minutes.
    const arrival = (n: number) => T0 + n * 100;
    const records = [
      shardRecordFactory(1, click('ahead', '/a', arrival(1) + 290_000), arrival(1)),
      ...[2, 3, 4, 5, 6].map((n) => shardRecordFactory(n, click(`on-time-${n}`, '/a', arrival(n) - 2000), arrival(n))),
    ];

    const plan = planBatch(records, NO_STATE, SETTINGS);

    expect(plan.outcomes).toMatchObject({ counted: 6, late: 0 });
    expect(plan.commits.at(-1)!.watermarkMs).toBe(arrival(1)); // the ahead click, capped at its arrival
    // The committed watermark carries the bound into the next batch too.
    const next = planBatch([shardRecordFactory(7, click('on-time-7', '/a', T0 - 3000), arrival(7))], {
      checkpoint: sequenceAt(6),
      watermarkMs: plan.commits.at(-1)!.watermarkMs,
    }, SETTINGS);
    expect(next.outcomes).toMatchObject({ counted: 1, late: 0 });
  });

  it('uses the committed watermark, so lateness is the same after a restart', () => {
    const plan = planBatch([shardRecordFactory(5, click('e5', '/a', T0 - 200_000))], { checkpoint: sequenceAt(4), watermarkMs: T0 }, SETTINGS);
    expect(plan.outcomes).toMatchObject({ late: 1, counted: 0 });
  });

  it('dead-letters invalid records with their index and reason and moves the checkpoint past them', () => {
    const records = [shardRecordFactory(1, 'not json'), shardRecordFactory(2, click('e2', '/a', T0))];

    const plan = planBatch(records, NO_STATE, SETTINGS);

    expect(plan.rejections).toMatchObject([{ recordIndex: 0, reason: 'not-json' }]);
    expect(plan.commits[0]?.lastSequenceNumber).toBe(sequenceAt(2));
  });

  it('still commits the checkpoint when every record was invalid', () => {
    const plan = planBatch([shardRecordFactory(1, '{}')], NO_STATE, SETTINGS);
    expect(plan.commits).toStrictEqual([{ firstSequenceNumber: sequenceAt(1), lastSequenceNumber: sequenceAt(1), watermarkMs: Number.NEGATIVE_INFINITY, lastArrivalMs: T0, windows: [], fingerprints: [] }]);
  });

  it('splits commits when the log entry would grow past its byte limit, 8 bytes per eventId', () => {
    const records = Array.from({ length: 4 }, (_, n) => shardRecordFactory(n + 1, click(`event-${n}`, '/a', T0)));
    const plan = planBatch(records, NO_STATE, { ...SETTINGS, maxEntryBytes: 2 + 16 + 3 * 8 });
    expect(plan.commits.map((commit) => commit.fingerprints.length)).toStrictEqual([3, 1]);
  });

  it('splits commits so that their window deltas stay under the byte limit of one log entry', () => {
    const longUrl = (n: number) => `/${String(n).repeat(1000)}`;
    const records = Array.from({ length: 4 }, (_, n) => shardRecordFactory(n + 1, click(`e${n}`, longUrl(n), T0)));
    const plan = planBatch(records, NO_STATE, { ...SETTINGS, maxEntryBytes: 2 * (1001 + 16 + 8) });
    expect(plan.commits.map((commit) => commit.windows.map((delta) => delta.url.slice(0, 3)))).toStrictEqual([['/00', '/11'], ['/22', '/33']]);
  });

  it('plans the same commits when a batch is replayed in bisected halves', () => {
    const records = Array.from({ length: 40 }, (_, n) =>
      shardRecordFactory(n + 1, click(`e${n % 30}`, `/p${n % 7}`, T0 + (n % 5) * 1000 - 2000)),
    );
    const whole = planBatch(records, NO_STATE, SETTINGS);

    const firstHalf = planBatch(records.slice(0, 20), NO_STATE, SETTINGS);
    const afterFirst = { checkpoint: firstHalf.commits.at(-1)!.lastSequenceNumber, watermarkMs: firstHalf.commits.at(-1)!.watermarkMs };
    const ledger = new Set(firstHalf.commits.flatMap((commit) => commit.fingerprints));
    const secondHalf = planBatch(records, afterFirst, SETTINGS, (eventFingerprint) => ledger.has(eventFingerprint));

    const total = (plans: typeof whole[]) => {
      const counts = new Map<string, number>();
      for (const commit of plans.flatMap((plan) => plan.commits)) {
        for (const delta of commit.windows) counts.set(`${delta.url}|${delta.windowStartMs}`, (counts.get(`${delta.url}|${delta.windowStartMs}`) ?? 0) + delta.count);
      }
      return counts;
    };
    expect(total([firstHalf, secondHalf])).toStrictEqual(total([whole]));
    expect(secondHalf.outcomes.replayed).toBe(20);
  });
});
