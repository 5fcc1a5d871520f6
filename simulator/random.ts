/**
 * Seeded randomness for the simulators: a small, fast PRNG (xoshiro128**, seeded through
 * splitmix32) and a Zipf sampler. Everything here is pure and deterministic for a given seed,
 * so generated workloads, tests and benchmarks are reproducible.
 */

/** The largest seed accepted; seeds are unsigned 32-bit integers. */
export const MAX_SEED = 0xffff_ffff;

export interface Random {
  /** A float in [0, 1) with 32 bits of resolution. */
  next(): number;
  /** An unsigned 32-bit integer. */
  nextUint32(): number;
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A uniformly chosen element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
}

function assertSeed(seed: number): void {
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`seed must be an integer between 0 and ${MAX_SEED}. Received ${seed}`);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** splitmix32: spreads a 32-bit seed over the 128-bit xoshiro state. */
function splitmix32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return t >>> 0;
  };
}

/** xoshiro128** (Blackman and Vigna): period 2^128 - 1, passes BigCrush, four 32-bit words of state. */
export function createRandom(seed: number): Random {
  assertSeed(seed);
  const mix = splitmix32(seed);
  let s0 = mix();
  let s1 = mix();
  let s2 = mix();
  let s3 = mix();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  const next = (): number => nextUint32() / 0x1_0000_0000;

  return {
    next,
    nextUint32,
    int(maxExclusive) {
      if (!Number.isInteger(maxExclusive) || maxExclusive < 1) {
        throw new RangeError(`maxExclusive must be a positive integer. Received ${maxExclusive}`);
      }
      return Math.floor(next() * maxExclusive);
    },
    chance(p) {
      return next() < p;
    },
    pick(items) {
      if (items.length === 0) throw new RangeError('pick needs a non-empty array. Received 0 items');
      return items[Math.floor(next() * items.length)] as (typeof items)[number];
    },
  };
}

/**
 * Zipf distribution over ranks 0..n-1: P(rank k) = (k+1)^-s / H(n, s).
 * The CDF is computed once (O(n) memory); each sample is a binary search, O(log n).
 */
export class ZipfSampler {
  readonly n: number;
  readonly s: number;
  private readonly cdf: Float64Array;

  constructor(n: number, s: number) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Zipf item count must be a positive integer. Received ${n}`);
    }
    if (!Number.isFinite(s) || s < 0) {
      throw new RangeError(`Zipf exponent must be a finite number >= 0. Received ${s}`);
    }
    this.n = n;
    this.s = s;
    this.cdf = new Float64Array(n);
    let total = 0;
    for (let k = 0; k < n; k++) {
      total += (k + 1) ** -s;
      this.cdf[k] = total;
    }
    for (let k = 0; k < n; k++) this.cdf[k] = (this.cdf[k] as number) / total;
    this.cdf[n - 1] = 1; // no rounding gap at the top end
  }

  /** The theoretical probability of `rank` (0-based). */
  probability(rank: number): number {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.n) return 0;
    const upper = this.cdf[rank] as number;
    return rank === 0 ? upper : upper - (this.cdf[rank - 1] as number);
  }

  /** A rank in [0, n): the smallest k with cdf[k] > u. */
  sample(random: Pick<Random, 'next'>): number {
    const u = random.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cdf[mid] as number) > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
