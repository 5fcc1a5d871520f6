import { randomUUID } from 'node:crypto';
import type { ObjectStore } from '../object-store';
import {
  DataFileContent,
  EntryStatus,
  ManifestContent,
  readManifest,
  readManifestList,
  writeManifest,
  writeManifestList,
  type DataFile,
  type ManifestEntry,
  type ManifestFile,
} from './avro';
import {
  currentSchema,
  currentSnapshot,
  defaultSpec,
  newSnapshotId,
  newTableMetadata,
  withSnapshot,
  type Snapshot,
  type SnapshotSummary,
  type TableMetadata,
} from './metadata';
import type { IcebergSchema, PartitionSpec } from './schema';

/**
 * An Iceberg v2 table in the file-catalog layout (`<location>/metadata/vN.metadata.json` plus
 * `version-hint.text`), so any Iceberg reader opens it from its location alone.
 *
 * Commit protocol: data files are written first under unique names; then manifests and the
 * manifest list; then `v<N+1>.metadata.json` is created only if absent. Creating that file is the
 * commit (one writer wins a version); `version-hint.text` is then pointed at it. A writer that
 * dies before creating the metadata file leaves only unreferenced files behind; a reader that
 * finds the hint one behind (death between the two writes) still opens the newest version,
 * because opening looks for later versions than the hint names.
 */

const decoder = new TextDecoder();

export class TableNotFoundError extends Error {
  override readonly name = 'TableNotFoundError';
}

export class CommitConflictError extends Error {
  override readonly name = 'CommitConflictError';
}

/** What a commit adds and removes. Files must already be written. */
export interface TableChange {
  operation: SnapshotSummary['operation'];
  addedDataFiles?: DataFile[];
  addedDeleteFiles?: DataFile[];
  /**
   * Paths of data and delete files this snapshot drops (compaction). When set, the snapshot
   * lists the live files that remain plus the added ones in fresh manifests.
   */
  removedFilePaths?: ReadonlySet<string>;
  /** Extra summary properties (e.g. the stream checkpoints this commit covers). */
  summary?: Record<string, string>;
}

/** The live files of a snapshot: data files and the delete files that may apply to them. */
export interface SnapshotFiles {
  snapshot: Snapshot;
  dataFiles: ManifestEntry[];
  deleteFiles: ManifestEntry[];
}

export const metadataFileName = (version: number) => `v${version}.metadata.json`;

export class IcebergTable {
  private constructor(
    readonly store: ObjectStore,
    readonly location: string,
    public metadata: TableMetadata,
    /** N of the `vN.metadata.json` this object reflects. */
    public version: number,
  ) {}

  get schema(): IcebergSchema {
    return currentSchema(this.metadata);
  }

  get spec(): PartitionSpec {
    return defaultSpec(this.metadata);
  }

  get currentSnapshot(): Snapshot | undefined {
    return currentSnapshot(this.metadata);
  }

  metadataUri(version: number): string {
    return `${this.location}/metadata/${metadataFileName(version)}`;
  }

  /** Creates the table's first metadata version unless the table exists; either way, opens it. */
  static async createIfAbsent(store: ObjectStore, options: { location: string; schema: IcebergSchema; spec: PartitionSpec; properties?: Record<string, string> }): Promise<IcebergTable> {
    const location = options.location.replace(/\/$/, '');
    const existing = await IcebergTable.tryLoad(store, location);
    if (existing !== undefined) return existing;
    const metadata = newTableMetadata({ ...options, location });
    if (await store.putIfAbsent(`${location}/metadata/${metadataFileName(1)}`, JSON.stringify(metadata, null, 2), 'application/json')) {
      await store.put(`${location}/metadata/version-hint.text`, '1', 'text/plain');
    }
    return IcebergTable.load(store, location);
  }

  static async load(store: ObjectStore, location: string, options: { version?: number } = {}): Promise<IcebergTable> {
    const table = await IcebergTable.tryLoad(store, location.replace(/\/$/, ''), options);
    if (table === undefined) throw new TableNotFoundError(`no Iceberg table at ${location}: no metadata/version-hint.text or metadata/v1.metadata.json there`);
    return table;
  }

  private static async tryLoad(store: ObjectStore, location: string, options: { version?: number } = {}): Promise<IcebergTable | undefined> {
    let version = options.version;
    if (version === undefined) {
      const hint = await store.get(`${location}/metadata/version-hint.text`);
      version = hint === undefined ? 0 : Number.parseInt(decoder.decode(hint).trim(), 10);
      if (!Number.isSafeInteger(version) || version < 0) version = 0;
      // The hint trails the commit by one write: newer versions, if any, are the truth.
      while ((await store.get(`${location}/metadata/${metadataFileName(version + 1)}`)) !== undefined) version += 1;
      if (version === 0) return undefined;
    }
    const bytes = await store.get(`${location}/metadata/${metadataFileName(version)}`);
    if (bytes === undefined) {
      if (options.version !== undefined) throw new TableNotFoundError(`${location} has no metadata version ${version}`);
      return undefined;
    }
    return new IcebergTable(store, location, JSON.parse(decoder.decode(bytes)) as TableMetadata, version);
  }

