import { isIP } from 'node:net';
import type { z } from 'zod';
import { isoToEpochMs } from '../../../contracts/clickstream';
import { compileInputValidator } from '../../../contracts/compiled-validator';
import { Order, type OrderRejectionReason, type ScoringConfig } from '../../../contracts/fraud';
import { base64DecodedLength } from '../../clickstream/core/decode';
import { itemsMismatch, itemsTotal } from './score';

const isOrderInput = compileInputValidator(Order);

/** 1 MiB is Kinesis's limit; a real order is a few hundred bytes. */
export const DEFAULT_MAX_ORDER_BYTES = 16_384;

export type DecodedOrder =
  | { ok: true; order: Order; amountBase: number }
  | { ok: false; reason: OrderRejectionReason; detail: string };

/**
 * Decodes one record into an order priced in the base currency, or says exactly why it cannot be
 * scored. The currency and the items' total are checked against `config` (the active version).
 */
export function decodeOrder(base64Data: string, maxOrderBytes: number, config: ScoringConfig): DecodedOrder {
  const size = base64DecodedLength(base64Data);
  if (size > maxOrderBytes) return { ok: false, reason: 'oversized', detail: `record is ${size} bytes; the limit is ${maxOrderBytes}` };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(base64Data, 'base64').toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'not-json', detail: (error as Error).message };
  }
  return validateOrder(json, config);
}

/** Validates a parsed order (the backtest reads JSON Lines with it too). */
export function validateOrder(json: unknown, config: ScoringConfig): DecodedOrder {
  // The compiled validator checks the contract's shape fast; IP formats are checked here, and zod explains rejections.
  if (!isOrderInput(json) || isIP(json.ipAddress) === 0) return explain(json);
  const order = toOrder(json);
  const rate = config.rates[order.currency];
  if (rate === undefined) {
    return {
      ok: false,
      reason: 'unknown-currency',
      detail: `currency ${order.currency} is not in the rate table of configuration ${config.modelVersion} (${Object.keys(config.rates).join(', ')})`,
    };
  }
  const mismatch = itemsMismatch(order);
  if (mismatch > config.totalTolerance) {
    return {
      ok: false,
      reason: 'total-mismatch',
      detail: `amount ${order.amount} differs from the items' total ${itemsTotal(order).toFixed(2)} by ${(mismatch * 100).toFixed(1)}%; at most ${config.totalTolerance * 100}% is allowed`,
    };
  }
  return { ok: true, order, amountBase: order.amount * rate };
}

function toOrder(input: z.input<typeof Order>): Order {
  if (typeof input.timestamp === 'string') (input as { timestamp: number | string }).timestamp = isoToEpochMs(input.timestamp);
  return input as Order;
}

function explain(json: unknown): DecodedOrder {
  const parsed = Order.safeParse(json);
  if (parsed.success) return { ok: false, reason: 'schema', detail: 'rejected by the compiled validator but accepted by the zod contract' };
  const issues = parsed.error.issues;
  const detail = issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  const first = issues[0]!;
  const field = first.path[0];
  const present = typeof json === 'object' && json !== null && field !== undefined && (json as Record<PropertyKey, unknown>)[field as string] !== undefined;
  // A specific reason only when the field is there but wrong; a missing field is a schema problem.
  if (present && field === 'amount') return { ok: false, reason: 'invalid-amount', detail };
  if (present && field === 'ipAddress') return { ok: false, reason: 'invalid-ip', detail };
  if (present && field === 'items' && first.code === 'too_small' && first.path.length === 1) return { ok: false, reason: 'no-items', detail };
  return { ok: false, reason: 'schema', detail };
}
