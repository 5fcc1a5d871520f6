import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { KinesisDataStreamRecord, KinesisDataStreamRecordPayload } from '@aws-lambda-powertools/parser/schemas/kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { z } from 'zod';
import type { AggregatorSettings } from '../../contracts/aggregator-settings';
import {
  BatchPlanner,
  DEFAULT_COMMIT_LIMITS,
  firstUncovered,
  isValidationError,
  outcomesBefore,
  planOnePerStep,
  planBatch,
  type BatchPlan,
  type PlanSettings,
  type RecordOutcome,
  type ShardRecord,
} from './core/batch-plan';
import type { ShardRef, ShardStore } from './shard-store';
import { deadLetterMessage, lateEventMessage, sendInRecordOrder } from './sinks';

/**
 * The Kinesis envelope, validated with Powertools' schema. Record data stays base64 here:
 * the core decodes it so that each bad record gets its own reason instead of failing the batch.
 */
const KinesisEnvelopeRecord = KinesisDataStreamRecord.extend({
  kinesis: KinesisDataStreamRecordPayload.extend({ data: z.string() }),
});

export interface AggregatorDependencies {
  store: ShardStore;
  sqs: SQSClient;
  settings: AggregatorSettings;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
}

export function planSettingsFrom(settings: AggregatorSettings): PlanSettings {
  return {
    maxEventBytes: settings.maxEventBytes,
    maxFutureSkewMs: settings.maxFutureSkewSeconds * 1000,
    allowedLatenessMs: settings.allowedLatenessSeconds * 1000,
    ...DEFAULT_COMMIT_LIMITS,
  };
}

export function toShardRecord(record: KinesisStreamRecord): ShardRecord {
  const { kinesis } = KinesisEnvelopeRecord.parse(record);
  return {
    sequenceNumber: kinesis.sequenceNumber,
    partitionKey: kinesis.partitionKey,
    approximateArrivalMs: Math.round(kinesis.approximateArrivalTimestamp * 1000),
    data: kinesis.data,
  };
}

export function shardOf(record: KinesisStreamRecord): ShardRef {
  return { streamArn: record.eventSourceARN, shardId: record.eventID.slice(0, record.eventID.indexOf(':')) };
}

/**
 * Counts one shard's batch of clicks into the window table, exactly once.
 * 1. Classify every record in order (Powertools isolates a record that cannot be read).
 * 2. Send dead letters and late events; a failed send ends the batch at that record.
 * 3. Commit the window deltas for the records before the first failure, transaction by transaction.
 * 4. Report the first failure, so the event source mapping retries from it.
 */
