import { randomBytes } from 'node:crypto';
import avro from 'avsc';
import type { PartitionSpec, PartitionValues } from './schema';

/**
 * Avro manifests and manifest lists of Iceberg spec v2, written as Avro object container files
 * with `avsc` types (synchronously, uncompressed) and read back the same way. The schemas carry
 * Iceberg's field ids, which readers use to project.
 */

export const DataFileContent = { data: 0, positionDeletes: 1, equalityDeletes: 2 } as const;
export type DataFileContent = (typeof DataFileContent)[keyof typeof DataFileContent];

export const EntryStatus = { existing: 0, added: 1, deleted: 2 } as const;
export type EntryStatus = (typeof EntryStatus)[keyof typeof EntryStatus];

export const ManifestContent = { data: 0, deletes: 1 } as const;
export type ManifestContent = (typeof ManifestContent)[keyof typeof ManifestContent];

/** A data or delete file as a manifest describes it. */
export interface DataFile {
  content: DataFileContent;
  filePath: string;
  fileFormat: 'PARQUET';
  partition: PartitionValues;
  recordCount: number;
  fileSizeInBytes: number;
  /** Equality delete files: the field ids compared. */
  equalityIds?: number[];
}

export interface ManifestEntry {
  status: EntryStatus;
  snapshotId: number;
  /** Data sequence number: deletes apply to files with a lower one. */
  sequenceNumber: number;
  fileSequenceNumber: number;
  dataFile: DataFile;
}

/** One row of a manifest list. */
export interface ManifestFile {
  manifestPath: string;
  manifestLength: number;
  partitionSpecId: number;
  content: ManifestContent;
  sequenceNumber: number;
  minSequenceNumber: number;
  addedSnapshotId: number;
  addedFilesCount: number;
  existingFilesCount: number;
  deletedFilesCount: number;
  addedRowsCount: number;
  existingRowsCount: number;
  deletedRowsCount: number;
}

const optional = (type: unknown) => ['null', type];

function partitionAvroType(spec: PartitionSpec) {
  return {
    type: 'record',
    name: 'r102',
    fields: spec.fields.map((field) => ({
      name: field.name,
      type: optional(field.transform === 'day' ? { type: 'int', logicalType: 'date' } : 'string'),
      default: null,
      'field-id': field['field-id'],
    })),
  };
}

/** The Avro schema of a v2 manifest for `spec` (spec, "Manifests"). */
export function manifestEntrySchema(spec: PartitionSpec) {
  return {
    type: 'record',
    name: 'manifest_entry',
    fields: [
      { name: 'status', type: 'int', 'field-id': 0 },
      { name: 'snapshot_id', type: optional('long'), default: null, 'field-id': 1 },
      { name: 'sequence_number', type: optional('long'), default: null, 'field-id': 3 },
      { name: 'file_sequence_number', type: optional('long'), default: null, 'field-id': 4 },
      {
        name: 'data_file',
        'field-id': 2,
        type: {
          type: 'record',
          name: 'r2',
          fields: [
            { name: 'content', type: 'int', 'field-id': 134 },
            { name: 'file_path', type: 'string', 'field-id': 100 },
            { name: 'file_format', type: 'string', 'field-id': 101 },
            { name: 'partition', type: partitionAvroType(spec), 'field-id': 102 },
            { name: 'record_count', type: 'long', 'field-id': 103 },
            { name: 'file_size_in_bytes', type: 'long', 'field-id': 104 },
            { name: 'equality_ids', type: optional({ type: 'array', items: 'int', 'element-id': 136 }), default: null, 'field-id': 135 },
            { name: 'sort_order_id', type: optional('int'), default: null, 'field-id': 140 },
          ],
        },
      },
    ],
  };
}

