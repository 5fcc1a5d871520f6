import { describe, expect, it } from 'vitest';
import { DEFAULT_COMMIT_LIMITS, everyRecordHandled, planBatch, type Commit, type PlanSettings, type ShardRecord, type ShardState } from '../../lambdas/clickstream/core/batch-plan';
import { finishShardBatch, type ClassifiedBatch, type CommitOutcome, type ShardBatchPorts } from '../../lambdas/clickstream/core/shard-batch';
import type { SinkMessage } from '../../lambdas/clickstream/core/sink-messages';
import { sequenceAt, shardRecordFactory } from '../support/kinesis-records';

// The pure core of the aggregator, with ports that record what it asks for: no SDK, no network.
const T0 = Date.parse('2026-01-01T00:10:00Z');
const SETTINGS: PlanSettings = { maxEventBytes: 4096, maxFutureSkewMs: 300_000, allowedLatenessMs: 60_000, ...DEFAULT_COMMIT_LIMITS };
const START: ShardState = { checkpoint: undefined, watermarkMs: Number.NEGATIVE_INFINITY };
const click = (n: number, url = '/a') => ({ eventId: `e${n}`, url, userId: 'u1', timestamp: T0 - 5000 });

function batchOf(records: ShardRecord[], firstUnreadable = records.length, sequenceNumbers = records.map((record) => record.sequenceNumber)): ClassifiedBatch {
  return {
    shardId: 'shardId-000000000000',
    sequenceNumbers,
    records,
    firstUnreadable,
    plan: planBatch(records, START, SETTINGS),
    state: START,
    seenBefore: () => false,
    behindCheckpoint: everyRecordHandled,
    settings: SETTINGS,
  };
}

function recordingPorts(commit: (from: ShardState, step: Commit) => Promise<CommitOutcome> = async (_from, step) => ({
  status: 'committed',
  state: { checkpoint: step.lastSequenceNumber, watermarkMs: step.watermarkMs },
})) {
  const delivered: { sink: string; messages: readonly SinkMessage[] }[] = [];
  const committed: Commit[] = [];
  const recovered: Commit[] = [];
  const ports: ShardBatchPorts = {
    deliver: async (sink, messages) => {
      if (messages.length > 0) delivered.push({ sink, messages });
      return undefined;
    },
    commit: async (from, step) => {
      const outcome = await commit(from, step);
      if (outcome.status === 'committed') committed.push(step);
      return outcome;
    },
    recover: async (step) => {
      recovered.push(step);
      return { status: 'committed' };
    },
    log: { warn: () => undefined, error: () => undefined },
  };
  return { ports, delivered, committed, recovered };
}

