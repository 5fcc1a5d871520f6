import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregatorEnv } from '../../contracts/aggregator-settings';
import type { ClickstreamPipeline } from '../../lib/clickstream-pipeline';
import type { WatershedStack } from '../../lib/watershed-stack';
import { logicalIdOf, resolved, synthesizeWatershed } from './support';

interface PolicyStatement {
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Effect: string;
}

let stack: WatershedStack;
let pipeline: ClickstreamPipeline;
let template: Template;
let outdir: string;

beforeAll(() => {
  ({ stack, template, outdir } = synthesizeWatershed());
  pipeline = stack.clickstream;
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** Every statement of the IAM policies attached to the aggregator's role. */
function aggregatorStatements(): PolicyStatement[] {
  const roleRef = resolved(stack, pipeline.aggregator.role!.roleName);
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
    (policy.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify(roleRef)),
  );
  return policies.flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[]);
}

/** The synthesized Properties of an L2 construct's CloudFormation resource. */
function propertiesOf(construct: { node: { defaultChild?: unknown } }): Record<string, unknown> {
  return template.toJSON().Resources[logicalIdOf(stack, construct)].Properties;
}

function actionsOf(statement: PolicyStatement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function resourcesOf(statement: PolicyStatement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/**
 * The stack holds other pipelines' functions and mappings too: these assert that the aggregator's
 * own resource has the properties, not merely some resource of the type.
 */
function aggregatorFunctionHas(properties: Record<string, unknown>): void {
  const matching = template.findResources('AWS::Lambda::Function', { Properties: properties });
  expect(Object.keys(matching)).toContain(logicalIdOf(stack, pipeline.aggregator));
}

function aggregatorMappingHas(properties: Record<string, unknown>): void {
  template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
    FunctionName: resolved(stack, pipeline.aggregator.functionName),
    ...properties,
  });
}

describe('clicks event source mapping', () => {
  it.each([
    ['BatchSize', 1000],
    ['MaximumBatchingWindowInSeconds', 1],
    ['BisectBatchOnFunctionError', true],
    ['MaximumRetryAttempts', 10],
    ['MaximumRecordAgeInSeconds', 3600],
    ['FunctionResponseTypes', ['ReportBatchItemFailures']],
    ['StartingPosition', 'TRIM_HORIZON'],
    ['ParallelizationFactor', 1],
  ])('sets %s to %j', (property, value) => {
    aggregatorMappingHas({ [property]: value });
  });

  it('reads the clicks stream into the aggregator', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: resolved(stack, pipeline.clicksStream.streamArn),
      FunctionName: resolved(stack, pipeline.aggregator.functionName),
    });
  });

  it('sends failed batches to the failed-batch queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      DestinationConfig: { OnFailure: { Destination: resolved(stack, pipeline.failedBatchQueue.queueArn) } },
    });
  });

  it('is the only event source mapping of the clicks stream and of the aggregator', () => {
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
    const onClicks = JSON.stringify(resolved(stack, pipeline.clicksStream.streamArn));
    const toAggregator = JSON.stringify(resolved(stack, pipeline.aggregator.functionName));
    expect(mappings.filter((m) => JSON.stringify(m.Properties.EventSourceArn) === onClicks)).toHaveLength(1);
    expect(mappings.filter((m) => JSON.stringify(m.Properties.FunctionName) === toAggregator)).toHaveLength(1);
  });
});

describe('clicks stream', () => {
  it('is encrypted with the pipeline key', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: resolved(stack, pipeline.streamKey.keyArn) },
    });
  });

  it('keeps records for 24 hours on one shard by default', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', { RetentionPeriodHours: 24, ShardCount: 1 });
  });

  it('uses a customer-managed key with rotation', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
  });
});

