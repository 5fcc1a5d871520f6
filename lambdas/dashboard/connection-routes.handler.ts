import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { documentClient, managementApiClient } from './clients';
import { ConnectionStore } from './connection-store';
import { handleRoute, type ConnectionRouteDependencies, type RouteResult } from './connection-routes';
import { postToConnection } from './management-api';
import { ConnectionsSettings, requireManagementApiEndpoint, settingsFromEnv } from './settings';
import { readQuotes } from './quote-store';
import { readSnapshot } from './window-reader';

// Created once per cold start; the handler only wires them in.
const settings = settingsFromEnv(ConnectionsSettings, 'connections handler');
requireManagementApiEndpoint();
const tracer = new Tracer();
const ddb = documentClient(tracer);
const management = managementApiClient(tracer);
const dependencies: ConnectionRouteDependencies = {
  connections: new ConnectionStore(ddb, settings.connectionsTableName),
  readSnapshot: (windowStarts) => readSnapshot(ddb, settings.windowTableName, windowStarts),
  ...(settings.quotesTableName === undefined ? {} : { readQuotes: () => readQuotes(ddb, settings.quotesTableName!) }),
  post: (connectionId, payload) => postToConnection(management, connectionId, payload),
  settings,
  logger: new Logger(),
  metrics: new Metrics(),
  now: Date.now,
};

/** $connect, $disconnect and $default of the dashboard's WebSocket API. */
export const handler = (event: unknown): Promise<RouteResult> => handleRoute(event, dependencies);
