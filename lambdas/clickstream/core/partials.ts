import { PARTIAL_CHUNK_BYTES, utf8ByteLength } from '../../../contracts/clickstream';
import type { WindowDelta } from './batch-plan';

/** One stored chunk of a shard's counts for one minute (contracts/clickstream.ts ShardPartialItem). */
export interface PartialChunk {
  chunk: number;
  counts: ReadonlyMap<string, number>;
  lateCounts: ReadonlyMap<string, number>;
  /** Sortable sequence number of the last commit applied to it; undefined before it is first written. */
  seq: string | undefined;
  /** Approximate item bytes of its url entries, to decide when it is full. */
  bytes: number;
}

/** A shard's chunks for one minute, as stored. */
export interface ShardMinute {
  windowStartMs: number;
  chunks: PartialChunk[];
}

/** What one url entry weighs in a chunk: its name, a number and DynamoDB's per-element overhead. */
const entryBytes = (url: string): number => utf8ByteLength(url) + 4;

export function chunkFromCounts(
  chunk: number,
  counts: Record<string, number>,
  lateCounts: Record<string, number>,
  seq: string | undefined,
): PartialChunk {
  const urls = new Set([...Object.keys(counts), ...Object.keys(lateCounts)]);
  let bytes = 0;
  for (const url of urls) bytes += entryBytes(url);
  return { chunk, counts: new Map(Object.entries(counts)), lateCounts: new Map(Object.entries(lateCounts)), seq, bytes };
}

/**
 * The chunk writes that apply one commit's deltas for a minute, given the minute as stored.
 * A url already in a chunk is added there; a new url goes to the last chunk while it has room,
 * else to a new chunk. A chunk whose seq already reaches `sortableTo` has this commit applied (a
 * roll-forward after a crash, or a racing invocation got there first): its deltas are skipped, and
 * no new url is placed in it, so every delta is added exactly once whatever was written before.
 * Pure: the caller writes each returned chunk conditionally on the seq it replaces.
 */
export function planChunkWrites(
  minute: ShardMinute,
  deltas: readonly WindowDelta[],
  sortableTo: string,
  maxChunkBytes = PARTIAL_CHUNK_BYTES,
): { writes: PartialChunk[]; previousSeq: Map<number, string | undefined> } {
  const applied = (chunk: PartialChunk) => chunk.seq !== undefined && chunk.seq >= sortableTo;
  const chunkOfUrl = new Map<string, number>();
  for (const chunk of minute.chunks) {
    for (const url of chunk.counts.keys()) chunkOfUrl.set(url, chunk.chunk);
    for (const url of chunk.lateCounts.keys()) chunkOfUrl.set(url, chunk.chunk);
  }
  const working = new Map<number, { counts: Map<string, number>; lateCounts: Map<string, number>; bytes: number }>();
  const previousSeq = new Map<number, string | undefined>();
  const byIndex = new Map(minute.chunks.map((chunk) => [chunk.chunk, chunk]));
  let lastIndex = minute.chunks.reduce((max, chunk) => Math.max(max, chunk.chunk), -1);

  const edit = (index: number) => {
    let entry = working.get(index);
    if (entry === undefined) {
      const stored = byIndex.get(index);
      entry = { counts: new Map(stored?.counts), lateCounts: new Map(stored?.lateCounts), bytes: stored?.bytes ?? 0 };
      working.set(index, entry);
      previousSeq.set(index, stored?.seq);
    }
    return entry;
  };

  for (const delta of deltas) {
    if (delta.count === 0 && delta.lateCount === 0) continue;
    let index = chunkOfUrl.get(delta.url);
    if (index !== undefined && applied(byIndex.get(index)!)) continue;
    if (index === undefined) {
      const last = byIndex.get(lastIndex);
      const lastBytes = working.get(lastIndex)?.bytes ?? last?.bytes ?? 0;
      const fits = lastIndex >= 0 && !(last !== undefined && applied(last)) && lastBytes + entryBytes(delta.url) <= maxChunkBytes;
      if (!fits) lastIndex += 1;
      index = lastIndex;
      chunkOfUrl.set(delta.url, index);
      edit(index).bytes += entryBytes(delta.url);
    }
    const entry = edit(index);
    if (delta.count > 0) entry.counts.set(delta.url, (entry.counts.get(delta.url) ?? 0) + delta.count);
    if (delta.lateCount > 0) entry.lateCounts.set(delta.url, (entry.lateCounts.get(delta.url) ?? 0) + delta.lateCount);
  }
  const writes = [...working].map(([chunk, entry]) => ({ chunk, ...entry, seq: sortableTo }));
  return { writes, previousSeq };
}

/** The minute after the writes landed. */
export function withWrites(minute: ShardMinute, writes: readonly PartialChunk[]): ShardMinute {
  const byIndex = new Map(minute.chunks.map((chunk) => [chunk.chunk, chunk]));
  for (const write of writes) byIndex.set(write.chunk, write);
  return { windowStartMs: minute.windowStartMs, chunks: [...byIndex.values()].sort((a, b) => a.chunk - b.chunk) };
}
