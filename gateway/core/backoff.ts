import type { Backoff } from '../../contracts/market-data-gateway';

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * attempt n waits uniformly in [0, min(max, initial * 2^n)], so many clients that failed together
 * do not retry together. `random` is injected for tests.
 */
export function backoffDelayMs(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
