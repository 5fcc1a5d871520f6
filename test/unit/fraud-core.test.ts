import { describe, expect, it } from 'vitest';
import { DEFAULT_SCORING_CONFIG, FEATURE_NAMES, ScoringConfig, type FeatureName, type UserProfile } from '../../contracts/fraud';
import { decodeOrder, DEFAULT_MAX_ORDER_BYTES, validateOrder } from '../../lambdas/fraud/core/decode';
import { decodeBatch, loadKeys, MAX_TRANSACTION_ITEMS, planBatch, type LoadedProfiles, type PlanSettings } from '../../lambdas/fraud/core/plan';
import { applyOrderToIp, applyOrderToUser, ipView, MINUTE_MS, sampleVariance, welford } from '../../lambdas/fraud/core/profiles';
import { computeFeatures, scoreFeatures, type Features } from '../../lambdas/fraud/core/score';
import { sequenceAt } from '../support/kinesis-records';
import { ORDER_TIME, orderData, orderFactory, orderRecordFactory } from '../support/orders';

const config = DEFAULT_SCORING_CONFIG;
const noIp = { usersLastHour: new Set<string>(), ordersLast10m: 0 };
const zeroFeatures = Object.fromEntries(FEATURE_NAMES.map((name) => [name, 0])) as Features;

/** A user with `amounts` as history, one order a day from the home IP, ending a day before ORDER_TIME. */
function historyOf(amounts: number[], ip = '203.0.113.10'): UserProfile {
  let profile: UserProfile | undefined;
  amounts.forEach((amount, index) => {
    const at = ORDER_TIME - (amounts.length - index) * 24 * 60 * MINUTE_MS;
    profile = applyOrderToUser(profile, { userId: 'user-1', orderId: `old-${index}`, ipAddress: ip, at, amountBase: amount });
  });
  return profile!;
}

function featuresOf(overrides: Parameters<typeof orderFactory>[0] = {}, user?: UserProfile, ip = noIp): Features {
  const decoded = validateOrder(orderFactory(overrides), config);
  if (!decoded.ok) throw new Error(decoded.detail);
  return computeFeatures(decoded.order, decoded.amountBase, user, ip, config);
}

describe('Welford', () => {
  it('matches a direct computation of mean and sample variance', () => {
    const values = [12.5, 99, 3.25, 47, 47, 1000, 0.5, 18];
    let state = { count: 0, mean: 0, m2: 0 };
    for (const value of values) state = welford(state.count, state.mean, state.m2, value);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1);
    expect(state.count).toBe(values.length);
    expect(state.mean).toBeCloseTo(mean, 10);
    expect(sampleVariance(state.count, state.m2)).toBeCloseTo(variance, 8);
  });

  it('keeps the user profile in step with the orders folded into it', () => {
    const profile = historyOf([10, 20, 30]);
    expect(profile).toMatchObject({ orderCount: 3, totalAmount: 60, meanAmount: 20, varianceAmount: 100, maxAmount: 30, recentIps: ['203.0.113.10'] });
    expect(profile.firstSeen).toBe(ORDER_TIME - 3 * 24 * 60 * MINUTE_MS);
    expect(profile.lastSeen).toBe(ORDER_TIME - 24 * 60 * MINUTE_MS);
    // Only the last day's orders stay in the recent list.
    expect(profile.recent).toStrictEqual([[ORDER_TIME - 24 * 60 * MINUTE_MS, 30]]);
  });

  it('counts spend and orders over 10 minutes, an hour and a day', () => {
    let profile: UserProfile | undefined;
    for (const [minutesAgo, amount] of [[2000, 1], [50, 2], [20, 4], [5, 8], [0, 16]] as const) {
      profile = applyOrderToUser(profile, { userId: 'u', orderId: String(minutesAgo), ipAddress: '198.51.100.1', at: ORDER_TIME - minutesAgo * MINUTE_MS, amountBase: amount });
    }
    expect(profile).toMatchObject({ spend10m: 24, orders10m: 2, spend1h: 30, orders1h: 4, spend1d: 30, orders1d: 4, orderCount: 5, totalAmount: 31 });
  });
});

