import { describe, expect, it } from 'vitest';
import { nextRestart, RESTART_BACKOFF, type RestartStreak } from '../../local/emulators/backoff';

describe('nextRestart (supervised emulators)', () => {
  it('waits 0.5 s after a death following a healthy run', () => {
    expect(nextRestart({ deaths: 0, lastStartedAt: 0 }, 120_000).delayMs).toBe(500);
  });

  it('doubles the wait for each death in a row, up to 10 s', () => {
    // Arrange: an emulator that dies 2 s after each start
    let streak: RestartStreak = { deaths: 0 };
    let now = 1_000_000;
    const delays: number[] = [];

    // Act
    for (let i = 0; i < 8; i++) {
      const decision = nextRestart(streak, now);
      delays.push(decision.delayMs);
      now += decision.delayMs;
      streak = { ...decision.streak, lastStartedAt: now };
      now += 2000;
    }

    // Assert
    expect(delays).toStrictEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('counts failed restart attempts (no start time) as deaths in the streak', () => {
    const first = nextRestart({ deaths: 0 }, 0);
    const failedAttempt = nextRestart(first.streak, 500);
    expect([first.delayMs, failedAttempt.delayMs]).toStrictEqual([500, 1000]);
  });

  it('starts again at 0.5 s once the emulator stayed up a minute', () => {
    expect(nextRestart({ deaths: 6, lastStartedAt: 0 }, RESTART_BACKOFF.stableMs - 1).delayMs).toBe(10_000);
    const decision = nextRestart({ deaths: 6, lastStartedAt: 0 }, RESTART_BACKOFF.stableMs);
    expect(decision).toStrictEqual({ delayMs: 500, streak: { deaths: 1 } });
  });

  it('stays finite after very many deaths', () => {
    expect(nextRestart({ deaths: 5000 }, 0).delayMs).toBe(10_000);
  });

  it('rejects a policy that cannot back off, naming it', () => {
    expect(() => nextRestart({ deaths: 0 }, 0, { initialMs: 0, maxMs: 10, stableMs: 0 })).toThrow(/initialMs.*"initialMs":0/);
    expect(() => nextRestart({ deaths: 0 }, 0, { initialMs: 20, maxMs: 10, stableMs: 0 })).toThrow(RangeError);
  });
});
