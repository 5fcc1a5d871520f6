import { z } from 'zod';
import { ConfigurationError } from '../../contracts/aggregator-settings';
import { DASHBOARD_DEFAULTS, DashboardEnv, IssuerEnv } from '../../contracts/dashboard-settings';

const name = z.string().min(1);
const seconds = z.coerce.number().int().nonnegative();

export const AuthorizerSettings = z.object({
  userPoolId: name,
  userPoolClientId: name,
});
export type AuthorizerSettings = z.infer<typeof AuthorizerSettings>;

export const ConnectionsSettings = z.object({
  connectionsTableName: name,
  windowTableName: name,
  allowedLatenessSeconds: seconds.default(DASHBOARD_DEFAULTS.allowedLatenessSeconds),
  connectionTtlSeconds: z.coerce.number().int().positive().default(DASHBOARD_DEFAULTS.connectionTtlSeconds),
  /** With the market panel (lib/market-panel.ts): a subscriber also gets every symbol's latest quote. */
  quotesTableName: name.optional(),
});
export type ConnectionsSettings = z.infer<typeof ConnectionsSettings>;

/** What any function that posts to the dashboard's connections reads (windows and fraud alerts). */
export const PostingSettings = z.object({
  connectionsTableName: name,
  postConcurrency: z.coerce.number().int().min(1).max(256).default(DASHBOARD_DEFAULTS.postConcurrency),
});
export type PostingSettings = z.infer<typeof PostingSettings>;

/** The window broadcaster also reads the window table, and marks windows final. */
export const BroadcasterSettings = PostingSettings.extend({
  windowTableName: name,
  allowedLatenessSeconds: seconds.default(DASHBOARD_DEFAULTS.allowedLatenessSeconds),
});
export type BroadcasterSettings = z.infer<typeof BroadcasterSettings>;

/** The prices broadcaster also merges quotes into the latest-quotes table. */
export const PricesSettings = PostingSettings.extend({ quotesTableName: name });
export type PricesSettings = z.infer<typeof PricesSettings>;

type SettingsKey = keyof typeof DashboardEnv;

/**
 * Reads the schema's keys from their DashboardEnv variables. Fails fast and names every missing or
 * invalid variable, so a misconfigured function fails at cold start, not at its first message.
 */
export function settingsFromEnv<S extends z.ZodObject>(
  schema: S,
  what: string,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const keys = Object.keys(schema.shape) as SettingsKey[];
  const raw = Object.fromEntries(
    keys.map((key) => [key, env[DashboardEnv[key]] === '' ? undefined : env[DashboardEnv[key]]]),
  );
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0]) as SettingsKey;
      return `${DashboardEnv[key] ?? key}: ${issue.message}`;
    });
    throw new ConfigurationError(`Invalid ${what} configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * Functions that post to @connections need an endpoint, and take it only from the environment: the
 * service-specific variable, or AWS_ENDPOINT_URL for every service (as the SDK itself falls back).
 */
export function requireManagementApiEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const endpoint = env[DashboardEnv.managementApiEndpoint] || env[IssuerEnv.endpoint];
  if (!endpoint) {
    throw new ConfigurationError(
      `Invalid configuration: ${DashboardEnv.managementApiEndpoint}: the @connections endpoint is not set ` +
        `(nor ${IssuerEnv.endpoint})`,
    );
  }
  return endpoint;
}