describe('features', () => {
  it('an unremarkable order of a known user has no anomaly', () => {
    expect(featuresOf({}, historyOf([40, 50, 60, 55]))).toStrictEqual(zeroFeatures);
  });

  it('amountZScore: the amount against the user history, 0 without enough history', () => {
    const user = historyOf([40, 50, 60, 50]);
    const features = featuresOf({ items: [{ sku: 'tv', quantity: 1, unitPrice: 500 }] }, user);
    // mean 50, sd 8.16 floored to 10% of the mean... sd is larger: (500 - 50) / 8.165 = 55 -> clamped to 10.
    expect(features.amountZScore).toBe(10);
    expect(featuresOf({ items: [{ sku: 'a', quantity: 1, unitPrice: 66.33 }] }, user).amountZScore).toBeCloseTo((66.33 - 50) / Math.sqrt(user.varianceAmount), 6);
    expect(featuresOf({ items: [{ sku: 'tv', quantity: 1, unitPrice: 500 }] }, historyOf([50, 50])).amountZScore).toBe(0);
  });

  it('largeFirstOrder: log2 of a first order over the large-first-order amount', () => {
    expect(featuresOf({ items: [{ sku: 'tv', quantity: 1, unitPrice: 4000 }] }).largeFirstOrder).toBeCloseTo(2, 10);
    expect(featuresOf({ items: [{ sku: 'tv', quantity: 1, unitPrice: 900 }] }).largeFirstOrder).toBe(0);
    expect(featuresOf({ items: [{ sku: 'tv', quantity: 1, unitPrice: 4000 }] }, historyOf([10])).largeFirstOrder).toBe(0);
  });

  it('newIpForUser: an IP not among the recent ones of a known user', () => {
    const user = historyOf([40, 50], '192.0.2.1');
    expect(featuresOf({ ipAddress: '2001:db8::1' }, user).newIpForUser).toBe(1);
    expect(featuresOf({ ipAddress: '192.0.2.1' }, user).newIpForUser).toBe(0);
    expect(featuresOf({ ipAddress: '2001:db8::1' }).newIpForUser).toBe(0);
  });

  it('ipSharedByUsers and ipVelocity10m: other users and orders on the IP, from every shard', () => {
    const at = ORDER_TIME;
    let shardA = applyOrderToIp(undefined, { userId: 'user-1', orderId: 'a1', ipAddress: '203.0.113.10', at: at - 50 * MINUTE_MS, amountBase: 1 }, 'A');
    shardA = applyOrderToIp(shardA, { userId: 'user-2', orderId: 'a2', ipAddress: '203.0.113.10', at: at - 5 * MINUTE_MS, amountBase: 1 }, 'A');
    const shardB = applyOrderToIp(undefined, { userId: 'user-3', orderId: 'b1', ipAddress: '203.0.113.10', at: at - 2 * MINUTE_MS, amountBase: 1 }, 'B');
    const view = ipView([shardA, shardB], at);
    const features = featuresOf({}, undefined, view);
    expect(features.ipSharedByUsers).toBe(2); // user-2 and user-3; user-1 is the one ordering
    expect(features.ipVelocity10m).toBe(2);
  });

  it('userVelocity10m and shortWindowSpendRatio: bursts against the long-run average', () => {
    let user = historyOf([20, 20, 20, 20]);
    for (let index = 0; index < 5; index++) {
      user = applyOrderToUser(user, { userId: 'user-1', orderId: `burst-${index}`, ipAddress: '203.0.113.10', at: ORDER_TIME - (index + 1) * MINUTE_MS, amountBase: 20 });
    }
    const features = featuresOf({}, user);
    expect(features.userVelocity10m).toBe(5);
    // 5 x 20 in 10 minutes plus this 50, against a mean of 20 (4 x 20 + 5 x 20) / 9.
    expect(features.shortWindowSpendRatio).toBeCloseTo(150 / 20 - 1, 6);
  });

  it('quantityAnomaly and itemsTotalMismatch', () => {
    expect(featuresOf({ items: [{ sku: 'a', quantity: 60, unitPrice: 1 }] }).quantityAnomaly).toBe(2);
    expect(featuresOf({ amount: 50.5 }).itemsTotalMismatch).toBeCloseTo(0.990099, 5);
  });
});

