import type { KinesisStreamEvent } from 'aws-lambda';
import { beforeEach, describe, expect, it } from 'vitest';
import { ServerMessage, type MarketQuote } from '../../contracts/dashboard';
import { MarketTick, type MarketTickInput } from '../../contracts/market-data';
import { QUOTES_PER_MESSAGE, pricesPayloads } from '../../lambdas/dashboard/core/messages';
import { latestQuotes, type LatestQuote } from '../../lambdas/dashboard/core/quotes';
import { handleRoute, type ConnectionRouteDependencies } from '../../lambdas/dashboard/connection-routes';
import { broadcastPrices, type PricesDependencies } from '../../lambdas/dashboard/prices';
import type { PostOutcome } from '../../lambdas/dashboard/management-api';
import { kinesisRecordFactory } from '../support/kinesis-records';
import { CONTEXT, metricTotals, observability, T0 } from './dashboard-fixtures';

/** The market panel's core (latest quote per symbol) and its broadcaster, without I/O. */

let tickCount = 0;
function tick(symbol: string, eventTime: number, sides: Partial<Pick<MarketTickInput, 'bidPrice' | 'askPrice' | 'lastPrice'>>, source = 'fix:DEMO'): MarketTick {
  tickCount += 1;
  return MarketTick.parse({
    tickId: `tick-${tickCount}`,
    source,
    symbol,
    bidPrice: sides.bidPrice ?? null,
    bidSize: sides.bidPrice === undefined ? null : 1,
    askPrice: sides.askPrice ?? null,
    askSize: sides.askPrice === undefined ? null : 1,
    lastPrice: sides.lastPrice ?? null,
    lastSize: sides.lastPrice === undefined ? null : 1,
    eventTime,
    ingestTime: eventTime + 5,
  });
}

const quote = (symbol: string, eventTimeMs: number, sides: { bid?: number; ask?: number; last?: number }, source = 'fix:DEMO'): LatestQuote => ({
  symbol,
  bid: sides.bid ?? null,
  ask: sides.ask ?? null,
  last: sides.last ?? null,
  eventTimeMs,
  source,
});

describe('latestQuotes (pure)', () => {
  it.each([
    ['keeps the newest tick per symbol', [tick('AAPL', T0, { lastPrice: 100 }), tick('AAPL', T0 + 1, { lastPrice: 101 }), tick('MSFT', T0, { lastPrice: 300 })], [quote('AAPL', T0 + 1, { last: 101 }), quote('MSFT', T0, { last: 300 })]],
    ['ignores a tick older than the quote by event time, whatever its stream position', [tick('AAPL', T0 + 10, { lastPrice: 101 }), tick('AAPL', T0 + 5, { lastPrice: 99 })], [quote('AAPL', T0 + 10, { last: 101 })]],
    ['ignores an older tick even for a side the quote lacks', [tick('AAPL', T0 + 10, { lastPrice: 101 }), tick('AAPL', T0 + 5, { bidPrice: 98 })], [quote('AAPL', T0 + 10, { last: 101 })]],
    ['merges the bid and offer entries of one FIX message (same event time)', [tick('EUR/USD', T0, { bidPrice: 1.0831 }), tick('EUR/USD', T0, { askPrice: 1.0833 })], [quote('EUR/USD', T0, { bid: 1.0831, ask: 1.0833 })]],
    ['keeps a side from an earlier tick when a newer one does not carry it', [tick('EUR/USD', T0, { bidPrice: 1.08, askPrice: 1.09 }), tick('EUR/USD', T0 + 1, { lastPrice: 1.085 }), tick('EUR/USD', T0 + 2, { bidPrice: 1.081 })], [quote('EUR/USD', T0 + 2, { bid: 1.081, ask: 1.09, last: 1.085 })]],
    ['names the source of the newest tick', [tick('EUR/USD', T0, { bidPrice: 1.08 }, 'fix:DEMO'), tick('EUR/USD', T0 + 1, { lastPrice: 1.085 }, 'rest:demo-rest')], [quote('EUR/USD', T0 + 1, { bid: 1.08, last: 1.085 }, 'rest:demo-rest')]],
    ['gives nothing for no ticks', [], []],
  ])('%s', (_name, ticks, expected) => {
    expect(latestQuotes(ticks)).toStrictEqual(expected);
  });

  it('returns symbols in order, one each', () => {
    const ticks = ['MSFT', 'AAPL', 'USD/JPY', 'AAPL', 'EUR/USD'].map((symbol, index) => tick(symbol, T0 + index, { lastPrice: 10 + index }));
    expect(latestQuotes(ticks).map((q) => q.symbol)).toStrictEqual(['AAPL', 'EUR/USD', 'MSFT', 'USD/JPY']);
  });
});

