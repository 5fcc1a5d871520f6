import { describe, expect, it } from 'vitest';
import { entryEventTime, ticksFromMarketData, type FixMarketDataMessage } from '../../gateway/core/fix-ticks';
import { fixTickId } from '../../gateway/core/tick-id';
import { MarketTick } from '../../contracts/market-data';

const context = { session: 'GW-VENUE', epochMs: 1_700_000_000_000, ingestTime: Date.UTC(2026, 10, 30, 18, 0, 5), maxPrice: 1e6 };
const sendingTime = new Date(Date.UTC(2026, 10, 30, 18, 0, 1));

function snapshot(entries: NonNullable<FixMarketDataMessage['MDFullGrp']>['NoMDEntries'], seq = 7): FixMarketDataMessage {
  return { StandardHeader: { MsgSeqNum: seq, SendingTime: sendingTime }, Instrument: { Symbol: 'EUR/USD' }, MDFullGrp: { NoMDEntries: entries } };
}

describe('FIX market data to ticks', () => {
  it('maps a snapshot (W) with bid, offer and trade entries to one tick per entry', () => {
    const { ticks, rejects } = ticksFromMarketData('W', snapshot([
      { MDEntryType: '0', MDEntryPx: 1.1, MDEntrySize: 1_000_000 },
      { MDEntryType: '1', MDEntryPx: 1.1002, MDEntrySize: 500_000 },
      { MDEntryType: '2', MDEntryPx: 1.1001, MDEntrySize: 1_000 },
    ]), context);

    expect(rejects).toStrictEqual([]);
    const base = { source: 'fix:GW-VENUE', symbol: 'EUR/USD', eventTime: sendingTime.getTime(), ingestTime: context.ingestTime };
    const none = { bidPrice: null, bidSize: null, askPrice: null, askSize: null, lastPrice: null, lastSize: null };
    expect(ticks).toStrictEqual([
      { tickId: fixTickId('GW-VENUE', context.epochMs, 7, 0), ...base, ...none, bidPrice: 1.1, bidSize: 1_000_000 },
      { tickId: fixTickId('GW-VENUE', context.epochMs, 7, 1), ...base, ...none, askPrice: 1.1002, askSize: 500_000 },
      { tickId: fixTickId('GW-VENUE', context.epochMs, 7, 2), ...base, ...none, lastPrice: 1.1001, lastSize: 1_000 },
    ]);
    for (const tick of ticks) expect(MarketTick.safeParse(tick).success).toBe(true);
  });

  it('maps an incremental refresh (X) with new, change and delete entries across symbols', () => {
    const message: FixMarketDataMessage = {
      StandardHeader: { MsgSeqNum: 8, SendingTime: sendingTime },
      MDIncGrp: {
        NoMDEntries: [
          { MDUpdateAction: '0', MDEntryType: '0', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: 1.2, MDEntrySize: 7 },
          { MDUpdateAction: '1', MDEntryType: '1', Instrument: { Symbol: 'GBP/USD' }, MDEntryPx: 1.3 },
          { MDUpdateAction: '2', MDEntryType: '0', Instrument: { Symbol: 'USD/JPY' } },
        ],
      },
    };
    const { ticks, rejects } = ticksFromMarketData('X', message, context);

    expect(rejects).toStrictEqual([]);
    expect(ticks.map((tick) => [tick.tickId, tick.symbol, tick.bidPrice, tick.bidSize, tick.askPrice, tick.askSize])).toStrictEqual([
      [fixTickId('GW-VENUE', context.epochMs, 8, 0), 'EUR/USD', 1.2, 7, null, null],
      [fixTickId('GW-VENUE', context.epochMs, 8, 1), 'GBP/USD', null, null, 1.3, null],
      // A delete: no bid any more (price null, size 0), as opposed to "no news" (null, null).
      [fixTickId('GW-VENUE', context.epochMs, 8, 2), 'USD/JPY', null, 0, null, null],
    ]);
  });

  it('gives a PossDup resend of a message exactly the same tickIds', () => {
    const original = snapshot([{ MDEntryType: '0', MDEntryPx: 1.1 }, { MDEntryType: '1', MDEntryPx: 1.2 }], 42);
    const resent: FixMarketDataMessage = { ...original, StandardHeader: { MsgSeqNum: 42, SendingTime: new Date(), PossDupFlag: true } };

    const first = ticksFromMarketData('W', original, context).ticks.map((tick) => tick.tickId);
    const again = ticksFromMarketData('W', resent, { ...context, ingestTime: context.ingestTime + 60_000 }).ticks.map((tick) => tick.tickId);

    expect(again).toStrictEqual(first);
    expect(new Set(first).size).toBe(2);
  });

  it('dead-letters unsupported entry types, bad prices and entries without a symbol, and keeps the rest', () => {
    const message: FixMarketDataMessage = {
      StandardHeader: { MsgSeqNum: 9, SendingTime: sendingTime },
      MDIncGrp: {
        NoMDEntries: [
          { MDUpdateAction: '0', MDEntryType: '4', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: 1.1 },
          { MDUpdateAction: '0', MDEntryType: '0', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: -1 },
          { MDUpdateAction: '0', MDEntryType: '0', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: 2e6 },
          { MDUpdateAction: '0', MDEntryType: '1' , MDEntryPx: 1.1 },
          { MDUpdateAction: '0', MDEntryType: '1', Instrument: { Symbol: 'EUR/USD' } },
          { MDUpdateAction: '5', MDEntryType: '1', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: 1.1 },
          { MDUpdateAction: '0', MDEntryType: '2', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: 1.1, MDEntrySize: -3 },
          { MDUpdateAction: '0', MDEntryType: '2', Instrument: { Symbol: 'EUR/USD' }, MDEntryPx: 1.15, MDEntrySize: 3 },
        ],
      },
    };
    const { ticks, rejects } = ticksFromMarketData('X', message, context);

    expect(rejects.map((reject) => [reject.position, reject.reason])).toStrictEqual([
      ['9:0', 'unsupported-entry-type'],
      ['9:1', 'price-out-of-range'],
      ['9:2', 'price-out-of-range'],
      ['9:3', 'missing-symbol'],
      ['9:4', 'invalid-tick'],
      ['9:5', 'invalid-tick'],
      ['9:6', 'invalid-tick'],
    ]);
    expect(rejects[6]!.detail).toMatch(/lastSize/);
    expect(ticks.map((tick) => tick.tickId)).toStrictEqual([fixTickId('GW-VENUE', context.epochMs, 9, 7)]);
  });

  it('keeps tickIds apart across sequence epochs', () => {
    expect(fixTickId('S', 1, 5, 0)).not.toBe(fixTickId('S', 2, 5, 0));
    expect(fixTickId('S', 1, 5, 0)).not.toBe(fixTickId('S', 1, 50, 0));
  });

  describe.each([
    ['MDEntryDate + MDEntryTime', { MDEntryDate: new Date('2026-11-29T00:00:00Z'), MDEntryTime: new Date('1899-12-31T17:59:59.250Z') }, Date.parse('2026-11-29T17:59:59.250Z')],
    ['MDEntryTime on the SendingTime date', { MDEntryTime: new Date('1899-12-31T17:59:59.250Z') }, Date.parse('2026-11-30T17:59:59.250Z')],
    ['MDEntryDate only', { MDEntryDate: new Date('2026-11-29T00:00:00Z') }, Date.parse('2026-11-29T00:00:00Z')],
    ['neither: SendingTime', {}, sendingTime.getTime()],
  ])('event time from %s', (_name, entry, expected) => {
    it('is the venue time of the entry', () => {
      expect(entryEventTime(entry, sendingTime.getTime(), context.ingestTime)).toBe(expected);
    });
  });

  it('falls back to the receive time when the message has no SendingTime', () => {
    expect(entryEventTime({}, undefined, context.ingestTime)).toBe(context.ingestTime);
  });
});
