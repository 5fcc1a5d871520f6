import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { postingDependenciesFromEnv } from '../dashboard/broadcaster-dependencies';
import { broadcastDecisions } from './alerts';

// Created once per cold start; the handler only wires them in.
const { posting: dependencies } = postingDependenciesFromEnv('fraud alert broadcaster');

/** The decisions table's stream -> alerts and decision counts on every subscribed dashboard connection. */
export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  broadcastDecisions(event, context, dependencies);
