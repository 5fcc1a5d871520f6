import {
  firstUncovered,
  isValidationError,
  outcomesBefore,
  planBatch,
  planOnePerStep,
  type BatchPlan,
  type BehindCheckpoint,
  type Commit,
  type PlanSettings,
  type RecordOutcome,
  type ShardRecord,
  type ShardState,
} from './batch-plan';
import { deadLetterMessage, lateEventMessage, type SendFailure, type SinkMessage } from './sink-messages';

/** How a commit ended: written by us, or another invocation committed from the same checkpoint first. */
export type CommitOutcome =
  | { status: 'committed'; state: ShardState }
  | { status: 'superseded'; state: ShardState };

/** How a recovery step ended: written (now or by an earlier replay), or one from the same record covers less. */
export type RecoveryOutcome =
  | { status: 'committed' }
  | { status: 'superseded'; lastSequenceNumber: string };

/** One shard's batch once every record has been read and planned, in order. */
export interface ClassifiedBatch {
  shardId: string;
  /** Every record's sequence number, in batch order, readable or not. */
  sequenceNumbers: readonly string[];
  /** The records read; in step with `sequenceNumbers` up to `firstUnreadable`. */
  records: readonly ShardRecord[];
  /** Index of the first record whose envelope could not be read; `sequenceNumbers.length` when none. */
  firstUnreadable: number;
  /** The plan of every record read, from `state` (the planner's own, to avoid planning twice). */
  plan: BatchPlan;
  state: ShardState;
  seenBefore: (eventFingerprint: number) => boolean;
  /** What became of the records behind the checkpoint (only consulted for those). */
  behindCheckpoint: BehindCheckpoint;
  settings: PlanSettings;
}

/** The I/O one batch needs, given by the adapter: the core decides, these do. */
export interface ShardBatchPorts {
  /** Delivers messages in record order; returns the first that may not have been delivered. */
  deliver(sink: 'dead-letters' | 'late-events', messages: readonly SinkMessage[]): Promise<SendFailure | undefined>;
  commit(from: ShardState, step: Commit): Promise<CommitOutcome>;
  /** Commits a recovery step, keyed by its first record; the checkpoint does not move. */
  recover(step: Commit): Promise<RecoveryOutcome>;
  log: {
    warn(message: string, detail: Record<string, unknown>): void;
    error(message: string, detail: Record<string, unknown>): void;
  };
}

export interface ShardBatchResult {
  /** Index of the first record the event source mapping must retry from; the batch length when none. */
  retryFrom: number;
  /** What the records before `retryFrom` came to. */
  outcomes: Record<RecordOutcome, number>;
  commits: number;
  /** Steps another invocation of the shard committed first (0 or 1): an outcome, not an error. */
  supersededCommits: number;
  /** Clicks DynamoDB refused to store, dead-lettered with its reason. */
  unwritableRecords: number;
}

/**
 * Finishes one shard's batch, exactly once, whatever fails part way:
 * 1. The batch ends before the first record that could not be read.
 * 2. Dead letters and late events are delivered in record order; a failed delivery ends the batch
 *    at that record, and the batch is planned again up to there (so nothing after it is counted).
 * 3. Recovery steps (records behind the checkpoint that the mapping skipped, brought back by a
 *    replay) are committed first, in order; one that a racing replay wrote with fewer records ends
 *    the batch after that replay's last record.
 * 4. The plan's steps are committed in order. A step DynamoDB refuses as invalid (final: a retry
 *    fails the same way and the shard would stall) is planned again one click per step, and each
 *    click whose step is refused is dead-lettered with DynamoDB's reason. A step another invocation
 *    committed first stops the batch after that invocation's step. A later step that fails stops
 *    the batch after the earlier ones; the first step failing throws, for Lambda to retry or bisect.
 * 5. The first record the committed checkpoint does not cover is where the mapping resumes.
 */
