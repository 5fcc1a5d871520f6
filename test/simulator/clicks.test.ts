import { describe, expect, it } from 'vitest';
import { AGGREGATOR_DEFAULTS } from '../../contracts/aggregator-settings';
import { ClickEvent, WINDOW_MS, type ClickEventInput } from '../../contracts/clickstream';
import {
  CLICK_DEFAULTS,
  RESEND_WITHIN_MS,
  buildUrlPaths,
  expectedWindowCounts,
  generateClicks,
  type ClickGeneratorOptions,
  type GeneratedRecord,
  type RecordTruth,
} from '../../simulator/clicks';

const START = Date.parse('2025-03-01T12:00:00.000Z');
const decoder = new TextDecoder();
const encoder = new TextEncoder();

const generate = (options: ClickGeneratorOptions): GeneratedRecord[] =>
  Array.from(generateClicks({ seed: 11, startTime: START, ...options }));

const ofKind = (records: GeneratedRecord[], kind: RecordTruth['kind']): GeneratedRecord[] =>
  records.filter((record) => record.truth.kind === kind);

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((byte, i) => byte === b[i]);

/** Hand-made record factory for the ground-truth tests. */
function clickRecord(kind: 'valid' | 'resend' | 'late', event: ClickEventInput, emittedAt = START): GeneratedRecord {
  return { partitionKey: event.userId, data: encoder.encode(JSON.stringify(event)), emittedAt, truth: { kind, event } };
}
function malformedRecord(text: string): GeneratedRecord {
  return { partitionKey: 'user-1', data: encoder.encode(text), emittedAt: START, truth: { kind: 'malformed', reason: 'not-json' } };
}

