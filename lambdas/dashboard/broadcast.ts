import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBStreamRecord } from '@aws-lambda-powertools/parser/schemas/dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { SHARDS_PARTITION, ShardPartialItem, ShardProgressItem } from '../../contracts/clickstream';
import { DASHBOARD_HISTORY_MINUTES, type WindowCount } from '../../contracts/dashboard';
import { changedWindows, watermarksBefore, windowsToAnnounce, type TableChange } from './core/coalesce';
import { newlyFinalMinutes } from './core/windows';
import { forEachWithConcurrency } from './core/concurrency';
import { windowsPayloads } from './core/messages';
import type { PostOutcome } from './management-api';
import { reportOversized } from './oversized';
import type { BroadcasterSettings, PostingSettings } from './settings';
import type { WindowRead } from './window-reader';
import { decodeInOrder } from './decode-in-order';

const PartialImage = ShardPartialItem.pick({ windowStart: true, windowEnd: true, counts: true, lateCounts: true, shardId: true });
const OldPartialImage = ShardPartialItem.pick({ counts: true, lateCounts: true });
const ProgressImage = ShardProgressItem.pick({ sk: true, watermarkMs: true });

/** What any function that posts to every subscribed dashboard connection needs (windows, fraud alerts). */
export interface PostingDependencies {
  readonly connections: {
    subscribedConnectionIds(nowMs: number): Promise<string[]>;
    delete(connectionId: string): Promise<void>;
  };
  readonly post: (connectionId: string, payload: string) => Promise<PostOutcome>;
  readonly settings: PostingSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
}

export interface BroadcasterDependencies extends PostingDependencies {
  readonly settings: BroadcasterSettings;
  /** Totals across shards of these minutes (strongly consistent reads of the window table). */
  readonly readMinutes: (windowStarts: readonly string[]) => Promise<WindowRead>;
  /** The stream's watermark: the minimum over its shards. */
  readonly readStreamWatermark: () => Promise<number>;
}

/**
 * Decodes one stream record at the boundary: Powertools' DynamoDB stream schema (which also
 * unmarshalls the images), then the window table's contracts. Throws for a record that is neither
 * a shard partial nor a shard's progress, which marks that record failed.
 */
export function toTableChange(record: DynamoDBRecord): TableChange {
  const { eventName, dynamodb } = DynamoDBStreamRecord.parse(record);
  if (eventName === 'REMOVE') return { kind: 'removed' };
  const image = dynamodb.NewImage as Record<string, unknown> | undefined;
  if (image?.pk === SHARDS_PARTITION) {
    const progress = ProgressImage.parse(image);
    const old = dynamodb.OldImage === undefined ? undefined : ProgressImage.parse(dynamodb.OldImage);
    return {
      kind: 'progress',
      shardId: progress.sk,
      ...(progress.watermarkMs === undefined ? {} : { newWatermarkMs: progress.watermarkMs }),
      ...(old?.watermarkMs === undefined ? {} : { oldWatermarkMs: old.watermarkMs }),
    };
  }
  return {
    kind: 'partial',
    newImage: PartialImage.parse(image),
    ...(dynamodb.OldImage === undefined ? {} : { oldImage: OldPartialImage.parse(dynamodb.OldImage) }),
  };
}

export interface BroadcastTally {
  connections: number;
  sent: number;
  gone: number;
  failed: number;
}

/**
 * Broadcasts one batch of window-table changes to every subscribed connection.
 *
 * 1. Decode each record (Powertools batch isolates one that cannot be read).
 * 2. Keep the records before the first unreadable one. Lambda resumes a DynamoDB stream from the
 *    lowest reported failure, so anything after it is delivered again; broadcasting it now would
 *    send it twice. The unreadable record is retried, bisected and, with bounded retries, ends in
 *    the on-failure queue: never dropped silently.
 * 3. Coalesce into one WindowCount per window and split into messages under MAX_MESSAGE_BYTES.
 * 4. Post every message to every subscribed connection, `postConcurrency` connections at a time.
 *
 * What fails the batch and what does not:
 * - Reading the connections table fails: throw. Nobody got the update; the mapping retries it.
 * - A post fails: the connection is gone (410) and its item is deleted, or the post failed
 *   otherwise (throttled, timed out) and is logged and counted. Neither fails the batch. A
 *   retry would re-send to every healthy connection, and one slow or broken client would
 *   hold the stream for everyone. Counts are absolute, so a client that misses an update is
 *   corrected by the next change of that window, and by the snapshot when it reconnects.
 */
