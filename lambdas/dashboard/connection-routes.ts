import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { DASHBOARD_HISTORY_MINUTES, type HealthMessage } from '../../contracts/dashboard';
import { parseClientMessage } from './core/client-message';
import type { ConnectionItem } from '../../contracts/dashboard-connections';
import { newConnection } from './core/connection';
import { healthMessage, pricesPayloads, snapshotPayloads } from './core/messages';
import { toMarketQuote, type LatestQuote } from './core/quotes';
import { snapshotMinutes, snapshotWindows } from './core/windows';
import type { PostOutcome } from './management-api';
import { reportOversized } from './oversized';
import type { ConnectionsSettings } from './settings';
import type { WindowRead } from './window-reader';

/**
 * The parts of an API Gateway WebSocket proxy event the routes use, validated at the boundary.
 * `requestContext.authorizer` carries the $connect authorizer's context (`sub`) and principalId.
 */
export const WebSocketRouteEvent = z.object({
  requestContext: z.object({
    routeKey: z.string(),
    connectionId: z.string().min(1),
    authorizer: z.object({ principalId: z.string().optional(), sub: z.string().optional() }).nullish(),
  }),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().optional(),
});
export type WebSocketRouteEvent = z.infer<typeof WebSocketRouteEvent>;

export interface RouteResult {
  readonly statusCode: number;
}

export interface ConnectionRouteDependencies {
  readonly connections: {
    put(item: ConnectionItem): Promise<void>;
    markSubscribed(connectionId: string, nowMs: number): Promise<boolean>;
    delete(connectionId: string): Promise<void>;
  };
  /** The totals of these minutes and the stream's watermark (strongly consistent Queries, never a Scan). */
  readonly readSnapshot: (windowStarts: readonly string[]) => Promise<WindowRead & { streamWatermarkMs: number }>;
  /** Every symbol's latest quote, with the market panel (lib/market-panel.ts); absent without it. */
  readonly readQuotes?: () => Promise<{ quotes: LatestQuote[]; invalid: number }>;
  readonly post: (connectionId: string, payload: string) => Promise<PostOutcome>;
  readonly settings: ConnectionsSettings;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly now: () => number;
}

/**
 * One handler for the three routes:
 * - `$connect` (already authorized) records the connection with its subject and a TTL;
 * - `$disconnect` deletes it;
 * - `$default` answers `subscribe` with a snapshot and `ping` with `health`, and an invalid
 *   frame with a `health` message whose detail says what was expected: a client error is
 *   answered, never thrown.
 * Replies go through @connections (there are no route responses), so the status codes returned
 * here reach API Gateway's logs, not the client; except on $connect, where non-2xx refuses it.
 */
export async function handleRoute(rawEvent: unknown, deps: ConnectionRouteDependencies): Promise<RouteResult> {
  try {
    const parsed = WebSocketRouteEvent.safeParse(rawEvent);
    if (!parsed.success) {
      deps.logger.error('Not an API Gateway WebSocket event', { issues: parsed.error.issues.map((issue) => issue.message) });
      return { statusCode: 400 };
    }
    const event = parsed.data;
    const { routeKey, connectionId } = event.requestContext;
    switch (routeKey) {
      case '$connect':
        return await connect(event, deps);
      case '$disconnect':
        await deps.connections.delete(connectionId);
        deps.metrics.addMetric('Disconnects', MetricUnit.Count, 1);
        return { statusCode: 200 };
      case '$default':
        return await onMessage(event, deps);
      default:
        deps.logger.error('Unexpected route', { routeKey });
        return { statusCode: 400 };
    }
  } finally {
    deps.metrics.publishStoredMetrics();
  }
}

async function connect(event: WebSocketRouteEvent, deps: ConnectionRouteDependencies): Promise<RouteResult> {
  const { connectionId, authorizer } = event.requestContext;
  const sub = authorizer?.sub ?? authorizer?.principalId;
  if (!sub) {
    // The $connect route always has the authorizer; a request without its context did not pass it.
    deps.logger.error('$connect without an authorizer context; refusing', { connectionId });
    return { statusCode: 403 };
  }
  await deps.connections.put(newConnection(connectionId, sub, deps.now(), deps.settings.connectionTtlSeconds));
  deps.metrics.addMetric('Connects', MetricUnit.Count, 1);
  return { statusCode: 200 };
}

