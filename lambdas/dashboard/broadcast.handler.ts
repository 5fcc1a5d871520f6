import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { broadcastWindowChanges, type BroadcasterDependencies } from './broadcast';
import { documentClient, managementApiClient } from './clients';
import { ConnectionStore } from './connection-store';
import { postToConnection } from './management-api';
import { BroadcasterSettings, requireManagementApiEndpoint, settingsFromEnv } from './settings';
import { readMinutes, readStreamWatermark } from './window-reader';

// Created once per cold start; the handler only wires them in.
const settings = settingsFromEnv(BroadcasterSettings, 'broadcaster');
requireManagementApiEndpoint();
const tracer = new Tracer();
const management = managementApiClient(tracer);
const ddb = documentClient(tracer);
const dependencies: BroadcasterDependencies = {
  connections: new ConnectionStore(ddb, settings.connectionsTableName),
  post: (connectionId, payload) => postToConnection(management, connectionId, payload),
  readMinutes: (windowStarts) => readMinutes(ddb, settings.windowTableName, windowStarts),
  readStreamWatermark: () => readStreamWatermark(ddb, settings.windowTableName),
  settings,
  logger: new Logger(),
  metrics: new Metrics(),
  now: Date.now,
};

/** DynamoDB Streams of the window table -> every subscribed dashboard connection. */
export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  broadcastWindowChanges(event, context, dependencies);