/** The Avro schema of a v2 manifest list (spec, "Manifest Lists"). */
export const MANIFEST_LIST_SCHEMA = {
  type: 'record',
  name: 'manifest_file',
  fields: [
    { name: 'manifest_path', type: 'string', 'field-id': 500 },
    { name: 'manifest_length', type: 'long', 'field-id': 501 },
    { name: 'partition_spec_id', type: 'int', 'field-id': 502 },
    { name: 'content', type: 'int', 'field-id': 517 },
    { name: 'sequence_number', type: 'long', 'field-id': 515 },
    { name: 'min_sequence_number', type: 'long', 'field-id': 516 },
    { name: 'added_snapshot_id', type: 'long', 'field-id': 503 },
    { name: 'added_files_count', type: 'int', 'field-id': 504 },
    { name: 'existing_files_count', type: 'int', 'field-id': 505 },
    { name: 'deleted_files_count', type: 'int', 'field-id': 506 },
    { name: 'added_rows_count', type: 'long', 'field-id': 512 },
    { name: 'existing_rows_count', type: 'long', 'field-id': 513 },
    { name: 'deleted_rows_count', type: 'long', 'field-id': 514 },
  ],
};

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
const metadataType = avro.Type.forSchema({ type: 'map', values: 'bytes' });
const longType = avro.Type.forSchema('long');

export class AvroFormatError extends Error {
  override readonly name = 'AvroFormatError';
}

/** An Avro object container file (one block, codec null) holding `records` of `schema`. */
export function writeAvroFile(schema: object, records: readonly unknown[], metadata: Record<string, string>): Uint8Array {
  const type = avro.Type.forSchema(schema as avro.Schema);
  const sync = randomBytes(16);
  const header = metadataType.toBuffer({
    ...Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, Buffer.from(value)])),
    // The schema as given, so Iceberg's field ids (attributes avsc does not model) survive.
    'avro.schema': Buffer.from(JSON.stringify(schema)),
    'avro.codec': Buffer.from('null'),
  });
  const parts: Buffer[] = [MAGIC, header, sync];
  if (records.length > 0) {
    const body = Buffer.concat(records.map((record) => type.toBuffer(record)));
    parts.push(longType.toBuffer(records.length), longType.toBuffer(body.length), body, sync);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** The records and header metadata of an Avro object container file (codec null or deflate). */
export function readAvroFile(bytes: Uint8Array): { records: unknown[]; metadata: Record<string, string> } {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!buffer.subarray(0, 4).equals(MAGIC)) throw new AvroFormatError('not an Avro object container file (bad magic)');
  const tap = { buf: buffer, pos: 4 };
  const headerMap = readValue(metadataType, tap) as Record<string, Buffer>;
  const metadata = Object.fromEntries(Object.entries(headerMap).map(([key, value]) => [key, value.toString()]));
  const codec = metadata['avro.codec'] ?? 'null';
  if (codec !== 'null') throw new AvroFormatError(`Avro codec ${codec} is not supported here; this writer uses null`);
  const type = avro.Type.forSchema(JSON.parse(metadata['avro.schema'] ?? 'null') as avro.Schema);
  tap.pos += 16;
  const records: unknown[] = [];
  while (tap.pos < buffer.length) {
    const count = readValue(longType, tap) as number;
    const size = readValue(longType, tap) as number;
    const blockTap = { buf: buffer.subarray(tap.pos, tap.pos + size), pos: 0 };
    for (let index = 0; index < count; index += 1) records.push(readValue(type, blockTap));
    tap.pos += size + 16;
  }
  return { records, metadata };
}

function readValue(type: avro.Type, tap: { buf: Buffer; pos: number }): unknown {
  const decoded: { value: unknown; offset: number } = type.decode(tap.buf, tap.pos);
  if (decoded.offset < 0) throw new AvroFormatError('truncated Avro data');
  tap.pos = decoded.offset;
  return decoded.value;
}

function partitionRecord(spec: PartitionSpec, values: PartitionValues) {
  return Object.fromEntries(spec.fields.map((field) => [field.name, values[field.name] ?? null]));
}

/** A manifest of `entries`, all of one content type (data or deletes). */
export function writeManifest(options: {
  spec: PartitionSpec;
  schemaJson: string;
  content: ManifestContent;
  entries: readonly ManifestEntry[];
}): Uint8Array {
  const { spec, entries } = options;
  return writeAvroFile(
    manifestEntrySchema(spec),
    entries.map((entry) => ({
      status: entry.status,
      snapshot_id: entry.snapshotId,
      // Explicit rather than inherited: this writer assigns the sequence number before writing.
      sequence_number: entry.sequenceNumber,
      file_sequence_number: entry.fileSequenceNumber,
      data_file: {
        content: entry.dataFile.content,
        file_path: entry.dataFile.filePath,
        file_format: entry.dataFile.fileFormat,
        partition: partitionRecord(spec, entry.dataFile.partition),
        record_count: entry.dataFile.recordCount,
        file_size_in_bytes: entry.dataFile.fileSizeInBytes,
        equality_ids: entry.dataFile.equalityIds ?? null,
        sort_order_id: entry.dataFile.content === DataFileContent.positionDeletes ? null : 0,
      },
    })),
    {
      schema: options.schemaJson,
      'schema-id': '0',
      'partition-spec': JSON.stringify(spec.fields),
      'partition-spec-id': String(spec['spec-id']),
      'format-version': '2',
      content: options.content === ManifestContent.data ? 'data' : 'deletes',
    },
  );
}