async function onMessage(event: WebSocketRouteEvent, deps: ConnectionRouteDependencies): Promise<RouteResult> {
  const { connectionId } = event.requestContext;
  const body = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  const result = parseClientMessage(body);
  if (!result.ok) {
    deps.metrics.addMetric('InvalidClientMessages', MetricUnit.Count, 1);
    deps.logger.warn('Invalid client message', { connectionId, reason: result.reason });
    await reply(connectionId, healthMessage(deps.now(), 'degraded', result.reason), deps);
    return { statusCode: 400 };
  }
  switch (result.message.type) {
    case 'ping':
      await reply(connectionId, healthMessage(deps.now(), 'ok'), deps);
      return { statusCode: 200 };
    case 'subscribe':
      return sendSnapshot(connectionId, deps);
  }
}

/**
 * Subscribes first, then reads: an update written after the read reaches the client as a
 * broadcast, one written before it is in the snapshot, so nothing falls between the two. Both
 * sides read strongly consistently (this snapshot, and the broadcaster's list of subscribed
 * connections), so an eventually consistent read cannot open that gap again. (The client keeps
 * the higher count when a broadcast and a snapshot part overlap.)
 */
async function sendSnapshot(connectionId: string, deps: ConnectionRouteDependencies): Promise<RouteResult> {
  const nowMs = deps.now();
  if (!(await deps.connections.markSubscribed(connectionId, nowMs))) {
    deps.logger.info('Subscribe from a connection that is already gone', { connectionId });
    return { statusCode: 410 };
  }
  const scan = await deps.readSnapshot(snapshotMinutes(nowMs, DASHBOARD_HISTORY_MINUTES));
  if (scan.invalid > 0) {
    deps.logger.error('Window items failed the ClickWindowItem contract and were left out of the snapshot', { count: scan.invalid });
    deps.metrics.addMetric('InvalidWindowItems', MetricUnit.Count, scan.invalid);
  }
  const windows = snapshotWindows(scan.windows, nowMs, DASHBOARD_HISTORY_MINUTES, scan.streamWatermarkMs, deps.settings.allowedLatenessSeconds * 1000);
  const { payloads: windowPayloads, oversized } = snapshotPayloads(nowMs, windows);
  reportOversized(oversized, deps);
  const payloads = [...windowPayloads, ...(await quotePayloads(nowMs, deps))];

  for (const payload of payloads) {
    const outcome = await deps.post(connectionId, payload);
    if (outcome.status !== 'sent') {
      await onPostFailure(connectionId, outcome, deps);
      return { statusCode: outcome.status === 'gone' ? 410 : 500 };
    }
  }
  deps.metrics.addMetric('SnapshotsSent', MetricUnit.Count, 1);
  deps.metrics.addMetric('SnapshotMessages', MetricUnit.Count, payloads.length);
  deps.logger.info('Snapshot sent', { connectionId, windows: windows.length, messages: payloads.length });
  return { statusCode: 200 };
}

/**
 * The market panel's snapshot: every symbol's latest quote, after the windows. The quotes table is
 * read after the subscription is recorded, like the windows, so a quote is either in it or in a
 * later broadcast (the page keeps the newer of the two by event time). A failed read is logged and
 * the windows still go out: the next prices batch, about a second later, fills the panel.
 */
async function quotePayloads(nowMs: number, deps: ConnectionRouteDependencies): Promise<string[]> {
  if (deps.readQuotes === undefined) return [];
  try {
    const { quotes, invalid } = await deps.readQuotes();
    if (invalid > 0) {
      deps.logger.error('Quote items failed the LatestQuoteItem contract and were left out of the snapshot', { count: invalid });
      deps.metrics.addMetric('InvalidQuoteItems', MetricUnit.Count, invalid);
    }
    return pricesPayloads(nowMs, quotes.map(toMarketQuote));
  } catch (error) {
    deps.logger.error('Could not read the latest quotes; the snapshot goes without them', { error: (error as Error).name });
    deps.metrics.addMetric('QuoteReadFailures', MetricUnit.Count, 1);
    return [];
  }
}

async function reply(connectionId: string, message: HealthMessage, deps: ConnectionRouteDependencies): Promise<void> {
  const outcome = await deps.post(connectionId, JSON.stringify(message));
  if (outcome.status !== 'sent') await onPostFailure(connectionId, outcome, deps);
}

async function onPostFailure(connectionId: string, outcome: PostOutcome, deps: ConnectionRouteDependencies): Promise<void> {
  if (outcome.status === 'gone') {
    deps.metrics.addMetric('GoneConnections', MetricUnit.Count, 1);
    await deps.connections.delete(connectionId);
    return;
  }
  deps.metrics.addMetric('PostFailures', MetricUnit.Count, 1);
  deps.logger.error('Could not post to the connection', { connectionId, error: outcome.status === 'failed' ? outcome.error : undefined });
}