describe('tables', () => {
  it('uses classic tables, which the local cloud maps', () => {
    const tables = template.findResources('AWS::DynamoDB::Table');
    expect(Object.keys(tables)).toEqual(
      expect.arrayContaining([logicalIdOf(stack, pipeline.windowTable), logicalIdOf(stack, pipeline.stateTable)]),
    );
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
  });

  describe.each([
    ['window table', () => pipeline.windowTable, 'pk', 'sk'],
    ['state table', () => pipeline.stateTable, 'pk', 'sk'],
  ])('%s', (_name, table, partitionKey, sortKey) => {
    it('is keyed by its documented string keys', () => {
      const properties = propertiesOf(table());
      expect(properties.KeySchema).toStrictEqual([
        { AttributeName: partitionKey, KeyType: 'HASH' },
        { AttributeName: sortKey, KeyType: 'RANGE' },
      ]);
      expect(properties.AttributeDefinitions).toStrictEqual([
        { AttributeName: partitionKey, AttributeType: 'S' },
        { AttributeName: sortKey, AttributeType: 'S' },
      ]);
    });

    it('bills on demand', () => {
      expect(propertiesOf(table()).BillingMode).toBe('PAY_PER_REQUEST');
    });

    it('has point-in-time recovery', () => {
      expect(propertiesOf(table()).PointInTimeRecoverySpecification).toStrictEqual({
        PointInTimeRecoveryEnabled: true,
      });
    });

    it('is encrypted at rest', () => {
      expect(propertiesOf(table()).SSESpecification).toStrictEqual({ SSEEnabled: true });
    });
  });

  it('streams new and old window images for the dashboard', () => {
    expect(propertiesOf(pipeline.windowTable).StreamSpecification).toStrictEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
  });

  it.each([
    ['window', () => pipeline.windowTable],
    ['state', () => pipeline.stateTable],
  ])('expires %s items by expiresAt', (_name, table) => {
    expect(propertiesOf(table()).TimeToLiveSpecification).toStrictEqual({ AttributeName: 'expiresAt', Enabled: true });
  });
});