export async function aggregateShardBatch(
  records: KinesisStreamRecord[],
  context: Context,
  deps: AggregatorDependencies,
): Promise<KinesisStreamBatchResponse> {
  const first = records[0];
  if (first === undefined) return { batchItemFailures: [] };
  const shard = shardOf(first);
  const nowMs = deps.now();
  const planSettings = planSettingsFrom(deps.settings);
  const loaded = await deps.store.load(shard, nowMs);

  const planner = new BatchPlanner(loaded.state, planSettings, loaded.seenBefore);
  const shardRecords: ShardRecord[] = [];
  const classification = await processPartialResponse(
    { Records: records },
    (record: KinesisStreamRecord) => {
      const shardRecord = toShardRecord(record);
      shardRecords.push(shardRecord);
      planner.add(shardRecord);
    },
    new BatchProcessor(EventType.KinesisDataStreams),
    { context, processInParallel: false },
  );
  const indexOfSequence = new Map(records.map((record, index) => [record.kinesis.sequenceNumber, index]));
  let cutoff = Math.min(
    records.length,
    ...classification.batchItemFailures.map((failure) => indexOfSequence.get(failure.itemIdentifier) ?? 0),
  );
  let plan: BatchPlan = cutoff === records.length ? planner.finish() : replan(cutoff);
  function replan(upTo: number): BatchPlan {
    return planBatch(shardRecords.slice(0, upTo), loaded.state, planSettings, loaded.seenBefore);
  }

  for (const [queueUrl, messages] of [
    [deps.settings.deadLetterQueueUrl, plan.rejections.map((rejection) => deadLetterMessage(rejection, shard.shardId))],
    [deps.settings.lateEventsQueueUrl, plan.lateEvents.map((late) => lateEventMessage(late, shard.shardId))],
  ] as const) {
    const failure = await sendInRecordOrder(deps.sqs, queueUrl, messages.filter((message) => message.recordIndex < cutoff));
    if (failure !== undefined && failure.recordIndex < cutoff) {
      deps.logger.error('Could not deliver to a sink; the batch ends before this record', { queueUrl, ...failure });
      cutoff = failure.recordIndex;
    }
  }
  if (cutoff < records.length) plan = replan(cutoff);

  const sequenceNumbers = records.map((record) => record.kinesis.sequenceNumber);
  let state = loaded.state;
  let superseded = false;
  for (const [index, commit] of plan.commits.entries()) {
    try {
      const outcome = await commitOrIsolate(commit, state);
      state = outcome.state;
      if (outcome.status === 'superseded') {
        // Another invocation of this shard committed from the same checkpoint first (a timed-out
        // invocation still running beside its retry). An expected outcome: resume after its step.
        superseded = true;
        deps.metrics.addMetric('SupersededCommits', MetricUnit.Count, 1);
        deps.logger.warn('Another invocation committed this shard first; resuming after its step', { shardId: shard.shardId, checkpoint: state.checkpoint });
        break;
      }
    } catch (error) {
      if (index === 0) throw error;
      // Earlier commits stand; retrying from the first uncommitted record keeps them.
      deps.logger.error('Commit failed; the batch ends at the last committed record', { error: error as Error });
      break;
    }
  }

  /**
   * Commits a step; if DynamoDB refuses it with a validation error (final: a retry fails the same
   * way, and the shard would stall), plans its records again one click per step, dead-letters each
   * click whose step is refused with DynamoDB's reason, and commits the rest.
   */
  async function commitOrIsolate(commit: BatchPlan['commits'][number], from: typeof state): ReturnType<typeof deps.store.commit> {
    try {
      return await deps.store.commit(shard, from, commit);
    } catch (error) {
      if (!isValidationError(error)) throw error;
      deps.logger.error('DynamoDB refused a step; isolating the click it cannot store', { error: error as Error });
      const end = firstUncovered(sequenceNumbers, commit.lastSequenceNumber);
      const single = planOnePerStep(shardRecords.slice(0, end), from, planSettings, loaded.seenBefore);
      let current = from;
      let last: Awaited<ReturnType<typeof deps.store.commit>> = { status: 'committed', state: from };
      for (const step of single.commits) {
        try {
          last = await deps.store.commit(shard, current, step);
        } catch (stepError) {
          if (!isValidationError(stepError)) throw stepError;
          const recordIndex = firstUncovered(sequenceNumbers, step.lastSequenceNumber) - 1;
          const record = shardRecords[recordIndex]!;
          const failure = await sendInRecordOrder(deps.sqs, deps.settings.deadLetterQueueUrl, [
            deadLetterMessage({ recordIndex, record, reason: 'unwritable', detail: (stepError as Error).message.slice(0, 1000) }, shard.shardId),
          ]);
          if (failure !== undefined) throw stepError;
          deps.metrics.addMetric('UnwritableRecords', MetricUnit.Count, 1);
          // Its step moves the checkpoint past it and counts nothing.
          last = await deps.store.commit(shard, current, { ...step, windows: [], fingerprints: [] });
        }
        if (last.status === 'superseded') return last;
        current = last.state;
      }
      return last;
    }
  }
  cutoff = Math.min(cutoff, firstUncovered(sequenceNumbers, state.checkpoint));
  // Records the racing invocation covered are done, whatever this plan made of them.
  const outcomes = superseded ? outcomesBefore(plan, 0) : outcomesBefore(plan, cutoff);

  recordMetrics(deps.metrics, outcomes, deps.store.writes);
  deps.logger.info('Batch aggregated', {
    shardId: shard.shardId,
    records: records.length,
    ...outcomes,
    commits: plan.commits.length,
    retryFrom: cutoff < records.length ? records[cutoff]!.kinesis.sequenceNumber : undefined,
  });
  return {
    batchItemFailures: cutoff < records.length ? [{ itemIdentifier: records[cutoff]!.kinesis.sequenceNumber }] : [],
  };
}

const reportedWrites = new WeakMap<object, { items: number; writeUnits: number }>();

function recordMetrics(metrics: Metrics, outcomes: Record<RecordOutcome, number>, writes: { items: number; writeUnits: number }): void {
  metrics.addMetric('ClicksCounted', MetricUnit.Count, outcomes.counted);
  metrics.addMetric('DuplicateClicks', MetricUnit.Count, outcomes.duplicate);
  metrics.addMetric('LateClicks', MetricUnit.Count, outcomes.late);
  metrics.addMetric('InvalidRecords', MetricUnit.Count, outcomes.invalid);
  metrics.addMetric('ReplayedRecords', MetricUnit.Count, outcomes.replayed);
  // The store's counters are cumulative per container; report what this batch added.
  const before = reportedWrites.get(writes) ?? { items: 0, writeUnits: 0 };
  metrics.addMetric('WindowWrites', MetricUnit.Count, writes.items - before.items);
  metrics.addMetric('WriteCapacityUnits', MetricUnit.Count, writes.writeUnits - before.writeUnits);
  reportedWrites.set(writes, { ...writes });
}

/** A Kinesis event's records per shard, each in delivery order. */
export function recordsByShard(records: readonly KinesisStreamRecord[]): KinesisStreamRecord[][] {
  const byShard = new Map<string, KinesisStreamRecord[]>();
  for (const record of records) {
    const key = `${record.eventSourceARN}#${shardOf(record).shardId}`;
    const shardRecords = byShard.get(key) ?? [];
    shardRecords.push(record);
    byShard.set(key, shardRecords);
  }
  return [...byShard.values()];
}

/** Lambda delivers one shard per invocation; grouping anyway keeps each shard's order intact. */
export async function aggregateClicks(
  event: KinesisStreamEvent,
  context: Context,
  deps: AggregatorDependencies,
): Promise<KinesisStreamBatchResponse> {
  const batchItemFailures: KinesisStreamBatchResponse['batchItemFailures'] = [];
  for (const shardRecords of recordsByShard(event.Records)) {
    const response = await aggregateShardBatch(shardRecords, context, deps);
    batchItemFailures.push(...response.batchItemFailures);
  }
  deps.metrics.publishStoredMetrics();
  return { batchItemFailures };
}

