import { describe, expect, it } from 'vitest';
import type { MarketTick } from '../../contracts/market-data';
import { DataFileContent, EntryStatus, ManifestContent, readAvroFile, readManifest, readManifestList } from '../../lakehouse/iceberg/avro';
import { resolveSnapshot } from '../../lakehouse/iceberg/metadata';
import { writePositionDeleteFile } from '../../lakehouse/iceberg/parquet';
import { readLiveRows } from '../../lakehouse/iceberg/scan';
import { dayOf, icebergSchemaOf, SchemaMappingError } from '../../lakehouse/iceberg/schema';
import { CommitConflictError, IcebergTable } from '../../lakehouse/iceberg/table';
import { appendRows, writeRows } from '../../lakehouse/iceberg/writer';
import { MemoryObjectStore } from '../../lakehouse/object-store';
import { lakehouseTableLayout, LAKEHOUSE_TABLES } from '../../lakehouse/tables';
import { readWithIcebird } from '../support/icebird';
import * as z from 'zod';

const LOCATION = 's3://lake/warehouse/market_ticks';
const DAY1 = Date.parse('2026-11-30T10:00:00.000Z');
const DAY2 = Date.parse('2026-12-01T09:30:00.000Z');

function tick(tickId: string, lastPrice: number, eventTime = DAY1): MarketTick {
  return {
    tickId,
    source: 'fix:VENUE1',
    symbol: tickId.startsWith('A') ? 'AAPL' : 'MSFT',
    bidPrice: lastPrice - 0.01,
    bidSize: 100,
    askPrice: lastPrice + 0.01,
    askSize: null,
    lastPrice,
    lastSize: 5,
    eventTime,
    ingestTime: eventTime + 3,
  };
}

async function newTable() {
  const store = new MemoryObjectStore();
  const table = await IcebergTable.createIfAbsent(store, { location: LOCATION, ...lakehouseTableLayout('market_ticks') });
  return { store, table };
}

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);
const byId = (rows: Record<string, unknown>[], key: string) => new Map(rows.map((row) => [String(row[key]), row]));

describe('Iceberg schema and partition spec from the zod contracts', () => {
  it('maps every MarketTick field, in order, with ids, nullability and the unique key', () => {
    const { schema, spec } = lakehouseTableLayout('market_ticks');
    expect(schema.fields.map((field) => [field.id, field.name, field.type, field.required])).toEqual([
      [1, 'tickId', 'string', true],
      [2, 'source', 'string', true],
      [3, 'symbol', 'string', true],
      [4, 'bidPrice', 'double', false],
      [5, 'bidSize', 'double', false],
      [6, 'askPrice', 'double', false],
      [7, 'askSize', 'double', false],
      [8, 'lastPrice', 'double', false],
      [9, 'lastSize', 'double', false],
      [10, 'eventTime', 'timestamptz', true],
      [11, 'ingestTime', 'timestamptz', true],
    ]);
    expect(Object.keys(LAKEHOUSE_TABLES.market_ticks.contract.shape)).toEqual(schema.fields.map((field) => field.name));
    expect(schema['identifier-field-ids']).toEqual([1]);
    expect(spec).toEqual({ 'spec-id': 0, fields: [{ name: 'eventTime_day', transform: 'day', 'source-id': 10, 'field-id': 1000 }] });
  });

  it('maps ClickEvent with eventId as the key and a day partition on timestamp', () => {
    const { schema, spec } = lakehouseTableLayout('user_activity');
    expect(schema.fields.map((field) => `${field.name}:${field.type}`)).toEqual(['eventId:string', 'url:string', 'userId:string', 'timestamp:timestamptz']);
    expect(schema['identifier-field-ids']).toEqual([1]);
    expect(spec.fields[0]).toMatchObject({ transform: 'day', 'source-id': 4 });
  });

  it('refuses what it cannot map faithfully, naming the field', () => {
    expect(() => icebergSchemaOf(z.object({ tags: z.array(z.string()) }))).toThrow(SchemaMappingError);
    expect(() => icebergSchemaOf(z.object({ tags: z.array(z.string()) }))).toThrow(/field tags/);
    expect(() => icebergSchemaOf(z.object({ id: z.string().nullable() }), { identifierFields: ['id'] })).toThrow(/must be required/);
    expect(icebergSchemaOf(z.object({ n: z.number().int(), ok: z.boolean(), kind: z.enum(['a', 'b']) })).fields.map((f) => f.type)).toEqual(['long', 'boolean', 'string']);
  });
});

