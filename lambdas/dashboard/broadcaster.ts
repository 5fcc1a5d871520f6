import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { broadcastWindowChanges } from './broadcast';
import { broadcasterDependenciesFromEnv } from './broadcaster-dependencies';

// Created once per cold start; the handler only wires them in.
const dependencies = broadcasterDependenciesFromEnv('broadcaster');

/** DynamoDB Streams of the window table -> every subscribed dashboard connection. */
export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  broadcastWindowChanges(event, context, dependencies);
