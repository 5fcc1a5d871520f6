import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { AGGREGATOR_DEFAULTS } from '../../contracts/aggregator-settings';
import {
  CLICKS_EVENT_SOURCE_DEFAULTS,
  ClickstreamPipeline,
  type ClickstreamPipelineProps,
} from '../../lib/clickstream-pipeline';
import { pipelineWith, propsTestStack } from './support';

// These stacks skip bundling and schema validation (see support.ts): they test props, not code.

describe('synth-time validation', () => {
  it.each<[string, ClickstreamPipelineProps, string]>([
    [
      'batchSize above 10000',
      { batchSize: 20_000 },
      'batchSize must be an integer between 1 and 10000. Received 20000',
    ],
    ['batchSize of 0', { batchSize: 0 }, 'batchSize must be an integer between 1 and 10000. Received 0'],
    ['fractional batchSize', { batchSize: 2.5 }, 'batchSize must be an integer between 1 and 10000. Received 2.5'],
    ['shardCount of 0', { shardCount: 0 }, 'shardCount must be an integer at least 1. Received 0'],
    [
      'unbounded retryAttempts',
      { retryAttempts: -1 },
      'retryAttempts must be an integer between 0 and 10000. Received -1',
    ],
    [
      'maxEventBytes above the Kinesis record limit',
      { maxEventBytes: 2_000_000 },
      'maxEventBytes must be an integer between 1 and 1048576. Received 2000000',
    ],
    [
      'maxBatchingWindow above 300 s',
      { maxBatchingWindow: Duration.minutes(6) },
      'maxBatchingWindow must be a whole number of seconds between 0 and 300 seconds. Received 360 seconds',
    ],
    [
      'maxRecordAge below 60 s',
      { maxRecordAge: Duration.seconds(30) },
      'maxRecordAge must be a whole number of seconds between 60 and 86400 seconds. Received 30 seconds',
    ],
    [
      'maxRecordAge beyond the stream retention',
      { maxRecordAge: Duration.days(2) },
      'maxRecordAge must be a whole number of seconds between 60 and 86400 seconds. Received 172800 seconds',
    ],
    [
      'fractional allowedLateness',
      { allowedLateness: Duration.millis(1500) },
      'allowedLateness must be a whole number of seconds at least 0 seconds. Received 1.5 seconds',
    ],
    [
      'fractional dedupHorizon',
      { dedupHorizon: Duration.millis(10_500) },
      'dedupHorizon must be a whole number of seconds at least 0 seconds. Received 10.5 seconds',
    ],
    [
      'a dedupHorizon shorter than a future-stamped click\'s window stays open',
      { dedupHorizon: Duration.minutes(5), maxFutureSkew: Duration.minutes(5), allowedLateness: Duration.minutes(1) },
      'dedupHorizon must be at least maxFutureSkew + 60 seconds + allowedLateness (420 seconds), or 0 to turn the ledger off: ' +
        'a re-sent click must be remembered while its window can still count it. ' +
        'Received dedupHorizon 300 seconds, maxFutureSkew 300 seconds, allowedLateness 60 seconds',
    ],
    [
      'a maxFutureSkew the default dedupHorizon cannot cover',
      { maxFutureSkew: Duration.minutes(20) },
      'dedupHorizon must be at least maxFutureSkew + 60 seconds + allowedLateness (1320 seconds), or 0 to turn the ledger off: ' +
        'a re-sent click must be remembered while its window can still count it. ' +
        'Received dedupHorizon 900 seconds, maxFutureSkew 1200 seconds, allowedLateness 60 seconds',
    ],
    [
      'fractional maxFutureSkew',
      { maxFutureSkew: Duration.millis(100) },
      'maxFutureSkew must be a whole number of seconds at least 0 seconds. Received 0.1 seconds',
    ],
    [
      'AT_TIMESTAMP starting position',
      { startingPosition: StartingPosition.AT_TIMESTAMP },
      'startingPosition must be TRIM_HORIZON or LATEST. Received AT_TIMESTAMP',
    ],
  ])('rejects %s with the received value', (_case, props, message) => {
    const stack = new Stack(new App(), 'Test');
    expect(() => new ClickstreamPipeline(stack, 'Clickstream', props)).toThrow(message);
  });
});

