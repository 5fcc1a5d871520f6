import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { BehindCheckpoint, WindowDelta } from './batch-plan';
import { decodeFingerprints, encodeFingerprints } from './ledger';
import { compareSequenceNumbers } from './sequence';

/**
 * One committed step of a shard, as its log entry stores it: the window deltas of the records
 * after `from` up to `to`, and the fingerprints of their eventIds. Writing the entry is the
 * commit: it is keyed by `from`, so of two invocations racing from the same checkpoint only one
 * can write it, and whoever loads the shard next applies it if its writer could not.
 */
export interface LogEntry {
  /** The checkpoint the step starts after; undefined for a shard's first step (and a recovery step). */
  from: string | undefined;
  /**
   * The step's first record; records after `from` and before it were skipped by the event source
   * mapping. Undefined in entries written before it was recorded: those count as covering all.
   */
  first: string | undefined;
  /** The last sequence number the step covers. */
  to: string;
  /** A recovery step counts skipped records behind the checkpoint; it does not move the checkpoint. */
  recovery: boolean;
  watermarkMs: number;
  windows: WindowDelta[];
  fingerprints: ArrayLike<number>;
  /** Its fingerprints are remembered until then: the step's last arrival time + the horizon. */
  dedupUntilMs: number;
}

type PackedWindow = [windowStartMs: number, deltas: [url: string, count: number, lateCount: number][]];

/**
 * Deltas packed as deflated JSON: urls share long prefixes, so this is about a quarter of their
 * plain size, and log entries are billed by the KB. Deterministic for the same deltas, so a
 * retried write sends identical bytes.
 */
export function encodeDeltas(windows: readonly WindowDelta[]): Uint8Array {
  const byWindow = new Map<number, PackedWindow[1]>();
  for (const delta of windows) {
    let list = byWindow.get(delta.windowStartMs);
    if (list === undefined) {
      list = [];
      byWindow.set(delta.windowStartMs, list);
    }
    list.push([delta.url, delta.count, delta.lateCount]);
  }
  const packed: PackedWindow[] = [...byWindow];
  return deflateRawSync(Buffer.from(JSON.stringify(packed)));
}

export function decodeDeltas(bytes: Uint8Array): WindowDelta[] {
  const packed = JSON.parse(inflateRawSync(bytes).toString('utf8')) as PackedWindow[];
  return packed.flatMap(([windowStartMs, deltas]) =>
    deltas.map(([url, count, lateCount]) => ({ url, windowStartMs, count, lateCount })),
  );
}

/** A log entry kept this long past its horizon is always there to roll forward: a day is the stream's retention. */
const LOG_ENTRY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The state-table item that stores an entry under its shard's log partition, keyed by where it starts. */
export function logEntryItem(pk: string, sk: string, entry: LogEntry): Record<string, unknown> {
  return {
    pk,
    sk,
    ...(entry.from === undefined ? {} : { from: entry.from }),
    ...(entry.first === undefined ? {} : { first: entry.first }),
    to: entry.to,
    ...(entry.recovery ? { recovery: true } : {}),
    ...(Number.isFinite(entry.watermarkMs) ? { watermarkMs: entry.watermarkMs } : {}),
    deltas: encodeDeltas(entry.windows),
    fingerprints: encodeFingerprints(Array.from(entry.fingerprints)),
    dedupUntilMs: entry.dedupUntilMs,
    expiresAt: Math.ceil((entry.dedupUntilMs + LOG_ENTRY_RETENTION_MS) / 1000),
  };
}

export function logEntryFromItem(item: Record<string, unknown>): LogEntry {
  return {
    from: item.from as string | undefined,
    first: item.first as string | undefined,
    to: item.to as string,
    recovery: item.recovery === true,
    watermarkMs: typeof item.watermarkMs === 'number' ? item.watermarkMs : Number.NEGATIVE_INFINITY,
    windows: decodeDeltas(item.deltas as Uint8Array),
    fingerprints: decodeFingerprints(item.fingerprints as Uint8Array),
    dedupUntilMs: item.dedupUntilMs as number,
  };
}

/**
 * What became of records behind the checkpoint, by the log entries that reach them: a record after
 * a step's `from` and before its `first` was skipped by the event source mapping, unless a recovery
 * step has counted it since. Everything else (inside a step, or where the log no longer says) was
 * handled: when in doubt, never count twice.
 */
export function behindCheckpointFrom(entries: readonly Pick<LogEntry, 'from' | 'first' | 'to' | 'recovery'>[]): BehindCheckpoint {
  const skippedRanges = entries
    .filter((entry) => !entry.recovery && entry.first !== undefined)
    .map((entry) => ({ after: entry.from, before: entry.first! }));
  const recovered = entries.filter((entry) => entry.recovery && entry.first !== undefined);
  return (sequenceNumber) => {
    const isSkipped = skippedRanges.some(({ after, before }) =>
      (after === undefined || compareSequenceNumbers(sequenceNumber, after) > 0) && compareSequenceNumbers(sequenceNumber, before) < 0);
    if (!isSkipped) return 'handled';
    const isRecovered = recovered.some((entry) =>
      compareSequenceNumbers(sequenceNumber, entry.first!) >= 0 && compareSequenceNumbers(sequenceNumber, entry.to) <= 0);
    return isRecovered ? 'handled' : 'skipped';
  };
}
