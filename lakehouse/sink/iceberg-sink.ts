import type { Row } from '../iceberg/parquet';
import type { Snapshot } from '../iceberg/metadata';
import { CommitConflictError, type IcebergTable } from '../iceberg/table';
import { writeRows, type WrittenFiles } from '../iceberg/writer';
import { mapRecord, type MappingErrorCode } from './record-mapper';

/**
 * The exactly-once core of a delivery stream into one Iceberg table, free of AWS SDKs:
 *
 * - It buffers records from every shard and flushes by size or interval (Firehose's buffering
 *   hints). A flush writes Parquet data files (plus equality deletes on the unique key), then
 *   commits one snapshot whose summary holds, under `checkpointProperty`, the last sequence
 *   number of every shard the table now covers: the technique of the Flink and Kafka Connect
 *   Iceberg sinks (`flink.max-committed-checkpoint-id`, `kafka.connect.offsets.*`).
 * - A restarted sink reads those checkpoints from the current snapshot and resumes each shard
 *   after them, so a record is either in a committed snapshot or read again, never both: a crash
 *   after writing data files but before the commit leaves only unreferenced files.
 * - Producer re-sends and gateway resends carry the same unique key under a new sequence
 *   number; the equality deletes turn them into upserts, so the key is present once.
 */

export interface SinkRecord {
  shardId: string;
  sequenceNumber: string;
  data: Uint8Array;
  arrivalMs: number;
}

/** A record the table cannot take, for the error prefix (Firehose's error envelope fields). */
export interface RejectedRecord {
  record: SinkRecord;
  errorCode: MappingErrorCode;
  errorMessage: string;
}

export interface IcebergSinkOptions {
  table: IcebergTable;
  /** Snapshot summary property holding the JSON `{ shardId: sequenceNumber }` checkpoints. */
  checkpointProperty: string;
  bufferSizeBytes: number;
  /** 0 flushes as soon as records arrive. */
  bufferIntervalMs: number;
  /** Stores rejected records (idempotently: a replay after a crash writes the same objects). */
  writeRejected: (rejected: RejectedRecord[]) => Promise<void>;
  /** Called after the data files are written and before the commit: fault injection for tests. */
  beforeCommit?: (files: WrittenFiles) => Promise<void>;
  log?: (message: string) => void;
}

export interface SinkStats {
  recordsIn: number;
  rowsCommitted: number;
  rejected: number;
  commits: number;
  conflicts: number;
  /** Time from flush start to the metadata commit, per commit. */
  commitLatenciesMs: number[];
}

export class SinkStoppedError extends Error {
  override readonly name = 'SinkStoppedError';
}

/** Sequence numbers are decimal strings of up to 56 digits: compare them as integers. */
export function sequenceAfter(a: string, b: string): boolean {
  return BigInt(a) > BigInt(b);
}

/** The shard checkpoints a snapshot's summary records under `property`. */
export function checkpointsOf(snapshot: Snapshot | undefined, property: string): Map<string, string> {
  const raw = snapshot?.summary[property];
  if (raw === undefined) return new Map();
  return new Map(Object.entries(JSON.parse(raw) as Record<string, string>));
}

const MAX_RETRY_DELAY_MS = 5_000;

export class IcebergSink {
  readonly stats: SinkStats = { recordsIn: 0, rowsCommitted: 0, rejected: 0, commits: 0, conflicts: 0, commitLatenciesMs: [] };
  private buffer: SinkRecord[] = [];
  private bufferedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;
  private failure: Error | undefined;

  constructor(private readonly options: IcebergSinkOptions) {}

  get table(): IcebergTable {
    return this.options.table;
  }

  /** What the table has committed: where each shard resumes. */
  committedCheckpoints(): Map<string, string> {
    return checkpointsOf(this.options.table.currentSnapshot, this.options.checkpointProperty);
  }

