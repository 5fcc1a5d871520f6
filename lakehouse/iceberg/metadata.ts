import { randomInt, randomUUID } from 'node:crypto';
import type { IcebergSchema, PartitionSpec } from './schema';

/**
 * Iceberg v2 table metadata (the `vN.metadata.json` document) and the pure steps on it: a new
 * table, adding a snapshot, finding a snapshot by id or time, expiring old ones.
 */

export interface SnapshotSummary {
  operation: 'append' | 'overwrite' | 'replace' | 'delete';
  [property: string]: string;
}

export interface Snapshot {
  'snapshot-id': number;
  'parent-snapshot-id'?: number;
  'sequence-number': number;
  'timestamp-ms': number;
  'manifest-list': string;
  summary: SnapshotSummary;
  'schema-id': number;
}

export interface TableMetadata {
  'format-version': 2;
  'table-uuid': string;
  location: string;
  'last-sequence-number': number;
  'last-updated-ms': number;
  'last-column-id': number;
  'current-schema-id': number;
  schemas: IcebergSchema[];
  'default-spec-id': number;
  'partition-specs': PartitionSpec[];
  'last-partition-id': number;
  'default-sort-order-id': number;
  'sort-orders': { 'order-id': number; fields: unknown[] }[];
  properties: Record<string, string>;
  'current-snapshot-id': number;
  refs: Record<string, { 'snapshot-id': number; type: 'branch' | 'tag' }>;
  snapshots: Snapshot[];
  'snapshot-log': { 'timestamp-ms': number; 'snapshot-id': number }[];
  'metadata-log': { 'timestamp-ms': number; 'metadata-file': string }[];
}

export class SnapshotNotFoundError extends Error {
  override readonly name = 'SnapshotNotFoundError';
}

/** Snapshot ids: random, positive, and exact in JSON numbers and JS (below 2^53). */
export function newSnapshotId(): number {
  return randomInt(1, 2 ** 47) * 64 + randomInt(0, 64);
}

export function newTableMetadata(options: { location: string; schema: IcebergSchema; spec: PartitionSpec; properties?: Record<string, string>; now?: number }): TableMetadata {
  const { schema, spec } = options;
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location: options.location.replace(/\/$/, ''),
    'last-sequence-number': 0,
    'last-updated-ms': options.now ?? Date.now(),
    'last-column-id': Math.max(0, ...schema.fields.map((field) => field.id)),
    'current-schema-id': schema['schema-id'],
    schemas: [schema],
    'default-spec-id': spec['spec-id'],
    'partition-specs': [spec],
    'last-partition-id': Math.max(999, ...spec.fields.map((field) => field['field-id'])),
    'default-sort-order-id': 0,
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    properties: { 'write.format.default': 'parquet', ...options.properties },
    'current-snapshot-id': -1,
    refs: {},
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
  };
}

export function currentSchema(metadata: TableMetadata): IcebergSchema {
  return metadata.schemas.find((schema) => schema['schema-id'] === metadata['current-schema-id'])!;
}

export function defaultSpec(metadata: TableMetadata): PartitionSpec {
  return metadata['partition-specs'].find((spec) => spec['spec-id'] === metadata['default-spec-id'])!;
}

export function currentSnapshot(metadata: TableMetadata): Snapshot | undefined {
  return metadata.snapshots.find((snapshot) => snapshot['snapshot-id'] === metadata['current-snapshot-id']);
}

/** The metadata after committing `snapshot` on main, recording the file it replaces in the log. */
export function withSnapshot(metadata: TableMetadata, snapshot: Snapshot, previousMetadataFile: string | undefined): TableMetadata {
  return {
    ...metadata,
    'last-sequence-number': snapshot['sequence-number'],
    'last-updated-ms': snapshot['timestamp-ms'],
    'current-snapshot-id': snapshot['snapshot-id'],
    refs: { ...metadata.refs, main: { 'snapshot-id': snapshot['snapshot-id'], type: 'branch' } },
    snapshots: [...metadata.snapshots, snapshot],
    'snapshot-log': [...metadata['snapshot-log'], { 'timestamp-ms': snapshot['timestamp-ms'], 'snapshot-id': snapshot['snapshot-id'] }],
    'metadata-log':
      previousMetadataFile === undefined
        ? metadata['metadata-log']
        : [...metadata['metadata-log'], { 'timestamp-ms': metadata['last-updated-ms'], 'metadata-file': previousMetadataFile }],
  };
}

/**
 * The snapshot a time-travel query reads: by id, or the one current at `asOf` (epoch ms, taken
 * from the snapshot log, so a rolled-back snapshot is not picked).
 */
export function resolveSnapshot(metadata: TableMetadata, asOf?: { snapshotId: number } | { timestampMs: number }): Snapshot | undefined {
  if (asOf === undefined) return currentSnapshot(metadata);
  if ('snapshotId' in asOf) {
    const found = metadata.snapshots.find((snapshot) => snapshot['snapshot-id'] === asOf.snapshotId);
    if (found === undefined) {
      throw new SnapshotNotFoundError(`snapshot ${asOf.snapshotId} is not in the table's history; list it with \`npm run lake -- snapshots TABLE\``);
    }
    return found;
  }
  const entry = metadata['snapshot-log'].filter((log) => log['timestamp-ms'] <= asOf.timestampMs).at(-1);
  if (entry === undefined) {
    const first = metadata['snapshot-log'][0];
    throw new SnapshotNotFoundError(
      `no snapshot at or before ${new Date(asOf.timestampMs).toISOString()}${first === undefined ? ': the table has no snapshots' : `; the first is at ${new Date(first['timestamp-ms']).toISOString()}`}`,
    );
  }
  const found = metadata.snapshots.find((snapshot) => snapshot['snapshot-id'] === entry['snapshot-id']);
  if (found === undefined) throw new SnapshotNotFoundError(`snapshot ${entry['snapshot-id']}, current at that time, has been expired`);
  return found;
}

/**
 * The metadata without snapshots older than `olderThanMs` (epoch ms), always keeping the current
 * one and the newest `retainLast`; returns the expired snapshots too, whose files may be removed.
 */
export function expireSnapshots(metadata: TableMetadata, options: { olderThanMs: number; retainLast: number }): { metadata: TableMetadata; expired: Snapshot[] } {
  const newestFirst = [...metadata.snapshots].sort((a, b) => b['sequence-number'] - a['sequence-number']);
  const keep = new Set(newestFirst.slice(0, Math.max(1, options.retainLast)).map((snapshot) => snapshot['snapshot-id']));
  keep.add(metadata['current-snapshot-id']);
  for (const snapshot of metadata.snapshots) if (snapshot['timestamp-ms'] >= options.olderThanMs) keep.add(snapshot['snapshot-id']);
  const expired = metadata.snapshots.filter((snapshot) => !keep.has(snapshot['snapshot-id']));
  if (expired.length === 0) return { metadata, expired };
  const kept = metadata.snapshots.filter((snapshot) => keep.has(snapshot['snapshot-id']));
  return {
    metadata: {
      ...metadata,
      'last-updated-ms': Date.now(),
      snapshots: kept.map((snapshot) =>
        // A parent that is gone is no longer named.
        snapshot['parent-snapshot-id'] !== undefined && !keep.has(snapshot['parent-snapshot-id'])
          ? (({ 'parent-snapshot-id': _gone, ...rest }) => rest)(snapshot)
          : snapshot,
      ),
      'snapshot-log': metadata['snapshot-log'].filter((log) => keep.has(log['snapshot-id'])),
    },
    expired,
  };
}
