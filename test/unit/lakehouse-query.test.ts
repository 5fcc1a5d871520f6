import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { MarketTick } from '../../contracts/market-data';
import { IcebergTable } from '../../lakehouse/iceberg/table';
import { DataFileContent } from '../../lakehouse/iceberg/avro';
import { writePositionDeleteFile } from '../../lakehouse/iceberg/parquet';
import { appendRows, writeRows } from '../../lakehouse/iceberg/writer';
import { readLiveRows } from '../../lakehouse/iceberg/scan';
import { compactTable, expireTableSnapshots } from '../../lakehouse/maintenance';
import { MemoryObjectStore } from '../../lakehouse/object-store';
import { queryLakehouse, QueryError } from '../../lakehouse/query/duckdb-query';
import { lakehouseTableLayout } from '../../lakehouse/tables';
import { readWithIcebird } from '../support/icebird';

const LOCATION = 's3://lake/warehouse/market_ticks';
const DAY = Date.parse('2026-11-30T10:00:00.000Z');
const cacheDirectory = mkdtempSync(join(tmpdir(), 'lake-cache-'));
afterAll(() => rmSync(cacheDirectory, { recursive: true, force: true }));

const tick = (tickId: string, symbol: string, lastPrice: number, eventTime = DAY): MarketTick => ({
  tickId, source: 'rest:quotes', symbol, bidPrice: null, bidSize: null, askPrice: null, askSize: null, lastPrice, lastSize: 1, eventTime, ingestTime: eventTime,
});

async function tableWithHistory() {
  const store = new MemoryObjectStore();
  const table = await IcebergTable.createIfAbsent(store, { location: LOCATION, ...lakehouseTableLayout('market_ticks') });
  const first = await appendRows(table, [tick('1', 'AAPL', 10), tick('2', 'AAPL', 11), tick('3', 'MSFT', 20, DAY + 86_400_000)]);
  // Upserts of 1 and 3 (resends with corrected prices) and a new tick.
  const second = await appendRows(table, [tick('1', 'AAPL', 12), tick('3', 'MSFT', 21, DAY + 86_400_000), tick('4', 'MSFT', 22)]);
  return { store, table, first, second };
}

const GROUP_SQL = 'SELECT symbol, count(*) AS n, avg(lastPrice) AS avg_price FROM market_ticks GROUP BY symbol ORDER BY symbol';

describe('queryLakehouse: DuckDB over the resolved snapshot', () => {
  it('applies equality deletes: each tickId once, the newest values', async () => {
    const { table } = await tableWithHistory();
    const result = await queryLakehouse({ sql: GROUP_SQL, tables: { market_ticks: table }, cacheDirectory });
    expect(result.columns).toEqual(['symbol', 'n', 'avg_price']);
    expect(result.rows).toEqual([
      { symbol: 'AAPL', n: 2, avg_price: 11.5 },
      { symbol: 'MSFT', n: 2, avg_price: 21.5 },
    ]);
  });

  it('--as-of a snapshot id or a time reads that snapshot', async () => {
    const { table, first } = await tableWithHistory();
    const byId = await queryLakehouse({ sql: GROUP_SQL, tables: { market_ticks: table }, asOf: { snapshotId: first['snapshot-id'] }, cacheDirectory });
    expect(byId.rows).toEqual([
      { symbol: 'AAPL', n: 2, avg_price: 10.5 },
      { symbol: 'MSFT', n: 1, avg_price: 20 },
    ]);
    const byTime = await queryLakehouse({ sql: 'SELECT count(*) AS n FROM market_ticks', tables: { market_ticks: table }, asOf: { timestampMs: first['timestamp-ms'] }, cacheDirectory });
    expect(byTime.rows).toEqual([{ n: 3 }]);
    await expect(queryLakehouse({ sql: GROUP_SQL, tables: { market_ticks: table }, asOf: { timestampMs: first['timestamp-ms'] - 60_000 }, cacheDirectory })).rejects.toThrow(/no snapshot at or before/);
  });

  it('reports SQL errors clearly and refuses anything but one SELECT', async () => {
    const { table } = await tableWithHistory();
    const run = (sql: string) => queryLakehouse({ sql, tables: { market_ticks: table }, cacheDirectory });
    await expect(run('SELECT nope FROM market_ticks')).rejects.toThrow(QueryError);
    await expect(run('SELECT nope FROM market_ticks')).rejects.toThrow(/SQL error: .*nope/);
    await expect(run('SELECT * FROM no_such_table')).rejects.toThrow(/the lakehouse tables are market_ticks/);
    await expect(run('DELETE FROM market_ticks')).rejects.toThrow(/only SELECT/);
    await expect(run("/* c */ COPY market_ticks TO '/tmp/x.csv'")).rejects.toThrow(/only SELECT/);
    expect((await run('-- count\nWITH t AS (SELECT * FROM market_ticks) SELECT count(*) AS n FROM t')).rows).toEqual([{ n: 4 }]);
    await expect(run('SELECT 1; SELECT 2')).rejects.toThrow(/exactly one SQL statement/);
    // The table is unchanged.
    expect((await readLiveRows(table)).rows).toHaveLength(4);
  });
});