export async function finishShardBatch(batch: ClassifiedBatch, ports: ShardBatchPorts): Promise<ShardBatchResult> {
  const { shardId, sequenceNumbers, records, state: loadedState, seenBefore, behindCheckpoint, settings } = batch;
  const replan = (upTo: number): BatchPlan => planBatch(records.slice(0, upTo), loadedState, settings, seenBefore, behindCheckpoint);
  let cutoff = batch.firstUnreadable;
  let plan = cutoff === sequenceNumbers.length ? batch.plan : replan(cutoff);

  for (const [sink, messages] of [
    ['dead-letters', plan.rejections.map((rejection) => deadLetterMessage(rejection, shardId))],
    ['late-events', plan.lateEvents.map((late) => lateEventMessage(late, shardId))],
  ] as const) {
    const failure = await ports.deliver(sink, messages.filter((message) => message.recordIndex < cutoff));
    if (failure !== undefined && failure.recordIndex < cutoff) {
      ports.log.error('Could not deliver to a sink; the batch ends before this record', { sink, ...failure });
      cutoff = failure.recordIndex;
    }
  }
  if (cutoff < sequenceNumbers.length) plan = replan(cutoff);

  let state = loadedState;
  let supersededCommits = 0;
  let unwritableRecords = 0;

  /** Commits a step; a step DynamoDB refuses as invalid is committed again one click at a time. */
  async function commitOrIsolate(step: Commit, from: ShardState): Promise<CommitOutcome> {
    try {
      return await ports.commit(from, step);
    } catch (error) {
      if (!isValidationError(error)) throw error;
      ports.log.error('DynamoDB refused a step; isolating the click it cannot store', { error });
      const end = firstUncovered(sequenceNumbers, step.lastSequenceNumber);
      const single = planOnePerStep(records.slice(0, end), from, settings, seenBefore);
      let last: CommitOutcome = { status: 'committed', state: from };
      for (const singleStep of single.commits) {
        try {
          last = await ports.commit(last.state, singleStep);
        } catch (stepError) {
          if (!isValidationError(stepError)) throw stepError;
          const recordIndex = firstUncovered(sequenceNumbers, singleStep.lastSequenceNumber) - 1;
          const record = records[recordIndex]!;
          const failure = await ports.deliver('dead-letters', [
            deadLetterMessage({ recordIndex, record, reason: 'unwritable', detail: (stepError as Error).message.slice(0, 1000) }, shardId),
          ]);
          if (failure !== undefined) throw stepError;
          unwritableRecords += 1;
          // Its step moves the checkpoint past it and counts nothing.
          last = await ports.commit(last.state, { ...singleStep, windows: [], fingerprints: [] });
        }
        if (last.status === 'superseded') return last;
      }
      return last;
    }
  }

  let recoveryFailed = false;
  for (const [index, step] of plan.recoveries.entries()) {
    try {
      const outcome = await ports.recover(step);
      if (outcome.status === 'superseded') {
        ports.log.warn('Another replay recovered fewer of these records first; the batch ends after them', { shardId, lastSequenceNumber: outcome.lastSequenceNumber });
        cutoff = Math.min(cutoff, firstUncovered(sequenceNumbers, outcome.lastSequenceNumber));
        recoveryFailed = true;
        break;
      }
    } catch (error) {
      if (index === 0) throw error;
      ports.log.error('Recovery step failed; the batch ends at the last recovered record', { error });
      cutoff = Math.min(cutoff, firstUncovered(sequenceNumbers, plan.recoveries[index - 1]!.lastSequenceNumber));
      recoveryFailed = true;
      break;
    }
  }

  for (const [index, step] of (recoveryFailed ? [] : plan.commits).entries()) {
    try {
      const outcome = await commitOrIsolate(step, state);
      state = outcome.state;
      if (outcome.status === 'superseded') {
        // Another invocation of this shard committed from the same checkpoint first (a timed-out
        // invocation still running beside its retry). An expected outcome: resume after its step.
        supersededCommits = 1;
        ports.log.warn('Another invocation committed this shard first; resuming after its step', { shardId, checkpoint: state.checkpoint });
        break;
      }
    } catch (error) {
      if (index === 0 && plan.recoveries.length === 0) throw error;
      // Earlier commits stand; retrying from the first uncommitted record keeps them.
      ports.log.error('Commit failed; the batch ends at the last committed record', { error });
      break;
    }
  }

  cutoff = Math.min(cutoff, firstUncovered(sequenceNumbers, state.checkpoint));
  return {
    retryFrom: cutoff,
    // Records the racing invocation covered are done, whatever this plan made of them.
    outcomes: supersededCommits > 0 ? outcomesBefore(plan, 0) : outcomesBefore(plan, cutoff),
    commits: plan.commits.length,
    supersededCommits,
    unwritableRecords,
  };
}
