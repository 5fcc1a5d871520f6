import type { OrderInput } from '../../contracts/fraud';
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