describe('scoring', () => {
  const only = (feature: FeatureName, value: number): Features => ({ ...zeroFeatures, [feature]: value });

  it('an order with no anomaly is ALLOW with no reasons', () => {
    expect(scoreFeatures(zeroFeatures, config)).toMatchObject({ decision: 'ALLOW', reasons: [], modelVersion: 'default-1' });
  });

  it('a rule that fires on a feature at 0 (atLeast: 0) still names its reason', () => {
    const strict = { ...config, rules: [...config.rules, { name: 'no-new-users', feature: 'largeFirstOrder' as const, atLeast: 0, decision: 'REVIEW' as const }] };
    expect(scoreFeatures(zeroFeatures, strict)).toMatchObject({ decision: 'REVIEW', reasons: [{ feature: 'largeFirstOrder', value: 0, rule: 'no-new-users' }] });
  });

  it.each(FEATURE_NAMES.map((feature) => [feature]))('monotonic in %s: a larger anomaly never lowers the score or the decision', (feature) => {
    const severity = { ALLOW: 0, REVIEW: 1, BLOCK: 2 };
    let previous = scoreFeatures(zeroFeatures, config);
    for (let value = 0.25; value <= 60; value *= 1.5) {
      const next = scoreFeatures({ ...zeroFeatures, newIpForUser: 1, [feature]: value }, config);
      expect(next.score).toBeGreaterThanOrEqual(previous.score);
      expect(severity[next.decision]).toBeGreaterThanOrEqual(severity[previous.decision]);
      previous = next;
    }
  });

  it('hard rules raise the decision and lead the reasons', () => {
    const verdict = scoreFeatures(only('userVelocity10m', 3), config);
    expect(verdict.decision).toBe('BLOCK');
    expect(verdict.reasons[0]).toMatchObject({ feature: 'userVelocity10m', value: 3, rule: 'card-testing-burst' });
    expect(scoreFeatures({ ...zeroFeatures, ipSharedByUsers: 3 }, { ...config, model: { ...config.model, weights: { ...config.model.weights, ipSharedByUsers: 0 } } }).decision).toBe('REVIEW');
    expect(scoreFeatures(only('ipSharedByUsers', 6), config)).toMatchObject({ decision: 'BLOCK', reasons: [{ rule: 'ip-ring' }] });
  });

  it('thresholds decide when no rule fires; reasons are the largest contributions, with values and text', () => {
    const verdict = scoreFeatures({ ...zeroFeatures, amountZScore: 8, newIpForUser: 1 }, config);
    expect(verdict.score).toBeCloseTo(1 / (1 + Math.exp(-(-6 + 0.5 * 8 + 2.2))), 6);
    expect(verdict.decision).toBe('REVIEW');
    expect(verdict.reasons).toStrictEqual([
      { feature: 'amountZScore', value: 8, contribution: 4, text: "amount 8.0 standard deviations above this user's mean" },
      { feature: 'newIpForUser', value: 1, contribution: 2.2, text: "IP address not among this user's recent ones" },
    ]);
  });

  it('every REVIEW or BLOCK carries reasons, over a grid of feature values', () => {
    for (const feature of FEATURE_NAMES) {
      for (const other of FEATURE_NAMES) {
        for (const value of [0.5, 1, 3, 9, 40]) {
          const verdict = scoreFeatures({ ...zeroFeatures, [feature]: value, [other]: value / 2 }, config);
          if (verdict.decision !== 'ALLOW') expect(verdict.reasons.length).toBeGreaterThan(0);
          expect(verdict.reasons.length).toBeLessThanOrEqual(config.maxReasons);
        }
      }
    }
  });
});

describe('configuration', () => {
  const valid = structuredClone(DEFAULT_SCORING_CONFIG);

  it.each([
    ['review at or above block', { thresholds: { review: 0.9, block: 0.5 } }, 'thresholds'],
    ['a negative weight (would break monotonicity)', { model: { ...valid.model, weights: { ...valid.model.weights, amountZScore: -1 } } }, 'model.weights.amountZScore'],
    ['an unknown feature weight', { model: { ...valid.model, weights: { ...valid.model.weights, colour: 1 } } }, 'model.weights'],
    ['a base currency without rate 1', { rates: { ...valid.rates, USD: 1.1 } }, 'rates.USD'],
    ['a bias that flags orders with no anomaly', { model: { ...valid.model, bias: 1 } }, 'model.bias'],
    ['a rule on an unknown feature', { rules: [{ name: 'x', feature: 'colour', atLeast: 1, decision: 'BLOCK' }] }, 'rules.0.feature'],
    ['a rule that allows', { rules: [{ name: 'x', feature: 'newIpForUser', atLeast: 1, decision: 'ALLOW' }] }, 'rules.0.decision'],
    ['a bad version name', { modelVersion: 'has spaces' }, 'modelVersion'],
  ])('rejects %s', (_what, change, path) => {
    const parsed = ScoringConfig.safeParse({ ...valid, ...change });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((issue) => issue.path.join('.'))).toContain(path);
  });

  it('accepts the built-in default', () => {
    expect(ScoringConfig.parse(valid)).toStrictEqual(valid);
  });
});

