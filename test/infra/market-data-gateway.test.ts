import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEMO_GATEWAY_CONFIG, GATEWAY_METRICS, GatewayConfig, GatewayEnv, VENUE_SECRET_KEYS } from '../../contracts/market-data-gateway';
import { GATEWAY_COMMAND, MarketDataGateway, type MarketDataGatewayProps } from '../../lib/market-data-gateway';
import { withoutCredentialsOrDocker } from './support';

/** The construct alone in a stack, synthesized without Docker or credentials, with cdk-nag run over it. */
function synthesizeGateway(props: MarketDataGatewayProps = {}) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'watershed-gateway-'));
  return withoutCredentialsOrDocker(() => {
    const app = new App({ outdir, builtinCloudFormationValidation: false });
    const stack = new Stack(app, 'GatewayTest');
    const gateway = new MarketDataGateway(stack, 'MarketData', props);
    const assembly = app.synth();
    return { app, stack, gateway, template: Template.fromStack(stack), outdir, assembly };
  });
}

describe('MarketDataGateway', () => {
  let synthesized: ReturnType<typeof synthesizeGateway>;
  let template: Template;

  beforeAll(() => {
    synthesized = synthesizeGateway();
    template = synthesized.template;
  });

  it('creates one KMS-encrypted market-data stream', () => {
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.hasResourceProperties('AWS::Kinesis::Stream', {
      StreamEncryption: { EncryptionType: 'KMS', KeyId: Match.anyValue() },
      ShardCount: 1,
    });
  });

  it('keeps FIX session state in an encrypted on-demand table with PITR, keyed by sessionId', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'sessionId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('runs one Fargate task at a time, in private subnets, without a public IP', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DesiredCount: 1,
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 0, MaximumPercent: 100, DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
    });
  });

  it('allows no inbound traffic to the task', () => {
    const groups = template.findResources('AWS::EC2::SecurityGroup');
    expect(Object.keys(groups)).toHaveLength(1);
    for (const group of Object.values(groups)) expect(group.Properties.SecurityGroupIngress).toBeUndefined();
    template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
  });

  it('gives the container its command, its validated configuration and the resource names', () => {
    const definition = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties.ContainerDefinitions[0];
    expect(definition.Command).toStrictEqual(GATEWAY_COMMAND);
    expect(definition.ReadonlyRootFilesystem).toBe(true);
    const environment = Object.fromEntries((definition.Environment as { Name: string; Value: unknown }[]).map((variable) => [variable.Name, variable.Value]));
    expect(GatewayConfig.parse(JSON.parse(String(environment[GatewayEnv.config])))).toStrictEqual(GatewayConfig.parse(DEMO_GATEWAY_CONFIG));
    const { stack, gateway } = synthesized;
    expect(environment[GatewayEnv.streamName]).toStrictEqual(stack.resolve(gateway.stream.streamName));
    expect(environment[GatewayEnv.sessionTableName]).toStrictEqual(stack.resolve(gateway.sessionTable.tableName));
    expect(environment[GatewayEnv.deadLetterQueueUrl]).toStrictEqual(stack.resolve(gateway.deadLetterQueue.queueUrl));
  });

  it('takes the venue credentials from Secrets Manager, never from plain environment', () => {
    const definition = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0]!.Properties.ContainerDefinitions[0];
    const secretRef = synthesized.stack.resolve(synthesized.gateway.venueSecret.secretArn);
    expect(definition.Secrets).toStrictEqual([
      { Name: 'FIX_PASSWORD', ValueFrom: { 'Fn::Join': ['', [secretRef, `:${VENUE_SECRET_KEYS.fixPassword}::`]] } },
      { Name: 'REST_API_KEY', ValueFrom: { 'Fn::Join': ['', [secretRef, `:${VENUE_SECRET_KEYS.restApiKey}::`]] } },
    ]);
    expect((definition.Environment as { Name: string }[]).map((variable) => variable.Name).sort())
      .toStrictEqual([GatewayEnv.config, GatewayEnv.deadLetterQueueUrl, GatewayEnv.sessionTableName, GatewayEnv.streamName].sort());
  });

  it('grants the task role exactly: write to the stream (and its key), the session table, send to the DLQ', () => {
    const { stack, gateway } = synthesized;
    const roleId = stack.getLogicalId(gateway.taskDefinition.taskRole.node.defaultChild as never);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
      JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]));
    expect(policies).toHaveLength(1);
    const statements = policies[0]!.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[];
    const actions = statements.flatMap((statement) => [statement.Action].flat()).sort();
    expect(actions).toStrictEqual([
      'dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable',
      'dynamodb:GetItem', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:Scan', 'dynamodb:UpdateItem',
      'kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords',
      'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*',
      'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage',
    ].sort());
    for (const statement of statements) expect(JSON.stringify(statement.Resource)).not.toContain('"*"');
  });

  it('alarms on session state, tick rate and dead-letter depth; silence counts as down', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: GATEWAY_METRICS.namespace, MetricName: GATEWAY_METRICS.sessionUp, Statistic: 'Minimum',
      ComparisonOperator: 'LessThanThreshold', Threshold: 1, TreatMissingData: 'breaching', EvaluationPeriods: 3,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: GATEWAY_METRICS.namespace, MetricName: GATEWAY_METRICS.ticks, Statistic: 'Sum',
      ComparisonOperator: 'LessThanThreshold', Threshold: 1, TreatMissingData: 'breaching',
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible', ComparisonOperator: 'GreaterThanThreshold', Threshold: 0,
    });
  });

  it('stages the image context at synth without Docker: only what the image needs, no node_modules', () => {
    const assets = JSON.parse(readFileSync(path.join(synthesized.outdir, 'GatewayTest.assets.json'), 'utf8')) as { dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform: string } }> };
    const images = Object.values(assets.dockerImages);
    expect(images.map((image) => [image.source.dockerFile, image.source.platform])).toStrictEqual([['gateway/Dockerfile', 'linux/arm64']]);
    const staged = path.join(synthesized.outdir, images[0]!.source.directory);
    expect(readdirSync(staged).sort()).toStrictEqual(['contracts', 'gateway', 'package-lock.json', 'package.json', 'tsconfig.json']);
    expect(existsSync(path.join(staged, 'gateway', 'main.ts'))).toBe(true);
  });

  it('rejects an invalid configuration at synth, naming the field', () => {
    expect(() => synthesizeGateway({ config: { fixSessions: [{ host: 'h', port: 0, senderCompId: 'A', targetCompId: 'B', symbols: [] }] } }))
      .toThrow(/fixSessions\.0\.port: .*fixSessions\.0\.symbols/);
    expect(() => synthesizeGateway({ shardCount: 0 })).toThrow('shardCount must be an integer of at least 1. Received 0');
  });

  describe('cdk-nag AwsSolutions', () => {
    it('finds no unacknowledged error or warning', () => {
      const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(synthesized.app);
      expect(report.violations.map((violation) => `${violation.severity} ${violation.ruleName} ${violation.violatingResources[0]?.constructPath}`)).toStrictEqual([]);
    });

    it('acknowledges only these findings, each with a reason', () => {
      const acknowledged = synthesized.gateway.node.findAll().flatMap((construct) =>
        construct.node.metadata
          .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ at: construct.node.path, id: id.replace(/^annotation::/i, ''), reason }))));
      // (aws-cdk-lib acknowledges CloudFormation-Validate findings of its own on the flow log.)
      expect(acknowledged.filter(({ id }) => id.startsWith('AwsSolutions-')).map(({ at, id }) => `${at} ${id}`).sort()).toStrictEqual([
        'GatewayTest/MarketData/DeadLetterQueue AwsSolutions-SQS3',
        'GatewayTest/MarketData/MarketDataStream AwsSolutions-KDS3',
        'GatewayTest/MarketData/TaskDefinition AwsSolutions-ECS2',
        'GatewayTest/MarketData/TaskDefinition/ExecutionRole AwsSolutions-IAM5[Resource::*]',
        'GatewayTest/MarketData/TaskDefinition/TaskRole AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        'GatewayTest/MarketData/TaskDefinition/TaskRole AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
        'GatewayTest/MarketData/VenueSecret AwsSolutions-SMG4',
      ]);
      for (const { id, reason } of acknowledged.filter(({ id }) => id.startsWith('AwsSolutions-'))) expect(reason.length, id).toBeGreaterThan(80);
    });
  });
});