describe('finishShardBatch', () => {
  it('commits the whole batch in one step and asks for no retry', async () => {
    const records = [0, 1, 2].map((n) => shardRecordFactory(n, click(n), T0));
    const { ports, committed, delivered } = recordingPorts();

    const result = await finishShardBatch(batchOf(records), ports);

    expect(result).toStrictEqual({
      retryFrom: 3,
      outcomes: { replayed: 0, counted: 3, duplicate: 0, late: 0, invalid: 0 },
      commits: 1,
      supersededCommits: 0,
      unwritableRecords: 0,
    });
    expect(committed.map((step) => step.lastSequenceNumber)).toStrictEqual([sequenceAt(2)]);
    expect(delivered).toStrictEqual([]);
  });

  it('plans again up to the first unreadable record, so nothing after it is counted or dead-lettered', async () => {
    // Record 2's envelope could not be read; record 3 is invalid JSON and must wait for the retry.
    const records = [shardRecordFactory(0, click(0), T0), shardRecordFactory(1, click(1), T0), shardRecordFactory(3, 'not json', T0)];
    const sequenceNumbers = [sequenceAt(0), sequenceAt(1), sequenceAt(2), sequenceAt(3)];
    const { ports, committed, delivered } = recordingPorts();

    const result = await finishShardBatch(batchOf(records, 2, sequenceNumbers), ports);

    expect(result.retryFrom).toBe(2);
    expect(result.outcomes).toStrictEqual({ replayed: 0, counted: 2, duplicate: 0, late: 0, invalid: 0 });
    expect(committed.map((step) => step.lastSequenceNumber)).toStrictEqual([sequenceAt(1)]);
    expect(delivered).toStrictEqual([]);
  });

  it('stops after the step another invocation committed first, and resumes after it without counting this plan', async () => {
    const records = [0, 1, 2, 3].map((n) => shardRecordFactory(n, click(n), T0));
    const { ports } = recordingPorts(async () => ({ status: 'superseded', state: { checkpoint: sequenceAt(1), watermarkMs: T0 - 5000 } }));

    const result = await finishShardBatch(batchOf(records), ports);

    expect(result).toStrictEqual({
      retryFrom: 2,
      outcomes: { replayed: 0, counted: 0, duplicate: 0, late: 0, invalid: 0 },
      commits: 1,
      supersededCommits: 1,
      unwritableRecords: 0,
    });
  });

  it('isolates a click DynamoDB refuses as invalid: dead-lettered with the reason, its step counting nothing', async () => {
    const records = [0, 1, 2].map((n) => shardRecordFactory(n, click(n, n === 1 ? '/poison' : '/a'), T0));
    const refused = Object.assign(new Error('item too large'), { name: 'ValidationException' });
    const { ports, committed, delivered } = recordingPorts(async (_from, step) => {
      if (step.windows.some((delta) => delta.url === '/poison')) throw refused;
      return { status: 'committed', state: { checkpoint: step.lastSequenceNumber, watermarkMs: step.watermarkMs } };
    });

    const result = await finishShardBatch(batchOf(records), ports);

    expect(result.retryFrom).toBe(3);
    expect(result.unwritableRecords).toBe(1);
    expect(committed.map((step) => [step.lastSequenceNumber, step.windows.map((delta) => delta.url)])).toStrictEqual([
      [sequenceAt(0), ['/a']],
      [sequenceAt(1), []],
      [sequenceAt(2), ['/a']],
    ]);
    expect(delivered.map(({ sink, messages }) => [sink, messages.map((message) => JSON.parse(message.body).reason)])).toStrictEqual([
      ['dead-letters', ['unwritable']],
    ]);
  });

  it('throws when the first step fails otherwise, for Lambda to retry or bisect the batch', async () => {
    const records = [shardRecordFactory(0, click(0), T0)];
    const throttled = Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' });
    const { ports } = recordingPorts(async () => { throw throttled; });

    await expect(finishShardBatch(batchOf(records), ports)).rejects.toBe(throttled);
  });

  describe('with skipped records behind the checkpoint (a replay of a batch the mapping gave up on)', () => {
    // Records 0-2 were skipped; the shard is checkpointed at 5; record 6 is new.
    const state: ShardState = { checkpoint: sequenceAt(5), watermarkMs: T0 - 5000 };
    const behindCheckpoint = (sequenceNumber: string) => (sequenceNumber <= sequenceAt(2) ? 'skipped' as const : 'handled' as const);
    const records = [0, 1, 2, 6].map((n) => shardRecordFactory(n, click(n), T0));
    const batch = (): ClassifiedBatch => ({
      ...batchOf(records),
      state,
      behindCheckpoint,
      plan: planBatch(records, state, { ...SETTINGS, maxEntryBytes: 2 + 16 + 2 * 8 }, () => false, behindCheckpoint),
      settings: { ...SETTINGS, maxEntryBytes: 2 + 16 + 2 * 8 },
    });

    it('commits the recovery steps first, then the checkpointed step', async () => {
      const { ports, committed, recovered } = recordingPorts();
      const result = await finishShardBatch(batch(), ports);
      expect(recovered.map((step) => [step.firstSequenceNumber, step.lastSequenceNumber])).toStrictEqual([[sequenceAt(0), sequenceAt(1)], [sequenceAt(2), sequenceAt(2)]]);
      expect(committed.map((step) => [step.firstSequenceNumber, step.lastSequenceNumber])).toStrictEqual([[sequenceAt(6), sequenceAt(6)]]);
      expect(result.retryFrom).toBe(4);
      expect(result.outcomes).toMatchObject({ counted: 4 });
    });

    it('ends the batch after the records a racing replay recovered first, and commits nothing after them', async () => {
      const { ports, committed } = recordingPorts();
      ports.recover = async () => ({ status: 'superseded', lastSequenceNumber: sequenceAt(0) });
      const result = await finishShardBatch(batch(), ports);
      expect(result.retryFrom).toBe(1);
      expect(committed).toStrictEqual([]);
    });

    it('throws when the first recovery step fails, and keeps the first when the second fails', async () => {
      const unavailable = Object.assign(new Error('unavailable'), { name: 'InternalServerError' });
      const failing = recordingPorts();
      failing.ports.recover = async () => { throw unavailable; };
      await expect(finishShardBatch(batch(), failing.ports)).rejects.toBe(unavailable);

      const second = recordingPorts();
      let calls = 0;
      second.ports.recover = async () => {
        calls += 1;
        if (calls === 2) throw unavailable;
        return { status: 'committed' };
      };
      const result = await finishShardBatch(batch(), second.ports);
      expect(result.retryFrom).toBe(2);
      expect(second.committed).toStrictEqual([]);
    });
  });
});
