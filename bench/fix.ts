import 'reflect-metadata';
import { CreateStreamCommand, KinesisClient, waitUntilStreamExists } from '@aws-sdk/client-kinesis';
import { ticksFromMarketData, type FixMarketDataMessage } from '../gateway/core/fix-ticks';
import { MemorySessionTable } from '../gateway/fix/session-store';
import { FixSessionRunner, type FixSessionOutputs } from '../gateway/fix/session';
import { KinesisTickSink } from '../gateway/sink/kinesis-sink';
import { FixSessionConfig } from '../contracts/market-data-gateway';
import { localClientConfig } from '../local/clients';
import { startKinesis } from '../local/emulators';
import { createFixParser, fixText } from '../simulator/venues/fix-text';
import { FixVenue } from '../simulator/venues/fix-venue';
import { RandomWalk } from '../simulator/venues/random-walk';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export interface FixParseResult {
  messages: number;
  entries: number;
  splitPerSecond: number;
  parsePerSecond: number;
  parseAndTicksPerSecond: number;
  ratio: number;
}

/**
 * FIX messages as the venue sends them (one W per symbol, then X with 4 entries each: bid and
 * offer for two symbols), written once; then alternating rounds over the same texts of:
 * a bare `split('\x01')`; jspurefix's AsciiParser with the FIX44 dictionary plus `view.toObject()`
 * (what the session does with every message); and that plus the gateway's tick mapping. Medians.
 */
export async function benchFixParse({ count = 20_000, rounds = 7 } = {}): Promise<FixParseResult> {
  const walk = new RandomWalk(['EUR/USD', 'GBP/USD', 'USD/JPY'], 1);
  const texts: string[] = [];
  let entries = 0;
  for (let seq = 1; seq <= count; seq += 1) {
    const fields: (readonly [number, string | number])[] = [[49, 'VENUE'], [56, 'GW'], [34, seq], [52, '20261201-09:00:00.000'], [262, 'md'], [268, 4]];
    for (const symbol of ['EUR/USD', 'GBP/USD']) {
      const quote = walk.step(symbol);
      fields.push([279, 1], [269, 0], [55, symbol], [270, quote.bid], [271, quote.bidSize], [279, 1], [269, 1], [55, symbol], [270, quote.ask], [271, quote.askSize]);
    }
    entries += 4;
    texts.push(fixText('X', fields));
  }
  const buffers = texts.map((text) => Buffer.from(text));
  const parser = await createFixParser();
  const context = { session: 'bench', epochMs: 1, ingestTime: Date.now(), maxPrice: 1e9 };
  let sink = 0;
  const splitRates: number[] = [];
  const parseRates: number[] = [];
  const tickRates: number[] = [];
  for (let round = 0; round < rounds + 1; round += 1) {
    let started = performance.now();
    for (const text of texts) sink += text.split('\x01').length;
    const splitRate = count / ((performance.now() - started) / 1000);
    started = performance.now();
    for (const buffer of buffers) parser.parse(buffer, (_msgType, view) => (sink += (view.toObject() as FixMarketDataMessage).StandardHeader.MsgSeqNum));
    const parseRate = count / ((performance.now() - started) / 1000);
    started = performance.now();
    for (const buffer of buffers) {
      parser.parse(buffer, (msgType, view) => {
        sink += ticksFromMarketData(msgType as 'X', view.toObject() as FixMarketDataMessage, context, { declaredEntries: view.getTyped('NoMDEntries') as number, invalidTags: view.invalid() }).ticks.length;
      });
    }
    const tickRate = count / ((performance.now() - started) / 1000);
    // The first round warms the JIT up.
    if (round >= 1) {
      splitRates.push(splitRate);
      parseRates.push(parseRate);
      tickRates.push(tickRate);
    }
  }
  if (sink === 0) throw new Error('benchmark loops were optimised away');
  const splitPerSecond = median(splitRates);
  const parsePerSecond = median(parseRates);
  return { messages: count, entries, splitPerSecond, parsePerSecond, parseAndTicksPerSecond: median(tickRates), ratio: parsePerSecond / splitPerSecond };
}

