import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { MarketTick } from '../contracts/market-data';
import { IcebergTable } from '../lakehouse/iceberg/table';
import { appendRows } from '../lakehouse/iceberg/writer';
import { compactTable } from '../lakehouse/maintenance';
import { MemoryObjectStore } from '../lakehouse/object-store';
import { createSnapshotView, queryLakehouse } from '../lakehouse/query/duckdb-query';
import { IcebergSink } from '../lakehouse/sink/iceberg-sink';
import { lakehouseTableLayout } from '../lakehouse/tables';

/**
 * Lakehouse benchmarks, in one process on an in-memory object store (S3 round trips left out, so
 * the figures are the CPU path: JSON -> row mapping -> Parquet -> Avro manifests -> commit):
 * - sink ingest: MarketTick JSON records through IcebergSink, records/s and commit latency;
 * - query: count(*) GROUP BY symbol over a 1-million-row market_ticks table with 1% upserts
 *   applied as deletes, beside the same query over the bare Parquet data files.
 */

const SYMBOLS = ['AAPL', 'MSFT', 'AMZN', 'NVDA', 'GOOG', 'META', 'TSLA', 'NFLX', 'ORCL', 'INTC'];
const BASE = Date.parse('2026-11-30T00:00:00.000Z');

function tick(i: number, version = 0): MarketTick {
  const price = 100 + (i % 97) / 10 + version;
  return {
    tickId: `fix:VENUE1:${i}:0`,
    source: 'fix:VENUE1',
    symbol: SYMBOLS[i % SYMBOLS.length]!,
    bidPrice: price - 0.01,
    bidSize: 100,
    askPrice: price + 0.01,
    askSize: 200,
    lastPrice: price,
    lastSize: 10,
    eventTime: BASE + i * 10,
    ingestTime: BASE + i * 10 + 2,
  };
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const median = (values: number[]) => percentile(values, 50);

export interface SinkBenchResult {
  records: number;
  recordsPerSecond: number;
  commits: number;
  commitP50Ms: number;
  commitP99Ms: number;
  bufferBytes: number;
}

export async function benchSinkIngest(records = 200_000, bufferBytes = 1024 * 1024): Promise<SinkBenchResult> {
  const store = new MemoryObjectStore();
  const table = await IcebergTable.createIfAbsent(store, { location: 's3://bench/warehouse/market_ticks', ...lakehouseTableLayout('market_ticks') });
  const sink = new IcebergSink({ table, checkpointProperty: 'watershed.kinesis.offsets.bench', bufferSizeBytes: bufferBytes, bufferIntervalMs: 60_000, writeRejected: async () => undefined });
  const encoder = new TextEncoder();
  const payloads = Array.from({ length: records }, (_, i) => encoder.encode(JSON.stringify({ ...tick(i), eventTime: new Date(BASE + i * 10).toISOString() })));
  const started = performance.now();
  for (let start = 0; start < records; start += 10_000) {
    await sink.accept(payloads.slice(start, start + 10_000).map((data, offset) => ({ shardId: `shardId-00000000000${(start / 10_000) % 2}`, sequenceNumber: String(1_000_000 + start + offset), data, arrivalMs: Date.now() })));
  }
  await sink.flush();
  const seconds = (performance.now() - started) / 1000;
  if (sink.stats.rowsCommitted !== records) throw new Error(`sink committed ${sink.stats.rowsCommitted} of ${records} rows`);
  return {
    records,
    recordsPerSecond: records / seconds,
    commits: sink.stats.commits,
    commitP50Ms: median(sink.stats.commitLatenciesMs),
    commitP99Ms: percentile(sink.stats.commitLatenciesMs, 99),
    bufferBytes,
  };
}

export interface QueryBenchResult {
  rows: number;
  upserts: number;
  /** As the sink writes it: every commit carries equality deletes on its keys. */
  sinkLayoutMs: number;
  sinkLayoutFiles: { data: number; deletes: number; deleteRows: number };
  /** After compaction, then 1% upserts: deletes only for the upserted keys. */
  compactedPlusUpsertsMs: number;
  /** After compaction, before the upserts: no deletes at all, through the same query path (its fixed cost). */
  compactedMs: number;
  bareParquetMs: number;
  rounds: number;
}

export async function benchQuery(options: { rows?: number; commits?: number; rounds?: number; log?: (line: string) => void } = {}): Promise<QueryBenchResult> {
  const rows = options.rows ?? 1_000_000;
  const commits = options.commits ?? 10;
  const rounds = options.rounds ?? 5;
  const upserts = Math.round(rows / 100);
  const cacheDirectory = mkdtempSync(join(tmpdir(), 'lake-bench-'));
  try {
    const store = new MemoryObjectStore();
    const table = await IcebergTable.createIfAbsent(store, { location: 's3://bench/warehouse/market_ticks', ...lakehouseTableLayout('market_ticks') });
    const perCommit = rows / commits;
    for (let commit = 0; commit < commits; commit += 1) {
      options.log?.(`query bench: writing commit ${commit + 1} of ${commits} (${perCommit} rows)`);
      await appendRows(table, Array.from({ length: perCommit }, (_, offset) => tick(commit * perCommit + offset)));
    }
    // 1% upserts: keys spread over the table re-sent with a new price.
    const upsertKeys = Array.from({ length: upserts }, (_, i) => i * 100 + 7);
    await appendRows(table, upsertKeys.map((i) => tick(i, 1)));
    const sql = 'SELECT symbol, count(*) AS n FROM market_ticks GROUP BY symbol ORDER BY symbol';
    const expected = SYMBOLS.slice().sort().map((symbol) => ({ symbol, n: rows / SYMBOLS.length }));
    const timeQuery = async (): Promise<number> => {
      const samples: number[] = [];
      for (let round = 0; round <= rounds; round += 1) {
        const started = performance.now();
        const result = await queryLakehouse({ sql, tables: { market_ticks: table }, cacheDirectory });
        const elapsed = performance.now() - started;
        if (JSON.stringify(result.rows) !== JSON.stringify(expected)) throw new Error(`unexpected counts: ${JSON.stringify(result.rows)}`);
        if (round > 0) samples.push(elapsed); // round 0 warms the file cache
      }
      return median(samples);
    };
    const files = (await table.files())!;
    const sinkLayoutFiles = { data: files.dataFiles.length, deletes: files.deleteFiles.length, deleteRows: files.deleteFiles.reduce((sum, entry) => sum + entry.dataFile.recordCount, 0) };
    options.log?.('query bench: timing the sink layout');
    const sinkLayoutMs = await timeQuery();

    // The bare Parquet files of the same rows (no deletes to apply), through the same cache.
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    await createSnapshotView(connection, 'resolved', table, table.currentSnapshot, { cacheDirectory });
    const paths = (await connection.runAndReadAll(`SELECT local_path FROM __resolved_files WHERE content = 0`)).getRowObjects().map((row) => `'${String(row.local_path)}'`);
    const bare: number[] = [];
    for (let round = 0; round <= rounds; round += 1) {
      const started = performance.now();
      const reader = await connection.runAndReadAll(`SELECT symbol, count(*) AS n FROM read_parquet([${paths.join(', ')}]) GROUP BY symbol ORDER BY symbol`);
      reader.getRowObjects();
      if (round > 0) bare.push(performance.now() - started);
    }
    connection.closeSync();
    instance.closeSync();

    options.log?.('query bench: compacting, then 1% upserts again');
    await compactTable(table);
    const compactedMs = await timeQuery();
    await appendRows(table, upsertKeys.map((i) => tick(i, 2)));
    const compactedPlusUpsertsMs = await timeQuery();
    return { rows, upserts, sinkLayoutMs, sinkLayoutFiles, compactedPlusUpsertsMs, compactedMs, bareParquetMs: median(bare), rounds };
  } finally {
    rmSync(cacheDirectory, { recursive: true, force: true });
  }
}
