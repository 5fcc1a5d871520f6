import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance, StatementType, type DuckDBConnection } from '@duckdb/node-api';
import { DataFileContent } from '../iceberg/avro';
import { resolveSnapshot, type Snapshot } from '../iceberg/metadata';
import { partitionKey } from '../iceberg/schema';
import type { IcebergTable } from '../iceberg/table';
import type { ObjectStore } from '../object-store';
import { assertSingleSelect, QueryError, referencedTables, type AsOf } from './statement';

/**
 * SQL over Iceberg snapshots with DuckDB. DuckDB's iceberg and httpfs extensions cannot be
 * downloaded here, so the project resolves the snapshot itself: the live data files and the
 * delete files of the snapshot are copied to a local cache (they are immutable, so a cached copy
 * is always right), and each table becomes a view over `read_parquet` that applies the deletes
 * by the spec's rules (equality deletes: higher sequence number, same partition; position
 * deletes: same file, sequence number not lower). The in-memory database only ever sees copies,
 * and only a single SELECT is accepted, so a query cannot change a table.
 */

export { QueryError, referencedTables, type AsOf } from './statement';

export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
  /** The snapshot each referenced table was read at (absent: the table has no snapshot). */
  snapshots: Record<string, Snapshot | undefined>;
}

const quoteIdentifier = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteString = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** The partition key of an unpartitioned delete file, which applies to every partition. */
const GLOBAL_PARTITION = partitionKey({});

/** Copies `uri` into the cache once; returns the local path. */
async function cached(store: ObjectStore, cacheDirectory: string, uri: string): Promise<string> {
  const path = join(cacheDirectory, `${createHash('sha256').update(uri).digest('hex').slice(0, 32)}.parquet`);
  if (existsSync(path)) return path;
  const bytes = await store.get(uri);
  if (bytes === undefined) throw new QueryError(`file ${uri} of the snapshot is missing from the warehouse`);
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, bytes);
  renameSync(partial, path);
  return path;
}

