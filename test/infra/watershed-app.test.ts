import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Token, Validations, type App } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AggregatorEnv } from '../../contracts/aggregator-settings';
import { createWatershedApp } from '../../lib/app';
import type { WatershedStack } from '../../lib/watershed-stack';
import { LOCAL_CLOUD_CONTEXT, logicalIdOf, synthesizeWatershed, withoutCredentialsOrDocker } from './support';

let app: App;
let stack: WatershedStack;
let template: Template;
let outdir: string;

const scratch: string[] = [];

/** A temporary directory, removed after the file's tests. */
function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

beforeAll(() => {
  ({ app, stack, template, outdir } = synthesizeWatershed());
  scratch.push(outdir);
  // Four bundled functions and a VPC under schema validation: minutes on a loaded 2-core machine.
}, 300_000);

afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The cloud-assembly directory of the aggregator's bundled code. */
function aggregatorAssetDir(): string {
  const fn = template.toJSON().Resources[logicalIdOf(stack, stack.clickstream.aggregator)];
  return path.join(outdir, fn.Metadata['aws:asset:path'] as string);
}

/** Every `Validations.of(x).acknowledge()` in the tree: construct path, rule id, reason. */
function acknowledgements(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}

describe('stack', () => {
  it('is named Watershed', () => {
    expect(stack.stackName).toBe('Watershed');
    expect(existsSync(path.join(outdir, 'Watershed.template.json'))).toBe(true);
  });

  it('is environment-agnostic', () => {
    expect(Token.isUnresolved(stack.account)).toBe(true);
    expect(Token.isUnresolved(stack.region)).toBe(true);
    const manifest = JSON.parse(readFileSync(path.join(outdir, 'manifest.json'), 'utf8'));
    expect(manifest.artifacts.Watershed.environment).toBe('aws://unknown-account/unknown-region');
  });

  it.each([
    ['ClicksStreamName', () => stack.clickstream.clicksStream.streamName],
    ['ClicksStreamArn', () => stack.clickstream.clicksStream.streamArn],
    ['ClickWindowsTableName', () => stack.clickstream.windowTable.tableName],
    ['AggregatorStateTableName', () => stack.clickstream.stateTable.tableName],
    ['DeadLetterQueueUrl', () => stack.clickstream.deadLetterQueue.queueUrl],
    ['LateEventsQueueUrl', () => stack.clickstream.lateEventsQueue.queueUrl],
    ['FailedBatchQueueUrl', () => stack.clickstream.failedBatchQueue.queueUrl],
    ['DashboardUrl', () => stack.liveDashboard.dashboardUrl],
    ['WebSocketUrl', () => stack.liveDashboard.webSocketUrl],
    ['UserPoolId', () => stack.liveDashboard.userPool.userPoolId],
    ['UserPoolClientId', () => stack.liveDashboard.userPoolClient.userPoolClientId],
    ['ConnectionsTableName', () => stack.liveDashboard.connectionsTable.tableName],
    ['OrdersStreamName', () => stack.fraud.ordersStream.streamName],
    ['OrdersStreamArn', () => stack.fraud.ordersStream.streamArn],
    ['DecisionsTableName', () => stack.fraud.decisionsTable.tableName],
    ['ProfilesTableName', () => stack.fraud.profilesTable.tableName],
    ['ScorerStateTableName', () => stack.fraud.stateTable.tableName],
    ['FraudConfigTableName', () => stack.fraud.configTable.tableName],
    ['OrdersDeadLetterQueueUrl', () => stack.fraud.deadLetterQueue.queueUrl],
    ['OrdersFailedBatchQueueUrl', () => stack.fraud.failedBatchQueue.queueUrl],
    ['MarketDataStreamName', () => stack.marketData.stream.streamName],
    ['MarketDataStreamArn', () => stack.marketData.stream.streamArn],
    ['GatewaySessionTableName', () => stack.marketData.sessionTable.tableName],
    ['GatewayDeadLetterQueueUrl', () => stack.marketData.deadLetterQueue.queueUrl],
    ['GatewayVenueSecretArn', () => stack.marketData.venueSecret.secretArn],
  ])('outputs %s', (id, value) => {
    template.hasOutput(id, { Value: stack.resolve(value()) });
  });

  it('has no other outputs', () => {
    expect(Object.keys(template.findOutputs('*')).sort()).toStrictEqual(
      [
        'AggregatorStateTableName',
        'ClickWindowsTableName',
        'ClicksStreamArn',
        'ClicksStreamName',
        'ConnectionsTableName',
        'DashboardUrl',
        'DeadLetterQueueUrl',
        'FailedBatchQueueUrl',
        'GatewayDeadLetterQueueUrl',
        'GatewaySessionTableName',
        'GatewayVenueSecretArn',
        'LakehouseBucketName',
        'LakehouseDatabaseName',
        'LakehouseWarehousePath',
        'LakehouseWorkGroup',
        'LateEventsQueueUrl',
        'MarketDataStreamArn',
        'MarketDataStreamName',
        'UserPoolClientId',
        'UserPoolId',
        'WebSocketUrl',
        'OrdersStreamName',
        'OrdersStreamArn',
        'DecisionsTableName',
        'ProfilesTableName',
        'ScorerStateTableName',
        'FraudConfigTableName',
        'OrdersDeadLetterQueueUrl',
        'OrdersFailedBatchQueueUrl',
      ].sort(),
    );
  });
});

