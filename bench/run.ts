import { availableParallelism } from 'node:os';
import { benchCore } from './core';
import { benchDashboard } from './dashboard';
import { benchEndToEnd, type EndToEndResult } from './e2e';
import { benchQuery, benchSinkIngest } from './lakehouse';
import { benchWrites } from './writes';
import { benchWeb } from './web';
import { benchFraudCore, benchFraudLatency, benchFraudQuality } from './fraud';
import { benchFixIntoKinesis, benchFixParse } from './fix';
import { formatReport } from '../fraud/cli';
import { CLICKS_EVENT_SOURCE_DEFAULTS } from '../lib/clickstream-pipeline';
import { silenceSdkNodeWarningForTools } from '../contracts/sdk-node-warning';

const HELP = `Usage: npm run bench [-- core|writes|e2e|dashboard|web|fraud|lakehouse|fix ...] [--seconds N] [--rate N] [--shards N] [--runs N] [--clients N]

Runs the benchmarks and prints a table (default: all of them).
  core     aggregator core throughput as a ratio to a bare JSON.parse loop over the same payloads
  writes   WRU and item writes per 1,000 events from ConsumedCapacity on DynamoDB Local (Zipf 1.1 over
           1,000 URLs) at batch sizes 100, 1,000, 10,000, beside one (transactional) write per event
  e2e      local cloud end to end: p50/p99 latency from put to visible to readers (the shard's progress
           item covers the record) at --rate events/s per shard (default 1000) for --seconds (default 30),
           then the drain rate of a 30,000-event burst; the aggregator's durations per batch, records
           per batch and GB-s per million events at its template MemorySize. --shards N (default: 1,
           then 4), --runs N per shard count (default 3; each on a fresh local cloud), median and min-max
  dashboard  local cloud + headless Chromium (/usr/bin/chromium): p50/p99 latency from putting a
           click to the dashboard showing it (one click every 200 ms for --seconds), then the
           time until all of --clients (default 1000) open WebSocket connections get an update
  web      the dashboard web app without the local cloud: bundle bytes (raw and gzip -9) from web/build.ts,
           and in headless Chromium the time the page spends (Performance API: handler + draw + layout) on a
           snapshot of 30 minutes x 1,000 URLs and on one windows update of 280 windows; --runs N (default 7), median
  fraud    scorer core orders/s against bare JSON.parse; model quality on 50,000 labelled simulated
           orders (seed 1) at the default configuration; local cloud p50/p99 from order put to
           decision readable at --rate (default 200) for --seconds (default 30)
  lakehouse  Iceberg sink ingest (records/s into Parquet, commit latency p50/p99) and DuckDB query time
           over a 1-million-row market_ticks table with 1% upserts as deletes, beside bare Parquet
  fix      market-data gateway: FIX messages/s through jspurefix's parser (+ view.toObject(), + tick
           mapping) as a ratio to a bare split on SOH over the same 20,000 messages; ticks/s into
           Kinesis (kinesalite, 1 shard) from the venue simulator at --rate X messages/s (default 500)
           through the gateway's session for --seconds (default 20), then the sink alone on a burst`;

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const fixed = (value: number, digits = 0) => value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(argv: string[]): Promise<void> {
  silenceSdkNodeWarningForTools();
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return;
  }
  const option = (name: string, fallback: number) => {
    const index = argv.indexOf(`--${name}`);
    if (index === -1) return fallback;
    const value = Number(argv[index + 1]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number. Received ${argv[index + 1]}`);
    return value;
  };
  const sections = argv.filter((arg, index) => !arg.startsWith('--') && !argv[index - 1]?.startsWith('--'));
  const run = (name: string) => sections.length === 0 || sections.includes(name);
  for (const section of sections) if (!['core', 'writes', 'e2e', 'dashboard', 'web', 'fraud', 'lakehouse', 'fix'].includes(section)) throw new Error(`Unknown benchmark: ${section}\n\n${HELP}`);

  console.log(`node ${process.version}, ${new Date().toISOString()}\n`);
  if (run('core')) {
    console.error('core: 100,000 records, 9 alternating rounds...');
    const core = benchCore();
    console.log('### Aggregator core throughput');
    console.log(row(['loop', 'records/s (median)']));
    console.log(row(['---', '---:']));
    console.log(row(['bare JSON.parse of the payloads (JSON strings)', fixed(core.jsonParsePerSecond)]));
    console.log(row(['base64 decode + JSON.parse of the records', fixed(core.decodeAndParsePerSecond)]));
    console.log(row(['core: base64 + JSON.parse + validate + window + de-dup + pre-aggregate', fixed(core.corePerSecond)]));
    console.log(row(['**ratio core / JSON.parse** (target >= 0.5)', `**${fixed(core.ratio, 2)}**`]));
    console.log(row(['ratio core / (base64 decode + JSON.parse)', fixed(core.ratioToDecodeAndParse, 2)]));
    console.log();
  }
  if (run('writes')) {
    console.error('writes: 120,000 Zipf(1.1) events over 1,000 URLs at 1,000 events/s, on DynamoDB Local...');
    const defaultBatch = CLICKS_EVENT_SOURCE_DEFAULTS.batchSize;
    const results = await benchWrites([100, defaultBatch, 10_000]);
    console.log('### DynamoDB writes per 1,000 events (Zipf 1.1, 1,000 URLs, 1,000 events/s), from ConsumedCapacity on DynamoDB Local');
    console.log(row(['scheme', 'batch size', 'WRU (DynamoDB Local)', 'item writes', 'events measured']));
    console.log(row(['---', '---:', '---:', '---:', '---:']));
    for (const result of results) {
      console.log(row([
        result.scheme,
        result.batchSize === undefined ? '-' : result.batchSize === defaultBatch ? `**${result.batchSize} (default)**` : result.batchSize,
        result.batchSize === defaultBatch ? `**${fixed(result.wruPer1000, 1)}**` : fixed(result.wruPer1000, 1),
        fixed(result.itemWritesPer1000, 1),
        fixed(result.events),
      ]));
    }
    console.log('Watershed writes no transactions: 1 WRU per started KB, as on AWS. The transactional row is what DynamoDB Local reported for sub-KB items.');
    console.log();
  }
  if (run('e2e')) {
    const shardCounts = argv.includes('--shards') ? [option('shards', 1)] : [1, 4];
    for (const shards of shardCounts) if (!Number.isInteger(shards)) throw new Error(`--shards must be a whole number of shards. Received ${shards}`);
    await benchE2e({ shardCounts, runs: option('runs', 3), rate: option('rate', 1000), seconds: option('seconds', 30) });
  }
  if (run('lakehouse')) await benchLakehouse();
  if (run('dashboard')) {
    const { latency, broadcast } = await benchDashboard({ seconds: option('seconds', 30), clients: option('clients', 1000), log: (line) => console.error(line) });
    console.log();
    console.log('### Live dashboard on the local cloud');
    console.log(row(['measure', 'samples', 'p50', 'p99 / max', 'notes']));
    console.log(row(['---', '---:', '---:', '---:', '---']));
    console.log(row([
      'put a click -> shown in headless Chromium (target p99 < 2 s)',
      `${fixed(latency.seen)} of ${fixed(latency.clicks)}`,
      `${fixed(latency.p50Ms)} ms`,
      `**${fixed(latency.p99Ms)} ms** / ${fixed(latency.maxMs)} ms`,
      `a click every 200 ms, after a warm-up click (cold starts: ${fixed(latency.coldStartMs)} ms); shown = the page's count includes it (MutationObserver time)`,
    ]));
    console.log(row([
      `put a click -> received by all ${fixed(broadcast.clients)} WebSocket clients`,
      `${fixed(broadcast.rounds)} rounds`,
      `${fixed(broadcast.p50Ms)} ms`,
      `max ${fixed(broadcast.maxMs)} ms`,
      `first client p50 ${fixed(broadcast.firstReceivedP50Ms)} ms; ${fixed(broadcast.clients)} clients connected and subscribed in ${fixed(broadcast.connectMs / 1000, 1)} s`,
    ]));
  }
  if (run('web')) {
    const web = await benchWeb({ runs: option('runs', 7), log: (line) => console.error(line) });
    console.log();
    console.log('### Dashboard web app: bundle (web/build.ts)');
    console.log(row(['file', 'bytes', 'gzip -9 bytes']));
    console.log(row(['---', '---:', '---:']));
    for (const file of web.files) console.log(row([file.name, fixed(file.bytes), fixed(file.gzipBytes)]));
    console.log();
    const ms = (values: number[]) => {
      const { median, min, max } = spread(values);
      return [`**${fixed(median, 1)} ms**`, `${fixed(min, 1)}-${fixed(max, 1)} ms`, values.length];
    };
    console.log('### Dashboard web app: render time in headless Chromium (Performance API in the page: handler + draw + style/layout, no frame wait or paint)');
    console.log(row(['message', 'size', 'median', 'min-max', 'runs']));
    console.log(row(['---', '---:', '---:', '---:', '---:']));
    console.log(row([`snapshot: ${fixed(web.snapshot.windows)} windows (30 min x 1,000 URLs) in ${web.snapshot.messages} messages`, `${fixed(web.snapshot.bytes / 1024)} KiB`, ...ms(web.snapshot.busyMs)]));
    console.log(row(['of which the message handlers (JSON.parse, zod validation, reduce)', '', ...ms(web.snapshot.handlerMs)]));
    console.log(row([`snapshot: first message received -> drawn (wall clock, includes frame waits)`, '', ...ms(web.snapshot.firstToDrawnMs)]));
    console.log(row([`one windows update of ${web.update.windows} windows, on that page`, `${fixed(web.update.bytes / 1024)} KiB`, ...ms(web.update.busyMs)]));
    console.log(row(['of which the message handler', '', ...ms(web.update.handlerMs)]));
    console.log('One process on a 2-core machine shared with other engineers: the figures are noisy; compare ratios within one run.');
    console.log();
  }
  if (run('fix')) await benchFix({ rate: option('rate', 500), seconds: option('seconds', 20) });
  if (run('fraud')) {
    console.error('fraud: scorer core, 20,000 orders, 7 alternating rounds...');
    const core = benchFraudCore();
    console.log('### Fraud scorer core throughput');
    console.log(row(['loop', 'orders/s (median)']));
    console.log(row(['---', '---:']));
    console.log(row(['bare JSON.parse of the payloads', fixed(core.jsonParsePerSecond)]));
    console.log(row(['core: base64 + JSON.parse + validate + features + score + reasons + profile folds + commit plan', fixed(core.corePerSecond)]));
    console.log(row(['**ratio core / JSON.parse**', `**${fixed(core.ratio, 3)}**`]));
    console.log();
    console.error('fraud: model quality, 50,000 labelled orders (seed 1)...');
    console.log('### Fraud model quality (default configuration, seed 1)');
    console.log(formatReport(benchFraudQuality()));
    console.log();
    const latency = await benchFraudLatency({ rate: option('rate', 200), seconds: option('seconds', 30), log: (line) => console.error(line) });
    console.log('### Fraud: order put -> decision readable, local cloud');
    console.log(row(['target rate', 'orders', 'decided', 'p50', 'p99 (target < 1 s)', 'max']));
    console.log(row(['---:', '---:', '---:', '---:', '---:', '---:']));
    console.log(row([`${fixed(latency.targetRate)}/s`, fixed(latency.sent), fixed(latency.decided), `${fixed(latency.p50Ms)} ms`, `${fixed(latency.p99Ms)} ms`, `${fixed(latency.maxMs)} ms`]));
  }
}