export async function broadcastWindowChanges(
  event: DynamoDBStreamEvent,
  context: Context,
  deps: BroadcasterDependencies,
): Promise<DynamoDBBatchResponse> {
  const records = event.Records;
  const { decoded: changes, batchItemFailures } = await decodeInOrder(records, toTableChange, context, deps, 'window-table stream');

  const nowMs = deps.now();
  const windows = await windowsOf(changes, deps);
  const tally = await broadcast(windows, nowMs, deps);

  deps.metrics.addMetric('StreamRecords', MetricUnit.Count, changes.length);
  deps.metrics.addMetric('WindowsBroadcast', MetricUnit.Count, windows.length);
  deps.metrics.addMetric('MessagesPosted', MetricUnit.Count, tally.sent);
  deps.metrics.addMetric('GoneConnections', MetricUnit.Count, tally.gone);
  deps.metrics.addMetric('PostFailures', MetricUnit.Count, tally.failed);
  deps.metrics.publishStoredMetrics();
  deps.logger.info('Batch broadcast', { records: records.length, decoded: changes.length, windows: windows.length, ...tally });

  return { batchItemFailures };
}

/**
 * What a batch announces: the (url, window) pairs its partial changes touched, with totals across
 * shards read after the changes, and every window of the minutes that became final because the
 * stream's watermark (the slowest shard's) moved past them.
 */
async function windowsOf(changes: TableChange[], deps: BroadcasterDependencies): Promise<WindowCount[]> {
  const changed = changedWindows(changes);
  const before = watermarksBefore(changes);
  if (changed.size === 0 && before.size === 0) return [];
  const lateness = deps.settings.allowedLatenessSeconds * 1000;
  const streamWatermarkMs = await deps.readStreamWatermark();
  let newlyFinal: string[] = [];
  if (before.size > 0) {
    // The stream's watermark before the batch: the same minimum, with each shard that moved at its old value.
    const previousMs = Math.min(streamWatermarkMs, ...before.values());
    newlyFinal = newlyFinalMinutes(previousMs, streamWatermarkMs, lateness, DASHBOARD_HISTORY_MINUTES);
  }
  const minutes = [...new Set([...changed.keys(), ...newlyFinal])].sort();
  if (minutes.length === 0) return [];
  const totals = await deps.readMinutes(minutes);
  if (totals.invalid > 0) deps.metrics.addMetric('InvalidWindowItems', MetricUnit.Count, totals.invalid);
  return windowsToAnnounce(totals.windows, changed, new Set(newlyFinal), streamWatermarkMs, lateness);
}

async function broadcast(windows: WindowCount[], nowMs: number, deps: BroadcasterDependencies): Promise<BroadcastTally> {
  if (windows.length === 0) return { connections: 0, sent: 0, gone: 0, failed: 0 };

  const { payloads, oversized } = windowsPayloads(nowMs, windows);
  reportOversized(oversized, deps);
  return postToSubscribers(payloads, nowMs, deps);
}

/**
 * Posts `payloads`, in order, to every subscribed connection, `postConcurrency` connections at a
 * time. Connections that answer 410 are deleted; other failed posts are logged and counted.
 * Throws only if the connections table cannot be read: then nobody got the messages.
 */
export async function postToSubscribers(
  payloads: readonly string[],
  nowMs: number,
  deps: Pick<PostingDependencies, 'connections' | 'post' | 'settings' | 'logger'>,
): Promise<BroadcastTally> {
  const tally: BroadcastTally = { connections: 0, sent: 0, gone: 0, failed: 0 };
  if (payloads.length === 0) return tally;
  const connectionIds = await deps.connections.subscribedConnectionIds(nowMs);
  tally.connections = connectionIds.length;

  await forEachWithConcurrency(connectionIds, deps.settings.postConcurrency, async (connectionId) => {
    // A connection's messages go in order; after a failure its remaining parts are skipped, so a
    // stalled client costs one timeout, not one per part.
    for (const payload of payloads) {
      const outcome = await deps.post(connectionId, payload);
      if (outcome.status === 'sent') {
        tally.sent++;
        continue;
      }
      if (outcome.status === 'gone') {
        tally.gone++;
        await deleteGone(connectionId, deps);
      } else {
        tally.failed++;
        deps.logger.warn('Could not post to a connection; it is kept', { connectionId, error: outcome.error });
      }
      return;
    }
  });
  return tally;
}

/** A failed delete is logged, not thrown: the next broadcast's 410, or the TTL, removes the item. */
async function deleteGone(connectionId: string, deps: Pick<PostingDependencies, 'connections' | 'logger'>): Promise<void> {
  try {
    await deps.connections.delete(connectionId);
  } catch (error) {
    deps.logger.error('Could not delete a gone connection', { connectionId, error: (error as Error).name });
  }
}