  /**
   * Takes records (in sequence order per shard). Resolves once they are buffered; waits for a
   * flush first when twice the buffer size is already waiting, so memory stays bounded.
   */
  async accept(records: readonly SinkRecord[]): Promise<void> {
    if (this.stopped) throw new SinkStoppedError(this.failure === undefined ? 'the sink is stopped' : `the sink stopped: ${this.failure.message}`);
    const committed = this.committedCheckpoints();
    for (const record of records) {
      // Already in the table (a source that re-reads from an older position): skip, do not re-add.
      const checkpoint = committed.get(record.shardId);
      if (checkpoint !== undefined && !sequenceAfter(record.sequenceNumber, checkpoint)) continue;
      this.buffer.push(record);
      this.bufferedBytes += record.data.byteLength;
      this.stats.recordsIn += 1;
    }
    if (this.buffer.length === 0) return;
    if (this.bufferedBytes >= this.options.bufferSizeBytes || this.options.bufferIntervalMs === 0) this.scheduleFlush(0);
    else if (this.timer === undefined) this.scheduleFlush(this.options.bufferIntervalMs);
    if (this.bufferedBytes >= 2 * this.options.bufferSizeBytes) await this.flushing;
  }

  /** Flushes what is buffered now and waits for its commit. */
  async flush(): Promise<void> {
    this.scheduleFlush(0);
    await this.flushing;
  }

  /** Stops without flushing: buffered records are not committed, and are read again by the next sink. */
  stop(reason?: Error): void {
    this.stopped = true;
    this.failure ??= reason;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Waits for a flush in progress to end (e.g. before stopping the process). */
  async idle(): Promise<void> {
    await this.flushing;
  }

  /** Queues a flush now (delay 0) or after `delayMs`; the returned promise settles when it has run. */
  private scheduleFlush(delayMs: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (delayMs === 0) {
      this.flushing = this.flushing.then(() => this.flushOnce());
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushing.then(() => this.flushOnce());
    }, delayMs);
  }

  private async flushOnce(attempt = 0): Promise<void> {
    if (this.stopped || this.buffer.length === 0) return;
    const taken = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    const started = performance.now();
    try {
      await this.writeAndCommit(taken);
      this.stats.commitLatenciesMs.push(performance.now() - started);
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof SinkStoppedError) {
        this.stop(error);
        this.options.log?.(`${this.options.table.location}: sink stopped before committing ${taken.length} records (${error.message}); they will be read again`);
        return;
      }
      // Nothing is lost: the records go back in front and the flush is retried.
      this.buffer = [...taken, ...this.buffer];
      this.bufferedBytes = this.buffer.reduce((sum, record) => sum + record.data.byteLength, 0);
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** attempt);
      this.options.log?.(`${this.options.table.location}: flush of ${taken.length} records failed (${(error as Error).name}: ${(error as Error).message}); retrying in ${delayMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await this.flushOnce(attempt + 1);
    }
  }

  private async writeAndCommit(records: SinkRecord[]): Promise<void> {
    const { table } = this.options;
    const rows: Row[] = [];
    const rejected: RejectedRecord[] = [];
    const highWater = new Map<string, string>();
    for (const record of records) {
      const mapped = mapRecord(table.schema, record.data);
      if (mapped.ok) rows.push(mapped.row);
      else rejected.push({ record, errorCode: mapped.errorCode, errorMessage: mapped.errorMessage });
      const previous = highWater.get(record.shardId);
      if (previous === undefined || sequenceAfter(record.sequenceNumber, previous)) highWater.set(record.shardId, record.sequenceNumber);
    }
    if (rejected.length > 0) {
      await this.options.writeRejected(rejected);
      this.stats.rejected += rejected.length;
    }
    // Only rejected records: their error objects are idempotent, so re-reading them after a
    // restart costs nothing; no snapshot is needed to move the checkpoint.
    if (rows.length === 0) return;
    const written = await writeRows(table, rows);
    await this.options.beforeCommit?.(written);
    if (this.stopped) throw new SinkStoppedError('stopped after writing data files, before the commit');
    for (;;) {
      const checkpoints = this.committedCheckpoints();
      for (const [shardId, sequenceNumber] of highWater) checkpoints.set(shardId, sequenceNumber);
      try {
        await table.commit({
          operation: written.deleteFiles.length > 0 ? 'overwrite' : 'append',
          addedDataFiles: written.dataFiles,
          addedDeleteFiles: written.deleteFiles,
          summary: { [this.options.checkpointProperty]: JSON.stringify(Object.fromEntries([...checkpoints].sort())) },
        });
        break;
      } catch (error) {
        if (!(error instanceof CommitConflictError)) throw error;
        // Another writer (compaction) committed first: our files are still valid; commit on top.
        this.stats.conflicts += 1;
        await table.refresh();
      }
    }
    this.stats.commits += 1;
    this.stats.rowsCommitted += written.rows;
  }
}
