import * as z from 'zod';
import { EventTimestamp } from './clickstream';

/**
 * The market-data contract: one tick schema for every source (FIX sessions, REST quote
 * feeds). The gateway writes it to the `market-data` stream; the lakehouse sink, the
 * dashboard and the tests import it from here and nowhere else.
 */

export const TickSource = z.enum(['fix', 'rest']);
export type TickSource = z.infer<typeof TickSource>;

const price = z.number().finite().positive();
const size = z.number().finite().nonnegative();

export const MarketTick = z.object({
  /**
   * Deterministic unique key: derived from the source, session and message identity
   * (for FIX: session, MsgSeqNum and entry index), so a resent or duplicated message
   * yields the same tickId. The lakehouse upserts on it.
   */
  tickId: z.string().min(1).max(256),
  /** `fix:<session>` or `rest:<feed>` style origin of the tick. */
  source: z.string().min(1).max(256),
  symbol: z.string().min(1).max(64),
  bidPrice: price.nullable(),
  bidSize: size.nullable(),
  askPrice: price.nullable(),
  askSize: size.nullable(),
  lastPrice: price.nullable(),
  lastSize: size.nullable(),
  /** When the venue says the tick happened (epoch ms, or ISO-8601 with a zone on input). */
  eventTime: EventTimestamp,
  /** When the gateway received it (epoch ms, or ISO-8601 with a zone on input). */
  ingestTime: EventTimestamp,
});
/** What the gateway puts on the stream. */
export type MarketTickInput = z.input<typeof MarketTick>;
/** What consumers work with (times normalised to epoch ms). */
export type MarketTick = z.output<typeof MarketTick>;
