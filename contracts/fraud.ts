import * as z from 'zod';
import { EventTimestamp, MAX_ID_LENGTH, RecordOrigin, rejectedRecordMessage } from './clickstream';

/**
 * The fraud pipeline's contracts: the order producers write, the scoring configuration, the
 * decision the scorer records, the profiles it keeps, and what its dead-letter sink receives.
 * The simulator, the scorer, the backtest, the dashboard and the tests import these.
 */

/** Above this, an amount is not an order but a typo or an attack on the arithmetic. */
export const MAX_ORDER_AMOUNT = 1_000_000;
export const MAX_ORDER_ITEMS = 100;
export const MAX_ITEM_QUANTITY = 10_000;

/** ISO 4217 style: three upper-case letters. Whether a code is known is up to the configuration's rate table. */
export const CurrencyCode = z.string().regex(/^[A-Z]{3}$/, 'a three-letter ISO 4217 code such as USD');

export const OrderItem = z.object({
  sku: z.string().min(1).max(MAX_ID_LENGTH),
  quantity: z.number().int().positive().max(MAX_ITEM_QUANTITY),
  unitPrice: z.number().nonnegative().max(MAX_ORDER_AMOUNT),
});
export type OrderItem = z.infer<typeof OrderItem>;

export const Order = z.object({
  orderId: z.string().min(1).max(MAX_ID_LENGTH),
  userId: z.string().min(1).max(MAX_ID_LENGTH),
  amount: z.number().positive().max(MAX_ORDER_AMOUNT),
  currency: CurrencyCode,
  items: z.array(OrderItem).min(1).max(MAX_ORDER_ITEMS),
  ipAddress: z.union([z.ipv4(), z.ipv6()]),
  timestamp: EventTimestamp,
});
/** What producers send (timestamp as ISO string or epoch ms). */
export type OrderInput = z.input<typeof Order>;
/** What the scorer works with (timestamp normalised to epoch ms). */
export type Order = z.output<typeof Order>;

/** Why an order was dead-lettered. */
export const OrderRejectionReason = z.enum([
  'not-json',
  'oversized',
  /** Missing or mistyped fields. */
  'schema',
  /** Zero, negative, absurd (over MAX_ORDER_AMOUNT) or not a number. */
  'invalid-amount',
  /** Not in the rate table of the active configuration. */
  'unknown-currency',
  /** Neither IPv4 nor IPv6. */
  'invalid-ip',
  'no-items',
  /** `amount` differs from the sum of quantity x unitPrice by more than the configured tolerance. */
  'total-mismatch',
]);
export type OrderRejectionReason = z.infer<typeof OrderRejectionReason>;

export const OrderDeadLetterMessage = rejectedRecordMessage('invalid-order', OrderRejectionReason);
export type OrderDeadLetterMessage = z.infer<typeof OrderDeadLetterMessage>;

// ---- Scoring configuration ----

/**
 * The model's features. Each is 0 when nothing is unusual and grows with the anomaly, and every
 * weight is non-negative, so a larger anomaly never lowers the score (tested).
 */
export const FEATURE_NAMES = [
  'amountZScore',
  'largeFirstOrder',
  'newIpForUser',
  'ipSharedByUsers',
  'userVelocity10m',
  'ipVelocity10m',
  'shortWindowSpendRatio',
  'quantityAnomaly',
  'itemsTotalMismatch',
] as const;
export const FeatureName = z.enum(FEATURE_NAMES);
export type FeatureName = z.infer<typeof FeatureName>;

export const DecisionOutcome = z.enum(['ALLOW', 'REVIEW', 'BLOCK']);
export type DecisionOutcome = z.infer<typeof DecisionOutcome>;

/** A hard rule: when the feature reaches the value, the decision is at least `decision`. */
export const ScoringRule = z.object({
  name: z.string().min(1).max(64),
  feature: FeatureName,
  atLeast: z.number(),
  decision: DecisionOutcome.exclude(['ALLOW']),
});
export type ScoringRule = z.infer<typeof ScoringRule>;

const weights = Object.fromEntries(FEATURE_NAMES.map((name) => [name, z.number().nonnegative().max(100)])) as Record<
  FeatureName,
  z.ZodNumber
