import { rmSync } from 'node:fs';
import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FraudScorerEnv } from '../../contracts/fraud-settings';
import { FraudPipeline } from '../../lib/fraud-pipeline';
import type { WatershedStack } from '../../lib/watershed-stack';
import { logicalIdOf, propsTestStack, resolved, synthesizeWatershed } from './support';

interface PolicyStatement {
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Effect: string;
}

let stack: WatershedStack;
let pipeline: FraudPipeline;
let template: Template;
let outdir: string;

beforeAll(() => {
  ({ stack, template, outdir } = synthesizeWatershed());
  pipeline = stack.fraud;
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function statementsOf(role: { roleName: string }): PolicyStatement[] {
  const roleRef = JSON.stringify(resolved(stack, role.roleName));
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((candidate) => JSON.stringify(candidate) === roleRef))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[]);
}

const listOf = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

function allows(statements: PolicyStatement[], action: string, arn: unknown): boolean {
  const expected = JSON.stringify(arn);
  return statements.some(
    (statement) =>
      statement.Effect === 'Allow' &&
      listOf(statement.Action).includes(action) &&
      listOf(statement.Resource).some((resource) => JSON.stringify(resource) === expected || JSON.stringify(resource).includes(expected)),
  );
}

describe('orders event source mapping', () => {
  it.each([
    ['BatchSize', 100],
    ['MaximumBatchingWindowInSeconds', 0],
    ['BisectBatchOnFunctionError', true],
    ['MaximumRetryAttempts', 10],
    ['MaximumRecordAgeInSeconds', 3600],
    ['FunctionResponseTypes', ['ReportBatchItemFailures']],
    ['StartingPosition', 'TRIM_HORIZON'],
    ['ParallelizationFactor', 1],
  ])('sets %s to %j', (property, value) => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: resolved(stack, pipeline.scorer.functionName),
      EventSourceArn: resolved(stack, pipeline.ordersStream.streamArn),
      [property]: value,
    });
  });

  it('sends failed ranges to the failed-batch queue', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: resolved(stack, pipeline.scorer.functionName),
      DestinationConfig: { OnFailure: { Destination: resolved(stack, pipeline.failedBatchQueue.queueArn) } },
    });
  });

  it('feeds the decisions table stream to the alert broadcaster, latest first, with a failure destination', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: resolved(stack, pipeline.alertBroadcaster!.functionName),
      EventSourceArn: resolved(stack, pipeline.decisionsTable.tableStreamArn!),
      StartingPosition: 'LATEST',
      BisectBatchOnFunctionError: true,
      DestinationConfig: { OnFailure: { Destination: resolved(stack, pipeline.failedBatchQueue.queueArn) } },
    });
  });
});

describe('orders stream', () => {
  it('is encrypted with the pipeline key, two shards, 24 hours', () => {
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 2,
      RetentionPeriodHours: 24,
      StreamEncryption: { EncryptionType: 'KMS', KeyId: resolved(stack, pipeline.streamKey.keyArn) },
    });
  });
});

