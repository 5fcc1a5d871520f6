import {
  IP_RECENT_LIMIT,
  RECENT_IPS_LIMIT,
  USER_RECENT_LIMIT,
  type IpShardActivity,
  type UserProfile,
} from '../../../contracts/fraud';

/**
 * Profiles as pure folds: a profile after an order is a function of the profile before it and the
 * order, nothing else (no wall clock), so a test can compute the exact profiles offline by folding
 * the orders in stream order, and a retried batch computes the same values again.
 */

export const MINUTE_MS = 60_000;
export const TEN_MINUTES_MS = 10 * MINUTE_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** Welford's online update of count, mean and the sum of squared deviations. */
export function welford(count: number, mean: number, m2: number, value: number): { count: number; mean: number; m2: number } {
  const nextCount = count + 1;
  const delta = value - mean;
  const nextMean = mean + delta / nextCount;
  return { count: nextCount, mean: nextMean, m2: m2 + delta * (value - nextMean) };
}

/** Sample variance from Welford's state; 0 below two values. */
export const sampleVariance = (count: number, m2: number): number => (count < 2 ? 0 : Math.max(0, m2 / (count - 1)));

/** What a user did in a window ending at `at` (inclusive), from the profile's recent orders. */
export interface WindowTotals {
  orders: number;
  spend: number;
}

/** Orders of `recent` in (at - windowMs, at]; a producer's clock may put some after `at`, which count too. */
export function windowTotals(recent: readonly (readonly [number, number])[], at: number, windowMs: number): WindowTotals {
  let orders = 0;
  let spend = 0;
  for (let index = recent.length - 1; index >= 0; index--) {
    const [time, amount] = recent[index]!;
    if (time <= at - windowMs) continue;
    orders++;
    spend += amount;
  }
  return { orders, spend };
}

/**
 * A new list: the entries after `horizon` plus `entry`, oldest first, at most `limit` (the oldest go).
 * Orders mostly arrive in time order, so the sort runs only for an out-of-order one.
 */
function appendInTimeOrder<T extends readonly [number, ...unknown[]]>(entries: readonly T[], entry: T, horizon: number, limit: number): T[] {
  let first = 0;
  while (first < entries.length && entries[first]![0] <= horizon) first++;
  const next = entries.slice(first);
  const outOfOrder = next.length > 0 && next[next.length - 1]![0] > entry[0];
  next.push(entry);
  if (outOfOrder) next.sort((a, b) => a[0] - b[0]);
  return next.length > limit ? next.slice(next.length - limit) : next;
}

export interface ScoredOrderFacts {
  userId: string;
  orderId: string;
  ipAddress: string;
  /** Event time, epoch ms. */
  at: number;
  amountBase: number;
}

/** The user's profile after one more order. */
export function applyOrderToUser(before: UserProfile | undefined, order: ScoredOrderFacts): UserProfile {
  const stats = welford(before?.orderCount ?? 0, before?.meanAmount ?? 0, before?.m2 ?? 0, order.amountBase);
  const lastSeen = Math.max(before?.lastSeen ?? order.at, order.at);
  const horizon = lastSeen - DAY_MS;
  const recent = appendInTimeOrder(before?.recent ?? [], [order.at, order.amountBase] as [number, number], horizon, USER_RECENT_LIMIT);
  const recentIps = [order.ipAddress, ...(before?.recentIps ?? []).filter((ip) => ip !== order.ipAddress)].slice(0, RECENT_IPS_LIMIT);
  const tenMinutes = windowTotals(recent, lastSeen, TEN_MINUTES_MS);
  const hour = windowTotals(recent, lastSeen, HOUR_MS);
  const day = windowTotals(recent, lastSeen, DAY_MS);
  return {
    userId: order.userId,
    orderCount: stats.count,
    totalAmount: (before?.totalAmount ?? 0) + order.amountBase,
    meanAmount: stats.mean,
    m2: stats.m2,
    varianceAmount: sampleVariance(stats.count, stats.m2),
    maxAmount: Math.max(before?.maxAmount ?? Number.NEGATIVE_INFINITY, order.amountBase),
    firstSeen: Math.min(before?.firstSeen ?? order.at, order.at),
    lastSeen,
    recentIps,
    recent,
    spend10m: tenMinutes.spend,
    spend1h: hour.spend,
    spend1d: day.spend,
    orders10m: tenMinutes.orders,
    orders1h: hour.orders,
    orders1d: day.orders,
  };
}

/** Keys of one shard's item for one IP. */
export const ipActivityKey = (ipAddress: string, shardKey: string) => ({ pk: `ip#${ipAddress}`, sk: `shard#${shardKey}` });

/** One shard's activity for an IP after one more order. */
export function applyOrderToIp(before: IpShardActivity | undefined, order: ScoredOrderFacts, shardKey: string): IpShardActivity {
  const newest = Math.max(order.at, before?.recent.at(-1)?.[0] ?? order.at);
  const recent = appendInTimeOrder(before?.recent ?? [], [order.at, order.userId, order.orderId] as [number, string, string], newest - HOUR_MS, IP_RECENT_LIMIT);
  return {
    ...ipActivityKey(order.ipAddress, shardKey),
    ipAddress: order.ipAddress,
    orderCount: (before?.orderCount ?? 0) + 1,
    recent,
  };
}

/** What every shard knows about an IP, merged, as of event time `at` (excluding nothing). */
export interface IpView {
  /** Distinct users with an order from the IP in (at - 1 h, at]. */
  usersLastHour: Set<string>;
  /** Orders from the IP in (at - 10 min, at]. */
  ordersLast10m: number;
}

export function ipView(activities: readonly IpShardActivity[], at: number): IpView {
  const usersLastHour = new Set<string>();
  let ordersLast10m = 0;
  for (const activity of activities) {
    for (const [time, userId] of activity.recent) {
      if (time > at - HOUR_MS) usersLastHour.add(userId);
      if (time > at - TEN_MINUTES_MS) ordersLast10m++;
    }
  }
  return { usersLastHour, ordersLast10m };
}
