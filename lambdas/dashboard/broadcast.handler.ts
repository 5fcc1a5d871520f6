import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { broadcastWindowChanges, type BroadcasterDependencies } from './broadcast';
import { postingDependenciesFromEnv } from './broadcaster-dependencies';
import { BroadcasterSettings, settingsFromEnv } from './settings';
import { readMinutes, readStreamWatermark } from './window-reader';

// Created once per cold start; the handler only wires them in.
const settings = settingsFromEnv(BroadcasterSettings, 'broadcaster');
const { posting, ddb } = postingDependenciesFromEnv('broadcaster');
const dependencies: BroadcasterDependencies = {
  ...posting,
  settings,
  readMinutes: (windowStarts) => readMinutes(ddb, settings.windowTableName, windowStarts),
  readStreamWatermark: () => readStreamWatermark(ddb, settings.windowTableName),
};

/** DynamoDB Streams of the window table -> every subscribed dashboard connection. */
export const handler = (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
  broadcastWindowChanges(event, context, dependencies);