interface RawManifestEntry {
  status: number;
  snapshot_id: number | null;
  sequence_number: number | null;
  file_sequence_number: number | null;
  data_file: {
    content: number;
    file_path: string;
    file_format: string;
    partition: Record<string, number | string | null>;
    record_count: number;
    file_size_in_bytes: number;
    equality_ids: number[] | null;
  };
}

/** The entries of a manifest, with sequence numbers inherited from the manifest list where null. */
export function readManifest(bytes: Uint8Array, manifest: ManifestFile): ManifestEntry[] {
  return (readAvroFile(bytes).records as RawManifestEntry[]).map((raw) => ({
    status: raw.status as EntryStatus,
    snapshotId: raw.snapshot_id ?? manifest.addedSnapshotId,
    sequenceNumber: raw.sequence_number ?? manifest.sequenceNumber,
    fileSequenceNumber: raw.file_sequence_number ?? manifest.sequenceNumber,
    dataFile: {
      content: raw.data_file.content as DataFileContent,
      filePath: raw.data_file.file_path,
      fileFormat: 'PARQUET',
      partition: { ...raw.data_file.partition },
      recordCount: Number(raw.data_file.record_count),
      fileSizeInBytes: Number(raw.data_file.file_size_in_bytes),
      ...(raw.data_file.equality_ids === null ? {} : { equalityIds: raw.data_file.equality_ids }),
    },
  }));
}

export function writeManifestList(options: { snapshotId: number; parentSnapshotId?: number; sequenceNumber: number; manifests: readonly ManifestFile[] }): Uint8Array {
  return writeAvroFile(
    MANIFEST_LIST_SCHEMA,
    options.manifests.map((manifest) => ({
      manifest_path: manifest.manifestPath,
      manifest_length: manifest.manifestLength,
      partition_spec_id: manifest.partitionSpecId,
      content: manifest.content,
      sequence_number: manifest.sequenceNumber,
      min_sequence_number: manifest.minSequenceNumber,
      added_snapshot_id: manifest.addedSnapshotId,
      added_files_count: manifest.addedFilesCount,
      existing_files_count: manifest.existingFilesCount,
      deleted_files_count: manifest.deletedFilesCount,
      added_rows_count: manifest.addedRowsCount,
      existing_rows_count: manifest.existingRowsCount,
      deleted_rows_count: manifest.deletedRowsCount,
    })),
    {
      'snapshot-id': String(options.snapshotId),
      'parent-snapshot-id': options.parentSnapshotId === undefined ? 'null' : String(options.parentSnapshotId),
      'sequence-number': String(options.sequenceNumber),
      'format-version': '2',
    },
  );
}

export function readManifestList(bytes: Uint8Array): ManifestFile[] {
  return (readAvroFile(bytes).records as Record<string, number | string>[]).map((raw) => ({
    manifestPath: String(raw.manifest_path),
    manifestLength: Number(raw.manifest_length),
    partitionSpecId: Number(raw.partition_spec_id),
    content: Number(raw.content) as ManifestContent,
    sequenceNumber: Number(raw.sequence_number),
    minSequenceNumber: Number(raw.min_sequence_number),
    addedSnapshotId: Number(raw.added_snapshot_id),
    addedFilesCount: Number(raw.added_files_count),
    existingFilesCount: Number(raw.existing_files_count),
    deletedFilesCount: Number(raw.deleted_files_count),
    addedRowsCount: Number(raw.added_rows_count),
    existingRowsCount: Number(raw.existing_rows_count),
    deletedRowsCount: Number(raw.deleted_rows_count),
  }));
}
