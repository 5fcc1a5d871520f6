import * as z from 'zod';
import { compileInputValidator } from '../../contracts/compiled-validator';
import type { GatewayDeadLetterReason } from '../../contracts/market-data-gateway';
import { MarketTick, type MarketTickInput } from '../../contracts/market-data';

/** A piece of input that did not become a tick, and why: it goes to the dead-letter queue. */
export interface TickReject {
  reason: GatewayDeadLetterReason;
  detail: string;
  /** FIX: `<MsgSeqNum>:<entry index>`; REST: the quote's index in the response. */
  position: string;
}

export interface TickBatch {
  ticks: MarketTickInput[];
  rejects: TickReject[];
}

const isMarketTick = compileInputValidator(MarketTick);

/**
 * The last check before a tick leaves the gateway: the contract itself (ajv compiled from the zod
 * schema on the hot path; zod explains a rejection, so there is one definition and one wording).
 */
export function checkTick(tick: MarketTickInput, position: string): TickReject | undefined {
  if (isMarketTick(tick)) return undefined;
  const result = MarketTick.safeParse(tick);
  const detail = result.success ? 'rejected by the contract' : z.prettifyError(result.error).replace(/\n/g, '; ');
  return { reason: 'invalid-tick', detail, position };
}

/** A price the gateway accepts: finite, above 0 and at most `maxPrice` (a fat-finger guard). */
export function priceProblem(field: string, price: number, maxPrice: number): string | undefined {
  if (!Number.isFinite(price) || price <= 0 || price > maxPrice) return `${field} ${price} is outside (0, ${maxPrice}]`;
  return undefined;
}