>;

export const ScoringConfig = z
  .object({
    /** Recorded on every decision; a new configuration needs a new version. */
    modelVersion: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1 to 64 letters, digits, dots, underscores or hyphens'),
    description: z.string().max(1000).optional(),
    /** Amounts are compared in this currency. */
    baseCurrency: CurrencyCode,
    /** Value of one unit of each currency in the base currency; an order in any other currency is dead-lettered. */
    rates: z.record(CurrencyCode, z.number().positive().max(1e6)),
    /** Logistic model: score = 1 / (1 + exp(-(bias + sum of weight x feature))). */
    model: z.object({ bias: z.number().min(-50).max(50), weights: z.object(weights).strict() }),
    thresholds: z.object({ review: z.number().gt(0).lt(1), block: z.number().gt(0).lt(1) }),
    rules: z.array(ScoringRule).max(50),
    features: z.object({
      /** The z-score and the spend ratio need this much history; below it they are 0. */
      minOrdersForHistory: z.number().int().min(2).max(1000),
      /** A first order at or below this (base currency) is not unusual; the feature is log2(amount / this). */
      largeFirstOrderAmount: z.number().positive(),
      /** Quantities per line above this are unusual. */
      maxUsualQuantity: z.number().int().positive(),
      /** Lines per order above this are unusual. */
      maxUsualLines: z.number().int().positive(),
    }),
    /** `amount` may differ from the items' total by this fraction (rounding, discounts); more is invalid. */
    totalTolerance: z.number().min(0).max(0.5),
    /** Reasons kept per decision: the largest contributions. */
    maxReasons: z.number().int().min(1).max(FEATURE_NAMES.length),
  })
  .superRefine((config, context) => {
    if (config.thresholds.review >= config.thresholds.block) {
      context.addIssue({ code: 'custom', path: ['thresholds'], message: `review (${config.thresholds.review}) must be below block (${config.thresholds.block})` });
    }
    if (config.rates[config.baseCurrency] !== 1) {
      context.addIssue({ code: 'custom', path: ['rates', config.baseCurrency], message: `the base currency ${config.baseCurrency} must have rate 1` });
    }
    // With every feature at 0 the order is ALLOW, so every REVIEW or BLOCK has a positive contribution to name.
    if (1 / (1 + Math.exp(-config.model.bias)) >= config.thresholds.review) {
      context.addIssue({ code: 'custom', path: ['model', 'bias'], message: 'an order with no anomaly must score below the review threshold' });
    }
  });
export type ScoringConfig = z.infer<typeof ScoringConfig>;

/**
 * The configuration the scorer uses until another is activated. Weights were set against the
 * order simulator's labelled traffic (`npm run fraud -- backtest`); README, "Fraud scoring".
 */
export const DEFAULT_SCORING_CONFIG: ScoringConfig = ScoringConfig.parse({
  modelVersion: 'default-1',
  description: 'Built-in defaults: hard rules for card testing and IP sharing, logistic weights tuned on simulated traffic',
  baseCurrency: 'USD',
  rates: { USD: 1, EUR: 1.08, GBP: 1.27, JPY: 0.0067, CAD: 0.73, AUD: 0.66, CHF: 1.13, SEK: 0.095, INR: 0.012, BRL: 0.18 },
  model: {
    bias: -6,
    weights: {
      amountZScore: 0.5,
      largeFirstOrder: 1.6,
      newIpForUser: 2.2,
      ipSharedByUsers: 1.8,
      userVelocity10m: 2,
      ipVelocity10m: 0.12,
      shortWindowSpendRatio: 0.15,
      quantityAnomaly: 0.8,
      itemsTotalMismatch: 0.5,
    },
  },
  thresholds: { review: 0.5, block: 0.9 },
  rules: [
    { name: 'card-testing-burst', feature: 'userVelocity10m', atLeast: 3, decision: 'BLOCK' },
    { name: 'ip-shared-by-many-users', feature: 'ipSharedByUsers', atLeast: 3, decision: 'REVIEW' },
    { name: 'ip-ring', feature: 'ipSharedByUsers', atLeast: 6, decision: 'BLOCK' },
  ],
  features: { minOrdersForHistory: 3, largeFirstOrderAmount: 1000, maxUsualQuantity: 20, maxUsualLines: 30 },
  totalTolerance: 0.02,
  maxReasons: 4,
});

