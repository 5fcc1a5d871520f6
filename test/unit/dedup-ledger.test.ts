import { describe, expect, it } from 'vitest';
import { DedupLedgerCache } from '../../lambdas/clickstream/dedup-ledger';

const T0 = Date.parse('2026-01-01T00:10:00Z');

describe('DedupLedgerCache', () => {
  it('knows an eventId until its chunk expires, and records the newest ledger key', () => {
    // Prepare
    const cache = new DedupLedgerCache();

    // Act
    cache.add('k1', ['e1', 'e2'], T0 + 1000);

    // Assess
    expect(cache.lastLedgerKey).toBe('k1');
    expect([cache.has('e1', T0), cache.has('e2', T0 + 999), cache.has('e1', T0 + 1000), cache.has('e3', T0)]).toStrictEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it.each([
    ['before any chunk expires', T0 + 999, 3],
    ['when the first chunk expires', T0 + 1000, 1],
    ['when every chunk has expired', T0 + 2000, 0],
  ])('evicts expired chunks in order: %s', (_name, nowMs, size) => {
    // Prepare
    const cache = new DedupLedgerCache();
    cache.add('k1', ['e1', 'e2'], T0 + 1000);
    cache.add('k2', ['e3'], T0 + 2000);

    // Act
    cache.evictExpired(nowMs);

    // Assess
    expect(cache.size).toBe(size);
    expect(cache.lastLedgerKey).toBe('k2');
  });

  it('keeps an eventId that a later chunk re-recorded when the earlier chunk expires', () => {
    // Prepare
    const cache = new DedupLedgerCache();
    cache.add('k1', ['e1', 'e2'], T0 + 1000);
    cache.add('k2', ['e1'], T0 + 2000);

    // Act
    cache.evictExpired(T0 + 1500);

    // Assess
    expect(cache.size).toBe(1);
    expect([cache.has('e1', T0 + 1500), cache.has('e2', T0 + 1500)]).toStrictEqual([true, false]);
  });

  it('does nothing when empty', () => {
    const cache = new DedupLedgerCache();

    cache.evictExpired(T0);

    expect(cache.size).toBe(0);
    expect(cache.lastLedgerKey).toBeUndefined();
  });
});
