import { parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { DataFileContent, type ManifestEntry } from './avro';
import type { Snapshot } from './metadata';
import type { Row } from './parquet';
import { partitionKey, type IcebergSchema } from './schema';
import type { IcebergTable, SnapshotFiles } from './table';

/**
 * Reading a snapshot's rows with its deletes applied, by the spec's rules:
 * - an equality delete removes rows of data files with a lower data sequence number in the same
 *   partition (or any partition when the delete file is unpartitioned);
 * - a position delete removes the named row of data files whose sequence number is not higher.
 * Compaction and the tests use it; queries do the same in DuckDB (../query).
 */

export function asyncBufferOf(bytes: Uint8Array): AsyncBuffer {
  return {
    byteLength: bytes.byteLength,
    slice: (start: number, end?: number) => bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + (end ?? bytes.byteLength)) as ArrayBuffer,
  };
}

/** Parquet values back to the writer's row form: timestamptz and long as JS numbers (epoch ms). */
export function normalizeRow(schema: IcebergSchema, raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const field of schema.fields) {
    const value = raw[field.name];
    if (value === null || value === undefined) row[field.name] = null;
    else if (field.type === 'timestamptz') row[field.name] = value instanceof Date ? value.getTime() : Number(BigInt(value as bigint) / 1000n);
    else if (field.type === 'long') row[field.name] = Number(value);
    else row[field.name] = value;
  }
  return row;
}

async function readFile(table: IcebergTable, uri: string): Promise<Record<string, unknown>[]> {
  const bytes = await table.store.get(uri);
  if (bytes === undefined) throw new Error(`data file ${uri} is missing`);
  return (await parquetReadObjects({ file: asyncBufferOf(bytes) })) as Record<string, unknown>[];
}

export interface LiveRows {
  snapshot?: Snapshot;
  rows: Row[];
  /** Rows removed by deletes. */
  deleted: number;
}

/** The rows of `snapshot` (default: current) with every delete applied. */
export async function readLiveRows(table: IcebergTable, snapshot: Snapshot | undefined = table.currentSnapshot): Promise<LiveRows> {
  const files = await table.files(snapshot);
  if (files === undefined) return { rows: [], deleted: 0 };
  return { snapshot: files.snapshot, ...(await applyDeletes(table, files)) };
}

async function applyDeletes(table: IcebergTable, files: SnapshotFiles): Promise<{ rows: Row[]; deleted: number }> {
  const schema = table.schema;
  const equality: { entry: ManifestEntry; keys: Set<string>; names: string[] }[] = [];
  const positions = new Map<string, { sequenceNumber: number; positions: Set<number> }[]>();
  for (const entry of files.deleteFiles) {
    const raws = await readFile(table, entry.dataFile.filePath);
    if (entry.dataFile.content === DataFileContent.equalityDeletes) {
      const names = (entry.dataFile.equalityIds ?? []).map((id) => schema.fields.find((field) => field.id === id)!.name);
      equality.push({ entry, names, keys: new Set(raws.map((raw) => JSON.stringify(names.map((name) => normalizeRow(schema, raw)[name])))) });
    } else {
      for (const raw of raws) {
        const path = String(raw.file_path);
        let list = positions.get(path);
        if (list === undefined) positions.set(path, (list = []));
        let forEntry = list.find((item) => item.sequenceNumber === entry.sequenceNumber);
        if (forEntry === undefined) list.push((forEntry = { sequenceNumber: entry.sequenceNumber, positions: new Set() }));
        forEntry.positions.add(Number(raw.pos));
      }
    }
  }
  const rows: Row[] = [];
  let deleted = 0;
  for (const entry of files.dataFiles) {
    const raws = await readFile(table, entry.dataFile.filePath);
    const partition = partitionKey(entry.dataFile.partition);
    const applicableEquality = equality.filter(
      (del) => del.entry.sequenceNumber > entry.sequenceNumber && (Object.keys(del.entry.dataFile.partition).length === 0 || partitionKey(del.entry.dataFile.partition) === partition),
    );
    const applicablePositions = (positions.get(entry.dataFile.filePath) ?? []).filter((del) => del.sequenceNumber >= entry.sequenceNumber);
    raws.forEach((raw, index) => {
      const row = normalizeRow(schema, raw);
      const removed =
        applicablePositions.some((del) => del.positions.has(index)) ||
        applicableEquality.some((del) => del.keys.has(JSON.stringify(del.names.map((name) => row[name]))));
      if (removed) deleted += 1;
      else rows.push(row);
    });
  }
  return { rows, deleted };
}