  /** Re-reads the newest committed version (another writer may have committed). */
  async refresh(): Promise<void> {
    const latest = await IcebergTable.load(this.store, this.location);
    this.metadata = latest.metadata;
    this.version = latest.version;
  }

  /** Points version-hint.text at this version (after a crash left it behind). */
  async repairVersionHint(): Promise<void> {
    await this.store.put(`${this.location}/metadata/version-hint.text`, String(this.version), 'text/plain');
  }

  async manifests(snapshot: Snapshot): Promise<ManifestFile[]> {
    const bytes = await this.store.get(snapshot['manifest-list']);
    if (bytes === undefined) throw new TableNotFoundError(`manifest list ${snapshot['manifest-list']} of snapshot ${snapshot['snapshot-id']} is missing`);
    return readManifestList(bytes);
  }

  /** The live (not deleted) data and delete files of `snapshot` (default: the current one). */
  async files(snapshot: Snapshot | undefined = this.currentSnapshot): Promise<SnapshotFiles | undefined> {
    if (snapshot === undefined) return undefined;
    const manifests = await this.manifests(snapshot);
    const entries = (
      await Promise.all(
        manifests.map(async (manifest) => {
          const bytes = await this.store.get(manifest.manifestPath);
          if (bytes === undefined) throw new TableNotFoundError(`manifest ${manifest.manifestPath} is missing`);
          return readManifest(bytes, manifest);
        }),
      )
    ).flat().filter((entry) => entry.status !== EntryStatus.deleted);
    return {
      snapshot,
      dataFiles: entries.filter((entry) => entry.dataFile.content === DataFileContent.data),
      deleteFiles: entries.filter((entry) => entry.dataFile.content !== DataFileContent.data),
    };
  }

  /** A fresh, unique URI for a new data or delete file in `partitionPath` (e.g. `eventTime_day=2026-11-30`). */
  newDataFileUri(partitionPath: string, kind: 'data' | 'eq-deletes' | 'pos-deletes' = 'data'): string {
    const prefix = partitionPath === '' ? `${this.location}/data` : `${this.location}/data/${partitionPath}`;
    return `${prefix}/${kind === 'data' ? '' : `${kind}-`}${Date.now()}-${randomUUID()}.parquet`;
  }

