import { DataFileContent, type DataFile } from './avro';
import type { Snapshot } from './metadata';
import { writeDataFile, writeEqualityDeleteFile, type Row } from './parquet';
import { partitionKey, partitionOf, type PartitionSpec, type PartitionValues } from './schema';
import type { IcebergTable } from './table';

/**
 * Writing rows into a table: one data file per partition, and for tables with identifier
 * fields (unique keys) an equality delete file per partition holding the batch's keys, so each
 * row replaces any older row with its key: an upsert, as Firehose does with unique keys.
 */

/** `eventTime_day=2026-11-30`: the Hive-style directory of a partition. */
export function partitionPath(spec: PartitionSpec, values: PartitionValues): string {
  return spec.fields
    .map((field) => {
      const value = values[field.name];
      const text = value === null || value === undefined ? 'null' : field.transform === 'day' ? new Date(Number(value) * 86_400_000).toISOString().slice(0, 10) : String(value);
      return `${field.name}=${encodeURIComponent(text)}`;
    })
    .join('/');
}

/** The key of a row under the table's identifier fields, or undefined when the table has none. */
export function rowKey(identifierNames: readonly string[], row: Row): string | undefined {
  if (identifierNames.length === 0) return undefined;
  return JSON.stringify(identifierNames.map((name) => row[name]));
}

export interface WrittenFiles {
  dataFiles: DataFile[];
  deleteFiles: DataFile[];
  /** Rows after collapsing repeats of a key within the batch (the last one wins). */
  rows: number;
}

/**
 * Writes `rows` as new files of `table` (not yet committed). `upsert: false` writes data files
 * only (compaction, whose rows already have their deletes applied).
 */
export async function writeRows(table: IcebergTable, rows: readonly Row[], options: { upsert?: boolean } = {}): Promise<WrittenFiles> {
  const schema = table.schema;
  const spec = table.spec;
  const identifierIds = options.upsert === false ? [] : (schema['identifier-field-ids'] ?? []);
  const identifierNames = identifierIds.map((id) => schema.fields.find((field) => field.id === id)!.name);

  // Within one commit a delete cannot remove a row of the same sequence number, so repeats of a
  // key inside the batch are collapsed here: the last one wins, as a later upsert would.
  let unique: readonly Row[] = rows;
  if (identifierNames.length > 0) {
    const byKey = new Map<string, Row>();
    for (const row of rows) {
      const key = rowKey(identifierNames, row)!;
      byKey.delete(key);
      byKey.set(key, row);
    }
    unique = [...byKey.values()];
  }

  const groups = new Map<string, { values: PartitionValues; rows: Row[] }>();
  for (const row of unique) {
    const values = partitionOf(spec, schema, row);
    const key = partitionKey(values);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { values, rows: [] }));
    group.rows.push(row);
  }

  const dataFiles: DataFile[] = [];
  const deleteFiles: DataFile[] = [];
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const path = partitionPath(spec, group.values);
      const dataUri = table.newDataFileUri(path);
      const data = writeDataFile(schema, group.rows);
      await table.store.put(dataUri, data, 'application/octet-stream');
      dataFiles.push({ content: DataFileContent.data, filePath: dataUri, fileFormat: 'PARQUET', partition: group.values, recordCount: group.rows.length, fileSizeInBytes: data.byteLength });
      if (identifierIds.length === 0) return;
      const deleteUri = table.newDataFileUri(path, 'eq-deletes');
      const keys = group.rows.map((row) => Object.fromEntries(identifierNames.map((name) => [name, row[name]])));
      const deletes = writeEqualityDeleteFile(schema, identifierIds, keys);
      await table.store.put(deleteUri, deletes, 'application/octet-stream');
      deleteFiles.push({
        content: DataFileContent.equalityDeletes,
        filePath: deleteUri,
        fileFormat: 'PARQUET',
        partition: group.values,
        recordCount: keys.length,
        fileSizeInBytes: deletes.byteLength,
        equalityIds: identifierIds,
      });
    }),
  );
  return { dataFiles, deleteFiles, rows: unique.length };
}

/** Writes and commits `rows` as one snapshot carrying `summary` (e.g. stream checkpoints). */
export async function appendRows(table: IcebergTable, rows: readonly Row[], summary: Record<string, string> = {}): Promise<Snapshot> {
  const written = await writeRows(table, rows);
  return table.commit({
    operation: written.deleteFiles.length > 0 ? 'overwrite' : 'append',
    addedDataFiles: written.dataFiles,
    addedDeleteFiles: written.deleteFiles,
    summary,
  });
}