describe('pricesPayloads', () => {
  it('sends no message for no quotes, one for a few, and splits past QUOTES_PER_MESSAGE', () => {
    const wire = (count: number): MarketQuote[] =>
      Array.from({ length: count }, (_, index) => ({ symbol: `S${index}`, bid: 1, ask: 2, last: 1.5, at: new Date(T0).toISOString(), source: 'rest:x' }));
    expect(pricesPayloads(T0, [])).toStrictEqual([]);
    const one = pricesPayloads(T0, wire(3));
    expect(one.map((payload) => ServerMessage.parse(JSON.parse(payload)).type)).toStrictEqual(['prices']);
    const split = pricesPayloads(T0, wire(QUOTES_PER_MESSAGE + 1)).map((payload) => ServerMessage.parse(JSON.parse(payload)));
    expect(split.map((message) => (message.type === 'prices' ? message.quotes.length : -1))).toStrictEqual([QUOTES_PER_MESSAGE, 1]);
  });
});

describe('broadcastPrices', () => {
  /** The latest-quotes table as a map, with the store's rule: a write older than the stored quote is refused. */
  let stored: Map<string, LatestQuote>;
  let posted: { connectionId: string; payload: string }[];
  let connectionIds: string[];

  const dependencies = () => {
    const { logger, metrics, spies } = observability();
    const deps: PricesDependencies = {
      connections: { subscribedConnectionIds: async () => connectionIds, delete: async () => undefined },
      post: async (connectionId, payload): Promise<PostOutcome> => {
        posted.push({ connectionId, payload });
        return { status: 'sent' };
      },
      saveQuote: async (incoming) => {
        const current = stored.get(incoming.symbol);
        if (current !== undefined && current.eventTimeMs > incoming.eventTimeMs) return undefined;
        const merged: LatestQuote = { ...incoming, bid: incoming.bid ?? current?.bid ?? null, ask: incoming.ask ?? current?.ask ?? null, last: incoming.last ?? current?.last ?? null };
        stored.set(incoming.symbol, merged);
        return merged;
      },
      settings: { connectionsTableName: 'connections', postConcurrency: 4, quotesTableName: 'quotes' },
      logger,
      metrics,
      now: () => T0 + 1000,
    };
    return { deps, spies };
  };
  const event = (bodies: (MarketTick | string)[]): KinesisStreamEvent => ({
    Records: bodies.map((body, index) => kinesisRecordFactory(index + 1, typeof body === 'string' ? body : JSON.stringify(body))),
  });
  const pricesTo = (connectionId: string) =>
    posted.filter((post) => post.connectionId === connectionId).map((post) => ServerMessage.parse(JSON.parse(post.payload)));

  beforeEach(() => {
    stored = new Map();
    posted = [];
    connectionIds = ['a', 'b'];
  });

  it('posts one prices message per batch to every subscribed connection, one quote per symbol', async () => {
    const { deps, spies } = dependencies();
    const ticks = Array.from({ length: 50 }, (_, index) => tick(index % 2 === 0 ? 'AAPL' : 'MSFT', T0 + index, { lastPrice: 100 + index }));

    const response = await broadcastPrices(event(ticks), CONTEXT, deps);

    expect(response).toStrictEqual({ batchItemFailures: [] });
    for (const connectionId of connectionIds) {
      expect(pricesTo(connectionId)).toStrictEqual([
        {
          v: 1,
          type: 'prices',
          sentAt: new Date(T0 + 1000).toISOString(),
          quotes: [
            { symbol: 'AAPL', bid: null, ask: null, last: 148, at: new Date(T0 + 48).toISOString(), source: 'fix:DEMO' },
            { symbol: 'MSFT', bid: null, ask: null, last: 149, at: new Date(T0 + 49).toISOString(), source: 'fix:DEMO' },
          ],
        },
      ]);
    }
    expect(metricTotals(spies.addMetric)).toMatchObject({ Ticks: 50, QuotesBroadcast: 2, MessagesPosted: 2 });
  });

  it('sends the stored quote, with sides from earlier batches, and nothing for a symbol whose stored quote is newer', async () => {
    const { deps } = dependencies();
    stored.set('EUR/USD', quote('EUR/USD', T0, { bid: 1.08, ask: 1.09 }));
    stored.set('AAPL', quote('AAPL', T0 + 500, { last: 190 }));

    await broadcastPrices(event([tick('EUR/USD', T0 + 1, { lastPrice: 1.085 }), tick('AAPL', T0 + 100, { lastPrice: 180 })]), CONTEXT, deps);

    const [message] = pricesTo('a');
    expect(message?.type === 'prices' ? message.quotes : undefined).toStrictEqual([
      { symbol: 'EUR/USD', bid: 1.08, ask: 1.09, last: 1.085, at: new Date(T0 + 1).toISOString(), source: 'fix:DEMO' },
    ]);
    expect(stored.get('AAPL')?.last).toBe(190);
  });

  it('broadcasts the ticks before an unreadable record and reports that record', async () => {
    const { deps, spies } = dependencies();

    const response = await broadcastPrices(event([tick('AAPL', T0, { lastPrice: 100 }), '{"symbol":"AAPL"}', tick('AAPL', T0 + 1, { lastPrice: 101 })]), CONTEXT, deps);

    expect(response).toStrictEqual({ batchItemFailures: [{ itemIdentifier: event(['x', 'y']).Records[1]!.kinesis.sequenceNumber }] });
    const [message] = pricesTo('a');
    expect(message?.type === 'prices' ? message.quotes.map((q) => q.last) : undefined).toStrictEqual([100]);
    expect(spies.error).toHaveBeenCalledWith('A market-data record could not be decoded; the batch ends before it', expect.objectContaining({ undecodable: 1 }));
  });

  it('posts nothing when no quote changed, and fails the batch when the store cannot be written', async () => {
    const { deps } = dependencies();
    await broadcastPrices(event([]), CONTEXT, deps);
    expect(posted).toStrictEqual([]);

    const failing: PricesDependencies = { ...deps, saveQuote: async () => Promise.reject(new Error('ProvisionedThroughputExceeded')) };
    await expect(broadcastPrices(event([tick('AAPL', T0, { lastPrice: 1 })]), CONTEXT, failing)).rejects.toThrow('ProvisionedThroughputExceeded');
    expect(posted).toStrictEqual([]);
  });
});