describe('generateClicks', () => {
  const faulty = generate({ count: 50_000, duplicates: 0.02, late: 0.02, malformed: 0.02 });

  it('is deterministic for a seed and start time, and differs with the seed', () => {
    // Act
    const a = generate({ count: 2_000, duplicates: 0.05, late: 0.05, malformed: 0.05 });
    const b = generate({ count: 2_000, duplicates: 0.05, late: 0.05, malformed: 0.05 });
    const c = generate({ count: 2_000, duplicates: 0.05, late: 0.05, malformed: 0.05, seed: 12 });

    // Assess
    const view = (records: GeneratedRecord[]): string[] =>
      records.map((r) => `${r.partitionKey} ${r.emittedAt} ${JSON.stringify(r.truth)} ${Buffer.from(r.data).toString('base64')}`);
    expect(view(b)).toStrictEqual(view(a));
    expect(c.map((r) => decoder.decode(r.data))).not.toStrictEqual(a.map((r) => decoder.decode(r.data)));
  });

  it('advances the simulated clock by the rate: record i is emitted at startTime + i * 1000 / rate', () => {
    // Act
    const records = generate({ count: 1_001, rate: 500 });

    // Assess
    expect(records[0]?.emittedAt).toBe(START);
    expect(records[250]?.emittedAt).toBe(START + 500);
    expect(records[1_000]?.emittedAt).toBe(START + 2_000);
  });

  it('emits only valid events by default', () => {
    // Act
    const records = generate({ count: 5_000 });

    // Assess
    expect(ofKind(records, 'valid')).toHaveLength(5_000);
  });

  it('is lazy and unbounded without a count', () => {
    // Prepare
    const iterator = generateClicks({ seed: 1, startTime: START });

    // Act
    let n = 0;
    for (const _ of iterator) if (++n === 10_000) break;

    // Assess
    expect(n).toBe(10_000);
  });

  it.each([
    ['resend', 0.02],
    ['late', 0.02],
    ['malformed', 0.02],
  ] as const)('injects %s at the requested fraction %s', (kind, fraction) => {
    // Act
    const share = ofKind(faulty, kind).length / faulty.length;

    // Assess: binomial sd at n=50k, p=0.02 is 0.0006.
    expect(Math.abs(share - fraction)).toBeLessThan(0.003);
  });

  it('holds the fractions when they are large', () => {
    // Act
    const records = generate({ count: 20_000, duplicates: 0.1, late: 0.2, malformed: 0.3 });

    // Assess
    const share = (kind: RecordTruth['kind']): number => ofKind(records, kind).length / records.length;
    expect(share('resend')).toBeCloseTo(0.1, 1);
    expect(share('late')).toBeCloseTo(0.2, 1);
    expect(share('malformed')).toBeCloseTo(0.3, 1);
    expect(share('valid')).toBeCloseTo(0.4, 1);
  });

  it('re-sends exact bytes of an earlier valid record, with its partition key, a little later, once', () => {
    // Prepare
    const firstIndex = new Map<string, number>();
    faulty.forEach((record, index) => {
      if (record.truth.kind === 'valid') firstIndex.set(record.truth.event.eventId, index);
    });
    const resent = new Set<string>();

    // Act / Assess
    const resends = faulty.flatMap((record, position) => (record.truth.kind === 'resend' ? [{ resend: record, position }] : []));
    expect(resends.length).toBeGreaterThan(0);
    for (const { resend, position } of resends) {
      const eventId = (resend.truth.event as ClickEventInput).eventId;
      const index = firstIndex.get(eventId);
      expect(index).toBeDefined();
      const original = faulty[index as number] as GeneratedRecord;
      expect(bytesEqual(resend.data, original.data)).toBe(true);
      expect(resend.data).not.toBe(original.data);
      expect(resend.partitionKey).toBe(original.partitionKey);
      expect(resend.emittedAt).toBeGreaterThanOrEqual(original.emittedAt);
      expect(resend.emittedAt - original.emittedAt).toBeLessThanOrEqual(RESEND_WITHIN_MS);
      expect(position).toBeGreaterThan(index as number);
      expect(resent.has(eventId)).toBe(false);
      resent.add(eventId);
    }
  });

  it('writes every valid, re-sent and late record as an event the contract accepts, keyed by userId', () => {
    // Act: collect the records that break a rule, then assert once (50k records).
    const problems = faulty
      .filter((record) => record.truth.kind !== 'malformed')
      .flatMap((record) => {
        const parsed = ClickEvent.safeParse(JSON.parse(decoder.decode(record.data)));
        if (!parsed.success) return [`${record.truth.kind} does not parse: ${parsed.error.message}`];
        const truth = ClickEvent.parse(record.truth.event);
        const issues: string[] = [];
        if (JSON.stringify(parsed.data) !== JSON.stringify(truth)) issues.push(`bytes differ from truth for ${truth.eventId}`);
        if (record.partitionKey !== parsed.data.userId) issues.push(`partition key ${record.partitionKey} is not ${parsed.data.userId}`);
        if (record.data.byteLength > AGGREGATOR_DEFAULTS.maxEventBytes) issues.push(`${truth.eventId} is oversized`);
        return issues;
      });

    // Assess
    expect(problems).toStrictEqual([]);
    expect(faulty.filter((record) => record.truth.kind !== 'malformed').length).toBeGreaterThan(45_000);
  });

  it('timestamps valid events at the simulated clock, some delayed by up to disorderMs, in both formats', () => {
    // Prepare
    const valid = ofKind(faulty, 'valid');
    const delays = valid.map((record) => record.emittedAt - ClickEvent.parse(record.truth.event).timestamp);
    const formats = valid.map((record) => {
      const timestamp = (record.truth.event as ClickEventInput).timestamp;
      return typeof timestamp === 'number' ? 'epoch' : timestamp.endsWith('Z') ? 'iso-z' : 'iso-offset';
    });

    // Assess
    expect(Math.min(...delays)).toBe(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(CLICK_DEFAULTS.disorderMs);
    expect(Math.max(...delays)).toBeGreaterThan(CLICK_DEFAULTS.disorderMs * 0.9);
    const delayedShare = delays.filter((d) => d > 0).length / delays.length;
    expect(delayedShare).toBeGreaterThan(0.2);
    expect(delayedShare).toBeLessThan(0.4);
    expect(new Set(formats)).toStrictEqual(new Set(['epoch', 'iso-z', 'iso-offset']));
    expect(formats.filter((f) => f === 'epoch').length / formats.length).toBeCloseTo(0.5, 1);
  });

  it('timestamps late events lateByMs before the clock, on a partition key whose shard has already seen the window close', () => {
    // Prepare
    const newestOnKey = new Map<string, number>();

    // Act / Assess
    let lateCount = 0;
    for (const record of faulty) {
      if (record.truth.kind === 'valid') {
        const ts = ClickEvent.parse(record.truth.event).timestamp;
        newestOnKey.set(record.partitionKey, Math.max(ts, newestOnKey.get(record.partitionKey) ?? 0));
      }
      if (record.truth.kind !== 'late') continue;
      lateCount++;
      const ts = ClickEvent.parse(record.truth.event).timestamp;
      expect(ts).toBe(record.emittedAt - CLICK_DEFAULTS.lateByMs);
      const windowEnd = Math.floor(ts / WINDOW_MS) * WINDOW_MS + WINDOW_MS;
      expect(newestOnKey.get(record.partitionKey)).toBeGreaterThanOrEqual(windowEnd + AGGREGATOR_DEFAULTS.allowedLatenessSeconds * 1000);
    }
    expect(lateCount).toBeGreaterThan(0);
  });

  it('makes every malformed record one the aggregator must reject, for each reason', () => {
    // Prepare
    const reasons = new Map<string, number>();

    // Act / Assess
    for (const record of ofKind(faulty, 'malformed')) {
      if (record.truth.kind !== 'malformed') continue;
      reasons.set(record.truth.reason, (reasons.get(record.truth.reason) ?? 0) + 1);
      const text = decoder.decode(record.data);
      switch (record.truth.reason) {
        case 'not-json':
          expect(() => JSON.parse(text)).toThrow();
          break;
        case 'schema':
          expect(ClickEvent.safeParse(JSON.parse(text)).success).toBe(false);
          break;
        case 'oversized':
          expect(record.data.byteLength).toBeGreaterThan(AGGREGATOR_DEFAULTS.maxEventBytes);
          break;
        case 'future-timestamp': {
          const ts = ClickEvent.parse(JSON.parse(text)).timestamp;
          expect(ts - record.emittedAt).toBe(60 * 60_000);
          expect(ts - record.emittedAt).toBeGreaterThan(AGGREGATOR_DEFAULTS.maxFutureSkewSeconds * 1000);
          break;
        }
      }
    }
    expect([...reasons.keys()].sort()).toStrictEqual(['future-timestamp', 'not-json', 'oversized', 'schema']);
  });

  it('gives every new event a unique eventId', () => {
    // Act
    const ids = faulty
      .filter((r) => r.truth.kind !== 'resend' && r.truth.kind !== 'malformed')
      .map((r) => (r.truth.event as ClickEventInput).eventId);

    // Assess
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('follows Zipf popularity over realistic paths', () => {
    // Prepare
    const paths = buildUrlPaths(CLICK_DEFAULTS.urls);
    const valid = ofKind(faulty, 'valid');

    // Act
    const homeShare = valid.filter((r) => (r.truth.event as ClickEventInput).url === paths[0]).length / valid.length;

    // Assess
    expect(new Set(paths).size).toBe(CLICK_DEFAULTS.urls);
    expect(paths.every((p) => p.startsWith('/'))).toBe(true);
    expect(homeShare).toBeCloseTo(0.18, 1.5);
  });

  it('has users click in sessions: bursts from fewer users than uniform picks would give', () => {
    // Act: 10 simulated seconds at 500/s.
    const records = generate({ count: 5_000 });
    const perUser = new Map<string, number>();
    for (const r of records) perUser.set(r.partitionKey, (perUser.get(r.partitionKey) ?? 0) + 1);

    // Assess: uniform picks over 5,000 users would touch ~3,160 users, with ~400 clicking 3+ times.
    expect(perUser.size).toBeLessThan(2_000);
    expect([...perUser.values()].filter((n) => n >= 3).length).toBeGreaterThan(700);
  });

  it.each([
    [{ duplicates: 0.5, late: 0.4, malformed: 0.2 }, /duplicates \+ late \+ malformed must not exceed 1. Received 1.1/],
    [{ rate: 0 }, /rate must be a positive number of records per second. Received 0/],
    [{ late: -0.1 }, /late must be a fraction between 0 and 1. Received -0.1/],
    [{ urls: 0 }, /urls must be a positive integer. Received 0/],
    [{ lateByMs: 90_000 }, /lateByMs must be an integer greater than .* = 122000 ms. Received 90000/],
    [{ count: 1.5 }, /count must be a non-negative integer. Received 1.5/],
  ] as [ClickGeneratorOptions, RegExp][])('rejects %o', (options, message) => {
    expect(() => generate(options)).toThrow(message);
  });
});

describe('expectedWindowCounts', () => {
  const minute = (m: number, plusMs = 0): number => Date.parse('2025-03-01T12:00:00.000Z') + m * 60_000 + plusMs;
  const event = (eventId: string, url: string, timestamp: string | number): ClickEventInput => ({ eventId, url, userId: 'user-1', timestamp });

  it('counts unique valid on-time events per (url, window)', () => {
    // Prepare
    const records = [
      clickRecord('valid', event('e1', '/a', minute(0, 1_000))),
      clickRecord('valid', event('e2', '/a', new Date(minute(0, 59_999)).toISOString())),
      clickRecord('valid', event('e3', '/a', '2025-03-01T13:01:00.000+01:00')), // 12:01:00Z, the next window
      clickRecord('valid', event('e4', '/b', minute(0))),
      clickRecord('resend', event('e1', '/a', minute(0, 1_000))), // re-send of e1: counted once
      clickRecord('late', event('e5', '/a', minute(-5))),
      malformedRecord('{"eventId":"e6","url":"/a"'),
      clickRecord('resend', event('e7', '/c', minute(1))), // first copy lost: the re-send counts
    ];

    // Act
    const counts = expectedWindowCounts(records);

    // Assess
    expect(counts).toStrictEqual(
      new Map([
        ['/a|2025-03-01T12:00:00.000Z', 2],
        ['/a|2025-03-01T12:01:00.000Z', 1],
        ['/b|2025-03-01T12:00:00.000Z', 1],
        ['/c|2025-03-01T12:01:00.000Z', 1],
      ]),
    );
  });

  it('uses the given window length', () => {
    // Prepare
    const records = [
      clickRecord('valid', event('e1', '/a', minute(0, 10_000))),
      clickRecord('valid', event('e2', '/a', minute(0, 40_000))),
    ];

    // Act
    const counts = expectedWindowCounts(records, 30_000);

    // Assess
    expect(counts).toStrictEqual(
      new Map([
        ['/a|2025-03-01T12:00:00.000Z', 1],
        ['/a|2025-03-01T12:00:30.000Z', 1],
      ]),
    );
  });

  it('adds up to the number of distinct valid eventIds of a generated run', () => {
    // Prepare
    const records = generate({ count: 10_000, duplicates: 0.05, late: 0.05, malformed: 0.05 });
    const distinct = new Set(records.filter((r) => r.truth.kind === 'valid').map((r) => (r.truth.event as ClickEventInput).eventId));

    // Act
    const total = [...expectedWindowCounts(records).values()].reduce((a, b) => a + b, 0);

    // Assess
    expect(total).toBe(distinct.size);
  });
});
