import { beforeAll, describe, expect, it } from 'vitest';
import { entryEventTime, ticksFromMarketData, type FixMarketDataMessage, type FixWireFacts } from '../../gateway/core/fix-ticks';
import { createFixParser, fixText, type FixParser } from '../../simulator/venues/fix-text';
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

/** The message as the session decodes it: jspurefix's parser, the FIX44 dictionary, `view.toObject()`. */
describe('FIX text decoded by jspurefix to ticks', () => {
  let parser: FixParser;
  beforeAll(async () => {
    parser = await createFixParser();
  });
  const header = (seq: number) => [[49, 'VENUE'], [56, 'GW'], [34, seq], [52, '20261130-18:00:01.000']] as const;
  const decode = (text: string) => {
    const decoded: { msgType: string; message: FixMarketDataMessage; wire: FixWireFacts }[] = [];
    parser.parse(text, (msgType, view) => decoded.push({
      msgType,
      message: view.toObject() as FixMarketDataMessage,
      wire: { declaredEntries: view.getTyped('NoMDEntries') as number | undefined, invalidTags: view.invalid() },
    }));
    expect(decoded).toHaveLength(1);
    return decoded[0]!;
  };
  const sides = (ticks: { bidPrice: number | null; bidSize: number | null; askPrice: number | null; askSize: number | null; lastPrice: number | null; lastSize: number | null }[]) =>
    ticks.map((tick) => [tick.bidPrice, tick.bidSize, tick.askPrice, tick.askSize, tick.lastPrice, tick.lastSize]);

  it('maps a W with bid, offer and trade entries', () => {
    const { msgType, message, wire } = decode(fixText('W', [...header(3), [262, 'md'], [55, 'EUR/USD'], [268, 3],
      [269, 0], [270, '1.1'], [271, 100], [269, 1], [270, '1.2'], [271, 200], [269, 2], [270, '1.15'], [271, 5]]));
    const { ticks, rejects } = ticksFromMarketData(msgType as 'W', message, context, wire);

    expect(rejects).toStrictEqual([]);
    expect(ticks.map((tick) => [tick.tickId, tick.symbol, tick.eventTime])).toStrictEqual([0, 1, 2].map((index) => [fixTickId('GW-VENUE', context.epochMs, 3, index), 'EUR/USD', sendingTime.getTime()]));
    expect(sides(ticks)).toStrictEqual([[1.1, 100, null, null, null, null], [null, null, 1.2, 200, null, null], [null, null, null, null, 1.15, 5]]);
  });

  it('maps an X with new, change and delete entries of every type across symbols', () => {
    const { msgType, message, wire } = decode(fixText('X', [...header(4), [262, 'md'], [268, 6],
      [279, 0], [269, 0], [55, 'EUR/USD'], [270, '1.1'], [271, 1],
      [279, 1], [269, 1], [55, 'EUR/USD'], [270, '1.2'], [271, 2],
      [279, 0], [269, 2], [55, 'GBP/USD'], [270, '1.3'], [271, 3],
      [279, 2], [269, 0], [55, 'GBP/USD'],
      [279, 2], [269, 1], [55, 'USD/JPY'],
      [279, 1], [269, 2], [55, 'USD/JPY'], [270, '150.25'], [271, 7]]));
    const { ticks, rejects } = ticksFromMarketData(msgType as 'X', message, context, wire);

    expect(rejects).toStrictEqual([]);
    expect(ticks.map((tick) => tick.symbol)).toStrictEqual(['EUR/USD', 'EUR/USD', 'GBP/USD', 'GBP/USD', 'USD/JPY', 'USD/JPY']);
    expect(sides(ticks)).toStrictEqual([
      [1.1, 1, null, null, null, null],
      [null, null, 1.2, 2, null, null],
      [null, null, null, null, 1.3, 3],
      [null, 0, null, null, null, null],
      [null, null, null, 0, null, null],
      [null, null, null, null, 150.25, 7],
    ]);
  });

  it('keeps the entries before an unknown tag inside the group and dead-letters the ones the engine dropped', () => {
    const { msgType, message, wire } = decode(fixText('X', [...header(5), [262, 'md'], [268, 3],
      [279, 0], [269, 0], [55, 'EUR/USD'], [270, '1.1'], [271, 1],
      [279, 0], [269, 1], [55, 'EUR/USD'], [270, '1.2'], [9999, 'vendor'], [271, 2],
      [279, 0], [269, 2], [55, 'EUR/USD'], [270, '1.15'], [271, 3]]));
    const { ticks, rejects } = ticksFromMarketData(msgType as 'X', message, context, wire);

    // The engine ends the group at 9999: the offer's size and the whole trade entry are not decoded.
    expect(ticks.map((tick) => tick.tickId)).toStrictEqual([fixTickId('GW-VENUE', context.epochMs, 5, 0), fixTickId('GW-VENUE', context.epochMs, 5, 1)]);
    expect(rejects).toStrictEqual([{ reason: 'malformed-message', position: '5:2', detail: expect.stringMatching(/NoMDEntries \(268\) is 3 but 2 entries decoded.*9999/) }]);
  });

  it('takes an unknown tag outside the group without losing an entry', () => {
    const { msgType, message, wire } = decode(fixText('X', [...header(6), [262, 'md'], [9998, 'x'], [268, 2],
      [279, 0], [269, 0], [55, 'EUR/USD'], [270, '1.1'], [271, 1],
      [279, 0], [269, 1], [55, 'EUR/USD'], [270, '1.2'], [271, 2]]));
    const { ticks, rejects } = ticksFromMarketData(msgType as 'X', message, context, wire);

    expect(rejects).toStrictEqual([]);
    expect(ticks).toHaveLength(2);
  });

  it('dead-letters a malformed price, an unsupported entry type and a missing symbol, and keeps the rest', () => {
    const { msgType, message, wire } = decode(fixText('X', [...header(7), [262, 'md'], [268, 4],
      [279, 0], [269, 0], [55, 'EUR/USD'], [270, 'abc'], [271, 1],
      [279, 0], [269, 4], [55, 'EUR/USD'], [270, '1.1'],
      [279, 0], [269, 1], [270, '1.2'],
      [279, 0], [269, 1], [55, 'EUR/USD'], [270, '1.3'], [271, 2]]));
    const { ticks, rejects } = ticksFromMarketData(msgType as 'X', message, context, wire);

    expect(rejects.map((reject) => [reject.position, reject.reason])).toStrictEqual([
      // The engine decodes a non-numeric price as 0, which is out of range.
      ['7:0', 'price-out-of-range'],
      ['7:1', 'unsupported-entry-type'],
      ['7:2', 'missing-symbol'],
    ]);
    expect(ticks.map((tick) => [tick.tickId, tick.askPrice])).toStrictEqual([[fixTickId('GW-VENUE', context.epochMs, 7, 3), 1.3]]);
  });
});