async function benchFix({ rate, seconds }: { rate: number; seconds: number }): Promise<void> {
  console.error('fix: 20,000 X messages (4 entries each), 7 alternating rounds...');
  const parse = await benchFixParse();
  console.log(`### Market-data gateway: FIX parse rate (${fixed(parse.messages)} X messages, ${fixed(parse.entries)} entries; median of 7 alternating rounds, one process)`);
  console.log(row(['loop', 'messages/s (median)']));
  console.log(row(['---', '---:']));
  console.log(row(["bare split('\\x01') of each message", fixed(parse.splitPerSecond)]));
  console.log(row(["jspurefix AsciiParser (FIX44 dictionary) + view.toObject(), as the session decodes", fixed(parse.parsePerSecond)]));
  console.log(row(['the same + the gateway\'s tick mapping (ticksFromMarketData)', fixed(parse.parseAndTicksPerSecond)]));
  console.log(row(['**ratio jspurefix parse / bare split**', `**${fixed(parse.ratio, 3)}**`]));
  console.log();
  const kinesis = await benchFixIntoKinesis({ rate, seconds, log: (line) => console.error(line) });
  console.log('### Market-data gateway: ticks into Kinesis (kinesalite, 1 shard, PartitionKey = symbol)');
  console.log(row(['path', 'ticks', 'seconds', 'ticks/s', 'notes']));
  console.log(row(['---', '---:', '---:', '---:', '---']));
  console.log(row([
    `venue simulator -> TCP -> gateway FIX session -> sink -> PutRecords`,
    fixed(kinesis.ticksOnStream), fixed(kinesis.seconds, 1), `**${fixed(kinesis.ticksPerSecond)}**`,
    `venue target ${fixed(rate)} X/s x 4 entries; it sent ${fixed(kinesis.venueMessages)} X (${fixed(kinesis.venueMessages / kinesis.seconds)}/s); ${fixed(kinesis.putRecordsCalls)} PutRecords calls`,
  ]));
  console.log(row(['the sink alone (batches of 500)', fixed(kinesis.burstTicks), '-', `**${fixed(kinesis.burstTicksPerSecond)}**`, 'one publish() of the whole burst']));
  console.log();
}

