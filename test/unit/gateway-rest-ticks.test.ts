import { describe, expect, it } from 'vitest';
import { eventTimeOf, ticksFromRestBody, valueAtPath } from '../../gateway/core/rest-ticks';
import { restTickId } from '../../gateway/core/tick-id';
import type { RestMapping } from '../../contracts/market-data-gateway';

const mapping: RestMapping = {
  quotes: 'data.quotes',
  symbol: 'sym',
  bidPrice: 'bid.px',
  bidSize: 'bid.qty',
  askPrice: 'ask.px',
  askSize: 'ask.qty',
  eventTime: 'ts',
};
const context = { feed: 'acme', mapping, ingestTime: 1_800_000_000_000, maxPrice: 1e6 };

describe('REST quote bodies to ticks', () => {
  it('maps each quote by the documented paths, accepting numbers sent as strings', () => {
    const body = { data: { quotes: [
      { sym: 'AAPL', bid: { px: '189.5', qty: 100 }, ask: { px: 189.52, qty: '200' }, ts: '2026-11-30T18:00:00Z' },
      { sym: 'MSFT', bid: { px: 410 }, ts: 1_795_000_000 },
    ] } };

    const { ticks, rejects } = ticksFromRestBody(body, context);

    expect(rejects).toStrictEqual([]);
    expect(ticks).toStrictEqual([
      expect.objectContaining({ source: 'rest:acme', symbol: 'AAPL', bidPrice: 189.5, bidSize: 100, askPrice: 189.52, askSize: 200, lastPrice: null, eventTime: Date.parse('2026-11-30T18:00:00Z') }),
      expect.objectContaining({ symbol: 'MSFT', bidPrice: 410, bidSize: null, askPrice: null, eventTime: 1_795_000_000_000 }),
    ]);
    expect(ticks[0]!.tickId).toMatch(/^rest:acme:h[0-9a-f]{24}$/);
  });

  it('derives the same tickId for the same quote polled twice, and another for a changed one', () => {
    const quote = { sym: 'AAPL', bid: { px: 1 }, ts: 1_795_000_000_000 };
    const first = ticksFromRestBody({ data: { quotes: [quote] } }, context).ticks[0]!.tickId;
    const again = ticksFromRestBody({ data: { quotes: [quote] } }, { ...context, ingestTime: context.ingestTime + 5_000 }).ticks[0]!.tickId;
    const changed = ticksFromRestBody({ data: { quotes: [{ ...quote, bid: { px: 1.01 } }] } }, context).ticks[0]!.tickId;

    expect(again).toBe(first);
    expect(changed).not.toBe(first);
  });

  it("uses the API's own quote id when the mapping names one", () => {
    const { ticks } = ticksFromRestBody([{ id: 991, s: 'X', p: 3 }], { ...context, mapping: { symbol: 's', lastPrice: 'p', id: 'id' } });
    expect(ticks.map((tick) => [tick.tickId, tick.lastPrice, tick.eventTime])).toStrictEqual([[restTickId('acme', '991', {} as never), 3, context.ingestTime]]);
  });

  it('accepts a body that is a single quote object', () => {
    const { ticks } = ticksFromRestBody({ s: 'X', p: 3 }, { ...context, mapping: { symbol: 's', lastPrice: 'p' } });
    expect(ticks.map((tick) => tick.symbol)).toStrictEqual(['X']);
  });

  it('rejects a body without the quote array as one malformed response', () => {
    expect(ticksFromRestBody({ data: 'down for maintenance' }, context)).toStrictEqual({
      ticks: [],
      rejects: [{ reason: 'malformed-response', detail: 'no quote array at data.quotes', position: 'body' }],
    });
  });

  it('dead-letters bad quotes by index and keeps the good ones', () => {
    const body = { data: { quotes: [
      { bid: { px: 1 } },
      { sym: 'A', bid: { px: 'n/a' } },
      { sym: 'B', bid: { px: 0 } },
      { sym: 'C', ask: { px: 5e6 } },
      { sym: 'D', bid: { px: 1 }, ts: 'yesterday' },
      { sym: 'E', ask: { px: 2, qty: -1 } },
      { sym: 'F', ask: { px: 2 }, ts: 1_795_000_000_000 },
    ] } };
    const { ticks, rejects } = ticksFromRestBody(body, context);
    expect(rejects.map((reject) => [reject.position, reject.reason])).toStrictEqual([
      ['0', 'missing-symbol'],
      ['1', 'invalid-tick'],
      ['2', 'price-out-of-range'],
      ['3', 'price-out-of-range'],
      ['4', 'invalid-tick'],
      ['5', 'invalid-tick'],
    ]);
    expect(ticks.map((tick) => tick.symbol)).toStrictEqual(['F']);
  });

  it('reads dot paths, including array indexes, and stops where the path leads nowhere', () => {
    expect(valueAtPath({ a: [{ b: 3 }] }, 'a.0.b')).toBe(3);
    expect(valueAtPath({ a: 1 }, 'a.b.c')).toBeUndefined();
    expect(valueAtPath(null, 'a')).toBeUndefined();
  });

  it.each([
    [1_795_000_000, 1_795_000_000_000],
    [1_795_000_000_123, 1_795_000_000_123],
    ['1795000000.5', 1_795_000_000_500],
    ['2026-11-30T18:00:00.000+01:00', Date.parse('2026-11-30T17:00:00Z')],
    ['not a time', undefined],
    [true, undefined],
  ])('reads event time %j as %j', (value, expected) => {
    expect(eventTimeOf(value)).toBe(expected);
  });
});
