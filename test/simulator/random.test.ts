import { describe, expect, it } from 'vitest';
import { MAX_SEED, ZipfSampler, createRandom } from '../../simulator/random';

const harmonic = (n: number, s: number): number => {
  let total = 0;
  for (let k = 1; k <= n; k++) total += k ** -s;
  return total;
};

function sampleCounts(sampler: ZipfSampler, seed: number, samples: number): number[] {
  const random = createRandom(seed);
  const counts = new Array<number>(sampler.n).fill(0);
  for (let i = 0; i < samples; i++) {
    const rank = sampler.sample(random);
    counts[rank] = (counts[rank] ?? 0) + 1;
  }
  return counts;
}

describe('createRandom', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    // Prepare
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);

    // Act
    const seqA = Array.from({ length: 100 }, () => a.nextUint32());
    const seqB = Array.from({ length: 100 }, () => b.nextUint32());
    const seqC = Array.from({ length: 100 }, () => c.nextUint32());

    // Assess
    expect(seqA).toStrictEqual(seqB);
    expect(seqA).not.toStrictEqual(seqC);
  });

  it('returns floats in [0, 1) with a mean near 1/2, and ints in range', () => {
    // Prepare
    const random = createRandom(7);
    let sum = 0;
    let min = 1;
    let max = 0;
    const n = 100_000;

    // Act
    for (let i = 0; i < n; i++) {
      const u = random.next();
      sum += u;
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    const ints = Array.from({ length: 10_000 }, () => random.int(6));

    // Assess
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(sum / n).toBeCloseTo(0.5, 2);
    expect(new Set(ints)).toStrictEqual(new Set([0, 1, 2, 3, 4, 5]));
  });

  it.each([-1, 1.5, MAX_SEED + 1, Number.NaN])('rejects seed %s', (seed) => {
    expect(() => createRandom(seed)).toThrow(/seed must be an integer between 0 and 4294967295. Received/);
  });
});

describe('ZipfSampler', () => {
  it('has the theoretical probabilities: top-1 share for s=1.1, N=1000 is 1/H(1000, 1.1) ≈ 0.179', () => {
    // Prepare
    const sampler = new ZipfSampler(1000, 1.1);

    // Act
    const top = sampler.probability(0);

    // Assess
    expect(top).toBeCloseTo(1 / harmonic(1000, 1.1), 12);
    expect(top).toBeCloseTo(0.1794, 4);
    expect(sampler.probability(9)).toBeCloseTo(10 ** -1.1 / harmonic(1000, 1.1), 12);
    expect(Array.from({ length: 1000 }, (_, k) => sampler.probability(k)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('samples frequencies that match the theoretical probabilities (fixed seed, 200k samples)', () => {
    // Prepare
    const sampler = new ZipfSampler(1000, 1.1);
    const samples = 200_000;

    // Act
    const counts = sampleCounts(sampler, 2024, samples);

    // Assess: the head ranks within 5 standard deviations of the binomial, and the top-1 share ≈ 0.18.
    expect((counts[0] ?? 0) / samples).toBeCloseTo(0.18, 2);
    for (let k = 0; k < 20; k++) {
      const p = sampler.probability(k);
      const sd = Math.sqrt(samples * p * (1 - p));
      expect(Math.abs((counts[k] ?? 0) - samples * p)).toBeLessThan(5 * sd);
    }
    // The tail as a whole (ranks 100..999) as well.
    const tailP = Array.from({ length: 900 }, (_, k) => sampler.probability(k + 100)).reduce((a, b) => a + b, 0);
    const tail = counts.slice(100).reduce((a, b) => a + b, 0);
    expect(Math.abs(tail - samples * tailP)).toBeLessThan(5 * Math.sqrt(samples * tailP * (1 - tailP)));
  });

  it('is uniform for s = 0 and always returns a valid rank', () => {
    // Prepare
    const sampler = new ZipfSampler(10, 0);

    // Act
    const counts = sampleCounts(sampler, 1, 50_000);

    // Assess
    expect(counts).toHaveLength(10);
    for (const count of counts) expect(Math.abs(count - 5_000)).toBeLessThan(5 * Math.sqrt(50_000 * 0.1 * 0.9));
  });

  it('handles a single item', () => {
    expect(sampleCounts(new ZipfSampler(1, 1.1), 3, 100)).toStrictEqual([100]);
  });

  it.each([
    [0, 1.1, /item count must be a positive integer. Received 0/],
    [2.5, 1.1, /item count must be a positive integer. Received 2.5/],
    [10, -0.5, /exponent must be a finite number >= 0. Received -0.5/],
    [10, Number.POSITIVE_INFINITY, /exponent must be a finite number >= 0. Received Infinity/],
  ])('rejects n=%s s=%s', (n, s, message) => {
    expect(() => new ZipfSampler(n, s)).toThrow(message);
  });
});