describe('snapshot for a new subscriber ($default subscribe)', () => {
  const subscribe = {
    requestContext: { routeKey: '$default', connectionId: 'conn-1' },
    isBase64Encoded: false,
    body: '{"v":1,"type":"subscribe"}',
  };
  const routeDependencies = (readQuotes: ConnectionRouteDependencies['readQuotes']) => {
    const { logger, metrics, spies } = observability();
    const sent: ServerMessage[] = [];
    const deps: ConnectionRouteDependencies = {
      connections: { put: async () => undefined, markSubscribed: async () => true, delete: async () => undefined },
      readSnapshot: async () => ({ windows: [], invalid: 0, streamWatermarkMs: T0 }),
      ...(readQuotes === undefined ? {} : { readQuotes }),
      post: async (_connectionId, payload) => {
        sent.push(ServerMessage.parse(JSON.parse(payload)));
        return { status: 'sent' };
      },
      settings: { connectionsTableName: 'connections', windowTableName: 'windows', allowedLatenessSeconds: 60, connectionTtlSeconds: 7200 },
      logger,
      metrics,
      now: () => T0,
    };
    return { deps, sent, spies };
  };

  it('sends every symbol\'s latest quote after the windows, and reports items that break the contract', async () => {
    const { deps, sent, spies } = routeDependencies(async () => ({ quotes: [quote('AAPL', T0 - 5, { bid: 189.9, ask: 190.1, last: 190 })], invalid: 1 }));
    expect(await handleRoute(subscribe, deps)).toStrictEqual({ statusCode: 200 });
    expect(sent.map((message) => message.type)).toStrictEqual(['snapshot', 'prices']);
    expect(sent[1]).toStrictEqual({
      v: 1,
      type: 'prices',
      sentAt: new Date(T0).toISOString(),
      quotes: [{ symbol: 'AAPL', bid: 189.9, ask: 190.1, last: 190, at: new Date(T0 - 5).toISOString(), source: 'fix:DEMO' }],
    });
    expect(metricTotals(spies.addMetric).InvalidQuoteItems).toBe(1);
  });

  it('still sends the windows when the quotes cannot be read, and without the market panel sends no prices', async () => {
    const failing = routeDependencies(async () => Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' })));
    expect(await handleRoute(subscribe, failing.deps)).toStrictEqual({ statusCode: 200 });
    expect(failing.sent.map((message) => message.type)).toStrictEqual(['snapshot']);
    expect(failing.spies.error).toHaveBeenCalledWith('Could not read the latest quotes; the snapshot goes without them', { error: 'ThrottlingException' });

    const without = routeDependencies(undefined);
    await handleRoute(subscribe, without.deps);
    expect(without.sent.map((message) => message.type)).toStrictEqual(['snapshot']);
  });
});