describe('queryLakehouse: deletes applied by the spec, agreeing with icebird and the own reader', () => {
  const DAYS = [DAY, DAY + 86_400_000, DAY + 2 * 86_400_000];
  /** tickId:lastPrice, sorted: what each reader must agree on. */
  const pairs = (rows: Record<string, unknown>[]) => rows.map((row) => `${String(row.tickId)}:${String(row.lastPrice)}`).sort();
  const queried = async (table: IcebergTable, asOf?: { snapshotId: number }) =>
    pairs((await queryLakehouse({ sql: 'SELECT tickId, lastPrice FROM market_ticks', tables: { market_ticks: table }, cacheDirectory, ...(asOf ? { asOf } : {}) })).rows);

  it('a key upserted several times across commits and partitions: exactly the latest row per key', async () => {
    // Prepare: 30 keys over 3 day partitions; 5 commits, each re-sending a different subset
    // (some keys in every commit, some never again), with the expected latest price kept offline.
    const store = new MemoryObjectStore();
    const table = await IcebergTable.createIfAbsent(store, { location: LOCATION, ...lakehouseTableLayout('market_ticks') });
    const latest = new Map<string, number>();
    const snapshots = [];
    for (let commit = 0; commit < 5; commit += 1) {
      const keys = Array.from({ length: 30 }, (_, key) => key).filter((key) => commit === 0 || key % (commit + 1) === 0 || key % 7 === 0);
      const rows = keys.map((key) => tick(`k${key}`, key % 2 === 0 ? 'AAPL' : 'MSFT', 100 * commit + key, DAYS[key % 3]! + key));
      // A repeat inside the commit: the later row of the batch wins.
      rows.push(tick('k0', 'AAPL', 1000 + commit, DAYS[0]));
      for (const row of rows) latest.set(row.tickId, row.lastPrice!);
      snapshots.push(await appendRows(table, rows));
    }
    const expected = [...latest].map(([tickId, price]) => `${tickId}:${price}`).sort();

    // Act and assess: the query, the own reader and icebird give one row per key, the newest.
    expect(await queried(table)).toStrictEqual(expected);
    expect(pairs((await readLiveRows(table)).rows)).toStrictEqual(expected);
    expect(pairs(await readWithIcebird(store, LOCATION))).toStrictEqual(expected);
    const counts = await queryLakehouse({ sql: 'SELECT count(*) AS n, count(DISTINCT tickId) AS keys FROM market_ticks', tables: { market_ticks: table }, cacheDirectory });
    expect(counts.rows).toStrictEqual([{ n: 30, keys: 30 }]);
    // Time travel to an earlier snapshot applies only the deletes committed by then.
    const second = snapshots[1]!;
    expect(await queried(table, { snapshotId: second['snapshot-id'] })).toStrictEqual(pairs((await readLiveRows(table, second)).rows));
  });

  it('an equality delete applies only within its partition (a key re-sent under another day keeps both rows)', async () => {
    const store = new MemoryObjectStore();
    const table = await IcebergTable.createIfAbsent(store, { location: LOCATION, ...lakehouseTableLayout('market_ticks') });
    await appendRows(table, [tick('k1', 'AAPL', 1, DAYS[0]), tick('k2', 'AAPL', 2, DAYS[0])]);
    await appendRows(table, [tick('k1', 'AAPL', 11, DAYS[1]), tick('k2', 'AAPL', 12, DAYS[0])]);
    // The spec applies an equality delete to data files whose partition equals the delete
    // file's (or to all, for an unpartitioned delete file), so k1's day-0 row survives the day-1 delete.
    const expected = ['k1:1', 'k1:11', 'k2:12'];
    expect(await queried(table)).toStrictEqual(expected);
    expect(pairs((await readLiveRows(table)).rows)).toStrictEqual(expected);
    // icebird (pinned) is the one reader that differs here: it keys equality deletes by sequence
    // number only (icebird/src/fetch.js) and so drops k1:1. Real re-sends keep their event time,
    // hence their partition, which is why every other test sees the readers agree.
    expect(pairs(await readWithIcebird(store, LOCATION))).toStrictEqual(['k1:11', 'k2:12']);
  });

  it('position deletes remove the named row of their file, at their sequence number or later', async () => {
    const { store, table } = await tableWithHistory();
    const files = await table.files();
    const target = files!.dataFiles.find((entry) => entry.sequenceNumber === 1 && entry.dataFile.recordCount === 2)!.dataFile;
    const bytes = writePositionDeleteFile([{ filePath: target.filePath, pos: 1 }]);
    const uri = table.newDataFileUri('eventTime_day=2026-11-30', 'pos-deletes');
    await store.put(uri, bytes);
    await table.commit({
      operation: 'delete',
      addedDeleteFiles: [{ content: DataFileContent.positionDeletes, filePath: uri, fileFormat: 'PARQUET', partition: target.partition, recordCount: 1, fileSizeInBytes: bytes.byteLength }],
    });
    // A position delete committed with its data file (the same sequence number) applies too.
    const written = await writeRows(table, [tick('9', 'AAPL', 9), tick('8', 'AAPL', 8)]);
    const fresh = written.dataFiles[0]!;
    const sameCommit = writePositionDeleteFile([{ filePath: fresh.filePath, pos: 0 }]);
    const sameCommitUri = table.newDataFileUri('eventTime_day=2026-11-30', 'pos-deletes');
    await store.put(sameCommitUri, sameCommit);
    await table.commit({
      operation: 'overwrite',
      addedDataFiles: written.dataFiles,
      addedDeleteFiles: [
        ...written.deleteFiles,
        { content: DataFileContent.positionDeletes, filePath: sameCommitUri, fileFormat: 'PARQUET', partition: fresh.partition, recordCount: 1, fileSizeInBytes: sameCommit.byteLength },
      ],
    });
    const own = pairs((await readLiveRows(table)).rows);
    expect(own).toStrictEqual(['1:12', '3:21', '4:22', '8:8']);
    expect(await queried(table)).toStrictEqual(own);
    expect(pairs(await readWithIcebird(store, LOCATION))).toStrictEqual(own);
  });
});

