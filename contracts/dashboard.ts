import * as z from 'zod';
import { AGGREGATOR_DEFAULTS } from './aggregator-settings';

/**
 * The live dashboard's WebSocket protocol. The broadcaster and the $default route handler send
 * these; the web app parses them with the same schemas. Bump PROTOCOL_VERSION on any change a
 * client built for the previous version could not read.
 */
export const PROTOCOL_VERSION = 1;

/** One (url, window) count, as the window table holds it. */
export const WindowCount = z.object({
  url: z.string(),
  windowStart: z.iso.datetime(),
  windowEnd: z.iso.datetime(),
  count: z.number().int().nonnegative(),
  lateCount: z.number().int().nonnegative(),
  /** Clicks added by this change (count - previous count); a snapshot carries 0. */
  delta: z.number().int(),
  /** No more on-time clicks can arrive: now is past windowEnd + the allowed lateness. */
  final: z.boolean(),
});
export type WindowCount = z.infer<typeof WindowCount>;

const envelope = { v: z.literal(PROTOCOL_VERSION), sentAt: z.iso.datetime() };

/** Sent once after a client subscribes, so a new tab is never empty: the last 30 minutes of windows. */
export const SnapshotMessage = z.object({ ...envelope, type: z.literal('snapshot'), windows: z.array(WindowCount) });
export type SnapshotMessage = z.infer<typeof SnapshotMessage>;
/** Windows that changed, coalesced per broadcaster batch. */
export const WindowsMessage = z.object({ ...envelope, type: z.literal('windows'), windows: z.array(WindowCount) });
export type WindowsMessage = z.infer<typeof WindowsMessage>;
/** A REVIEW or BLOCK decision of the fraud scorer (contracts/fraud.ts), as analysts see it live. */
export const AlertMessage = z.object({
  ...envelope,
  type: z.literal('alert'),
  alert: z.object({
    orderId: z.string(),
    userId: z.string(),
    score: z.number(),
    /** One line per reason, largest contribution first, e.g. "IP address used by 6 other users in the last hour (+6.60)". */
    reasons: z.array(z.string()),
    /** When the decision was made. */
    at: z.iso.datetime(),
    /** Optional so that protocol-v1 messages from before the fraud pipeline still parse; the scorer always sends them. */
    decision: z.enum(['REVIEW', 'BLOCK']).optional(),
    amount: z.number().optional(),
    currency: z.string().optional(),
    modelVersion: z.string().optional(),
  }),
});
export type AlertMessage = z.infer<typeof AlertMessage>;
/** Fraud decisions by outcome, per broadcaster batch: the dashboard sums them into decision rates. */
export const DecisionCountsMessage = z.object({
  ...envelope,
  type: z.literal('decisions'),
  counts: z.object({ ALLOW: z.number().int().nonnegative(), REVIEW: z.number().int().nonnegative(), BLOCK: z.number().int().nonnegative() }),
});
export type DecisionCountsMessage = z.infer<typeof DecisionCountsMessage>;
/** Liveness and throughput from the server side. */
export const HealthMessage = z.object({ ...envelope, type: z.literal('health'), status: z.enum(['ok', 'degraded']), detail: z.string().optional() });
export type HealthMessage = z.infer<typeof HealthMessage>;

export const ServerMessage = z.discriminatedUnion('type', [SnapshotMessage, WindowsMessage, AlertMessage, DecisionCountsMessage, HealthMessage]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** What a client sends on the $default route. */
export const ClientMessage = z.discriminatedUnion('type', [
  z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal('subscribe') }),
  z.object({ v: z.literal(PROTOCOL_VERSION), type: z.literal('ping') }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** API Gateway rejects a WebSocket frame over 128 KiB; messages are split to stay well under it. */
export const MAX_MESSAGE_BYTES = 120 * 1024;

/** How far back a snapshot and the dashboard's time series reach. */
export const DASHBOARD_HISTORY_MINUTES = 30;

/**
 * `config.json` next to the dashboard's index.html: written at deploy time on AWS (CloudFront),
 * and by the local cloud for http://localhost:3000.
 */
export const DashboardConfig = z.object({
  webSocketUrl: z.string().regex(/^wss?:\/\//),
  auth: z.discriminatedUnion('mode', [
    /** Cognito managed login, authorization code flow with PKCE. */
    z.object({ mode: z.literal('cognito'), domain: z.url(), clientId: z.string(), redirectUri: z.url() }),
    /** The local cloud's development issuer: POST tokenUrl returns `{ "token": "<JWT>" }`. */
    z.object({ mode: z.literal('dev'), tokenUrl: z.url() }),
  ]),
  /** The pipeline's allowed lateness: a window is final this long after it ends. */
  allowedLatenessSeconds: z.number().int().nonnegative().default(AGGREGATOR_DEFAULTS.allowedLatenessSeconds),
  /**
   * How long the server lets a WebSocket connection live; the page opens a new one before that
   * (web/src/connection.ts). Tests shorten it to see the handover in seconds.
   * @default - 7200, API Gateway's limit (MAX_CONNECTION_MS)
   */
  maxConnectionSeconds: z.number().positive().optional(),
});
export type DashboardConfig = z.infer<typeof DashboardConfig>;
/** A config as written, before defaults apply. */
export type DashboardConfigInput = z.input<typeof DashboardConfig>;