describe('tables', () => {
  it.each([
    ['decisions', () => pipeline.decisionsTable, [{ AttributeName: 'orderId', KeyType: 'HASH' }]],
    ['profiles', () => pipeline.profilesTable, [{ AttributeName: 'userId', KeyType: 'HASH' }]],
    ['scorer state', () => pipeline.stateTable, [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }]],
    ['configuration', () => pipeline.configTable, [{ AttributeName: 'id', KeyType: 'HASH' }]],
  ])('the %s table is on demand, with PITR, encrypted, keyed as documented', (_name, table, keySchema) => {
    const properties = template.toJSON().Resources[logicalIdOf(stack, table())].Properties;
    expect(properties).toMatchObject({
      KeySchema: keySchema,
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('streams new decision images', () => {
    expect(template.toJSON().Resources[logicalIdOf(stack, pipeline.decisionsTable)].Properties.StreamSpecification).toStrictEqual({ StreamViewType: 'NEW_IMAGE' });
  });

  it('expires IP activity by expiresAt', () => {
    expect(template.toJSON().Resources[logicalIdOf(stack, pipeline.stateTable)].Properties.TimeToLiveSpecification).toStrictEqual({ AttributeName: 'expiresAt', Enabled: true });
  });
});

describe('scorer', () => {
  it('is Node.js 22 on ARM64 with its tables, queue and limits in the environment', () => {
    const properties = template.toJSON().Resources[logicalIdOf(stack, pipeline.scorer)].Properties;
    expect(properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], });
    // Stream-driven: not traced unless the tracing prop says so (tracing-csp-invalidation.test.ts).
    expect(properties.TracingConfig).toBeUndefined();
    expect(properties.Environment.Variables).toMatchObject({
      [FraudScorerEnv.decisionsTableName]: resolved(stack, pipeline.decisionsTable.tableName),
      [FraudScorerEnv.profilesTableName]: resolved(stack, pipeline.profilesTable.tableName),
      [FraudScorerEnv.stateTableName]: resolved(stack, pipeline.stateTable.tableName),
      [FraudScorerEnv.configTableName]: resolved(stack, pipeline.configTable.tableName),
      [FraudScorerEnv.deadLetterQueueUrl]: resolved(stack, pipeline.deadLetterQueue.queueUrl),
      [FraudScorerEnv.maxOrderBytes]: '16384',
      [FraudScorerEnv.configMaxAgeSeconds]: '10',
    });
  });

  it.each([
    ['dynamodb:PutItem', 'decisions table', () => pipeline.decisionsTable.tableArn],
    ['dynamodb:BatchGetItem', 'decisions table', () => pipeline.decisionsTable.tableArn],
    ['dynamodb:PutItem', 'profiles table', () => pipeline.profilesTable.tableArn],
    ['dynamodb:GetItem', 'scorer state table', () => pipeline.stateTable.tableArn],
    ['dynamodb:UpdateItem', 'scorer state table', () => pipeline.stateTable.tableArn],
    ['dynamodb:GetItem', 'configuration table', () => pipeline.configTable.tableArn],
    ['sqs:SendMessage', 'dead-letter queue', () => pipeline.deadLetterQueue.queueArn],
    ['sqs:SendMessage', 'failed-batch queue', () => pipeline.failedBatchQueue.queueArn],
    ['kinesis:GetRecords', 'orders stream', () => pipeline.ordersStream.streamArn],
    ['kms:Decrypt', 'stream key', () => pipeline.streamKey.keyArn],
  ])('may %s on the %s', (action, _name, arn) => {
    expect(allows(statementsOf(pipeline.scorer.role!), action, resolved(stack, arn()))).toBe(true);
  });

  it('may only read the configuration', () => {
    const configArn = JSON.stringify(resolved(stack, pipeline.configTable.tableArn));
    const onConfig = statementsOf(pipeline.scorer.role!).filter((statement) => listOf(statement.Resource).some((resource) => JSON.stringify(resource) === configArn));
    expect(onConfig.flatMap((statement) => listOf(statement.Action)).filter((action) => /Put|Update|Delete|Write/.test(action))).toStrictEqual([]);
  });

  it('grants no data-plane action on Resource "*" and no wildcard action', () => {
    for (const fn of [pipeline.scorer, pipeline.alertBroadcaster!]) {
      const statements = statementsOf(fn.role!);
      const onStar = statements.filter((statement) => listOf(statement.Resource).includes('*')).flatMap((statement) => listOf(statement.Action));
      expect(onStar.filter((action) => /^(dynamodb|sqs|kinesis|kms|logs|execute-api):/.test(action) && action !== 'dynamodb:ListStreams')).toStrictEqual([]);
      expect(statements.flatMap((statement) => listOf(statement.Action)).filter((action) => action.includes('*'))).toStrictEqual([]);
    }
  });
});

describe('alert broadcaster', () => {
  it('may scan and delete connections and post to the dashboard stage', () => {
    const statements = statementsOf(pipeline.alertBroadcaster!.role!);
    const connections = resolved(stack, stack.liveDashboard.connectionsTable.tableArn);
    expect(allows(statements, 'dynamodb:Scan', connections)).toBe(true);
    expect(allows(statements, 'dynamodb:DeleteItem', connections)).toBe(true);
    expect(statements.some((statement) => listOf(statement.Action).includes('execute-api:ManageConnections'))).toBe(true);
    expect(allows(statements, 'dynamodb:PutItem', connections)).toBe(false);
  });
});

describe('alarms', () => {
  it('watches errors, iterator age, both queues and the decision latency', () => {
    const own = pipeline.node.findAll().filter((construct) => construct instanceof cloudwatch.Alarm);
    expect(own).toHaveLength(5);
    expect(Object.keys(pipeline.alarms).sort()).toStrictEqual(['deadLetterQueueDepth', 'decisionLatency', 'errors', 'failedBatchQueueDepth', 'iteratorAge']);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DecisionLatency',
      Namespace: 'Watershed',
      Dimensions: [{ Name: 'service', Value: 'fraud-scorer' }],
      ExtendedStatistic: 'p99',
      Threshold: 1000,
    });
  });
});

describe('props', () => {
  it.each([
    [{ shardCount: 0 }, 'shardCount must be an integer at least 1. Received 0'],
    [{ batchSize: 20_000 }, 'batchSize must be an integer between 1 and 10000. Received 20000'],
    [{ maxBatchingWindow: Duration.minutes(6) }, 'maxBatchingWindow must be a whole number of seconds between 0 and 300 seconds. Received 360 seconds'],
    [{ configMaxAge: Duration.millis(1500) }, 'configMaxAge must be a whole number of seconds between 0 and 3600 seconds. Received 1.5 seconds'],
  ])('rejects %j', (props, message) => {
    expect(() => new FraudPipeline(propsTestStack(), 'Fraud', props)).toThrow(message);
  });

  it('passes batch size, shard count and configuration max age through', () => {
    const test = propsTestStack();
    new FraudPipeline(test, 'Fraud', { batchSize: 25, shardCount: 4, configMaxAge: Duration.seconds(60) });
    const synthesized = Template.fromStack(test);
    synthesized.hasResourceProperties('AWS::Lambda::EventSourceMapping', { BatchSize: 25 });
    synthesized.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4 });
    synthesized.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ [FraudScorerEnv.configMaxAgeSeconds]: '60' }) } });
    // Without a dashboard there is no alert broadcaster.
    synthesized.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
  });
});
