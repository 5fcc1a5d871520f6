import { DEFAULT_SCORING_CONFIG, type OrderInput, type OrderRejectionReason } from '../contracts/fraud';
import { MAX_SEED, createRandom, type Random } from './random';

/**
 * Order workload generation: pure, deterministic for a seed, no SDK, no wall clock unless
 * `startTime` is omitted.
 *
 * Users have their own habits: a home currency, a home IP (and sometimes a mobile one), a typical
 * basket and spend, and an activity level. About `fraud` of the orders are fraud, in three
 * patterns: account takeover (an established user, a new IP, a large amount), card testing (a
 * burst of small orders from one new account) and one IP across many users. Each record carries a
 * ground-truth label outside the order payload, so a model can be evaluated and tests can compute
 * the exact profiles offline. Partition key = userId, so a re-send meets its original's shard.
 */

export type FraudPattern = 'account-takeover' | 'card-testing' | 'shared-ip';
export const FRAUD_PATTERNS: readonly FraudPattern[] = ['account-takeover', 'card-testing', 'shared-ip'];
export type OrderLabel = 'legit' | FraudPattern;

export type OrderTruth =
  /** `resend`: a byte-identical producer re-send of an earlier `valid` order. */
  | { readonly kind: 'valid' | 'resend'; readonly label: OrderLabel; readonly order: OrderInput }
  /** What the scorer must dead-letter, and why. */
  | { readonly kind: 'malformed'; readonly reason: OrderRejectionReason; readonly label?: undefined; readonly order?: undefined };

export interface GeneratedOrder {
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** Simulated send time: startTime + index / rate. */
  readonly emittedAt: number;
  readonly truth: OrderTruth;
}

export interface OrderGeneratorOptions {
  /** Orders per simulated second. @default 200 */
  readonly rate?: number;
  /** Records to generate. @default - unbounded */
  readonly count?: number;
  /** Distinct legitimate users. @default 20000 */
  readonly users?: number;
  /** Share of orders that are fraud. @default 0.02 */
  readonly fraud?: number;
  /** Share of producer re-sends. @default 0.01 */
  readonly duplicates?: number;
  /** Share of invalid records. @default 0.005 */
  readonly malformed?: number;
  /** @default - random */
  readonly seed?: number;
  /** @default - Date.now() */
  readonly startTime?: number;
}

export const ORDER_DEFAULTS = { rate: 200, users: 20_000, fraud: 0.02, duplicates: 0.01, malformed: 0.005 } as const;

export const MALFORMED_ORDER_REASONS: readonly OrderRejectionReason[] = [
  'not-json',
  'oversized',
  'schema',
  'invalid-amount',
  'unknown-currency',
  'invalid-ip',
  'no-items',
  'total-mismatch',
];

const CURRENCIES = [
  ['USD', 0.45],
  ['EUR', 0.25],
  ['GBP', 0.12],
  ['CAD', 0.06],
  ['JPY', 0.05],
  ['AUD', 0.04],
  ['CHF', 0.03],
] as const;
const CATALOGUE = ['book', 'shirt', 'shoes', 'mug', 'headphones', 'lamp', 'coffee', 'toy', 'charger', 'plant'];
const HIGH_VALUE = ['laptop', 'phone', 'gift-card', 'camera', 'watch'];

interface User {
  readonly userId: string;
  readonly currency: string;
  readonly homeIp: string;
  readonly mobileIp: string | undefined;
  /** Typical order, in USD. */
  readonly meanUsd: number;
  readonly cv: number;
  orders: number;
}

function normal(random: Random): number {
  const u = Math.max(random.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
}

function ipv4(random: Random): string {
  // 1-223 first octet, avoiding 0, 10, 127 and multicast; uniqueness is not needed.
  const first = 1 + random.int(222);
  return `${first === 10 || first === 127 ? first + 1 : first}.${random.int(256)}.${random.int(256)}.${1 + random.int(254)}`;
}

function ipAddress(random: Random): string {
  if (random.chance(0.8)) return ipv4(random);
  const group = () => random.int(0x10000).toString(16);
  return `2001:db8:${group()}:${group()}::${group()}`;
}

const round2 = (value: number) => Math.round(value * 100) / 100;

/** Items whose total is about `amount` in the order's currency; the order's amount is their exact total. */
function basket(random: Random, amount: number, names: readonly string[], maxLines = 3): OrderInput['items'] {
  const lines = 1 + random.int(maxLines);
  const items: OrderInput['items'] = [];
  let left = amount;
  for (let line = 0; line < lines; line++) {
    const quantity = random.chance(0.8) ? 1 : 2 + random.int(2);
    const share = line === lines - 1 ? left : left * (0.3 + 0.4 * random.next());
    const unitPrice = Math.max(0.5, round2(share / quantity));
    items.push({ sku: `${random.pick(names)}-${random.int(500)}`, quantity, unitPrice });
    left = Math.max(0, left - unitPrice * quantity);
  }
  return items;
}

const totalOf = (items: OrderInput['items']) => round2(items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0));

