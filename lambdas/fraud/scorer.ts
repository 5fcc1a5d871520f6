import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { fraudScorerSettingsFromEnv } from '../../contracts/fraud-settings';
import { documentClient } from '../dashboard/clients';
import { ScoringConfigSource } from './config-source';
import { scoreOrders, type ScorerDependencies } from './score-orders';
import { ScorerStore } from './scorer-store';

// Created once per cold start; the handler only wires them in.
const settings = fraudScorerSettingsFromEnv(process.env);
const logger = new Logger();
const tracer = new Tracer();
const ddb = documentClient(tracer);
const dependencies: ScorerDependencies = {
  store: new ScorerStore(ddb, settings),
  configs: new ScoringConfigSource(ddb, settings.configTableName, settings.configMaxAgeSeconds * 1000, (error) =>
    logger.error('The configuration table names an invalid configuration; scoring with the last good one', { error })),
  sqs: tracer.captureAWSv3Client(new SQSClient({})),
  settings,
  logger,
  metrics: new Metrics(),
  now: Date.now,
};

/** The orders stream -> decisions and profiles, exactly once. */
export const handler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> => scoreOrders(event, context, dependencies);
