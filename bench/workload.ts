import { AGGREGATOR_DEFAULTS } from '../contracts/aggregator-settings';
import { DEFAULT_COMMIT_LIMITS, type PlanSettings, type ShardRecord } from '../lambdas/clickstream/core/batch-plan';
import { generateClicks } from '../simulator/clicks';

export const DEFAULT_PLAN_SETTINGS: PlanSettings = {
  maxEventBytes: AGGREGATOR_DEFAULTS.maxEventBytes,
  maxFutureSkewMs: AGGREGATOR_DEFAULTS.maxFutureSkewSeconds * 1000,
  allowedLatenessMs: AGGREGATOR_DEFAULTS.allowedLatenessSeconds * 1000,
  ...DEFAULT_COMMIT_LIMITS,
};

/**
 * Shard records as Lambda would deliver them: the simulator's realistic clicks (Zipf URLs,
 * sessions, mild disorder), base64 encoded, with increasing sequence numbers.
 */
export function zipfShardRecords(count: number, { rate = 1000, urls = 1000, zipf = 1.1, seed = 42 } = {}): ShardRecord[] {
  const startTime = Date.parse('2026-01-01T00:00:00Z');
  const records: ShardRecord[] = [];
  let sequence = 49_600_000_000_000_000_000_000_000_000_000_000_000_000_000n;
  for (const generated of generateClicks({ count, rate, urls, zipf, seed, startTime })) {
    sequence += 1n;
    records.push({
      sequenceNumber: sequence.toString(),
      partitionKey: generated.partitionKey,
      approximateArrivalMs: generated.emittedAt,
      data: Buffer.from(generated.data).toString('base64'),
    });
  }
  return records;
}