function makeOrder(random: Random, userId: string, currency: string, amountUsd: number, ip: string, at: number, names: readonly string[], orderId: string, maxLines = 3): OrderInput {
  const rate = DEFAULT_SCORING_CONFIG.rates[currency] ?? 1;
  const items = basket(random, Math.max(0.5, amountUsd / rate), names, maxLines);
  return { orderId, userId, amount: totalOf(items), currency, items, ipAddress: ip, timestamp: new Date(at).toISOString() };
}

function malformedData(reason: OrderRejectionReason, valid: OrderInput): string {
  switch (reason) {
    case 'not-json':
      return `${JSON.stringify(valid).slice(0, 40)}`;
    case 'oversized':
      return JSON.stringify({ ...valid, note: 'x'.repeat(20_000) });
    case 'schema': {
      const { orderId: _orderId, ...withoutId } = valid;
      return JSON.stringify(withoutId);
    }
    case 'invalid-amount':
      return JSON.stringify({ ...valid, amount: -valid.amount });
    case 'unknown-currency':
      return JSON.stringify({ ...valid, currency: 'XTS' });
    case 'invalid-ip':
      return JSON.stringify({ ...valid, ipAddress: '300.12.7.1' });
    case 'no-items':
      return JSON.stringify({ ...valid, items: [] });
    case 'total-mismatch':
      return JSON.stringify({ ...valid, amount: round2(valid.amount * 1.5 + 10) });
  }
}

/** Fraud orders waiting for their step: a card-testing burst or shared-IP ring spreads over many steps. */
interface Scheduled {
  readonly step: number;
  readonly build: (at: number) => { order: OrderInput; label: FraudPattern };
}

