import { DEFAULT_SCORING_CONFIG, Order, type OrderInput, type ScoringConfig, type UserProfile } from '../../contracts/fraud';
import { applyOrderToUser } from '../../lambdas/fraud/core/profiles';
import type { GeneratedOrder } from '../../simulator/orders';
import type { ShardRecord } from '../../lambdas/clickstream/core/batch-plan';
import { sequenceAt } from './kinesis-records';

export const ORDER_TIME = Date.parse('2026-01-01T12:00:00Z');

/** A valid order; override any field. The amount matches the items unless overridden. */
export function orderFactory(overrides: Partial<OrderInput> = {}): OrderInput {
  const items = overrides.items ?? [{ sku: 'sku-1', quantity: 2, unitPrice: 25 }];
  return {
    orderId: 'order-1',
    userId: 'user-1',
    amount: items.reduce((sum, item) => sum + item.quantity * item.unitPrice, 0),
    currency: 'USD',
    items,
    ipAddress: '203.0.113.10',
    timestamp: ORDER_TIME,
    ...overrides,
  };
}

export const orderData = (order: OrderInput | string | object): string =>
  Buffer.from(typeof order === 'string' ? order : JSON.stringify(order)).toString('base64');

export function orderRecordFactory(position: number, order: OrderInput | string | object, arrivalMs = ORDER_TIME + 50): ShardRecord {
  const partitionKey = typeof order === 'object' && order !== null && 'userId' in order ? String(order.userId) : 'user-1';
  return { sequenceNumber: sequenceAt(position), partitionKey, approximateArrivalMs: arrivalMs, data: orderData(order) };
}

/** The valid orders a scorer must count: first copy of each orderId, in stream order. */
export function uniqueValidOrders(records: Iterable<GeneratedOrder>): Order[] {
  const seen = new Set<string>();
  const orders: Order[] = [];
  for (const record of records) {
    if (record.truth.kind === 'malformed') continue;
    const order = Order.parse(record.truth.order);
    if (seen.has(order.orderId)) continue;
    seen.add(order.orderId);
    orders.push(order);
  }
  return orders;
}

/** User profiles computed offline: each user's orders folded in stream order (per-user order is the shard's order). */
export function expectedUserProfiles(orders: readonly Order[], config: ScoringConfig = DEFAULT_SCORING_CONFIG): Map<string, UserProfile> {
  const profiles = new Map<string, UserProfile>();
  for (const order of orders) {
    const amountBase = order.amount * config.rates[order.currency]!;
    profiles.set(order.userId, applyOrderToUser(profiles.get(order.userId), { userId: order.userId, orderId: order.orderId, ipAddress: order.ipAddress, at: order.timestamp, amountBase }));
  }
  return profiles;
}

/** Orders per IP computed offline, and the users seen on each. */
export function expectedIpOrderCounts(orders: readonly Order[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const order of orders) counts.set(order.ipAddress, (counts.get(order.ipAddress) ?? 0) + 1);
  return counts;
}

/** The exact fields of a profile that a test compares (floats rounded: sums may associate differently). */
export function profileFingerprint(profile: UserProfile): Record<string, unknown> {
  const round = (value: number) => Number(value.toFixed(6));
  return {
    orderCount: profile.orderCount,
    totalAmount: round(profile.totalAmount),
    meanAmount: round(profile.meanAmount),
    m2: round(profile.m2),
    maxAmount: round(profile.maxAmount),
    firstSeen: profile.firstSeen,
    lastSeen: profile.lastSeen,
    recentIps: profile.recentIps,
    recent: profile.recent.length,
  };
}
