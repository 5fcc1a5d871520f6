import * as z from 'zod';

/**
 * Aggregator tuning, read from the environment. The CDK construct writes these variables
 * from its props, so the defaults live here once.
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

/** Fails fast and names every missing or invalid variable. */
export function aggregatorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): AggregatorSettings {
  return settingsFromVariables(AggregatorSettings, AggregatorEnv, 'aggregator', env);
}

/**
 * Reads each key of `schema` from its environment variable in `variables`. Fails fast and names
 * every missing or invalid variable, so a misconfigured function fails at cold start.
 */
export function settingsFromVariables<S extends z.ZodObject>(
  schema: S,
  variables: Readonly<Record<string, string>>,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const raw = Object.fromEntries(
    Object.keys(schema.shape).map((key) => {
      const variable = variables[key];
      return [key, variable === undefined || env[variable] === '' ? undefined : env[variable]];
    }),
  );
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]);
      return `${variables[key] ?? key}: ${issue.message}`;
    });
    throw new ConfigurationError(`Invalid ${what} configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