describe('dashboard', () => {
  it('is one CloudWatch dashboard', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  it.each([
    'IteratorAge',
    'IncomingRecords',
    'Invocations',
    'Errors',
    'Throttles',
    'ConsumedWriteCapacityUnits',
    'NumberOfMessagesSent',
    'ApproximateNumberOfMessagesVisible',
  ])('charts %s', (metricName) => {
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
    expect(body).toContain(`\\"${metricName}\\"`);
  });

  it('shows the state of every pipeline alarm', () => {
    const body = JSON.stringify(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
    for (const alarm of [...Object.values(stack.clickstream.alarms), ...Object.values(stack.liveDashboard.alarms)]) {
      expect(body).toContain(JSON.stringify(stack.resolve(alarm.alarmArn)));
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);
    expect(report.violations.map((v) => `${v.severity} ${v.ruleName} ${v.violatingResources[0]?.constructPath}`))
      .toStrictEqual([]);
  });

  it('left a clean validation report in the assembly (AwsSolutions and CloudFormation schema)', () => {
    const report = JSON.parse(readFileSync(path.join(outdir, 'validation-report.json'), 'utf8'));
    const violations = (report.pluginReports as Array<{ pluginName: string; violations: unknown[] }>).flatMap(
      (plugin) => plugin.violations,
    );
    expect(violations).toStrictEqual([]);
  });

  it('acknowledges only these findings, each with a written reason', () => {
    const acks = acknowledgements(app);
    expect(acks.map(({ path: at, id }) => `${at} ${id}`).sort()).toStrictEqual(
      [
        'Watershed/Clickstream/Aggregator AwsSolutions-L1',
        'Watershed/Clickstream/ClicksStream AwsSolutions-KDS3',
        'Watershed/Clickstream/DeadLetterQueue AwsSolutions-SQS3',
        'Watershed/Clickstream/FailedBatchQueue AwsSolutions-SQS3',
        'Watershed/Clickstream/LateEventsQueue AwsSolutions-SQS3',
        'Watershed/Fraud/AlertBroadcaster AwsSolutions-L1',
        'Watershed/Fraud/AlertBroadcasterRole AwsSolutions-IAM5[Resource::*]',
        'Watershed/Fraud/AlertBroadcasterRole AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<LiveDashboardWebSocketApi328A79FC>/live/*/@connections/*]',
        'Watershed/Fraud/DeadLetterQueue AwsSolutions-SQS3',
        'Watershed/Fraud/FailedBatchQueue AwsSolutions-SQS3',
        'Watershed/Fraud/OrdersStream AwsSolutions-KDS3',
        'Watershed/Fraud/Scorer AwsSolutions-L1',
        // aws-cdk-lib acknowledges its own use of AccessControl (LogDeliveryWrite) on a log bucket.
        'Watershed/LiveDashboard/AccessLogsBucket CloudFormation-Validate::W3045',
        'Watershed/LiveDashboard/ApiGatewayCloudWatchRole AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        'Watershed/LiveDashboard/Authorizer AwsSolutions-L1',
        'Watershed/LiveDashboard/AuthorizerRole AwsSolutions-IAM5[Resource::*]',
        'Watershed/LiveDashboard/Broadcaster AwsSolutions-L1',
        'Watershed/LiveDashboard/BroadcasterRole AwsSolutions-IAM5[Resource::*]',
        'Watershed/LiveDashboard/BroadcasterRole AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<LiveDashboardWebSocketApi328A79FC>/live/*/@connections/*]',
        'Watershed/LiveDashboard/Connections AwsSolutions-L1',
        'Watershed/LiveDashboard/ConnectionsRole AwsSolutions-IAM5[Resource::*]',
        'Watershed/LiveDashboard/ConnectionsRole AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<LiveDashboardWebSocketApi328A79FC>/live/*/@connections/*]',
        'Watershed/LiveDashboard/Distribution AwsSolutions-CFR1',
        'Watershed/LiveDashboard/Distribution AwsSolutions-CFR2',
        'Watershed/LiveDashboard/Distribution AwsSolutions-CFR4',
        'Watershed/LiveDashboard/FailedBroadcastQueue AwsSolutions-SQS3',
        'Watershed/LiveDashboard/UserPool AwsSolutions-COG8',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Action::s3:Abort*]',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Action::s3:DeleteObject*]',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Action::s3:GetBucket*]',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Action::s3:GetObject*]',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Action::s3:List*]',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Resource::<LiveDashboardSiteBucketB83AB862.Arn>/*]',
        'Watershed/LiveDashboard/WebAppDeploymentRole AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]',
        'Watershed/LiveDashboard/WebSocketApi AwsSolutions-APIG4',
        'Watershed/Lakehouse/MarketTicksDelivery AwsSolutions-KDF1',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Action::s3:Abort*]',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Action::s3:DeleteObject*]',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Action::s3:GetBucket*]',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Action::s3:GetObject*]',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Action::s3:List*]',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Resource::<LakehouseBucketBE4DC200.Arn>/warehouse/market_ticks/*]',
        'Watershed/Lakehouse/MarketTicksDeliveryRole AwsSolutions-IAM5[Resource::<LakehouseBucketBE4DC200.Arn>/errors/market_ticks/*]',
        'Watershed/Lakehouse/UserActivityDelivery AwsSolutions-KDF1',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Action::s3:Abort*]',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Action::s3:DeleteObject*]',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Action::s3:GetBucket*]',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Action::s3:GetObject*]',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Action::s3:List*]',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Resource::<LakehouseBucketBE4DC200.Arn>/warehouse/user_activity/*]',
        'Watershed/Lakehouse/UserActivityDeliveryRole AwsSolutions-IAM5[Resource::<LakehouseBucketBE4DC200.Arn>/errors/user_activity/*]',
        'Watershed/Lakehouse/OptimizerRole AwsSolutions-IAM5[Action::s3:Abort*]',
        'Watershed/Lakehouse/OptimizerRole AwsSolutions-IAM5[Action::s3:DeleteObject*]',
        'Watershed/Lakehouse/OptimizerRole AwsSolutions-IAM5[Action::s3:GetBucket*]',
        'Watershed/Lakehouse/OptimizerRole AwsSolutions-IAM5[Action::s3:GetObject*]',
        'Watershed/Lakehouse/OptimizerRole AwsSolutions-IAM5[Action::s3:List*]',
        'Watershed/Lakehouse/OptimizerRole AwsSolutions-IAM5[Resource::<LakehouseBucketBE4DC200.Arn>/warehouse/*]',
        'Watershed/Lakehouse/AccessLogsBucket AwsSolutions-S1',
        // As for the dashboard's: aws-cdk-lib's own LogDeliveryWrite acknowledgement, once per bucket logging into it.
        'Watershed/Lakehouse/AccessLogsBucket CloudFormation-Validate::W3045',
        'Watershed/Lakehouse/AccessLogsBucket CloudFormation-Validate::W3045',
        'Watershed/Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C512MiB AwsSolutions-L1',
        'Watershed/MarketData/DeadLetterQueue AwsSolutions-SQS3',
        'Watershed/MarketData/MarketDataStream AwsSolutions-KDS3',
        'Watershed/MarketData/TaskDefinition AwsSolutions-ECS2',
        'Watershed/MarketData/TaskDefinition/ExecutionRole AwsSolutions-IAM5[Resource::*]',
        'Watershed/MarketData/TaskDefinition/TaskRole AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        'Watershed/MarketData/TaskDefinition/TaskRole AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
        'Watershed/MarketData/VenueSecret AwsSolutions-SMG4',
        // aws-cdk-lib acknowledges schema findings of its own on the VPC (availability zones) and its flow log.
        'Watershed CloudFormation-Validate::W3010',
        'Watershed/MarketData/Vpc/FlowLog CloudFormation-Validate::F3002',
        'Watershed/MarketData/Vpc/FlowLog CloudFormation-Validate::F3003',
        'Watershed/MarketPanel/FailedBatchQueue AwsSolutions-SQS3',
        'Watershed/MarketPanel/PricesBroadcaster AwsSolutions-L1',
        'Watershed/MarketPanel/PricesBroadcasterRole AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<LiveDashboardWebSocketApi328A79FC>/live/*/@connections/*]',
      ].sort(),
    );
    for (const { id, reason } of acks.filter(({ id }) => id.startsWith('AwsSolutions-'))) {
      expect(reason.length, id).toBeGreaterThan(80);
    }
  });

  it('fails synthesis when a new finding is not acknowledged', () => {
    const { app: other, stack: otherStack } = createWatershedApp({
      outdir: scratchDir('watershed-nag-'),
      context: { 'aws:cdk:bundling-stacks': [] },
    });
    new sqs.Queue(otherStack, 'Unacknowledged', { enforceSSL: true });
    expect(() => other.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});

describe('synthesis', () => {
  it('works without AWS credentials', () => {
    const tmp = scratchDir('watershed-synth-');
    withoutCredentialsOrDocker(() => {
      expect(Object.keys(process.env).filter((name) => name.startsWith('AWS_'))).toStrictEqual([]);
      createWatershedApp({ outdir: tmp }).app.synth();
    });
    expect(existsSync(path.join(tmp, 'Watershed.template.json'))).toBe(true);
    // A whole-app synthesis: minutes on a loaded 2-core machine.
  }, 300_000);

  it('bundles the aggregator with local esbuild, never Docker', () => {
    // synthesizeWatershed() ran with CDK_DOCKER pointing at a missing binary: Docker bundling would have thrown.
    const assets = JSON.parse(readFileSync(path.join(outdir, 'Watershed.assets.json'), 'utf8'));
    // The one image is the market-data gateway's: staged at synth, built only by `cdk deploy`.
    expect(Object.values(assets.dockerImages).map((image) => (image as { source: { dockerFile: string } }).source.dockerFile)).toStrictEqual(['gateway/Dockerfile']);
    template.resourcePropertiesCountIs('AWS::Lambda::Function', { Code: { ImageUri: Match.anyValue() } }, 0);
  });

  it('marks the function with its bundled asset path for the local cloud', () => {
    template.hasResource('AWS::Lambda::Function', {
      Metadata: {
        'aws:asset:path': Match.stringLikeRegexp('^asset\\.[0-9a-f]{64}$'),
        'aws:asset:is-bundled': true,
        'aws:asset:property': 'Code',
      },
    });
  });

  it('writes a CommonJS bundle with its source map', () => {
    expect(readdirSync(aggregatorAssetDir()).sort()).toStrictEqual(['index.js', 'index.js.map']);
    expect(readFileSync(path.join(aggregatorAssetDir(), 'index.js'), 'utf8')).toMatch(/module\.exports/);
  });

  it('loads standalone, with no node_modules to resolve from', () => {
    // externalModules: [] bundles the AWS SDK and Powertools too, as the local cloud's runtime needs.
    const dir = scratchDir('watershed-bundle-');
    for (const file of ['index.js', 'index.js.map']) {
      copyFileSync(path.join(aggregatorAssetDir(), file), path.join(dir, file));
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_REGION: 'us-east-1',
      [AggregatorEnv.windowTableName]: 'windows',
      [AggregatorEnv.stateTableName]: 'state',
      [AggregatorEnv.deadLetterQueueUrl]: 'http://localhost:4566/000000000000/dead-letter',
      [AggregatorEnv.lateEventsQueueUrl]: 'http://localhost:4566/000000000000/late-events',
    };
    const script = 'process.stdout.write(typeof require("./index.js").handler)';
    const handlerType = execFileSync(process.execPath, ['-e', script], {
      cwd: dir,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(handlerType).toBe('function');
  });

  it('uses the asset-metadata context the local cloud passes', () => {
    expect(LOCAL_CLOUD_CONTEXT['aws:cdk:enable-asset-metadata']).toBe(true);
    expect(app.node.tryGetContext('aws:cdk:enable-asset-metadata')).toBe(true);
  });
});
