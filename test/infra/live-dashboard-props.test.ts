import { Duration, RemovalPolicy, Stack, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import * as sns from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { LiveDashboard, type LiveDashboardProps } from '../../lib/live-dashboard';
import { propsTestStack } from './support';

/** A window table as the clickstream pipeline makes it: keyed by (pk, sk), with a stream. */
function windowTable(stack: Stack, { withStream = true } = {}) {
  return new dynamodb.Table(stack, 'Windows', {
    partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
    sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
    ...(withStream ? { stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES } : {}),
  });
}

function dashboardWith(props: Partial<LiveDashboardProps> = {}): { stack: Stack; dashboard: LiveDashboard; template: () => Template } {
  const stack = propsTestStack();
  const dashboard = new LiveDashboard(stack, 'LiveDashboard', {
    windowTable: windowTable(stack),
    allowedLateness: Duration.seconds(60),
    // A fixed page instead of the web build: these tests are about the construct's props.
    webAppSource: s3deploy.Source.data('index.html', '<!doctype html><title>test</title>'),
    ...props,
  });
  return { stack, dashboard, template: () => Template.fromStack(stack) };
}

const variablesOf = (template: Template, description: RegExp) =>
  Object.values(template.findResources('AWS::Lambda::Function'))
    .filter((fn) => description.test(String(fn.Properties.Description)))
    .map((fn) => fn.Properties.Environment.Variables as Record<string, unknown>);

describe('allowedLateness', () => {
  it('reaches the connections function and the broadcaster in whole seconds', () => {
    const template = dashboardWith({ allowedLateness: Duration.minutes(3) }).template();
    const variables = variablesOf(template, /\$default|window table changes/);
    expect(variables).toHaveLength(2);
    for (const env of variables) expect(env.ALLOWED_LATENESS_SECONDS).toBe('180');
  });

  it.each([
    [Duration.millis(1500), 'allowedLateness must be a whole number of seconds at least 0 seconds. Received 1.5 seconds'],
  ])('is validated: %s', (allowedLateness, message) => {
    expect(() => dashboardWith({ allowedLateness })).toThrow(message);
  });
});

describe('connectionTtl', () => {
  it('defaults to two hours', () => {
    const [env] = variablesOf(dashboardWith().template(), /\$default/);
    expect(env?.CONNECTION_TTL_SECONDS).toBe('7200');
  });

  it('can be shortened', () => {
    const [env] = variablesOf(dashboardWith({ connectionTtl: Duration.minutes(30) }).template(), /\$default/);
    expect(env?.CONNECTION_TTL_SECONDS).toBe('1800');
  });

  it.each([
    [Duration.seconds(30), 'Received 30 seconds'],
    [Duration.hours(25), 'Received 90000 seconds'],
  ])('must be between a minute and a day: %s', (connectionTtl, received) => {
    expect(() => dashboardWith({ connectionTtl })).toThrow(`connectionTtl must be a whole number of seconds between 60 and 86400 seconds. ${received}`);
  });
});

describe('cognitoDomainPrefix', () => {
  it('defaults to the stack name and the account', () => {
    Template.fromStack(dashboardWith().stack).hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: { 'Fn::Join': ['-', ['test', { Ref: 'AWS::AccountId' }]] },
    });
  });

  it('can be chosen', () => {
    dashboardWith({ cognitoDomainPrefix: 'my-dashboard' }).template().hasResourceProperties('AWS::Cognito::UserPoolDomain', {
      Domain: 'my-dashboard',
    });
  });

  it.each([
    ['Upper', 'cognitoDomainPrefix must be 1 to 63 lowercase letters, digits or inner hyphens. Received Upper'],
    ['-leading', 'cognitoDomainPrefix must be 1 to 63 lowercase letters, digits or inner hyphens. Received -leading'],
    ['a'.repeat(64), `Received ${'a'.repeat(64)}`],
    ['my-aws-login', 'cognitoDomainPrefix must not contain "aws". Received my-aws-login'],
    ['cognito-test', 'cognitoDomainPrefix must not contain "cognito". Received cognito-test'],
  ])('rejects %s', (cognitoDomainPrefix, message) => {
    expect(() => dashboardWith({ cognitoDomainPrefix })).toThrow(message);
  });
});

describe('windowTable', () => {
  it('must have a stream', () => {
    const stack = propsTestStack();
    expect(
      () => new LiveDashboard(stack, 'LiveDashboard', { windowTable: windowTable(stack, { withStream: false }), allowedLateness: Duration.seconds(60) }),
    ).toThrow('windowTable must have a stream with new and old images. Received a table without a stream');
  });
});

describe('apiGatewayCloudWatchRole', () => {
  it('sets the account setting by default', () => {
    dashboardWith().template().resourceCountIs('AWS::ApiGateway::Account', 1);
  });

  it('leaves the account setting alone when false', () => {
    const template = dashboardWith({ apiGatewayCloudWatchRole: false }).template();
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    // Access logging stays on; the account's existing role must allow it.
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { AccessLogSettings: { DestinationArn: {} } });
  });
});

describe('alarmTopic', () => {
  it('is notified by every alarm', () => {
    const { stack, dashboard, template } = (() => {
      const stack = propsTestStack();
      const topic = new sns.Topic(stack, 'Alarms');
      const dashboard = new LiveDashboard(stack, 'LiveDashboard', {
        windowTable: windowTable(stack),
        allowedLateness: Duration.seconds(60),
        webAppSource: s3deploy.Source.data('index.html', '<!doctype html>'),
        alarmTopic: topic,
      });
      return { stack, dashboard, template: () => Template.fromStack(stack) };
    })();
    const alarms = Object.values(template().findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(Object.keys(dashboard.alarms).length);
    const topicRef = { Ref: stack.getLogicalId(stack.node.findChild('Alarms').node.defaultChild as CfnElement) };
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toStrictEqual([topicRef]);
  });
});

describe('removalPolicy', () => {
  it('destroys by default, emptying the buckets first', () => {
    const template = dashboardWith().template();
    for (const type of ['AWS::DynamoDB::Table', 'AWS::S3::Bucket', 'AWS::SQS::Queue', 'AWS::Cognito::UserPool', 'AWS::Logs::LogGroup']) {
      const own = Object.entries(template.findResources(type)).filter(([logicalId]) => logicalId.startsWith('LiveDashboard'));
      expect(own.length, type).toBeGreaterThan(0);
      for (const [logicalId, resource] of own) expect(resource.DeletionPolicy, logicalId).toBe('Delete');
    }
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    template.hasResourceProperties('AWS::Cognito::UserPool', { DeletionProtection: 'INACTIVE' });
  });

  it('retains the data, and protects the user pool, with RETAIN', () => {
    const template = dashboardWith({ removalPolicy: RemovalPolicy.RETAIN }).template();
    const connections = Object.values(template.findResources('AWS::DynamoDB::Table')).filter(
      (table) => table.Properties.KeySchema[0].AttributeName === 'connectionId',
    );
    expect(connections.map((table) => table.DeletionPolicy)).toStrictEqual(['Retain']);
    for (const resource of Object.values(template.findResources('AWS::S3::Bucket'))) expect(resource.DeletionPolicy).toBe('Retain');
    template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    template.hasResourceProperties('AWS::Cognito::UserPool', { DeletionProtection: 'ACTIVE' });
  });
});

describe('webAppSource', () => {
  it('is deployed together with the generated config.json', () => {
    const [deployment] = Object.values(dashboardWith().template().findResources('Custom::CDKBucketDeployment'));
    expect(deployment!.Properties.SourceObjectKeys).toHaveLength(2);
  });
});
