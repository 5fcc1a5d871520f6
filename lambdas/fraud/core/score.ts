import {
  FEATURE_NAMES,
  type DecisionOutcome,
  type DecisionReason,
  type FeatureName,
  type Order,
  type ScoringConfig,
  type UserProfile,
  type Verdict,
} from '../../../contracts/fraud';
import { TEN_MINUTES_MS, windowTotals, type IpView } from './profiles';

export type Features = Record<FeatureName, number>;

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

/** The sum of quantity x unit price. */
export const itemsTotal = (order: Pick<Order, 'items'>): number => order.items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0);

/** |amount - items total| as a fraction of the amount. */
export const itemsMismatch = (order: Pick<Order, 'items' | 'amount'>): number => Math.abs(order.amount - itemsTotal(order)) / order.amount;

/**
 * The model's inputs for one order, from the user's profile and the IP's merged activity as they
 * were before this order. Each feature is 0 for an unremarkable order and grows with the anomaly.
 */
export function computeFeatures(
  order: Order,
  amountBase: number,
  user: UserProfile | undefined,
  ip: IpView,
  config: ScoringConfig,
): Features {
  const history = user?.orderCount ?? 0;
  const enoughHistory = user !== undefined && history >= config.features.minOrdersForHistory;
  // A user who always spends the same would make any difference infinite: the spread is floored.
  const spread = enoughHistory ? Math.max(Math.sqrt(user.varianceAmount), 0.1 * user.meanAmount, 1) : 1;
  const userTenMinutes = user === undefined ? { orders: 0, spend: 0 } : windowTotals(user.recent, order.timestamp, TEN_MINUTES_MS);
  const otherUsers = ip.usersLastHour.size - (ip.usersLastHour.has(order.userId) ? 1 : 0);
  const maxQuantity = Math.max(...order.items.map((item) => item.quantity));
  return {
    amountZScore: enoughHistory ? clamp((amountBase - user.meanAmount) / spread, 0, 10) : 0,
    largeFirstOrder: history === 0 ? clamp(Math.log2(amountBase / config.features.largeFirstOrderAmount), 0, 5) : 0,
    newIpForUser: user !== undefined && !user.recentIps.includes(order.ipAddress) ? 1 : 0,
    ipSharedByUsers: clamp(otherUsers, 0, 50),
    userVelocity10m: clamp(userTenMinutes.orders, 0, 50),
    ipVelocity10m: clamp(ip.ordersLast10m, 0, 200),
    shortWindowSpendRatio: enoughHistory ? clamp((userTenMinutes.spend + amountBase) / Math.max(user.meanAmount, 1) - 1, 0, 20) : 0,
    quantityAnomaly: clamp(
      Math.max(0, maxQuantity / config.features.maxUsualQuantity - 1) + Math.max(0, order.items.length / config.features.maxUsualLines - 1),
      0,
      10,
    ),
    itemsTotalMismatch: clamp(itemsMismatch(order) * 100, 0, 50),
  };
}

const describe: Record<FeatureName, (value: number) => string> = {
  amountZScore: (value) => `amount ${value.toFixed(1)} standard deviations above this user's mean`,
  largeFirstOrder: (value) => `first order of this user, ${(2 ** value).toFixed(1)}x the large-first-order amount`,
  newIpForUser: () => 'IP address not among this user\'s recent ones',
  ipSharedByUsers: (value) => `IP address used by ${value} other user${value === 1 ? '' : 's'} in the last hour`,
  userVelocity10m: (value) => `${value} earlier order${value === 1 ? '' : 's'} by this user in the last 10 minutes`,
  ipVelocity10m: (value) => `${value} earlier order${value === 1 ? '' : 's'} from this IP address in the last 10 minutes`,
  shortWindowSpendRatio: (value) => `10-minute spend ${(value + 1).toFixed(1)}x this user's average order`,
  quantityAnomaly: (value) => `unusual quantities or line count (${value.toFixed(1)} over the usual)`,
  itemsTotalMismatch: (value) => `amount differs from the items' total by ${value.toFixed(2)}%`,
};

const SEVERITY: Record<DecisionOutcome, number> = { ALLOW: 0, REVIEW: 1, BLOCK: 2 };
const round = (value: number, digits: number) => Number(value.toFixed(digits));

/**
 * The verdict of one configuration: a logistic score over weighted features, its threshold
 * decision, raised by any hard rule that fires. Reasons: the fired rules' features first, then
 * the largest positive contributions, at most `maxReasons`, so every REVIEW or BLOCK names why.
 */
export function scoreFeatures(features: Features, config: ScoringConfig): Verdict {
  const { weights, bias } = config.model;
  let logit = bias;
  const contributions: { feature: FeatureName; value: number; contribution: number }[] = [];
  for (const feature of FEATURE_NAMES) {
    const value = features[feature];
    const contribution = weights[feature] * value;
    logit += contribution;
    contributions.push({ feature, value, contribution });
  }
  const score = 1 / (1 + Math.exp(-logit));
  let decision: DecisionOutcome = score >= config.thresholds.block ? 'BLOCK' : score >= config.thresholds.review ? 'REVIEW' : 'ALLOW';
  // Per feature, the most severe rule that fired (the first of equals) names the reason.
  const fired = new Map<FeatureName, string>();
  const firedSeverity = new Map<FeatureName, number>();
  for (const rule of config.rules) {
    if (features[rule.feature] < rule.atLeast) continue;
    if ((firedSeverity.get(rule.feature) ?? 0) < SEVERITY[rule.decision]) {
      fired.set(rule.feature, rule.name);
      firedSeverity.set(rule.feature, SEVERITY[rule.decision]);
    }
    if (SEVERITY[rule.decision] > SEVERITY[decision]) decision = rule.decision;
  }
  const ranked = contributions
    // A rule may fire on a feature at 0 (atLeast: 0): it still names the reason.
    .filter(({ feature, value, contribution }) => fired.has(feature) || (value > 0 && contribution > 0))
    .sort((a, b) => Number(fired.has(b.feature)) - Number(fired.has(a.feature)) || b.contribution - a.contribution || a.feature.localeCompare(b.feature))
    .slice(0, config.maxReasons);
  const reasons: DecisionReason[] = ranked.map(({ feature, value, contribution }) => ({
    feature,
    value: round(value, 4),
    contribution: round(contribution, 4),
    text: describe[feature](round(value, 4)),
    ...(fired.has(feature) ? { rule: fired.get(feature)! } : {}),
  }));
  return { modelVersion: config.modelVersion, score: round(score, 6), decision, reasons };
}

/** "amount 6.2 standard deviations above ... (+5.58)", as alerts show a reason. */
export const reasonLine = (reason: DecisionReason): string =>
  `${reason.rule === undefined ? '' : `[${reason.rule}] `}${reason.text} (+${reason.contribution.toFixed(2)})`;