describe('decoding orders', () => {
  it('converts the amount to the base currency with the rate table', () => {
    const decoded = validateOrder(orderFactory({ currency: 'EUR', items: [{ sku: 'a', quantity: 1, unitPrice: 100 }] }), config);
    expect(decoded).toMatchObject({ ok: true, amountBase: 108 });
  });

  it('accepts IPv6 and ISO timestamps', () => {
    const decoded = validateOrder(orderFactory({ ipAddress: '2001:db8:85a3::8a2e:370:7334', timestamp: '2026-01-01T12:00:00.000+01:00' }), config);
    expect(decoded).toMatchObject({ ok: true, order: { timestamp: ORDER_TIME - 3_600_000 } });
  });

  const { orderId: _orderId, ...withoutOrderId } = orderFactory();
  it.each([
    ['a missing field', withoutOrderId, 'schema'],
    ['a negative amount', orderFactory({ amount: -5 }), 'invalid-amount'],
    ['a zero amount', orderFactory({ amount: 0 }), 'invalid-amount'],
    ['an absurd amount', orderFactory({ amount: 5e9, items: [{ sku: 'a', quantity: 1, unitPrice: 5e9 }] }), 'invalid-amount'],
    ['an unknown currency', orderFactory({ currency: 'XYZ' }), 'unknown-currency'],
    ['a malformed IPv4', orderFactory({ ipAddress: '300.1.2.3' }), 'invalid-ip'],
    ['a malformed IPv6', orderFactory({ ipAddress: '2001:db8:::1' }), 'invalid-ip'],
    ['an empty item list', orderFactory({ items: [], amount: 10 }), 'no-items'],
    ['a total that does not match the items', orderFactory({ amount: 80 }), 'total-mismatch'],
  ])('rejects %s', (_what, order, reason) => {
    const decoded = decodeOrder(orderData(order), DEFAULT_MAX_ORDER_BYTES, config);
    expect(decoded).toMatchObject({ ok: false, reason });
    expect(decoded.ok ? '' : decoded.detail).not.toBe('');
  });

  it('rejects oversized records and non-JSON', () => {
    expect(decodeOrder(orderData({ ...orderFactory(), padding: 'x'.repeat(20_000) }), DEFAULT_MAX_ORDER_BYTES, config)).toMatchObject({ ok: false, reason: 'oversized' });
    expect(decodeOrder(orderData('{nope'), DEFAULT_MAX_ORDER_BYTES, config)).toMatchObject({ ok: false, reason: 'not-json' });
  });
});

