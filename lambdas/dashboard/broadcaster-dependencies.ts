import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { BroadcasterDependencies } from './broadcast';
import { documentClient, managementApiClient } from './clients';
import { ConnectionStore } from './connection-store';
import { postToConnection } from './management-api';
import { BroadcasterSettings, requireManagementApiEndpoint, settingsFromEnv } from './settings';

/**
 * What a function that posts to every subscribed dashboard connection needs, from its environment:
 * the window broadcaster and the fraud alert broadcaster. Call once per cold start.
 */
export function broadcasterDependenciesFromEnv(what: string): BroadcasterDependencies {
  const settings = settingsFromEnv(BroadcasterSettings, what);
  requireManagementApiEndpoint();
  const tracer = new Tracer();
  const management = managementApiClient(tracer);
  return {
    connections: new ConnectionStore(documentClient(tracer), settings.connectionsTableName),
    post: (connectionId, payload) => postToConnection(management, connectionId, payload),
    settings,
    logger: new Logger(),
    metrics: new Metrics(),
    now: Date.now,
  };
}