export function* generateOrders(options: OrderGeneratorOptions = {}): Generator<GeneratedOrder, void, undefined> {
  const rate = options.rate ?? ORDER_DEFAULTS.rate;
  const userCount = options.users ?? ORDER_DEFAULTS.users;
  const fraudShare = options.fraud ?? ORDER_DEFAULTS.fraud;
  const duplicates = options.duplicates ?? ORDER_DEFAULTS.duplicates;
  const malformed = options.malformed ?? ORDER_DEFAULTS.malformed;
  const seed = options.seed ?? Math.floor(Math.random() * MAX_SEED);
  const startTime = options.startTime ?? Date.now();
  const count = options.count ?? Number.POSITIVE_INFINITY;
  for (const [name, value] of [['rate', rate], ['users', userCount]] as const) {
    if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive number. Received ${value}`);
  }
  for (const [name, value] of [['fraud', fraudShare], ['duplicates', duplicates], ['malformed', malformed]] as const) {
    if (!(value >= 0 && value <= 0.5)) throw new RangeError(`${name} must be a share between 0 and 0.5. Received ${value}`);
  }
  const random = createRandom(seed);

  // Activity varies about threefold between users. Sampling is by cumulative weight.
  const users: User[] = [];
  const cumulative = new Float64Array(userCount);
  let totalWeight = 0;
  for (let index = 0; index < userCount; index++) {
    let currency: string = CURRENCIES[0][0];
    let pick = random.next();
    for (const [code, share] of CURRENCIES) {
      if (pick < share) {
        currency = code;
        break;
      }
      pick -= share;
    }
    users.push({
      userId: `user-${seed.toString(36)}-${index}`,
      currency,
      // Households: some users share a home IP with the previous user (a legitimately shared IP).
      homeIp: index > 0 && random.chance(0.1) ? users[index - 1]!.homeIp : ipAddress(random),
      mobileIp: random.chance(0.3) ? ipAddress(random) : undefined,
      meanUsd: Math.min(2000, Math.exp(Math.log(45) + 0.8 * normal(random))),
      cv: 0.2 + 0.4 * random.next(),
      orders: 0,
    });
    totalWeight += 1 / Math.sqrt(Math.max(random.next(), 0.1));
    cumulative[index] = totalWeight;
  }
  const pickUser = (): User => {
    const target = random.next() * totalWeight;
    let lo = 0;
    let hi = userCount - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return users[lo]!;
  };

  // Expected fraud orders per episode: takeover 1, card testing ~9, shared IP ~7.5.
  const episodeShare = { 'account-takeover': 0.6, 'card-testing': 0.2, 'shared-ip': 0.2 } as const;
  const ordersPerEpisode = 0.6 * 1 + 0.2 * 9 + 0.2 * 7.5;
  const episodeChance = fraudShare / ordersPerEpisode;
  const scheduled: Scheduled[] = [];
  const recentValid: GeneratedOrder[] = [];
  const resendWindow = Math.max(10, Math.round(rate * 5));
  let orderSeq = 0;
  let episodes = 0;
  const nextOrderId = () => `order-${seed.toString(36)}-${orderSeq++}`;

  for (let step = 0; step < count; step++) {
    const at = Math.round(startTime + (step * 1000) / rate);
    const emit = (truth: OrderTruth, data: string, partitionKey: string): GeneratedOrder => ({ partitionKey, data: Buffer.from(data), emittedAt: at, truth });

    if (malformed > 0 && random.chance(malformed)) {
      const user = pickUser();
      const reason = MALFORMED_ORDER_REASONS[random.int(MALFORMED_ORDER_REASONS.length)]!;
      const valid = makeOrder(random, user.userId, user.currency, user.meanUsd, user.homeIp, at, CATALOGUE, nextOrderId());
      yield emit({ kind: 'malformed', reason }, malformedData(reason, valid), user.userId);
      continue;
    }
    if (duplicates > 0 && recentValid.length > 0 && random.chance(duplicates)) {
      const original = recentValid[random.int(recentValid.length)]!;
      if (original.truth.kind === 'valid') {
        yield { ...original, emittedAt: at, truth: { ...original.truth, kind: 'resend' } };
        continue;
      }
    }

    let produced: { order: OrderInput; label: OrderLabel };
    const due = scheduled.findIndex((entry) => entry.step <= step);
    if (due !== -1) {
      produced = scheduled.splice(due, 1)[0]!.build(at);
    } else if (random.chance(episodeChance)) {
      produced = startEpisode(step, at);
    } else {
      const user = pickUser();
      // Mostly close to the user's habit; now and then a legitimately large purchase, or a new network.
      const factor = random.chance(0.01) ? 3 + 3 * random.next() : Math.max(0.2, 1 + user.cv * normal(random));
      const ip = random.chance(0.04) ? ipAddress(random) : user.mobileIp !== undefined && random.chance(0.25) ? user.mobileIp : user.homeIp;
      user.orders++;
      produced = { order: makeOrder(random, user.userId, user.currency, user.meanUsd * factor, ip, at, CATALOGUE, nextOrderId()), label: 'legit' };
    }
    const record = emit({ kind: 'valid', label: produced.label, order: produced.order }, JSON.stringify(produced.order), produced.order.userId);
    recentValid.push(record);
    if (recentValid.length > resendWindow) recentValid.shift();
    yield record;
  }

  function startEpisode(step: number, at: number): { order: OrderInput; label: FraudPattern } {
    const episode = episodes++;
    let pick = random.next();
    let pattern: FraudPattern = 'account-takeover';
    for (const candidate of FRAUD_PATTERNS) {
      if (pick < episodeShare[candidate]) {
        pattern = candidate;
        break;
      }
      pick -= episodeShare[candidate];
    }
    const stepsPerSecond = rate;
    if (pattern === 'card-testing') {
      // A stolen card tried with tiny orders from a fresh account, a few seconds apart.
      const userId = `card-${seed.toString(36)}-${episode}`;
      const ip = ipAddress(random);
      const currency = random.pick(['USD', 'EUR', 'GBP']);
      const build = (when: number) => ({ order: makeOrder(random, userId, currency, 0.5 + 4.5 * random.next(), ip, when, ['gift-card', 'ebook'], nextOrderId(), 1), label: pattern });
      const burst = 6 + random.int(7);
      let offset = 0;
      for (let index = 1; index < burst; index++) {
        offset += Math.max(1, Math.round((1 + 3 * random.next()) * stepsPerSecond));
        scheduled.push({ step: step + offset, build });
      }
      return build(at);
    }
    if (pattern === 'shared-ip') {
      // One proxy or device farm placing orders for many fresh accounts.
      const ip = ipAddress(random);
      const ring = 5 + random.int(6);
      const build = (index: number) => (when: number) => {
        const userId = `ring-${seed.toString(36)}-${episode}-${index}`;
        return { order: makeOrder(random, userId, 'USD', 60 + 240 * random.next(), ip, when, HIGH_VALUE, nextOrderId(), 2), label: pattern };
      };
      let offset = 0;
      for (let index = 1; index < ring; index++) {
        offset += Math.max(1, Math.round((5 + 25 * random.next()) * stepsPerSecond));
        scheduled.push({ step: step + offset, build: build(index) });
      }
      return build(0)(at);
    }
    // Account takeover: an established user, a new IP, a large amount.
    let victim = pickUser();
    for (let attempt = 0; attempt < 20 && victim.orders < 3; attempt++) victim = pickUser();
    const amountUsd = victim.meanUsd * (6 + 14 * random.next()) + 200;
    return { order: makeOrder(random, victim.userId, victim.currency, amountUsd, ipAddress(random), at, HIGH_VALUE, nextOrderId(), 2), label: 'account-takeover' };
  }
}
