import { AGGREGATOR_DEFAULTS } from './aggregator-settings';

/**
 * Settings of the live dashboard's functions, read from the environment. The CDK construct
 * (lib/live-dashboard.ts) writes these variables and the functions read them
 * (lambdas/dashboard/settings.ts), so their names and defaults live here once.
 */
export const DASHBOARD_DEFAULTS = {
  /**
   * API Gateway closes a WebSocket connection after 2 hours at the latest, so a connection item
   * older than that is an orphan (a $disconnect that never ran); TTL removes it.
   */
  connectionTtlSeconds: 2 * 60 * 60,
  /** @connections posts the broadcaster keeps in flight; below the SDK's 50 sockets per host. */
  postConcurrency: 32,
  allowedLatenessSeconds: AGGREGATOR_DEFAULTS.allowedLatenessSeconds,
} as const;

export const DashboardEnv = {
  userPoolId: 'USER_POOL_ID',
  userPoolClientId: 'USER_POOL_CLIENT_ID',
  connectionsTableName: 'CONNECTIONS_TABLE_NAME',
  windowTableName: 'WINDOW_TABLE_NAME',
  allowedLatenessSeconds: 'ALLOWED_LATENESS_SECONDS',
  connectionTtlSeconds: 'CONNECTION_TTL_SECONDS',
  postConcurrency: 'POST_CONCURRENCY',
  /** The market panel's latest-quotes table (lib/market-panel.ts): written by the prices broadcaster, read for snapshots. */
  quotesTableName: 'QUOTES_TABLE_NAME',
  /**
   * The @connections endpoint. The SDK's ApiGatewayManagementApiClient reads it by itself (the
   * service-specific form of AWS_ENDPOINT_URL); the code never passes an endpoint. On AWS it is the
   * stage's callback URL, in the local cloud the edge.
   */
  managementApiEndpoint: 'AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI',
} as const;

/** Environment variables that decide the JWT issuer; set by the Lambda runtime or the local cloud. */
export const IssuerEnv = {
  cognitoEndpoint: 'AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER',
  endpoint: 'AWS_ENDPOINT_URL',
  region: 'AWS_REGION',
} as const;
