import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { OrderDeadLetterMessage } from '../../contracts/fraud';
import type { FraudScorerSettings } from '../../contracts/fraud-settings';
import { recordsByShard, shardOf, toShardRecord } from '../clickstream/aggregate';
import type { ShardRecord } from '../clickstream/core/batch-plan';
import { rejectionMessage, type SinkMessage } from '../clickstream/core/sink-messages';
import { sendInRecordOrder } from '../clickstream/sinks';
import { decodeBatch, loadKeys, planBatch, type DecodedBatch, type LoadedProfiles, type OrderRejection, type ScoringConfigs, type ScoringPlan } from './core/plan';
import { ScorerConflictError, shardKeyOf, type ScorerStore } from './scorer-store';

export interface ScorerDependencies {
  store: Pick<ScorerStore, 'loadCheckpoint' | 'loadProfiles' | 'commit'>;
  configs: { current(nowMs: number): Promise<ScoringConfigs> };
  sqs: SQSClient;
  settings: FraudScorerSettings;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
}

/** Attempts per invocation when another invocation of the same shard commits first. */
const MAX_CONFLICT_ATTEMPTS = 3;
/** EMF keeps at most 100 values per metric per document. */
const MAX_LATENCY_SAMPLES = 100;

export const orderDeadLetterMessage = (rejection: OrderRejection, shardId: string): SinkMessage =>
  rejectionMessage<OrderDeadLetterMessage['kind'], OrderDeadLetterMessage['reason']>('invalid-order', rejection, shardId);

/** Keeps only the entries before `cutoff` (a record that could not be handled, and all after it, are retried). */
const truncated = (batch: DecodedBatch, cutoff: number): DecodedBatch => ({ entries: batch.entries.filter((entry) => entry.recordIndex < cutoff) });

/**
 * Scores one shard's batch of orders, exactly once.
 * 1. Read each Kinesis envelope (Powertools isolates a record that cannot be read: the batch ends before it).
 * 2. Load the shard's checkpoint, decode the records after it, load the profiles and earlier decisions they need.
 * 3. Plan (pure): decisions, profile updates, rejections, commits of at most 100 items.
 * 4. Dead-letter the invalid orders; a failed send ends the batch at that record.
 * 5. Commit step by step. If another invocation of the shard committed first, reload and plan again:
 *    its orders are then behind the checkpoint or already decided, so nothing counts twice.
 * 6. Report the first record not committed, so the mapping retries from there.
 */
export async function scoreShardBatch(records: KinesisStreamRecord[], context: Context, deps: ScorerDependencies): Promise<KinesisStreamBatchResponse> {
  const first = records[0];
  if (first === undefined) return { batchItemFailures: [] };
  const shard = shardOf(first);

  const shardRecords: ShardRecord[] = [];
  const envelopes = await processPartialResponse(
    { Records: records },
    (record: KinesisStreamRecord) => {
      shardRecords.push(toShardRecord(record));
    },
    new BatchProcessor(EventType.KinesisDataStreams),
    { context, processInParallel: false },
  );
  const indexOfSequence = new Map(records.map((record, index) => [record.kinesis.sequenceNumber, index]));
  let cutoff = Math.min(records.length, ...envelopes.batchItemFailures.map((failure) => indexOfSequence.get(failure.itemIdentifier) ?? 0));
  const readable = shardRecords.slice(0, cutoff);

  for (let attempt = 1; ; attempt++) {
    const nowMs = deps.now();
    const configs = await deps.configs.current(nowMs);
    const checkpoint = await deps.store.loadCheckpoint(shard);
    let batch = decodeBatch(readable, checkpoint, deps.settings, configs.active);
    const loaded: LoadedProfiles = await deps.store.loadProfiles(shard, loadKeys(batch));
    const planSettings = { ...deps.settings, shardKey: shardKeyOf(shard), shardId: shard.shardId, nowMs };
    let plan = planBatch(batch, loaded, configs, planSettings);

    const failure = await sendInRecordOrder(deps.sqs, deps.settings.deadLetterQueueUrl, plan.rejections.map((rejection) => orderDeadLetterMessage(rejection, shard.shardId)));
    if (failure !== undefined) {
      deps.logger.error('Could not dead-letter an invalid order; the batch ends before it', { ...failure });
      cutoff = Math.min(cutoff, failure.recordIndex);
      batch = truncated(batch, cutoff);
      plan = planBatch(batch, loaded, configs, planSettings);
    }

    let from = checkpoint;
    let committed = 0;
    try {
      for (const commit of plan.commits) {
        await deps.store.commit(shard, from, commit, nowMs);
        from = commit.lastSequenceNumber;
        committed++;
      }
    } catch (error) {
      if (committed === 0 && error instanceof ScorerConflictError && attempt < MAX_CONFLICT_ATTEMPTS) {
        deps.logger.warn('Another invocation committed this shard first; reloading', { shardId: shard.shardId, attempt, error: error.message });
        continue;
      }
      if (committed === 0) throw error;
      // Earlier commits stand; the mapping retries from the first record after them.
      deps.logger.error('Commit failed; the batch ends at the last committed record', { error: error as Error });
      cutoff = indexOfSequence.get(plan.commits[committed - 1]!.lastSequenceNumber)! + 1;
      plan = { ...plan, commits: plan.commits.slice(0, committed), decisions: plan.commits.slice(0, committed).flatMap((commit) => commit.decisions) };
    }
    recordMetrics(deps.metrics, plan);
    deps.logger.info('Batch scored', {
      shardId: shard.shardId,
      records: records.length,
      ...plan.outcomes,
      commits: plan.commits.length,
      attempt,
      retryFrom: cutoff < records.length ? records[cutoff]!.kinesis.sequenceNumber : undefined,
    });
    return { batchItemFailures: cutoff < records.length ? [{ itemIdentifier: records[cutoff]!.kinesis.sequenceNumber }] : [] };
  }
}

function recordMetrics(metrics: Metrics, plan: ScoringPlan): void {
  metrics.addMetric('OrdersScored', MetricUnit.Count, plan.decisions.length);
  metrics.addMetric('DuplicateOrders', MetricUnit.Count, plan.outcomes.duplicate);
  metrics.addMetric('InvalidOrders', MetricUnit.Count, plan.outcomes.invalid);
  metrics.addMetric('ReplayedRecords', MetricUnit.Count, plan.outcomes.replayed);
  for (const outcome of ['ALLOW', 'REVIEW', 'BLOCK'] as const) {
    metrics.addMetric(`Decisions${outcome[0]}${outcome.slice(1).toLowerCase()}`, MetricUnit.Count, plan.decisions.filter((decision) => decision.decision === outcome).length);
  }
  for (const decision of plan.decisions.slice(0, MAX_LATENCY_SAMPLES)) metrics.addMetric('DecisionLatency', MetricUnit.Milliseconds, decision.latencyMs);
}

export async function scoreOrders(event: KinesisStreamEvent, context: Context, deps: ScorerDependencies): Promise<KinesisStreamBatchResponse> {
  const batchItemFailures: KinesisStreamBatchResponse['batchItemFailures'] = [];
  for (const shardRecords of recordsByShard(event.Records)) {
    const response = await scoreShardBatch(shardRecords, context, deps);
    batchItemFailures.push(...response.batchItemFailures);
  }
  deps.metrics.publishStoredMetrics();
  return { batchItemFailures };
}