/** The median of the values (the mean of the middle two for an even count), with the min and max. */
function spread(values: readonly number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)! };
}

async function benchE2e({ shardCounts, runs, rate, seconds }: { shardCounts: number[]; runs: number; rate: number; seconds: number }): Promise<void> {
  const results: EndToEndResult[] = [];
  for (const shards of shardCounts) {
    for (let index = 1; index <= runs; index += 1) {
      console.error(`e2e: ${shards} shard(s), run ${index} of ${runs} (a fresh local cloud)...`);
      results.push(await benchEndToEnd({ rate, seconds, shards, log: (line) => console.error(line) }));
    }
  }
  const memory = results[0]?.memoryMb;
  console.log(`### Local end to end: put -> visible to readers (the shard's progress item, written after the step's partials, covers the record), ${fixed(rate)} events/s per shard for ${fixed(seconds)} s, then a burst of ${fixed(results[0]?.drainEvents ?? 0)} events; each run on a fresh local cloud`);
  const latencyColumns: [string, (result: EndToEndResult) => number, (value: number) => string][] = [
    ['target rate', (result) => result.targetRate, (value) => `${fixed(value)}/s`],
    ['put rate achieved', (result) => result.putRate, (value) => `${fixed(value)}/s`],
    ['events', (result) => result.sent, (value) => fixed(value)],
    ['p50', (result) => result.p50Ms, (value) => `${fixed(value)} ms`],
    ['p99 (target < 2 s)', (result) => result.p99Ms, (value) => `${fixed(value)} ms`],
    ['max', (result) => result.maxMs, (value) => `${fixed(value)} ms`],
    ['burst drain rate', (result) => result.drainRate, (value) => `${fixed(value)}/s`],
    ['cold start (warm-up batch)', (result) => result.coldStartMs, (value) => `${fixed(value)} ms`],
  ];
  const functionColumns: [string, (result: EndToEndResult) => number, (value: number) => string][] = [
    ['steady: batches', (result) => result.steady.invocations, (value) => fixed(value)],
    ['steady: duration p50 / batch', (result) => result.steady.durationP50Ms, (value) => `${fixed(value)} ms`],
    ['steady: duration p99 / batch', (result) => result.steady.durationP99Ms, (value) => `${fixed(value)} ms`],
    ['steady: records / batch', (result) => result.steady.meanRecordsPerBatch, (value) => fixed(value, 1)],
    [`steady: GB-s per million events (${memory} MB)`, (result) => result.steady.gbSecondsPerMillionEvents, (value) => fixed(value, 1)],
    ['drain: duration p50 / batch', (result) => result.drain.durationP50Ms, (value) => `${fixed(value)} ms`],
    ['drain: duration p99 / batch', (result) => result.drain.durationP99Ms, (value) => `${fixed(value)} ms`],
    ['drain: records / batch', (result) => result.drain.meanRecordsPerBatch, (value) => fixed(value, 1)],
    [`drain: GB-s per million events`, (result) => result.drain.gbSecondsPerMillionEvents, (value) => fixed(value, 1)],
  ];
  const limitColumns: [string, (result: EndToEndResult) => number, (value: number) => string][] = [
    ['burst drain rate', (result) => result.drainRate, (value) => `${fixed(value)}/s`],
    ['function busy share per shard', (result) => result.drainFunctionBusyShare * 100, (value) => `${fixed(value)}%`],
    ['CPU: Kinesis engine', (result) => result.drainCpuCores.kinesisEngine ?? Number.NaN, (value) => `${fixed(value, 2)} cores`],
    ['CPU: DynamoDB Local', (result) => result.drainCpuCores.dynamodbLocal ?? Number.NaN, (value) => `${fixed(value, 2)} cores`],
    ['CPU: bench process (edge, mappings, producer, functions)', (result) => result.drainCpuCores.benchProcess, (value) => `${fixed(value, 2)} cores`],
    ['failed invocations', (result) => result.steady.failed + result.drain.failed, (value) => fixed(value)],
  ];
  for (const [title, columns] of [
    ['latency', latencyColumns],
    ['aggregator invocations, from the local runtime (steady = the rate phase, drain = the burst; GB-s = billed ms, each invocation rounded up to 1 ms, x the template MemorySize / events)', functionColumns],
    [`what limits the burst drain: busy share = the aggregator's durations / (drain seconds x shards), Lambda running one batch per shard at a time; CPU in cores of the ${availableParallelism()} this machine has, averaged over the drain`, limitColumns],
  ] as const) {
    console.log();
    console.log(`#### ${title}`);
    console.log(row(['shards', 'run', ...columns.map(([name]) => name)]));
    console.log(row(['---:', '---', ...columns.map(() => '---:')]));
    for (const shards of shardCounts) {
      const ofShards = results.filter((result) => result.shards === shards);
      ofShards.forEach((result, index) => console.log(row([shards, index + 1, ...columns.map(([, pick, format]) => format(pick(result)))])));
      console.log(row([
        `**${shards}**`,
        `**median (min-max) of ${ofShards.length}**`,
        ...columns.map(([, pick, format]) => {
          const { median, min, max } = spread(ofShards.map(pick));
          return `**${format(median)}** (${format(min)}-${format(max)})`;
        }),
      ]));
    }
  }
  console.log();
}

