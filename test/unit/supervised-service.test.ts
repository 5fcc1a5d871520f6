import { describe, expect, it } from 'vitest';
import { SupervisedService, type SupervisionEvent } from '../../local/emulators/supervisor';
import type { EmulatorExit, RunningService } from '../../local/emulators/types';

/** An engine whose death the test decides. */
function engineFactory(pid: number): RunningService & { die: (exit: EmulatorExit) => void; stops: number } {
  let die: (exit: EmulatorExit) => void = () => undefined;
  const exited = new Promise<EmulatorExit>((resolve) => (die = resolve));
  const engine = {
    name: 'kinesis (fake)',
    endpoint: `http://127.0.0.1:${pid}`,
    pid,
    exited,
    stops: 0,
    die: (exit: EmulatorExit) => die(exit),
    stop: async () => {
      engine.stops += 1;
      die({ code: 0, signal: null });
    },
  };
  return engine;
}

/** The edge's view: the last registration or unavailability, per service. */
function edgeFactory() {
  const states: string[] = [];
  return {
    states,
    register: (service: string, target: unknown) => void states.push(`${service} -> ${String(target)}`),
    setUnavailable: (service: string, status: string, detail?: string) => void states.push(`${service} ${status}: ${detail ?? ''}`),
  };
}

const until = async (check: () => boolean, timeoutMs = 2000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

const policy = { initialMs: 10, maxMs: 40, stableMs: 60_000 };

describe('SupervisedService', () => {
  it('takes a dead engine off the edge at once, retries failed starts with growing waits, and puts the new engine back', async () => {
    // Prepare: the first two restarts fail, the third runs
    const first = engineFactory(1001);
    const second = engineFactory(1002);
    const edge = edgeFactory();
    const events: SupervisionEvent[] = [];
    let starts = 0;
    const supervised = new SupervisedService({
      service: 'kinesis',
      initial: first,
      start: async () => {
        starts += 1;
        if (starts < 3) throw new Error(`port taken (try ${starts})`);
        return second;
      },
      edge,
      keepsData: true,
      onEvent: (event) => events.push(event),
      policy,
    });

    // Act
    first.die({ code: null, signal: 'SIGKILL' });
    await until(() => events.length > 0);
    const atDeath = { state: supervised.state, pid: supervised.pid, edge: [...edge.states] };
    await until(() => events.some((event) => event.type === 'restarted'));

    // Assess
    expect(atDeath).toStrictEqual({ state: 'restarting', pid: undefined, edge: ['kinesis restarting: kinesis (fake) died (signal SIGKILL); restarting in 10 ms'] });
    expect(events.map((event) => `${event.type} ${'restartInMs' in event ? event.restartInMs : ''}`.trim())).toStrictEqual(['died 10', 'restart-failed 20', 'restart-failed 40', 'restarted']);
    expect(edge.states.at(-1)).toBe('kinesis -> http://127.0.0.1:1002');
    expect(edge.states[1]).toBe('kinesis restarting: kinesis (fake) could not restart (port taken (try 1)); next try in 20 ms');
    expect({ state: supervised.state, pid: supervised.pid, endpoint: supervised.endpoint }).toStrictEqual({ state: 'running', pid: 1002, endpoint: 'http://127.0.0.1:1002' });
    expect(first.stops).toBe(1);
    await supervised.stop();
    expect(second.stops).toBe(1);
  });

  it('starts no new engine once stopped while a restart waits', async () => {
    const engine = engineFactory(2001);
    const events: SupervisionEvent[] = [];
    let starts = 0;
    const supervised = new SupervisedService({
      service: 's3',
      initial: engine,
      start: async () => {
        starts += 1;
        return engineFactory(2002);
      },
      edge: edgeFactory(),
      keepsData: false,
      onEvent: (event) => events.push(event),
      policy: { ...policy, initialMs: 200, maxMs: 400 },
    });

    engine.die({ code: 1, signal: null });
    await until(() => events.length === 1);
    await supervised.stop();
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(events.map((event) => event.type)).toStrictEqual(['died']);
    expect(starts).toBe(0);
  });

  it('refuses a policy that cannot back off when it is made, not at the first death', () => {
    const engine = engineFactory(3001);
    expect(() => new SupervisedService({ service: 's3', initial: engine, start: async () => engine, edge: edgeFactory(), keepsData: false, onEvent: () => undefined, policy: { initialMs: 200, maxMs: 40, stableMs: 0 } })).toThrow(RangeError);
  });
});
