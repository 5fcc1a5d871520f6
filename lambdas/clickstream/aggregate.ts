import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { KinesisDataStreamRecord, KinesisDataStreamRecordPayload } from '@aws-lambda-powertools/parser/schemas/kinesis';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { z } from 'zod';
import type { AggregatorSettings } from '../../contracts/aggregator-settings';
import { BatchPlanner, DEFAULT_COMMIT_LIMITS, everyRecordHandled, type BehindCheckpoint, type PlanSettings, type RecordOutcome, type ShardRecord } from './core/batch-plan';
import { compareSequenceNumbers } from './core/sequence';
import { finishShardBatch } from './core/shard-batch';
import type { ShardRef, ShardStore } from './shard-store';
import { sendInRecordOrder } from './sinks';

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
 * Counts one shard's batch of clicks into the window table, exactly once. The adapter: it loads the
 * shard, reads each record through Powertools (which isolates one that cannot be read), and hands
 * the batch to the core (`finishShardBatch`), which decides what to deliver, commit and retry.
 */
export async function aggregateShardBatch(
  records: KinesisStreamRecord[],
  context: Context,
  deps: AggregatorDependencies,
): Promise<KinesisStreamBatchResponse> {
  const first = records[0];
  if (first === undefined) return { batchItemFailures: [] };
  const shard = shardOf(first);
  const settings = planSettingsFrom(deps.settings);
  const loaded = await deps.store.load(shard, deps.now());
  const behindCheckpoint = await behindCheckpointOf(deps.store, shard, records, loaded.state.checkpoint);

  const planner = new BatchPlanner(loaded.state, settings, loaded.seenBefore, behindCheckpoint);
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
  const firstUnreadable = Math.min(
    records.length,
    ...classification.batchItemFailures.map((failure) => indexOfSequence.get(failure.itemIdentifier) ?? 0),
  );

  const plan = planner.finish();
  const queueOf = { 'dead-letters': deps.settings.deadLetterQueueUrl, 'late-events': deps.settings.lateEventsQueueUrl } as const;
  const result = await finishShardBatch(
    {
      shardId: shard.shardId,
      sequenceNumbers: records.map((record) => record.kinesis.sequenceNumber),
      records: shardRecords,
      firstUnreadable,
      plan,
      state: loaded.state,
      seenBefore: loaded.seenBefore,
      behindCheckpoint,
      settings,
    },
    {
      deliver: (sink, messages) => sendInRecordOrder(deps.sqs, queueOf[sink], messages),
      commit: (from, step) => deps.store.commit(shard, from, step),
      recover: (step) => deps.store.recover(shard, step),
      log: deps.logger,
    },
  );

  if (plan.recoveries.length > 0) deps.logger.info('Recovered records the event source mapping had skipped', { shardId: shard.shardId, steps: plan.recoveries.length });
  if (result.supersededCommits > 0) deps.metrics.addMetric('SupersededCommits', MetricUnit.Count, result.supersededCommits);
  if (result.unwritableRecords > 0) deps.metrics.addMetric('UnwritableRecords', MetricUnit.Count, result.unwritableRecords);
  recordMetrics(deps.metrics, result.outcomes, deps.store.writes);
  const retryFrom = records[result.retryFrom]?.kinesis.sequenceNumber;
  deps.logger.info('Batch aggregated', { shardId: shard.shardId, records: records.length, ...result.outcomes, commits: result.commits, retryFrom });
  return { batchItemFailures: retryFrom === undefined ? [] : [{ itemIdentifier: retryFrom }] };
}

/**
 * What became of the batch's records at or behind the checkpoint (a retry, or a replay of a batch the
 * mapping gave up on), read from the shard's log only when there are any.
 */
async function behindCheckpointOf(
  store: ShardStore,
  shard: ShardRef,
  records: readonly KinesisStreamRecord[],
  checkpoint: string | undefined,
): Promise<BehindCheckpoint> {
  if (checkpoint === undefined) return everyRecordHandled;
  const behind = records
    .map((record) => record.kinesis.sequenceNumber)
    .filter((sequenceNumber) => compareSequenceNumbers(sequenceNumber, checkpoint) <= 0)
    .sort(compareSequenceNumbers);
  if (behind.length === 0) return everyRecordHandled;
  return store.behindCheckpoint(shard, behind[0]!, behind.at(-1)!);
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

