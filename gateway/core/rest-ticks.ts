import type { RestMapping } from '../../contracts/market-data-gateway';
import type { MarketTickInput } from '../../contracts/market-data';
import { restSource, restTickId } from './tick-id';
import { checkTick, priceProblem, type TickBatch, type TickReject } from './tick-checks';

/**
 * A quote API's JSON body to ticks, by the feed's documented mapping (README, "REST quote feeds").
 * Pure: the poller does the HTTP and hands the parsed body here.
 */

/** `a.b.0.c` into a parsed JSON value; undefined where the path leads nowhere. */
export function valueAtPath(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** A JSON number, or a string holding one (many quote APIs send "1.2345" to keep precision). */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

/** Epoch ms; epoch seconds when below 1e11 (before 1973 in ms, after 5000 AD in s); or ISO-8601. */
export function eventTimeOf(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value < 1e11 ? Math.round(value * 1000) : Math.round(value);
  if (typeof value === 'string') {
    const asNumber = numeric(value);
    if (asNumber !== undefined) return eventTimeOf(asNumber);
    const ms = Date.parse(value);
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

export interface RestTickContext {
  feed: string;
  mapping: RestMapping;
  ingestTime: number;
  maxPrice: number;
}

/** The ticks in one response body; a body of the wrong shape is one `malformed-response` reject. */
export function ticksFromRestBody(body: unknown, context: RestTickContext): TickBatch {
  const { mapping } = context;
  const list = mapping.quotes === undefined ? body : valueAtPath(body, mapping.quotes);
  const quotes = Array.isArray(list) ? list : list !== null && typeof list === 'object' && mapping.quotes === undefined ? [list] : undefined;
  if (quotes === undefined) {
    return {
      ticks: [],
      rejects: [{ reason: 'malformed-response', detail: `no quote array at ${mapping.quotes ?? 'the body root'}`, position: 'body' }],
    };
  }
  const ticks: MarketTickInput[] = [];
  const rejects: TickReject[] = [];
  const source = restSource(context.feed);
  quotes.forEach((quote: unknown, index) => {
    const position = String(index);
    const field = (path: string | undefined) => (path === undefined ? undefined : valueAtPath(quote, path));
    const symbol = field(mapping.symbol);
    if (typeof symbol !== 'string' || symbol === '') {
      return rejects.push({ reason: 'missing-symbol', detail: `quote ${index} has no string at ${mapping.symbol}`, position });
    }
    const values: Record<string, number | null> = {};
    for (const name of ['bidPrice', 'bidSize', 'askPrice', 'askSize', 'lastPrice', 'lastSize'] as const) {
      const path = mapping[name];
      const raw = field(path);
      if (raw === undefined || raw === null) {
        values[name] = null;
        continue;
      }
      const value = numeric(raw);
      if (value === undefined) {
        return rejects.push({ reason: 'invalid-tick', detail: `${name} at ${String(path)} is not a number: ${JSON.stringify(raw)}`, position });
      }
      if (name.endsWith('Price')) {
        const problem = priceProblem(name, value, context.maxPrice);
        if (problem !== undefined) return rejects.push({ reason: 'price-out-of-range', detail: problem, position });
      }
      values[name] = value;
    }
    const rawTime = field(mapping.eventTime);
    const eventTime = mapping.eventTime === undefined ? context.ingestTime : eventTimeOf(rawTime);
    if (eventTime === undefined) {
      return rejects.push({ reason: 'invalid-tick', detail: `eventTime at ${mapping.eventTime} is not a time: ${JSON.stringify(rawTime)}`, position });
    }
    const apiId = field(mapping.id);
    const identity = {
      symbol,
      eventTime,
      bidPrice: values.bidPrice ?? null,
      bidSize: values.bidSize ?? null,
      askPrice: values.askPrice ?? null,
      askSize: values.askSize ?? null,
      lastPrice: values.lastPrice ?? null,
      lastSize: values.lastSize ?? null,
    };
    const tick: MarketTickInput = {
      tickId: restTickId(context.feed, typeof apiId === 'string' || typeof apiId === 'number' ? String(apiId) : undefined, identity),
      source,
      ...identity,
      ingestTime: context.ingestTime,
    };
    const invalid = checkTick(tick, position);
    if (invalid !== undefined) return rejects.push(invalid);
    ticks.push(tick);
  });
  return { ticks, rejects };
}
