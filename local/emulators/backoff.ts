/**
 * When to restart an emulator that died: a pure policy, so it is tested without processes.
 *
 * The first restart comes quickly (a one-off crash costs half a second), each further death in a
 * row doubles the wait up to a ceiling (a crash loop does not eat the machine), and a run that
 * stayed up for `stableMs` counts as healthy, so the next death starts from the beginning again.
 */
export interface RestartBackoffPolicy {
  /** Wait before the first restart after a healthy run. */
  readonly initialMs: number;
  /** The longest wait between restarts. */
  readonly maxMs: number;
  /** A run at least this long resets the streak of deaths. */
  readonly stableMs: number;
}

export const RESTART_BACKOFF: RestartBackoffPolicy = { initialMs: 500, maxMs: 10_000, stableMs: 60_000 };

/** Deaths in a row, and when the run that just ended started (undefined when it never started). */
export interface RestartStreak {
  readonly deaths: number;
  readonly lastStartedAt?: number;
}

export interface RestartDecision {
  /** How long to wait before starting the emulator again. */
  readonly delayMs: number;
  /** The streak to keep for the next decision. */
  readonly streak: RestartStreak;
}

/**
 * What to do after a death at `now` (or a failed restart attempt, which has no `lastStartedAt`):
 * wait `initialMs * 2^(deaths-1)`, capped at `maxMs`, where `deaths` starts again at 1 once the
 * emulator had been up for `stableMs`.
 */
export function nextRestart(streak: RestartStreak, now: number, policy: RestartBackoffPolicy = RESTART_BACKOFF): RestartDecision {
  if (!(policy.initialMs > 0) || !(policy.maxMs >= policy.initialMs) || !(policy.stableMs >= 0)) {
    throw new RangeError(`A restart backoff needs 0 < initialMs <= maxMs and stableMs >= 0. Received ${JSON.stringify(policy)}`);
  }
  const stable = streak.lastStartedAt !== undefined && now - streak.lastStartedAt >= policy.stableMs;
  const deaths = stable ? 1 : streak.deaths + 1;
  // 2^deaths overflows to Infinity long after the cap applies; Math.min keeps it finite.
  const delayMs = Math.min(policy.maxMs, policy.initialMs * 2 ** (deaths - 1));
  return { delayMs, streak: { deaths } };
}
