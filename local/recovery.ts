import type { SupervisionEvent } from './emulators/supervisor';
import type { LogFn } from './emulators/types';

/** The engines whose streams the event source mappings read. */
export type StreamService = 'kinesis' | 'dynamodb';

/** What the local cloud does, step by step, to get its pipelines through an emulator's restart. */
export interface RecoverySteps {
  /** Stops every event source mapping; each keeps its position (checkpoint). */
  pausePipelines(): Promise<void>;
  /**
   * Provisions the template again (reconcile: create what is missing, keep what exists), after a
   * restart that lost data. Returns a line per resource created again.
   */
  reprovision(): Promise<string[]>;
  /** Forgets the positions of the mappings reading `service`'s streams: those streams are new. */
  forgetPositions(service: StreamService): string[];
  /** Starts every event source mapping again from its position. */
  resumePipelines(): Promise<void>;
  log: LogFn;
}

/** Thrown (and logged) when the pipelines could not be brought back after a restart. */
export class RecoveryError extends Error {
  override name = 'RecoveryError';
}

/**
 * Keeps the pipelines exact across emulator deaths. On a death the event source mappings stop at
 * once, at their checkpoints, so no batch burns its retries (and lands in the failed-batch queue)
 * against a dead engine. When every engine is back they start again from their checkpoints: what
 * was in flight is read again and the aggregator's idempotent writes absorb it. An engine that came
 * back empty (no `--persist`) first gets its resources provisioned again from the template, and
 * the mappings on its streams start over on the new, empty streams, which the log says.
 *
 * Steps run one at a time, in order of the events.
 */
export class PipelineRecovery {
  private readonly down = new Set<string>();
  private readonly lost = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private lastError: Error | undefined;
  /** Stopped, or stopping: the event source mappings do not run. */
  private paused = false;
  /** A pause is queued or done, and no resume is queued after it. */
  private pausing = false;

  constructor(private readonly steps: RecoverySteps) {}

  /** Services whose engine is dead and not back yet. */
  get servicesDown(): string[] {
    return [...this.down].sort();
  }

  /** Why the last recovery failed, if it did; the pipelines then stay paused. */
  get failure(): Error | undefined {
    return this.lastError;
  }

  handle(event: SupervisionEvent): void {
    if (event.type === 'died') {
      this.down.add(event.service);
      if (this.pausing) return;
      this.pausing = true;
      this.steps.log(`pausing the pipelines at their checkpoints until ${event.service} is back`);
      this.enqueue(async () => {
        this.paused = true;
        await this.steps.pausePipelines();
      });
    } else if (event.type === 'restarted') {
      this.down.delete(event.service);
      if (!event.dataKept) this.lost.add(event.service);
      if (this.down.size === 0) this.enqueue(() => this.recover());
    }
  }

  /** Resolves once every step queued so far has run. */
  async settled(): Promise<void> {
    await this.chain;
  }

  private async recover(): Promise<void> {
    if (this.down.size > 0) return;
    this.pausing = false;
    const lost = [...this.lost].sort();
    this.lost.clear();
    if (lost.length > 0) {
      this.steps.log(`DATA LOST: ${lost.join(', ')} restarted without its data; provisioning the template again`);
      for (const line of await this.steps.reprovision()) this.steps.log(line);
      for (const service of lost) {
        if (service !== 'kinesis' && service !== 'dynamodb') continue;
        for (const line of this.steps.forgetPositions(service)) this.steps.log(line);
      }
    }
    if (!this.paused) return;
    await this.steps.resumePipelines();
    this.paused = false;
    this.steps.log('pipelines resumed from their checkpoints');
  }

  private enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).then(
      () => {
        this.lastError = undefined;
      },
      (error: unknown) => {
        const reason = error instanceof Error ? error : new Error(String(error));
        this.lastError = new RecoveryError(`The pipelines could not recover from an emulator restart and stay paused: ${reason.message}. Stop and start the local cloud.`, { cause: reason });
        this.steps.log(`! ${this.lastError.message}`);
      },
    );
  }
}
