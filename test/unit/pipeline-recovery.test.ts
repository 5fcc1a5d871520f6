import { describe, expect, it } from 'vitest';
import type { SupervisionEvent } from '../../local/emulators/supervisor';
import { PipelineRecovery, RecoveryError, type RecoverySteps, type StreamService } from '../../local/recovery';

/** Steps that record what the recovery asked for, in order. */
function stepsFactory(overrides: Partial<RecoverySteps> = {}): RecoverySteps & { calls: string[]; lines: string[] } {
  const calls: string[] = [];
  const lines: string[] = [];
  return {
    calls,
    lines,
    pausePipelines: async () => void calls.push('pause'),
    resumePipelines: async () => void calls.push('resume'),
    reprovision: async () => {
      calls.push('reprovision');
      return ['re-provisioned kinesis stream Clicks'];
    },
    forgetPositions: (service: StreamService) => {
      calls.push(`forget ${service}`);
      return [];
    },
    log: (line) => lines.push(line),
    ...overrides,
  };
}

const died = (service: string): SupervisionEvent => ({ type: 'died', service, name: service, exit: { code: null, signal: 'SIGKILL' }, deaths: 1, restartInMs: 500 });
const restarted = (service: string, dataKept: boolean): SupervisionEvent => ({ type: 'restarted', service, name: service, endpoint: 'http://127.0.0.1:1', dataKept, downMs: 900 });

describe('PipelineRecovery (emulator restarts)', () => {
  it('with --persist: pauses on a death and resumes from the checkpoints once the engine is back, provisioning nothing', async () => {
    const steps = stepsFactory();
    const recovery = new PipelineRecovery(steps);

    recovery.handle(died('dynamodb'));
    expect(recovery.servicesDown).toStrictEqual(['dynamodb']);
    recovery.handle(restarted('dynamodb', true));
    await recovery.settled();

    expect(steps.calls).toStrictEqual(['pause', 'resume']);
    expect(recovery.servicesDown).toStrictEqual([]);
    expect(steps.lines.join('\n')).not.toContain('DATA LOST');
  });

  it('without --persist: says the data was lost, provisions again, and restarts the mappings on the new streams', async () => {
    const steps = stepsFactory();
    const recovery = new PipelineRecovery(steps);

    recovery.handle(died('kinesis'));
    recovery.handle(restarted('kinesis', false));
    await recovery.settled();

    expect(steps.calls).toStrictEqual(['pause', 'reprovision', 'forget kinesis', 'resume']);
    expect(steps.lines).toContain('DATA LOST: kinesis restarted without its data; provisioning the template again');
    expect(steps.lines).toContain('re-provisioned kinesis stream Clicks');
  });

  it('waits for every dead engine before resuming, and provisions once for both', async () => {
    const steps = stepsFactory();
    const recovery = new PipelineRecovery(steps);

    recovery.handle(died('kinesis'));
    recovery.handle(died('dynamodb'));
    recovery.handle(restarted('kinesis', false));
    await recovery.settled();
    expect(steps.calls).toStrictEqual(['pause']);
    recovery.handle(restarted('dynamodb', false));
    await recovery.settled();

    expect(steps.calls).toStrictEqual(['pause', 'reprovision', 'forget dynamodb', 'forget kinesis', 'resume']);
  });

  it('does not forget stream positions for an S3 restart', async () => {
    const steps = stepsFactory();
    const recovery = new PipelineRecovery(steps);

    recovery.handle(died('s3'));
    recovery.handle(restarted('s3', false));
    await recovery.settled();

    expect(steps.calls).toStrictEqual(['pause', 'reprovision', 'resume']);
  });

  it('when provisioning again fails: stays paused, says why, and keeps the error', async () => {
    const steps = stepsFactory({
      reprovision: async () => {
        throw new Error('CreateTable failed');
      },
    });
    const recovery = new PipelineRecovery(steps);

    recovery.handle(died('dynamodb'));
    recovery.handle(restarted('dynamodb', false));
    await recovery.settled();

    expect(steps.calls).toStrictEqual(['pause']);
    expect(recovery.failure).toBeInstanceOf(RecoveryError);
    expect(recovery.failure?.name).toBe('RecoveryError');
    expect(steps.lines.at(-1)).toMatch(/^! The pipelines could not recover from an emulator restart and stay paused: CreateTable failed/);
  });
});