describe('planning a batch', () => {
  const settings: PlanSettings = { maxOrderBytes: DEFAULT_MAX_ORDER_BYTES, shardKey: 'stream#shard-0', shardId: 'shard-0', nowMs: ORDER_TIME + 200 };
  const empty: LoadedProfiles = { users: new Map(), ipActivities: new Map(), decided: new Set() };
  const plan = (records: ReturnType<typeof orderRecordFactory>[], loaded = empty, checkpoint?: string, shadows = [] as (typeof config)[]) =>
    planBatch(decodeBatch(records, checkpoint, settings, config), loaded, { active: config, shadows }, settings);

  it('scores a user with no history sensibly, and later orders against the earlier ones of the batch', () => {
    const records = [1, 2, 3].map((index) => orderRecordFactory(index, orderFactory({ orderId: `o${index}`, timestamp: ORDER_TIME + index })));
    const result = plan(records);
    expect(result.outcomes).toStrictEqual({ replayed: 0, scored: 3, duplicate: 0, invalid: 0 });
    expect(result.decisions.map((decision) => decision.decision)).toStrictEqual(['ALLOW', 'ALLOW', 'ALLOW']);
    expect(result.decisions[0]!.reasons).toStrictEqual([]);
    expect(result.decisions[2]!.reasons.map((reason) => reason.feature)).toStrictEqual(['userVelocity10m', 'ipVelocity10m']);
    expect(result.commits).toHaveLength(1);
    expect(result.commits[0]!.users).toMatchObject([{ userId: 'user-1', orderCount: 3, totalAmount: 150 }]);
    expect(result.commits[0]!.ipActivities).toMatchObject([{ pk: 'ip#203.0.113.10', sk: 'shard#stream#shard-0', orderCount: 3 }]);
    expect(result.decisions[0]).toMatchObject({ orderId: 'o1', amountBase: 50, baseCurrency: 'USD', latencyMs: 150, origin: { shardId: 'shard-0', sequenceNumber: sequenceAt(1) } });
  });

  it('skips records at or below the checkpoint, orders already decided and re-sends within the batch', () => {
    const records = [
      orderRecordFactory(1, orderFactory({ orderId: 'committed' })),
      orderRecordFactory(2, orderFactory({ orderId: 'decided-before' })),
      orderRecordFactory(3, orderFactory({ orderId: 'new' })),
      orderRecordFactory(4, orderFactory({ orderId: 'new' })),
      orderRecordFactory(5, orderFactory({ orderId: 'bad', currency: 'XYZ' })),
    ];
    const batch = decodeBatch(records, sequenceAt(1), settings, config);
    expect(loadKeys(batch).orderIds).toStrictEqual(['decided-before', 'new']);
    const result = planBatch(batch, { ...empty, decided: new Set(['decided-before']) }, { active: config, shadows: [] }, settings);
    expect(result.outcomes).toStrictEqual({ replayed: 1, scored: 1, duplicate: 2, invalid: 1 });
    expect(result.rejections).toMatchObject([{ recordIndex: 4, reason: 'unknown-currency' }]);
    expect(result.commits.at(-1)!.lastSequenceNumber).toBe(sequenceAt(5));
    expect(result.commits[0]!.users[0]!.orderCount).toBe(1);
  });

  it('splits a batch into transactions of at most 100 items, with its checkpoint and (a shard\'s first) the registry update', () => {
    const records = Array.from({ length: 120 }, (_, index) =>
      orderRecordFactory(index + 1, orderFactory({ orderId: `o${index}`, userId: `user-${index}`, ipAddress: `198.51.100.${index % 200}` })));
    const result = plan(records);
    // The checkpoint and the shard registry's update (a shard's first commit) come on top of the orders' items.
    for (const commit of result.commits) expect(2 + commit.decisions.length + commit.users.length + commit.ipActivities.length).toBeLessThanOrEqual(MAX_TRANSACTION_ITEMS);
    expect(result.commits.flatMap((commit) => commit.decisions)).toHaveLength(120);
    expect(result.commits.at(-1)!.lastSequenceNumber).toBe(sequenceAt(120));
  });

  it('records shadow verdicts beside the deciding one', () => {
    const shadow = ScoringConfig.parse({ ...config, modelVersion: 'strict-2', thresholds: { review: 0.005, block: 0.006 } });
    const records = [orderRecordFactory(1, orderFactory({ items: [{ sku: 'tv', quantity: 1, unitPrice: 1500 }] }))];
    const [decision] = plan(records, empty, undefined, [shadow]).decisions;
    expect(decision).toMatchObject({ modelVersion: 'default-1', decision: 'ALLOW' });
    expect(decision!.shadow).toMatchObject([{ modelVersion: 'strict-2', decision: 'BLOCK', score: decision!.score }]);
  });

  it('plans the same decisions again from the same state (a retried batch is stable)', () => {
    const records = Array.from({ length: 30 }, (_, index) =>
      orderRecordFactory(index + 1, orderFactory({ orderId: `o${index}`, userId: `user-${index % 3}`, timestamp: ORDER_TIME + index * 1000, items: [{ sku: 'a', quantity: 1, unitPrice: 10 + index * 40 }] })));
    const first = plan(records);
    const second = plan(records);
    expect(second.decisions).toStrictEqual(first.decisions);
    expect(first.decisions.some((decision) => decision.decision !== 'ALLOW')).toBe(true);
  });
});