  /**
   * Commits `change` as a new snapshot on top of the newest version. Throws CommitConflictError
   * when another writer committed this version first; the caller refreshes and decides whether
   * to retry (the written data files stay valid).
   */
  async commit(change: TableChange): Promise<Snapshot> {
    const parent = this.currentSnapshot;
    const sequenceNumber = this.metadata['last-sequence-number'] + 1;
    const snapshotId = newSnapshotId();
    const spec = this.spec;
    const schemaJson = JSON.stringify(this.schema);
    const added = (dataFile: DataFile): ManifestEntry => ({ status: EntryStatus.added, snapshotId, sequenceNumber, fileSequenceNumber: sequenceNumber, dataFile });
    const addedData = (change.addedDataFiles ?? []).map(added);
    const addedDeletes = (change.addedDeleteFiles ?? []).map(added);

    let carried: ManifestFile[] = [];
    let rewritten: { data: ManifestEntry[]; deletes: ManifestEntry[] } = { data: [], deletes: [] };
    if (change.removedFilePaths === undefined) {
      carried = parent === undefined ? [] : await this.manifests(parent);
    } else {
      // Rewrite: the remaining live files move to fresh manifests as EXISTING, keeping their sequence numbers.
      const live = await this.files(parent);
      const keep = (entry: ManifestEntry) => !change.removedFilePaths!.has(entry.dataFile.filePath);
      const existing = (entry: ManifestEntry): ManifestEntry => ({ ...entry, status: EntryStatus.existing });
      rewritten = { data: (live?.dataFiles ?? []).filter(keep).map(existing), deletes: (live?.deleteFiles ?? []).filter(keep).map(existing) };
    }

    const newManifests: ManifestFile[] = [];
    const writeOne = async (content: ManifestContent, entries: ManifestEntry[]) => {
      if (entries.length === 0) return;
      const bytes = writeManifest({ spec, schemaJson, content, entries });
      const manifestPath = `${this.location}/metadata/${randomUUID()}-m${newManifests.length}.avro`;
      await this.store.put(manifestPath, bytes, 'application/octet-stream');
      const count = (status: EntryStatus) => entries.filter((entry) => entry.status === status);
      const rows = (list: ManifestEntry[]) => list.reduce((sum, entry) => sum + entry.dataFile.recordCount, 0);
      newManifests.push({
        manifestPath,
        manifestLength: bytes.byteLength,
        partitionSpecId: spec['spec-id'],
        content,
        sequenceNumber,
        minSequenceNumber: Math.min(...entries.map((entry) => entry.sequenceNumber)),
        addedSnapshotId: snapshotId,
        addedFilesCount: count(EntryStatus.added).length,
        existingFilesCount: count(EntryStatus.existing).length,
        deletedFilesCount: 0,
        addedRowsCount: rows(count(EntryStatus.added)),
        existingRowsCount: rows(count(EntryStatus.existing)),
        deletedRowsCount: 0,
      });
    };
    await writeOne(ManifestContent.data, [...rewritten.data, ...addedData]);
    await writeOne(ManifestContent.deletes, [...rewritten.deletes, ...addedDeletes]);
    const manifests = [...newManifests, ...carried];

    const manifestList = `${this.location}/metadata/snap-${snapshotId}-${sequenceNumber}-${randomUUID()}.avro`;
    await this.store.put(manifestList, writeManifestList({ snapshotId, parentSnapshotId: parent?.['snapshot-id'], sequenceNumber, manifests }), 'application/octet-stream');

    const snapshot: Snapshot = {
      'snapshot-id': snapshotId,
      ...(parent === undefined ? {} : { 'parent-snapshot-id': parent['snapshot-id'] }),
      'sequence-number': sequenceNumber,
      'timestamp-ms': Math.max(Date.now(), (parent?.['timestamp-ms'] ?? 0) + 1),
      'manifest-list': manifestList,
      summary: this.summary(change, manifests),
      'schema-id': this.schema['schema-id'],
    };
    const nextVersion = this.version + 1;
    const next = withSnapshot(this.metadata, snapshot, this.metadataUri(this.version));
    if (!(await this.store.putIfAbsent(this.metadataUri(nextVersion), JSON.stringify(next, null, 2), 'application/json'))) {
      throw new CommitConflictError(`${this.location}: version ${nextVersion} was committed by another writer; refresh and retry`);
    }
    this.metadata = next;
    this.version = nextVersion;
    await this.repairVersionHint();
    return snapshot;
  }

  /** Replaces the metadata without a new snapshot (snapshot expiry), as the next version. */
  async commitMetadata(next: TableMetadata): Promise<void> {
    const nextVersion = this.version + 1;
    const withLog = { ...next, 'metadata-log': [...next['metadata-log'], { 'timestamp-ms': this.metadata['last-updated-ms'], 'metadata-file': this.metadataUri(this.version) }] };
    if (!(await this.store.putIfAbsent(this.metadataUri(nextVersion), JSON.stringify(withLog, null, 2), 'application/json'))) {
      throw new CommitConflictError(`${this.location}: version ${nextVersion} was committed by another writer; refresh and retry`);
    }
    this.metadata = withLog;
    this.version = nextVersion;
    await this.repairVersionHint();
  }

  private summary(change: TableChange, manifests: ManifestFile[]): SnapshotSummary {
    const sum = (files: DataFile[] | undefined, content?: DataFileContent) =>
      (files ?? []).filter((file) => content === undefined || file.content === content).reduce((total, file) => total + file.recordCount, 0);
    const liveCounts = { dataFiles: 0, deleteFiles: 0, records: 0 };
    for (const manifest of manifests) {
      const files = manifest.addedFilesCount + manifest.existingFilesCount;
      if (manifest.content === ManifestContent.data) {
        liveCounts.dataFiles += files;
        liveCounts.records += manifest.addedRowsCount + manifest.existingRowsCount;
      } else liveCounts.deleteFiles += files;
    }
    return {
      operation: change.operation,
      'added-data-files': String(change.addedDataFiles?.length ?? 0),
      'added-records': String(sum(change.addedDataFiles)),
      'added-delete-files': String(change.addedDeleteFiles?.length ?? 0),
      'added-equality-deletes': String(sum(change.addedDeleteFiles, DataFileContent.equalityDeletes)),
      'added-position-deletes': String(sum(change.addedDeleteFiles, DataFileContent.positionDeletes)),
      ...(change.removedFilePaths === undefined ? {} : { 'removed-files': String(change.removedFilePaths.size) }),
      'total-data-files': String(liveCounts.dataFiles),
      'total-delete-files': String(liveCounts.deleteFiles),
      'total-records': String(liveCounts.records),
      ...change.summary,
    };
  }
}
