import * as z from 'zod';

/**
 * Aggregator tuning: the variables the CDK construct writes from its props and the function reads
 * (lambdas/clickstream/settings.ts), with their defaults, defined here once. Nothing here reads
 * the environment, so the web bundle can import the defaults.
 */
export const AGGREGATOR_DEFAULTS = {
  allowedLatenessSeconds: 60,
  dedupHorizonSeconds: 900,
  maxEventBytes: 4096,
  maxFutureSkewSeconds: 300,
  /** Window items expire this long after their window ends (DynamoDB TTL). */
  windowRetentionSeconds: 7 * 24 * 60 * 60,
} as const;

export const AggregatorEnv = {
  windowTableName: 'WINDOW_TABLE_NAME',
  stateTableName: 'STATE_TABLE_NAME',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  lateEventsQueueUrl: 'LATE_EVENTS_QUEUE_URL',
  allowedLatenessSeconds: 'ALLOWED_LATENESS_SECONDS',
  dedupHorizonSeconds: 'DEDUP_HORIZON_SECONDS',
  maxEventBytes: 'MAX_EVENT_BYTES',
  maxFutureSkewSeconds: 'MAX_FUTURE_SKEW_SECONDS',
  windowRetentionSeconds: 'WINDOW_RETENTION_SECONDS',
} as const;

const seconds = z.coerce.number().int().nonnegative();

export const AggregatorSettings = z.object({
  windowTableName: z.string().min(1),
  stateTableName: z.string().min(1),
  deadLetterQueueUrl: z.string().min(1),
  lateEventsQueueUrl: z.string().min(1),
  allowedLatenessSeconds: seconds.default(AGGREGATOR_DEFAULTS.allowedLatenessSeconds),
  dedupHorizonSeconds: seconds.default(AGGREGATOR_DEFAULTS.dedupHorizonSeconds),
  maxEventBytes: z.coerce.number().int().positive().default(AGGREGATOR_DEFAULTS.maxEventBytes),
  maxFutureSkewSeconds: seconds.default(AGGREGATOR_DEFAULTS.maxFutureSkewSeconds),
  windowRetentionSeconds: z.coerce.number().int().positive().default(AGGREGATOR_DEFAULTS.windowRetentionSeconds),
});
export type AggregatorSettings = z.infer<typeof AggregatorSettings>;

export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}