export interface FixKinesisResult {
  seconds: number;
  venueMessages: number;
  ticksOnStream: number;
  ticksPerSecond: number;
  putRecordsCalls: number;
  burstTicks: number;
  burstTicksPerSecond: number;
}

/**
 * Ticks per second into Kinesis (kinesalite, the local cloud's default engine, 1 shard as the
 * template's default): first the whole path (the venue simulator streaming X messages at `rate`
 * per second over TCP, the gateway's jspurefix session, the tick mapping, the batching sink's
 * PutRecords) for `seconds`; then the sink alone draining a burst of `burst` ticks.
 */
export async function benchFixIntoKinesis({ rate = 500, seconds = 20, burst = 50_000, log = (_line: string): void => undefined } = {}): Promise<FixKinesisResult> {
  const kinesisService = await startKinesis({});
  const kinesis = new KinesisClient(localClientConfig(kinesisService.endpoint));
  const venue = new FixVenue({ symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'], senderCompId: 'VENUE', targetCompId: 'GW', heartbeatSeconds: 5, rate, seed: 9 });
  let runner: FixSessionRunner | undefined;
  try {
    const streamName = 'market-data';
    await kinesis.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: 1 }));
    await waitUntilStreamExists({ client: kinesis, maxWaitTime: 60 }, { StreamName: streamName });
    const sink = new KinesisTickSink({ kinesis, streamName, batchSize: 500, batchDelayMs: 100, log });
    const outputs: FixSessionOutputs = {
      sink,
      deadLetters: { send: async (reject) => log(`dead letter: ${reject.reason} ${reject.detail}`) },
      metrics: { count: () => undefined, sessionState: () => undefined },
      maxPrice: 1e9,
    };
    await venue.start();
    log(`fix: the venue streams ${rate} X/s (4 entries each) to the gateway's session for ${seconds} s...`);
    runner = new FixSessionRunner(FixSessionConfig.parse({ name: 'bench', host: '127.0.0.1', port: venue.port, senderCompId: 'GW', targetCompId: 'VENUE', heartbeatSeconds: 5, symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'] }), { outputs, sessionTable: new MemorySessionTable(), env: {}, log });
    runner.start();
    while (sink.stats.published === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const startPublished = sink.stats.published;
    const startCalls = sink.stats.calls;
    const startSent = venue.sent.size;
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const elapsed = (performance.now() - started) / 1000;
    const ticksOnStream = sink.stats.published - startPublished;
    const venueMessages = venue.sent.size - startSent;
    const putRecordsCalls = sink.stats.calls - startCalls;
    await runner.stop();
    runner = undefined;
    await sink.drain();

    log(`fix: the sink alone, a burst of ${burst} ticks...`);
    const template = { source: 'fix:bench', symbol: 'EUR/USD', bidPrice: 1.1, bidSize: 1, askPrice: null, askSize: null, lastPrice: null, lastSize: null, eventTime: Date.now(), ingestTime: Date.now() };
    const ticks = Array.from({ length: burst }, (_, index) => ({ ...template, tickId: `fix:bench:burst:${index}:0`, symbol: ['EUR/USD', 'GBP/USD', 'USD/JPY'][index % 3]! }));
    const burstStarted = performance.now();
    await sink.publish(ticks);
    const burstSeconds = (performance.now() - burstStarted) / 1000;
    return { seconds: elapsed, venueMessages, ticksOnStream, ticksPerSecond: ticksOnStream / elapsed, putRecordsCalls, burstTicks: burst, burstTicksPerSecond: burst / burstSeconds };
  } finally {
    await runner?.stop();
    await venue.stop();
    kinesis.destroy();
    await kinesisService.stop();
  }
}
