import { expireSnapshots, type Snapshot } from './iceberg/metadata';
import { readLiveRows } from './iceberg/scan';
import { CommitConflictError, type IcebergTable } from './iceberg/table';
import { writeRows } from './iceberg/writer';

/**
 * Table maintenance, as Glue's optimizers do it on AWS: compaction (small files and deletes
 * merged into one data file per partition) and snapshot expiry (old snapshots and the files only
 * they reference removed). Both keep the rows a reader sees identical.
 */

/** Summary properties that describe the table's position in its sources, carried by every snapshot. */
const CARRIED_PREFIX = 'watershed.';

function carriedSummary(snapshot: Snapshot | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(snapshot?.summary ?? {}).filter(([key]) => key.startsWith(CARRIED_PREFIX)));
}

export interface CompactionResult {
  snapshot?: Snapshot;
  filesBefore: { data: number; deletes: number };
  filesAfter: number;
  rows: number;
  /** Rows dropped because deletes applied to them. */
  deletedRowsMerged: number;
}

/**
 * Rewrites the current snapshot's rows, deletes applied, as one data file per partition, in a
 * `replace` snapshot that drops every old data and delete file. The stream checkpoints in the
 * summary are carried over, so a sink resumes where it was. If a sink commits meanwhile, the
 * compaction starts again from the new snapshot (up to `attempts` times).
 */
export async function compactTable(table: IcebergTable, options: { attempts?: number } = {}): Promise<CompactionResult> {
  for (let attempt = 1; ; attempt += 1) {
    await table.refresh();
    const parent = table.currentSnapshot;
    const files = await table.files(parent);
    const filesBefore = { data: files?.dataFiles.length ?? 0, deletes: files?.deleteFiles.length ?? 0 };
    if (files === undefined || (filesBefore.data <= 1 && filesBefore.deletes === 0)) {
      return { filesBefore, filesAfter: filesBefore.data, rows: 0, deletedRowsMerged: 0 };
    }
    const live = await readLiveRows(table, parent);
    const written = await writeRows(table, live.rows, { upsert: false });
    try {
      const snapshot = await table.commit({
        operation: 'replace',
        addedDataFiles: written.dataFiles,
        removedFilePaths: new Set([...files.dataFiles, ...files.deleteFiles].map((entry) => entry.dataFile.filePath)),
        summary: { ...carriedSummary(parent), 'watershed.compacted-from-snapshot': String(parent!['snapshot-id']) },
      });
      return { snapshot, filesBefore, filesAfter: written.dataFiles.length, rows: live.rows.length, deletedRowsMerged: live.deleted };
    } catch (error) {
      if (!(error instanceof CommitConflictError) || attempt >= (options.attempts ?? 5)) throw error;
      await table.store.delete(written.dataFiles.map((file) => file.filePath));
    }
  }
}

export interface ExpiryResult {
  expired: Snapshot[];
  kept: number;
  filesRemoved: number;
}

/** Every file a snapshot references: its manifest list, manifests, data and delete files. */
async function referencedFiles(table: IcebergTable, snapshot: Snapshot): Promise<Set<string>> {
  const uris = new Set<string>([snapshot['manifest-list']]);
  for (const manifest of await table.manifests(snapshot)) uris.add(manifest.manifestPath);
  const files = await table.files(snapshot);
  for (const entry of [...(files?.dataFiles ?? []), ...(files?.deleteFiles ?? [])]) uris.add(entry.dataFile.filePath);
  return uris;
}

/**
 * Expires snapshots older than `olderThanMs` (keeping the current one and the newest
 * `retainLast`), commits the shorter history, then deletes the files that only expired snapshots
 * referenced. Time travel to an expired snapshot then fails with a clear error.
 */
export async function expireTableSnapshots(table: IcebergTable, options: { olderThanMs: number; retainLast: number }): Promise<ExpiryResult> {
  await table.refresh();
  const { metadata, expired } = expireSnapshots(table.metadata, options);
  if (expired.length === 0) return { expired, kept: metadata.snapshots.length, filesRemoved: 0 };
  await table.commitMetadata(metadata);
  const keep = new Set<string>();
  for (const snapshot of metadata.snapshots) for (const uri of await referencedFiles(table, snapshot)) keep.add(uri);
  const remove = new Set<string>();
  for (const snapshot of expired) {
    for (const uri of await referencedFiles(table, snapshot).catch(() => new Set<string>())) if (!keep.has(uri)) remove.add(uri);
  }
  await table.store.delete([...remove]);
  return { expired, kept: metadata.snapshots.length, filesRemoved: remove.size };
}
