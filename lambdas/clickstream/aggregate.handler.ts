import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { aggregatorSettingsFromEnv } from './settings';
import { aggregateClicks, type AggregatorDependencies } from './aggregate';
import { KinesisShardLineage } from './shard-lineage';
import { ShardStore } from './shard-store';

// Created once per cold start; the handler only wires them in.
const settings = aggregatorSettingsFromEnv();
const logger = new Logger();
const metrics = new Metrics();
const tracer = new Tracer();
const ddb = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
  marshallOptions: { removeUndefinedValues: true },
});
const dependencies: AggregatorDependencies = {
  store: new ShardStore(ddb, {
    windowTableName: settings.windowTableName,
    stateTableName: settings.stateTableName,
    dedupHorizonMs: settings.dedupHorizonSeconds * 1000,
    windowRetentionMs: settings.windowRetentionSeconds * 1000,
    lineage: new KinesisShardLineage(tracer.captureAWSv3Client(new KinesisClient({}))),
  }),
  sqs: tracer.captureAWSv3Client(new SQSClient({})),
  settings,
  logger,
  metrics,
  now: Date.now,
};

export const handler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> =>
  aggregateClicks(event, context, dependencies);
