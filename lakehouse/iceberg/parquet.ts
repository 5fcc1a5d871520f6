import { parquetWriteBuffer } from 'hyparquet-writer';
import type { IcebergField, IcebergSchema } from './schema';

/** hyparquet-writer's own SchemaElement (it pins its own hyparquet). */
type SchemaElement = NonNullable<Parameters<typeof parquetWriteBuffer>[0]['schema']>[number];

/**
 * Parquet files of an Iceberg table: data files, equality delete files and position delete
 * files, each carrying Iceberg field ids so any reader maps columns by id, not by name.
 */

/** A row as the writer takes it: timestamptz columns as epoch milliseconds. */
export type Row = Record<string, unknown>;

/** Iceberg's reserved field ids of position delete files (spec, "Position Delete Files"). */
export const POSITION_DELETE_FILE_PATH_ID = 2147483546;
export const POSITION_DELETE_POS_ID = 2147483545;

function parquetElement(field: IcebergField): SchemaElement {
  const base = { name: field.name, field_id: field.id, repetition_type: field.required ? 'REQUIRED' : 'OPTIONAL' } as const;
  switch (field.type) {
    case 'string':
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case 'double':
      return { ...base, type: 'DOUBLE' };
    case 'long':
      return { ...base, type: 'INT64' };
    case 'boolean':
      return { ...base, type: 'BOOLEAN' };
    case 'timestamptz':
      return { ...base, type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' } };
  }
}

function columnValues(field: IcebergField, rows: readonly Row[]): unknown[] {
  return rows.map((row) => {
    const value = row[field.name];
    if (value === null || value === undefined) return null;
    if (field.type === 'timestamptz') return BigInt(value as number) * 1000n;
    if (field.type === 'long') return BigInt(value as number);
    return value;
  });
}

/** Parquet bytes of `rows` with the columns of `fields` (one row group per 100k rows). */
export function writeParquet(fields: readonly IcebergField[], rows: readonly Row[], schemaJson: string): Uint8Array {
  const schema: SchemaElement[] = [{ name: 'table', num_children: fields.length }, ...fields.map(parquetElement)];
  const buffer = parquetWriteBuffer({
    columnData: fields.map((field) => ({ name: field.name, data: columnValues(field, rows), nullable: !field.required })),
    schema,
    rowGroupSize: 100_000,
    // Readers that map by field id (Iceberg Java, icebird) find the table schema here.
    kvMetadata: [{ key: 'iceberg.schema', value: schemaJson }],
    createdBy: 'watershed lakehouse (hyparquet-writer)',
  });
  return new Uint8Array(buffer);
}

export function writeDataFile(schema: IcebergSchema, rows: readonly Row[]): Uint8Array {
  return writeParquet(schema.fields, rows, JSON.stringify(schema));
}

/**
 * An equality delete file: the identifier columns of the rows to delete. It removes every row
 * with equal values in data files of lower data sequence number (and the same partition).
 */
export function writeEqualityDeleteFile(schema: IcebergSchema, equalityFieldIds: readonly number[], keys: readonly Row[]): Uint8Array {
  const fields = equalityFieldIds.map((id) => schema.fields.find((field) => field.id === id)!);
  const deleteSchema: IcebergSchema = { type: 'struct', 'schema-id': schema['schema-id'], fields };
  return writeParquet(fields, keys, JSON.stringify(deleteSchema));
}

/** A position delete file: (file_path, pos) pairs, sorted as the spec requires. */
export function writePositionDeleteFile(positions: readonly { filePath: string; pos: number }[]): Uint8Array {
  const sorted = [...positions].sort((a, b) => (a.filePath === b.filePath ? a.pos - b.pos : a.filePath < b.filePath ? -1 : 1));
  const fields: IcebergField[] = [
    { id: POSITION_DELETE_FILE_PATH_ID, name: 'file_path', required: true, type: 'string' },
    { id: POSITION_DELETE_POS_ID, name: 'pos', required: true, type: 'long' },
  ];
  const schema: IcebergSchema = { type: 'struct', 'schema-id': 0, fields };
  return writeParquet(fields, sorted.map(({ filePath, pos }) => ({ file_path: filePath, pos })), JSON.stringify(schema));
}
