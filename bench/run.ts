import { benchCore } from './core';
import { benchDashboard } from './dashboard';
import { benchEndToEnd } from './e2e';
import { benchQuery, benchSinkIngest } from './lakehouse';
import { benchWrites } from './writes';
import { benchFraudCore, benchFraudLatency, benchFraudQuality } from './fraud';
import { formatReport } from '../fraud/cli';
import { CLICKS_EVENT_SOURCE_DEFAULTS } from '../lib/clickstream-pipeline';
import { silenceSdkNodeWarningForTools } from '../contracts/sdk-node-warning';

const HELP = `Usage: npm run bench [-- core|writes|e2e|dashboard|fraud|lakehouse ...] [--seconds N] [--rate N] [--clients N]

Runs the benchmarks and prints a table (default: all of them).
  core     aggregator core throughput as a ratio to a bare JSON.parse loop over the same payloads
  writes   WRU and item writes per 1,000 events from ConsumedCapacity on DynamoDB Local (Zipf 1.1 over
           1,000 URLs) at batch sizes 100, 1,000, 10,000, beside one (transactional) write per event
  e2e      local cloud end to end: p50/p99 latency from put to visible to readers at --rate (default 1000)
           for --seconds (default 30), then the drain rate of a burst
  dashboard  local cloud + headless Chromium (/usr/bin/chromium): p50/p99 latency from putting a
           click to the dashboard showing it (one click every 200 ms for --seconds), then the
           time until all of --clients (default 1000) open WebSocket connections get an update
  fraud    scorer core orders/s against bare JSON.parse; model quality on 50,000 labelled simulated
           orders (seed 1) at the default configuration; local cloud p50/p99 from order put to
           decision readable at --rate (default 200) for --seconds (default 30)
  lakehouse  Iceberg sink ingest (records/s into Parquet, commit latency p50/p99) and DuckDB query time
           over a 1-million-row market_ticks table with 1% upserts as deletes, beside bare Parquet`;

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
  for (const section of sections) if (!['core', 'writes', 'e2e', 'dashboard', 'fraud', 'lakehouse'].includes(section)) throw new Error(`Unknown benchmark: ${section}\n\n${HELP}`);

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
    const result = await benchEndToEnd({ rate: option('rate', 1000), seconds: option('seconds', 30), log: (line) => console.error(line) });
    console.log('### Local end to end (put -> visible to readers of the window table)');
    console.log(row(['target rate', 'achieved rate', 'events', 'p50', 'p99 (target < 2 s)', 'max', 'burst drain rate', 'cold start (warm-up batch)']));
    console.log(row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
    console.log(row([
      `${fixed(result.targetRate)}/s`,
      `${fixed(result.achievedRate)}/s`,
      fixed(result.sent),
      `${fixed(result.p50Ms)} ms`,
      `${fixed(result.p99Ms)} ms`,
      `${fixed(result.maxMs)} ms`,
      `${fixed(result.drainRate)}/s (${fixed(result.drainEvents)} events)`,
      `${fixed(result.coldStartMs)} ms`,
    ]));
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
  console.log(row(['compacted, then 1% upserts (deletes for the upserted keys only)', `${fixed(query.compactedPlusUpsertsMs)} ms`, `${fixed(query.compactedPlusUpsertsMs / query.bareParquetMs, 1)}x`]));
  console.log('Times include resolving the snapshot (metadata, manifest list, manifests) and creating the views.');
  console.log();
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: Error) => {
    console.error(error.message);
    process.exit(1);
  },
);