describe('event source mapping props', () => {
  it('overrides the defaults', () => {
    const { stack } = pipelineWith({
      batchSize: 500,
      maxBatchingWindow: Duration.seconds(5),
      retryAttempts: 3,
      maxRecordAge: Duration.minutes(10),
      startingPosition: StartingPosition.LATEST,
    });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 5,
      MaximumRetryAttempts: 3,
      MaximumRecordAgeInSeconds: 600,
      StartingPosition: 'LATEST',
      ParallelizationFactor: 1,
    });
  });

  it('keeps the documented defaults in one constant', () => {
    expect({
      ...CLICKS_EVENT_SOURCE_DEFAULTS,
      maxBatchingWindow: CLICKS_EVENT_SOURCE_DEFAULTS.maxBatchingWindow.toSeconds(),
      maxRecordAge: CLICKS_EVENT_SOURCE_DEFAULTS.maxRecordAge.toSeconds(),
    }).toStrictEqual({
      batchSize: 1000,
      maxBatchingWindow: 1,
      bisectBatchOnError: true,
      retryAttempts: 10,
      maxRecordAge: 3600,
      reportBatchItemFailures: true,
      startingPosition: StartingPosition.TRIM_HORIZON,
      parallelizationFactor: 1,
    });
  });
});

describe('aggregator tuning props', () => {
  it('writes the contract defaults when none are given', () => {
    const { stack } = pipelineWith();
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          ALLOWED_LATENESS_SECONDS: String(AGGREGATOR_DEFAULTS.allowedLatenessSeconds),
          DEDUP_HORIZON_SECONDS: String(AGGREGATOR_DEFAULTS.dedupHorizonSeconds),
          MAX_EVENT_BYTES: String(AGGREGATOR_DEFAULTS.maxEventBytes),
          MAX_FUTURE_SKEW_SECONDS: String(AGGREGATOR_DEFAULTS.maxFutureSkewSeconds),
        }),
      },
    });
  });

  it('writes given values in seconds and bytes', () => {
    const { stack } = pipelineWith({
      allowedLateness: Duration.minutes(2),
      dedupHorizon: Duration.hours(1),
      maxEventBytes: 8192,
      maxFutureSkew: Duration.seconds(30),
    });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          ALLOWED_LATENESS_SECONDS: '120',
          DEDUP_HORIZON_SECONDS: '3600',
          MAX_EVENT_BYTES: '8192',
          MAX_FUTURE_SKEW_SECONDS: '30',
        }),
      },
    });
  });
});

describe('stream props', () => {
  it('provisions the given shard count', () => {
    const { stack } = pipelineWith({ shardCount: 4 });
    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4 });
  });
});

describe('alarmTopic', () => {
  it('notifies the topic from every alarm', () => {
    const stack = propsTestStack();
    const topic = new Topic(stack, 'Alarms');
    const pipeline = new ClickstreamPipeline(stack, 'Clickstream', { alarmTopic: topic });
    const alarms = Object.values(Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(Object.keys(pipeline.alarms).length);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toStrictEqual([stack.resolve(topic.topicArn)]);
    }
  });
});

describe('removalPolicy', () => {
  const stateful = [
    'AWS::DynamoDB::Table',
    'AWS::Kinesis::Stream',
    'AWS::KMS::Key',
    'AWS::SQS::Queue',
    'AWS::Logs::LogGroup',
  ];

  it.each(stateful)('deletes %s with the stack by default', (type) => {
    const resources = Object.values(Template.fromStack(pipelineWith().stack).findResources(type));
    expect(resources.length).toBeGreaterThan(0);
    expect(resources.map((resource) => resource.DeletionPolicy)).toStrictEqual(resources.map(() => 'Delete'));
  });

  it.each(stateful)('retains %s when asked to', (type) => {
    const { stack } = pipelineWith({ removalPolicy: RemovalPolicy.RETAIN });
    const resources = Object.values(Template.fromStack(stack).findResources(type));
    expect(resources.map((resource) => resource.DeletionPolicy)).toStrictEqual(resources.map(() => 'Retain'));
  });
});