/** Creates view `name` over `table` at `snapshot` with its deletes applied; an empty view for a table without snapshots. */
export async function createSnapshotView(
  connection: DuckDBConnection,
  name: string,
  table: IcebergTable,
  snapshot: Snapshot | undefined,
  options: { cacheDirectory: string; concurrency?: number },
): Promise<void> {
  const schema = table.schema;
  const typeOf: Record<string, string> = { string: 'VARCHAR', double: 'DOUBLE', long: 'BIGINT', boolean: 'BOOLEAN', timestamptz: 'TIMESTAMPTZ' };
  const files = await table.files(snapshot);
  if (files === undefined || files.dataFiles.length === 0) {
    const empty = schema.fields.map((field) => `CAST(NULL AS ${typeOf[field.type]}) AS ${quoteIdentifier(field.name)}`).join(', ');
    await connection.run(`CREATE OR REPLACE TEMP VIEW ${quoteIdentifier(name)} AS SELECT ${empty} WHERE false`);
    return;
  }
  mkdirSync(options.cacheDirectory, { recursive: true });
  const all = [...files.dataFiles, ...files.deleteFiles];
  const local = new Map<string, string>();
  const concurrency = options.concurrency ?? 8;
  for (let start = 0; start < all.length; start += concurrency) {
    await Promise.all(all.slice(start, start + concurrency).map(async (entry) => local.set(entry.dataFile.filePath, await cached(table.store, options.cacheDirectory, entry.dataFile.filePath))));
  }
  const prefix = `__${name}`;
  // Partitions are compared as small integers (part_id), not as their JSON text: the joins below
  // compare one per row and delete key.
  const partitionIds = new Map<string, number>();
  const partitionIdOf = (entry: (typeof all)[number]) => {
    const key = partitionKey(entry.dataFile.partition);
    if (!partitionIds.has(key)) partitionIds.set(key, partitionIds.size);
    return partitionIds.get(key)!;
  };
  const fileRows = all.map((entry) =>
    `(${quoteString(local.get(entry.dataFile.filePath)!)}, ${quoteString(entry.dataFile.filePath)}, ${entry.sequenceNumber}, ${quoteString(partitionKey(entry.dataFile.partition))}, ${partitionIdOf(entry)}, ${entry.dataFile.content})`,
  );
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${prefix}_files (local_path VARCHAR, uri VARCHAR, seq BIGINT, part VARCHAR, part_id INTEGER, content INTEGER)`);
  for (let start = 0; start < fileRows.length; start += 500) {
    await connection.run(`INSERT INTO ${prefix}_files VALUES ${fileRows.slice(start, start + 500).join(', ')}`);
  }
  const localPath = (entry: (typeof all)[number]) => quoteString(local.get(entry.dataFile.filePath)!);
  const dataList = files.dataFiles.map(localPath);
  const equality = files.deleteFiles.filter((entry) => entry.dataFile.content === DataFileContent.equalityDeletes);
  const positional = files.deleteFiles.filter((entry) => entry.dataFile.content === DataFileContent.positionDeletes).map(localPath);

  // Each delete set is an ANTI JOIN whose ON clause is the spec's rule: equal key (and partition),
  // plus the sequence-number comparison as a residual predicate. DuckDB runs that as a hash join
  // on the equalities, checking the comparison per match. The former `WHERE NOT EXISTS (...)`
  // with the same conditions was decorrelated into a plan 67x to 150x slower than a bare scan.
  const joins: string[] = [];
  const readDeletes = (columns: string, paths: string[]) =>
    `(SELECT ${columns}, f.seq AS __seq, f.part_id AS __part_id FROM read_parquet([${paths.join(', ')}], filename = true) d JOIN ${prefix}_files f ON f.local_path = d.filename)`;
  // Equality deletes, grouped by the columns they compare (normally one group: the unique key),
  // and by scope: a partitioned delete file applies within its partition, an unpartitioned one
  // (no partition values) to every partition, as in readLiveRows.
  const groups = new Map<string, { names: string[]; partitioned: string[]; global: string[] }>();
  for (const entry of equality) {
    const names = (entry.dataFile.equalityIds ?? []).map((id) => schema.fields.find((field) => field.id === id)!.name);
    const key = names.join('\u0000');
    const group = groups.get(key) ?? { names, partitioned: [], global: [] };
    (partitionKey(entry.dataFile.partition) === GLOBAL_PARTITION ? group.global : group.partitioned).push(localPath(entry));
    groups.set(key, group);
  }
  let index = 0;
  for (const { names, partitioned, global } of groups.values()) {
    const columns = names.map((column) => `d.${quoteIdentifier(column)}`).join(', ');
    // Null keys match null keys, as in the own reader (and Iceberg's StructLike comparison).
    const match = (alias: string) => names.map((column) => `${alias}.${quoteIdentifier(column)} IS NOT DISTINCT FROM d.${quoteIdentifier(column)}`).join(' AND ');
    if (partitioned.length > 0) {
      const alias = `e${index++}`;
      joins.push(`ANTI JOIN ${readDeletes(columns, partitioned)} ${alias} ON ${match(alias)} AND ${alias}.__part_id = f.part_id AND ${alias}.__seq > f.seq`);
    }
    if (global.length > 0) {
      const alias = `e${index++}`;
      joins.push(`ANTI JOIN ${readDeletes(columns, global)} ${alias} ON ${match(alias)} AND ${alias}.__seq > f.seq`);
    }
  }
  if (positional.length > 0) {
    joins.push(`ANTI JOIN ${readDeletes('d.file_path, d.pos', positional)} p ON p.file_path = f.uri AND p.pos = d.file_row_number AND p.__seq >= f.seq`);
  }
  const projected = schema.fields.map((field) => `d.${quoteIdentifier(field.name)}`).join(', ');
  await connection.run(
    `CREATE OR REPLACE TEMP VIEW ${quoteIdentifier(name)} AS SELECT ${projected} FROM read_parquet([${dataList.join(', ')}], filename = true${positional.length > 0 ? ', file_row_number = true' : ''}) d ` +
      `JOIN ${prefix}_files f ON f.local_path = d.filename${joins.map((join) => ` ${join}`).join('')}`,
  );
}

/** DuckDB values as plain JSON-able values: integers as numbers when exact, temporal and other types as text. */
function plain(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  // DuckDB's value classes (timestamps, decimals, lists) print themselves readably.
  return (value as { toString(): string }).toString();
}

export interface LakehouseQueryOptions {
  sql: string;
  /** Table name -> the opened Iceberg table. */
  tables: Record<string, IcebergTable>;
  asOf?: AsOf;
  cacheDirectory: string;
}

/** Runs one read-only SELECT over the tables' snapshots. */
export async function queryLakehouse(options: LakehouseQueryOptions): Promise<QueryResult> {
  const names = referencedTables(options.sql, Object.keys(options.tables));
  if (options.asOf !== undefined && 'snapshotId' in options.asOf && names.length > 1) {
    throw new QueryError(`--as-of with a snapshot id names one table's snapshot, but the query reads ${names.join(' and ')}; use a timestamp instead`);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const extracted = await connection.extractStatements(options.sql);
    if (extracted.count !== 1) throw new QueryError(`give exactly one SQL statement; received ${extracted.count}`);
    assertSingleSelect(options.sql);
    const snapshots: Record<string, Snapshot | undefined> = {};
    for (const name of names) {
      const table = options.tables[name]!;
      const snapshot = resolveSnapshot(table.metadata, options.asOf);
      snapshots[name] = snapshot;
      await createSnapshotView(connection, name, table, snapshot, { cacheDirectory: options.cacheDirectory });
    }
    let prepared;
    try {
      prepared = await extracted.prepare(0);
    } catch (error) {
      throw new QueryError(sqlMessage(error, Object.keys(options.tables)));
    }
    if (prepared.statementType !== StatementType.SELECT) {
      throw new QueryError(`only SELECT queries are allowed: the lakehouse is read-only here (received a ${StatementType[prepared.statementType]} statement)`);
    }
    let reader;
    try {
      reader = await prepared.runAndReadAll();
    } catch (error) {
      throw new QueryError(sqlMessage(error, Object.keys(options.tables)));
    }
    const columns = reader.columnNames();
    const rows = reader.getRowObjects().map((row) => Object.fromEntries(columns.map((column) => [column, plain(row[column])])));
    return { columns, rows, snapshots };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function sqlMessage(error: unknown, tables: string[]): string {
  const message = (error as Error).message;
  const hint = /Table with name|does not exist/i.test(message) ? ` (the lakehouse tables are ${tables.join(', ')})` : '';
  return `SQL error: ${message}${hint}`;
}