describe('Iceberg writer: metadata, manifests, snapshots, deletes', () => {
  it('commits v2 snapshots in the file-catalog layout with summaries and sequence numbers', async () => {
    const { store, table } = await newTable();
    expect(text(await store.get(`${LOCATION}/metadata/version-hint.text`))).toBe('1');
    const first = await appendRows(table, [tick('A1', 10), tick('M1', 20), tick('A2', 11, DAY2)], { 'watershed.kinesis.offsets.market-data': '{"shardId-000000000000":"100"}' });
    const second = await appendRows(table, [tick('M1', 21), tick('M2', 22)], { 'watershed.kinesis.offsets.market-data': '{"shardId-000000000000":"200"}' });

    expect(text(await store.get(`${LOCATION}/metadata/version-hint.text`))).toBe('3');
    const metadata = JSON.parse(text(await store.get(`${LOCATION}/metadata/v3.metadata.json`)));
    expect(metadata['format-version']).toBe(2);
    expect(metadata['last-sequence-number']).toBe(2);
    expect(metadata['current-snapshot-id']).toBe(second['snapshot-id']);
    expect(metadata.refs.main).toEqual({ 'snapshot-id': second['snapshot-id'], type: 'branch' });
    expect(metadata.snapshots.map((s: { 'sequence-number': number }) => s['sequence-number'])).toEqual([1, 2]);
    expect(second['parent-snapshot-id']).toBe(first['snapshot-id']);
    expect(metadata['metadata-log'].map((entry: { 'metadata-file': string }) => entry['metadata-file'])).toEqual([`${LOCATION}/metadata/v1.metadata.json`, `${LOCATION}/metadata/v2.metadata.json`]);
    expect(first.summary).toMatchObject({
      operation: 'overwrite',
      'added-data-files': '2',
      'added-records': '3',
      'added-delete-files': '2',
      'added-equality-deletes': '3',
      'total-records': '3',
      'watershed.kinesis.offsets.market-data': '{"shardId-000000000000":"100"}',
    });
    expect(second.summary).toMatchObject({ 'added-records': '2', 'total-records': '5', 'total-data-files': '3', 'watershed.kinesis.offsets.market-data': '{"shardId-000000000000":"200"}' });

    // The manifest list: the new commit's data and delete manifests first, then the parent's.
    const list = readManifestList((await store.get(second['manifest-list']))!);
    expect(list).toHaveLength(4);
    expect(list.slice(0, 2).map((m) => [m.content, m.sequenceNumber, m.addedSnapshotId, m.addedFilesCount, m.addedRowsCount])).toEqual([
      [ManifestContent.data, 2, second['snapshot-id'], 1, 2],
      [ManifestContent.deletes, 2, second['snapshot-id'], 1, 2],
    ]);
    expect(list.slice(2).map((m) => [m.content, m.sequenceNumber])).toEqual([[0, 1], [1, 1]]);
    const header = readAvroFile((await store.get(second['manifest-list']))!).metadata;
    expect(header).toMatchObject({ 'format-version': '2', 'snapshot-id': String(second['snapshot-id']), 'parent-snapshot-id': String(first['snapshot-id']), 'sequence-number': '2' });
    expect(JSON.parse(header['avro.schema']!).fields.map((f: { 'field-id': number }) => f['field-id'])).toEqual([500, 501, 502, 517, 515, 516, 503, 504, 505, 506, 512, 513, 514]);

    // The first commit's manifests: one data file per day partition, equality deletes on tickId.
    const dataManifest = list[2]!;
    const dataEntries = readManifest((await store.get(dataManifest.manifestPath))!, dataManifest);
    expect(dataEntries.map((e) => [e.status, e.sequenceNumber, e.dataFile.content, e.dataFile.partition.eventTime_day, e.dataFile.recordCount]).sort()).toEqual([
      [EntryStatus.added, 1, DataFileContent.data, dayOf(DAY1), 2],
      [EntryStatus.added, 1, DataFileContent.data, dayOf(DAY2), 1],
    ].sort());
    expect(dataEntries.every((e) => /\/data\/eventTime_day=2026-1[12]-[0-9]{2}\/[^/]+\.parquet$/.test(e.dataFile.filePath))).toBe(true);
    const manifestHeader = readAvroFile((await store.get(dataManifest.manifestPath))!).metadata;
    expect(manifestHeader).toMatchObject({ 'format-version': '2', content: 'data', 'partition-spec-id': '0' });
    expect(JSON.parse(manifestHeader.schema!)).toEqual(table.schema);
    const deleteEntries = readManifest((await store.get(list[3]!.manifestPath))!, list[3]!);
    expect(deleteEntries.every((e) => e.dataFile.content === DataFileContent.equalityDeletes && e.dataFile.equalityIds?.join() === '1')).toBe(true);
  });

  it('upserts: icebird, an independent reader, sees each tickId once with the newest values; time travel sees the older snapshot', async () => {
    const { store, table } = await newTable();
    await appendRows(table, [tick('A1', 10), tick('M1', 20), tick('A2', 11, DAY2)]);
    // A resend of M1 (same tickId) and a repeat of M2 inside one batch.
    await appendRows(table, [tick('M1', 21), tick('M2', 22), tick('M2', 23)]);

    const rows = await readWithIcebird(store, LOCATION);
    expect(rows.map((row) => row.tickId).sort()).toEqual(['A1', 'A2', 'M1', 'M2']);
    const latest = byId(rows, 'tickId');
    expect(latest.get('M1')!.lastPrice).toBe(21);
    expect(latest.get('M2')!.lastPrice).toBe(23);
    expect(latest.get('A1')!.askSize).toBeNull();
    expect(latest.get('A2')!.eventTime).toEqual(new Date(DAY2));

    const before = await readWithIcebird(store, LOCATION, { metadataFileName: 'v2.metadata.json' });
    expect(before.map((row) => row.tickId).sort()).toEqual(['A1', 'A2', 'M1']);
    expect(byId(before, 'tickId').get('M1')!.lastPrice).toBe(20);

    // The project's own reader agrees, for the current and the earlier snapshot.
    const own = await readLiveRows(table);
    expect(own.rows.map((row) => `${String(row.tickId)}:${String(row.lastPrice)}`).sort()).toEqual(['A1:10', 'A2:11', 'M1:21', 'M2:23']);
    expect(own.deleted).toBe(1);
    expect(own.rows.find((row) => row.tickId === 'A2')!.eventTime).toBe(DAY2);
    const first = resolveSnapshot(table.metadata, { snapshotId: table.metadata.snapshots[0]!['snapshot-id'] });
    expect((await readLiveRows(table, first)).rows).toHaveLength(3);
  });

  it('position deletes remove the named rows for icebird and for the own reader', async () => {
    const { store, table } = await newTable();
    const snapshot = await appendRows(table, [tick('A1', 10), tick('A2', 11), tick('A3', 12)]);
    const files = await table.files(snapshot);
    const target = files!.dataFiles[0]!.dataFile;
    const bytes = writePositionDeleteFile([{ filePath: target.filePath, pos: 1 }]);
    const uri = table.newDataFileUri('eventTime_day=2026-11-30', 'pos-deletes');
    await store.put(uri, bytes);
    await table.commit({
      operation: 'delete',
      addedDeleteFiles: [{ content: DataFileContent.positionDeletes, filePath: uri, fileFormat: 'PARQUET', partition: target.partition, recordCount: 1, fileSizeInBytes: bytes.byteLength }],
    });
    const sortedIds = (rows: Record<string, unknown>[]) => rows.map((row) => row.tickId).sort();
    const readBack = await readWithIcebird(store, LOCATION);
    expect(readBack).toHaveLength(2);
    expect(sortedIds((await readLiveRows(table)).rows)).toEqual(sortedIds(readBack));
  });

  it('files written but never committed (a crash before the commit) change nothing', async () => {
    const { store, table } = await newTable();
    await appendRows(table, [tick('A1', 10)]);
    const orphans = await writeRows(table, [tick('A1', 99), tick('A9', 1)]);
    expect(orphans.dataFiles).toHaveLength(1);
    expect(await store.get(orphans.dataFiles[0]!.filePath)).toBeDefined();
    const reopened = await IcebergTable.load(store, LOCATION);
    expect(reopened.version).toBe(2);
    expect((await readWithIcebird(store, LOCATION)).map((row) => `${String(row.tickId)}:${String(row.lastPrice)}`)).toEqual(['A1:10']);
  });

  it('one writer wins a version: a stale writer gets CommitConflictError and succeeds after refreshing', async () => {
    const { store, table } = await newTable();
    const stale = await IcebergTable.load(store, LOCATION);
    await appendRows(table, [tick('A1', 10)]);
    await expect(appendRows(stale, [tick('A2', 11)])).rejects.toBeInstanceOf(CommitConflictError);
    await stale.refresh();
    await appendRows(stale, [tick('A2', 11)]);
    expect((await readWithIcebird(store, LOCATION)).map((row) => row.tickId).sort()).toEqual(['A1', 'A2']);
  });

  it('opening finds a commit whose version hint was not yet updated', async () => {
    const { store, table } = await newTable();
    await appendRows(table, [tick('A1', 10)]);
    await appendRows(table, [tick('A2', 11)]);
    await store.put(`${LOCATION}/metadata/version-hint.text`, '2');
    const reopened = await IcebergTable.load(store, LOCATION);
    expect(reopened.version).toBe(3);
    expect((await readLiveRows(reopened)).rows).toHaveLength(2);
  });
});