describe('maintenance: compaction and snapshot expiry keep the rows identical', () => {
  const sorted = (rows: Record<string, unknown>[]) => rows.map((row) => JSON.stringify(row)).sort();

  it('compaction merges files and deletes into one data file per partition', async () => {
    const { store, table } = await tableWithHistory();
    const before = await readWithIcebird(store, LOCATION);
    const result = await compactTable(table);
    expect(result.filesBefore).toEqual({ data: 4, deletes: 4 });
    expect(result.filesAfter).toBe(2);
    expect(result.deletedRowsMerged).toBe(2);
    expect(result.snapshot!.summary.operation).toBe('replace');
    const files = await table.files();
    expect(files!.deleteFiles).toHaveLength(0);
    expect(sorted(await readWithIcebird(store, LOCATION))).toEqual(sorted(before));
    const query = await queryLakehouse({ sql: GROUP_SQL, tables: { market_ticks: table }, cacheDirectory });
    expect(query.rows).toEqual([
      { symbol: 'AAPL', n: 2, avg_price: 11.5 },
      { symbol: 'MSFT', n: 2, avg_price: 21.5 },
    ]);
    // An upsert after compaction still replaces the compacted row.
    await appendRows(table, [tick('2', 'AAPL', 99)]);
    expect((await readLiveRows(table)).rows.find((row) => row.tickId === '2')!.lastPrice).toBe(99);
    expect((await readLiveRows(table)).rows).toHaveLength(4);
  });

  it('compaction carries the stream checkpoints forward', async () => {
    const store = new MemoryObjectStore();
    const table = await IcebergTable.createIfAbsent(store, { location: LOCATION, ...lakehouseTableLayout('market_ticks') });
    await appendRows(table, [tick('1', 'AAPL', 10)], { 'watershed.kinesis.offsets.market-data': '{"s":"5"}' });
    await appendRows(table, [tick('2', 'AAPL', 10)], { 'watershed.kinesis.offsets.market-data': '{"s":"9"}' });
    const { snapshot } = await compactTable(table);
    expect(snapshot!.summary['watershed.kinesis.offsets.market-data']).toBe('{"s":"9"}');
  });

  it('expiry drops old snapshots and their exclusive files, keeping the current rows', async () => {
    const { store, table, first } = await tableWithHistory();
    await compactTable(table);
    const before = sorted((await readLiveRows(table)).rows);
    const objectsBefore = store.objects.size;
    const result = await expireTableSnapshots(table, { olderThanMs: Date.now() + 1, retainLast: 1 });
    expect(result.expired).toHaveLength(2);
    expect(result.kept).toBe(1);
    expect(result.filesRemoved).toBeGreaterThan(8);
    expect(store.objects.size).toBe(objectsBefore - result.filesRemoved + 1);
    expect(sorted((await readLiveRows(table)).rows)).toEqual(before);
    expect(sorted((await readWithIcebird(store, LOCATION)).map((row) => ({ ...row, eventTime: (row.eventTime as Date).getTime(), ingestTime: (row.ingestTime as Date).getTime() })))).toEqual(before);
    await expect(queryLakehouse({ sql: GROUP_SQL, tables: { market_ticks: table }, asOf: { snapshotId: first['snapshot-id'] }, cacheDirectory })).rejects.toThrow(/not in the table's history/);
  });
});
