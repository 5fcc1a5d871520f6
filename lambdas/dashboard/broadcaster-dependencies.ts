import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PostingDependencies } from './broadcast';
import { documentClient, managementApiClient } from './clients';
import { ConnectionStore } from './connection-store';
import { postToConnection } from './management-api';
import { PostingSettings, requireManagementApiEndpoint, settingsFromEnv } from './settings';

/**
 * What a function that posts to every subscribed dashboard connection needs, from its environment
 * (the window broadcaster and the fraud alert broadcaster), and the document client it made, for
 * whatever else the function reads. Call once per cold start.
 */
export function postingDependenciesFromEnv(what: string): { posting: PostingDependencies; ddb: DynamoDBDocumentClient } {
  const settings = settingsFromEnv(PostingSettings, what);
  requireManagementApiEndpoint();
  const tracer = new Tracer();
  const management = managementApiClient(tracer);
  const ddb = documentClient(tracer);
  return {
    posting: {
      connections: new ConnectionStore(ddb, settings.connectionsTableName),
      post: (connectionId, payload) => postToConnection(management, connectionId, payload),
      settings,
      logger: new Logger(),
      metrics: new Metrics(),
      now: Date.now,
    },
    ddb,
  };
}