describe.each([
  ['dead-letter queue', () => pipeline.deadLetterQueue],
  ['late-events queue', () => pipeline.lateEventsQueue],
  ['failed-batch queue', () => pipeline.failedBatchQueue],
])('%s', (_name, queue) => {
  it('is encrypted and keeps messages 14 days', () => {
    expect(propertiesOf(queue())).toStrictEqual({
      MessageRetentionPeriod: 1_209_600,
      SqsManagedSseEnabled: true,
    });
  });

  it('denies requests without TLS', () => {
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [resolved(stack, queue().queueUrl)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('aggregator function', () => {
  it.each([
    ['Runtime', 'nodejs22.x'],
    ['Architectures', ['arm64']],
    ['MemorySize', 512],
    ['Timeout', 60],
    ['Handler', 'index.handler'],
    ['LoggingConfig', Match.objectLike({ LogFormat: 'JSON' })],
  ])('sets %s', (property, value) => {
    aggregatorFunctionHas({ [property]: value });
  });

  it('is code from an S3 zip asset, not a container image', () => {
    aggregatorFunctionHas({
      Code: { S3Bucket: Match.anyValue(), S3Key: Match.stringLikeRegexp('^[0-9a-f]{64}\\.zip$') },
    });
  });

  it.each([
    [AggregatorEnv.windowTableName, () => resolved(stack, pipeline.windowTable.tableName)],
    [AggregatorEnv.stateTableName, () => resolved(stack, pipeline.stateTable.tableName)],
    [AggregatorEnv.deadLetterQueueUrl, () => resolved(stack, pipeline.deadLetterQueue.queueUrl)],
    [AggregatorEnv.lateEventsQueueUrl, () => resolved(stack, pipeline.lateEventsQueue.queueUrl)],
    [AggregatorEnv.allowedLatenessSeconds, () => '60'],
    [AggregatorEnv.dedupHorizonSeconds, () => '900'],
    [AggregatorEnv.maxEventBytes, () => '4096'],
    [AggregatorEnv.maxFutureSkewSeconds, () => '300'],
    [AggregatorEnv.windowRetentionSeconds, () => String(7 * 24 * 60 * 60)],
    ['POWERTOOLS_SERVICE_NAME', () => 'clickstream-aggregator'],
    ['POWERTOOLS_METRICS_NAMESPACE', () => 'Watershed'],
    ['NODE_OPTIONS', () => '--enable-source-maps'],
  ])('sets %s', (variable, value) => {
    aggregatorFunctionHas({
      Environment: { Variables: Match.objectLike({ [variable]: value() }) },
    });
  });

  it('writes its logs to its own log group', () => {
    aggregatorFunctionHas({
      LoggingConfig: { LogFormat: 'JSON', LogGroup: resolved(stack, pipeline.aggregatorLogGroup.logGroupName) },
    });
  });
});

describe('aggregator permissions', () => {
  it('attaches no managed policies to the role', () => {
    const role = template.toJSON().Resources[logicalIdOf(stack, pipeline.aggregator.role!)];
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toMatchObject([
      { Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it.each([
    ['dynamodb:GetItem', 'window table', () => pipeline.windowTable.tableArn],
    ['dynamodb:Query', 'window table', () => pipeline.windowTable.tableArn],
    ['dynamodb:PutItem', 'window table', () => pipeline.windowTable.tableArn],
    ['dynamodb:GetItem', 'state table', () => pipeline.stateTable.tableArn],
    ['dynamodb:Query', 'state table', () => pipeline.stateTable.tableArn],
    ['dynamodb:PutItem', 'state table', () => pipeline.stateTable.tableArn],
    ['sqs:SendMessage', 'dead-letter queue', () => pipeline.deadLetterQueue.queueArn],
    ['sqs:SendMessage', 'late-events queue', () => pipeline.lateEventsQueue.queueArn],
    ['sqs:SendMessage', 'failed-batch queue', () => pipeline.failedBatchQueue.queueArn],
    ['kinesis:GetRecords', 'clicks stream', () => pipeline.clicksStream.streamArn],
    ['kms:Decrypt', 'stream key', () => pipeline.streamKey.keyArn],
    ['logs:PutLogEvents', 'log group', () => pipeline.aggregatorLogGroup.logGroupArn],
  ])('allows %s on the %s', (action, _name, arn) => {
    const expected = JSON.stringify(resolved(stack, arn()));
    const allowed = aggregatorStatements().some(
      (statement) =>
        statement.Effect === 'Allow' &&
        actionsOf(statement).includes(action) &&
        resourcesOf(statement).some((resource) => JSON.stringify(resource) === expected),
    );
    expect(allowed).toBe(true);
  });

  it('never grants a data-plane action on Resource "*"', () => {
    const wildcards = aggregatorStatements()
      .filter((statement) => resourcesOf(statement).includes('*'))
      .flatMap(actionsOf);
    expect(wildcards.filter((action) => /^(dynamodb|sqs|kinesis|kms|logs):/.test(action))).toStrictEqual([]);
    // Tracing is off by default, so not even X-Ray's unscoped actions are there
    // (test/infra/tracing-csp-invalidation.test.ts covers tracing on).
    expect(wildcards).toStrictEqual([]);
  });

  it('never grants a wildcard action', () => {
    const actions = aggregatorStatements().flatMap(actionsOf);
    expect(actions.filter((action) => action.includes('*'))).toStrictEqual([]);
  });
});

describe('alarms', () => {
  it('creates one alarm per watched signal', () => {
    const ownAlarms = pipeline.node.findAll().filter((construct) => construct instanceof cloudwatch.Alarm);
    expect(ownAlarms).toHaveLength(5);
    for (const alarm of ownAlarms) expect(template.toJSON().Resources[logicalIdOf(stack, alarm)]).toBeDefined();
    expect(Object.keys(pipeline.alarms).sort()).toStrictEqual([
      'deadLetterQueueDepth',
      'errors',
      'failedBatchQueueDepth',
      'iteratorAge',
      'throttles',
    ]);
  });

  it('alarms when the aggregator is more than 60 s behind', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Statistic: 'Maximum',
      Threshold: 60_000,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'FunctionName', Value: resolved(stack, pipeline.aggregator.functionName) }],
    });
  });

  it.each(['Errors', 'Throttles'])('alarms on any aggregator %s', (metricName) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: metricName,
      Dimensions: [{ Name: 'FunctionName', Value: resolved(stack, pipeline.aggregator.functionName) }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it.each([
    ['dead-letter queue', () => pipeline.deadLetterQueue],
    ['failed-batch queue', () => pipeline.failedBatchQueue],
  ])('alarms when the %s holds a message', (_name, queue) => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'QueueName', Value: resolved(stack, queue().queueName) }],
    });
  });

  it('does not alarm on late events, which are data rather than faults', () => {
    const lateQueueName = JSON.stringify(resolved(stack, pipeline.lateEventsQueue.queueName));
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.filter((alarm) => JSON.stringify([alarm.Properties.Dimensions, alarm.Properties.Metrics]).includes(lateQueueName))).toStrictEqual(
      [],
    );
  });

  it('has no alarm action without an alarm topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.map((alarm) => alarm.Properties.AlarmActions)).toStrictEqual(alarms.map(() => undefined));
  });
});