// ---- Decisions ----

export const DecisionReason = z.object({
  feature: FeatureName,
  value: z.number(),
  /** weight x value: what the feature added to the log-odds. */
  contribution: z.number(),
  /** For an analyst, e.g. "amount 6.2 standard deviations above this user's mean". */
  text: z.string(),
  /** The hard rule this feature triggered, if any. */
  rule: z.string().optional(),
});
export type DecisionReason = z.infer<typeof DecisionReason>;

/** What one configuration says about one order. */
export const Verdict = z.object({
  modelVersion: z.string(),
  score: z.number().min(0).max(1),
  decision: DecisionOutcome,
  reasons: z.array(DecisionReason),
});
export type Verdict = z.infer<typeof Verdict>;

/** One item per order in the decisions table, keyed by orderId; written once. */
export const DecisionItem = Verdict.extend({
  orderId: z.string(),
  userId: z.string(),
  amount: z.number(),
  currency: z.string(),
  /** `amount` in the configuration's base currency. */
  amountBase: z.number(),
  baseCurrency: z.string(),
  ipAddress: z.string(),
  /** The order's own timestamp (epoch ms). */
  orderTimestamp: z.number(),
  decidedAt: z.iso.datetime(),
  /** Decision time minus the record's arrival on the stream, ms. */
  latencyMs: z.number(),
  /** Verdicts of shadow configurations: recorded, never deciding. */
  shadow: z.array(Verdict),
  origin: RecordOrigin,
});
export type DecisionItem = z.infer<typeof DecisionItem>;

// ---- Profiles ----

/** A past order as a user profile remembers it for the time windows: [epoch ms, amount in base currency]. */
export const RecentOrder = z.tuple([z.number(), z.number()]);

/** One item per user in the profiles table. Every scored order counts once (ALLOW or not). */
export const UserProfile = z.object({
  userId: z.string(),
  orderCount: z.number().int().nonnegative(),
  /** In the base currency of the configuration that scored each order. */
  totalAmount: z.number(),
  /** Welford's running mean and sum of squared deviations; never a rescan. */
  meanAmount: z.number(),
  m2: z.number().nonnegative(),
  /** Sample variance, m2 / (orderCount - 1); 0 below two orders. */
  varianceAmount: z.number().nonnegative(),
  maxAmount: z.number(),
  firstSeen: z.number(),
  lastSeen: z.number(),
  /** Most recent first, distinct. */
  recentIps: z.array(z.string()),
  /** Orders of the last 24 hours before `lastSeen`, oldest first (at most USER_RECENT_LIMIT). */
  recent: z.array(RecentOrder),
  /** As of `lastSeen`, including that order: spend and orders over the last 10 minutes, hour and day. */
  spend10m: z.number(),
  spend1h: z.number(),
  spend1d: z.number(),
  orders10m: z.number().int(),
  orders1h: z.number().int(),
  orders1d: z.number().int(),
});
export type UserProfile = z.infer<typeof UserProfile>;

/** An order as an IP's activity remembers it: [epoch ms, userId, orderId]. */
export const IpOrder = z.tuple([z.number(), z.string(), z.string()]);

/**
 * One shard's view of one IP address. Orders are partitioned by user, so the orders from one IP
 * arrive on every shard; each shard writes only its own item (`pk` ip#<ip>, `sk` the shard), under
 * its own checkpoint, and readers merge the items. No two shards ever write the same item.
 */
export const IpShardActivity = z.object({
  pk: z.string(),
  sk: z.string(),
  ipAddress: z.string(),
  /** Orders from this IP that this shard scored, ever. */
  orderCount: z.number().int().nonnegative(),
  /** Orders of the last hour before the newest, oldest first (at most IP_RECENT_LIMIT). */
  recent: z.array(IpOrder),
});
export type IpShardActivity = z.infer<typeof IpShardActivity>;

export const USER_RECENT_LIMIT = 500;
export const IP_RECENT_LIMIT = 500;
export const RECENT_IPS_LIMIT = 5;
