import type { Edge } from '../edge';
import { nextRestart, type RestartBackoffPolicy, type RestartStreak } from './backoff';
import { describeExit, type EmulatorExit, type RunningService } from './types';

/** What happened to a supervised emulator; the local cloud reacts to these (pauses and resumes pipelines, re-provisions). */
export type SupervisionEvent =
  | {
      readonly type: 'died';
      /** The edge's name for the service, e.g. `dynamodb`. */
      readonly service: string;
      readonly name: string;
      readonly pid?: number;
      readonly exit: EmulatorExit;
      /** Deaths in a row, this one included (failed restarts count too). */
      readonly deaths: number;
      readonly restartInMs: number;
    }
  | {
      readonly type: 'restart-failed';
      readonly service: string;
      readonly name: string;
      readonly error: Error;
      readonly deaths: number;
      readonly restartInMs: number;
    }
  | {
      readonly type: 'restarted';
      readonly service: string;
      readonly name: string;
      readonly pid?: number;
      readonly endpoint: string;
      /** True when the new engine found the old one's data (`--persist`); false when it starts empty. */
      readonly dataKept: boolean;
      /** From the death to the new engine answering. */
      readonly downMs: number;
    };

export interface SupervisorOptions {
  /** The edge's name for the service (`kinesis`, `dynamodb`, `s3`): its route and health entry. */
  readonly service: string;
  /** The engine as first started. */
  readonly initial: RunningService;
  /** Starts a new engine, with the same data folder when there is one. */
  readonly start: () => Promise<RunningService>;
  readonly edge: Pick<Edge, 'register' | 'setUnavailable'>;
  /** Whether a new engine finds the old one's data: true with `--persist`. */
  readonly keepsData: boolean;
  readonly onEvent: (event: SupervisionEvent) => void;
  /** @default RESTART_BACKOFF (0.5 s doubling to 10 s; reset after a minute up) */
  readonly policy?: RestartBackoffPolicy;
  readonly now?: () => number;
}

/**
 * An emulator child watched for death: when its process exits without being asked to, the edge
 * takes the service out of rotation at once (`/_localstack/health` says `restarting`, and requests
 * wait, then get 503 with Retry-After), and a new engine is started after the backoff of
 * {@link nextRestart}, again and again until one runs. The new engine is then put back on the edge
 * under the same service name. Reads as the engine currently running (its endpoint and pid).
 */
export class SupervisedService implements RunningService {
  private current: RunningService | undefined;
  private lastKnown: RunningService;
  private streak: RestartStreak;
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: SupervisorOptions) {
    this.now = options.now ?? Date.now;
    // A policy that cannot back off fails here, at start, rather than at the first death.
    nextRestart({ deaths: 0 }, 0, options.policy);
    this.current = options.initial;
    this.lastKnown = options.initial;
    this.streak = { deaths: 0, lastStartedAt: this.now() };
    this.watch(options.initial);
  }

  get name(): string {
    return this.lastKnown.name;
  }

  /** The running engine's endpoint; while it restarts, the last one's (which no longer answers). */
  get endpoint(): string {
    return this.lastKnown.endpoint;
  }

  /** The running engine's pid; undefined while it restarts. */
  get pid(): number | undefined {
    return this.current?.pid;
  }

  get exited(): Promise<EmulatorExit> | undefined {
    return this.current?.exited;
  }

  /** `running`, or `restarting` between a death and the new engine answering. */
  get state(): 'running' | 'restarting' {
    return this.current === undefined ? 'restarting' : 'running';
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    // A start in flight stops what it started once it sees `stopping`.
    await this.restarting;
    await this.current?.stop();
  }

  private watch(engine: RunningService): void {
    void engine.exited?.then((exit) => this.onExit(engine, exit));
  }

  private onExit(engine: RunningService, exit: EmulatorExit): void {
    if (this.stopping || engine !== this.current) return;
    this.current = undefined;
    const diedAt = this.now();
    const decision = nextRestart(this.streak, diedAt, this.options.policy);
    this.streak = decision.streak;
    const { service } = this.options;
    this.options.edge.setUnavailable(service, 'restarting', `${engine.name} died (${describeExit(exit)}); restarting in ${decision.delayMs} ms`);
    this.options.onEvent({ type: 'died', service, name: engine.name, pid: engine.pid, exit, deaths: decision.streak.deaths, restartInMs: decision.delayMs });
    // Frees what the dead engine held (a temporary folder, pipes); its process is gone already.
    this.restarting = engine.stop().then(
      () => this.schedule(decision.delayMs, diedAt),
      (error: unknown) => {
        this.options.onEvent({ type: 'restart-failed', service, name: engine.name, error: asError(error), deaths: decision.streak.deaths, restartInMs: decision.delayMs });
        this.schedule(decision.delayMs, diedAt);
      },
    );
  }

  private schedule(delayMs: number, diedAt: number): void {
    if (this.stopping) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.restarting = this.attempt(diedAt);
    }, delayMs);
  }

  private async attempt(diedAt: number): Promise<void> {
    const { service } = this.options;
    let engine: RunningService;
    try {
      engine = await this.options.start();
    } catch (error) {
      if (this.stopping) return;
      const decision = nextRestart({ deaths: this.streak.deaths }, this.now(), this.options.policy);
      this.streak = decision.streak;
      const reason = asError(error);
      this.options.edge.setUnavailable(service, 'restarting', `${this.lastKnown.name} could not restart (${reason.message.split('\n')[0]}); next try in ${decision.delayMs} ms`);
      this.options.onEvent({ type: 'restart-failed', service, name: this.lastKnown.name, error: reason, deaths: decision.streak.deaths, restartInMs: decision.delayMs });
      this.schedule(decision.delayMs, diedAt);
      return;
    }
    if (this.stopping) {
      await engine.stop();
      return;
    }
    this.current = engine;
    this.lastKnown = engine;
    this.streak = { deaths: this.streak.deaths, lastStartedAt: this.now() };
    this.watch(engine);
    this.options.edge.register(service, engine.endpoint);
    this.options.onEvent({ type: 'restarted', service, name: engine.name, pid: engine.pid, endpoint: engine.endpoint, dataKept: this.options.keepsData, downMs: this.now() - diedAt });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