async function benchLakehouse(): Promise<void> {
  console.error('lakehouse: sink ingest of 200,000 MarketTick records (1 MiB buffers)...');
  const sink = await benchSinkIngest();
  console.log('### Lakehouse: local Iceberg sink (in-memory object store, one process)');
  console.log(row(['records', 'records/s into Parquet + commit', 'commits', 'commit p50', 'commit p99', 'buffer']));
  console.log(row(['---:', '---:', '---:', '---:', '---:', '---:']));
  console.log(row([fixed(sink.records), fixed(sink.recordsPerSecond), fixed(sink.commits), `${fixed(sink.commitP50Ms)} ms`, `${fixed(sink.commitP99Ms)} ms`, `${fixed(sink.bufferBytes / 1024 / 1024)} MiB`]));
  console.log();
  console.error('lakehouse: building a 1,000,000-row market_ticks table (10 commits + 1% upserts)...');
  const query = await benchQuery({ log: (line) => console.error(line) });
  console.log(`### Lakehouse: count(*) GROUP BY symbol, ${fixed(query.rows)} rows, ${fixed(query.upserts)} upserts (median of ${query.rounds}, warm file cache)`);
  console.log(row(['table layout', 'time', 'vs bare Parquet']));
  console.log(row(['---', '---:', '---:']));
  console.log(row(['bare Parquet data files (no deletes applied)', `${fixed(query.bareParquetMs)} ms`, '1.0x']));
  console.log(row([
    `as the sink writes it: ${query.sinkLayoutFiles.data} data + ${query.sinkLayoutFiles.deletes} equality delete files (${fixed(query.sinkLayoutFiles.deleteRows)} delete keys)`,
    `${fixed(query.sinkLayoutMs)} ms`,
    `${fixed(query.sinkLayoutMs / query.bareParquetMs, 1)}x`,
  ]));
  console.log(row(['compacted, no deletes (the query path\'s fixed cost)', `${fixed(query.compactedMs)} ms`, `${fixed(query.compactedMs / query.bareParquetMs, 1)}x`]));
  console.log(row(['compacted, then 1% upserts (deletes for the upserted keys only)', `${fixed(query.compactedPlusUpsertsMs)} ms`, `${fixed(query.compactedPlusUpsertsMs / query.bareParquetMs, 1)}x`]));
  console.log('Times, except the bare Parquet row, are whole `npm run query` calls: a new DuckDB instance, resolving the snapshot (metadata, manifest list, manifests) and creating the views.');
  console.log();
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
