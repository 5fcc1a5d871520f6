import { createHash } from 'node:crypto';

/** Bytes one eventId costs in a stored ledger entry and in memory. */
export const FINGERPRINT_BYTES = 8;
/** Fingerprints are grouped by the minute their de-duplication ends in, so eviction drops whole groups. */
const BUCKET_MS = 60_000;

/**
 * A 52-bit fingerprint of an eventId (SHA-1, truncated): exact as a JavaScript number, 8 bytes
 * stored. Two distinct eventIds share one with probability n / 2^52 per lookup against n
 * remembered ids: at 1,000 events/s and a 15-minute horizon (900,000 ids), about one click in
 * 5 billion would be taken for a re-send. The eventId itself is never stored.
 */
export function fingerprint(eventId: string): number {
  const digest = createHash('sha1').update(eventId).digest();
  return (digest.readUInt32BE(0) & 0xfffff) * 2 ** 32 + digest.readUInt32BE(4);
}

export function encodeFingerprints(fingerprints: readonly number[]): Uint8Array {
  return new Uint8Array(Float64Array.from(fingerprints).buffer);
}

export function decodeFingerprints(bytes: Uint8Array): Float64Array {
  // Copy: the SDK's buffers need not be 8-byte aligned.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Float64Array(copy.buffer, 0, Math.floor(copy.byteLength / FINGERPRINT_BYTES));
}

interface Bucket {
  /** Every fingerprint in it is remembered until this time. */
  untilMs: number;
  /** Sorted, for binary search; merged on add. */
  fingerprints: Float64Array;
}

/**
 * The eventIds one shard committed within the de-duplication horizon, as fingerprints. Memory is
 * bounded by what it holds: 8 bytes per remembered event (events/s x horizon x 8 B, 7.2 MB at
 * 1,000 events/s and 15 minutes) plus one sorted array per minute of horizon. Fingerprints are
 * kept up to one minute longer than asked (their bucket ends on the next minute boundary), which
 * only ever absorbs a re-send a little later than the horizon promises.
 */
export class FingerprintLedger {
  private readonly buckets: Bucket[] = [];

  has(eventFingerprint: number, nowMs: number): boolean {
    for (const bucket of this.buckets) {
      if (bucket.untilMs <= nowMs) continue;
      if (binarySearch(bucket.fingerprints, eventFingerprint)) return true;
    }
    return false;
  }

  add(fingerprints: ArrayLike<number>, untilMs: number): void {
    if (fingerprints.length === 0) return;
    const bucketUntil = Math.ceil(untilMs / BUCKET_MS) * BUCKET_MS;
    const incoming = Float64Array.from(fingerprints).sort();
    const index = this.buckets.findIndex((bucket) => bucket.untilMs === bucketUntil);
    if (index === -1) {
      this.buckets.push({ untilMs: bucketUntil, fingerprints: incoming });
      this.buckets.sort((a, b) => a.untilMs - b.untilMs);
      return;
    }
    const bucket = this.buckets[index]!;
    bucket.fingerprints = mergeSorted(bucket.fingerprints, incoming);
  }

  evictExpired(nowMs: number): void {
    while (this.buckets.length > 0 && this.buckets[0]!.untilMs <= nowMs) this.buckets.shift();
  }

  /** Fingerprints held (a fingerprint added twice counts twice). */
  get size(): number {
    return this.buckets.reduce((sum, bucket) => sum + bucket.fingerprints.length, 0);
  }

  /** Bytes of fingerprint storage held. */
  get bytes(): number {
    return this.size * FINGERPRINT_BYTES;
  }
}

function binarySearch(sorted: Float64Array, value: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const found = sorted[middle]!;
    if (found === value) return true;
    if (found < value) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

function mergeSorted(a: Float64Array, b: Float64Array): Float64Array {
  const merged = new Float64Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) merged[k++] = a[i]! <= b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) merged[k++] = a[i++]!;
  while (j < b.length) merged[k++] = b[j++]!;
  return merged;
}
