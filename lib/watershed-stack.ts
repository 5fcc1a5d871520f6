import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { AGGREGATOR_DEFAULTS } from '../contracts/aggregator-settings';
import { ClickstreamPipeline, type ClickstreamPipelineProps } from './clickstream-pipeline';
import { LiveDashboard, type LiveDashboardProps } from './live-dashboard';

export interface WatershedStackProps extends StackProps {
  /**
   * Settings of the clickstream pipeline.
   * @default - the ClickstreamPipeline defaults
   */
  readonly clickstream?: ClickstreamPipelineProps;

  /**
   * Settings of the live dashboard. Its window table and allowed lateness always come from the
   * clickstream pipeline.
   * @default - the LiveDashboard defaults
   */
  readonly liveDashboard?: Omit<LiveDashboardProps, 'windowTable' | 'allowedLateness'>;
}

/**
 * The Watershed stack: one construct per pipeline, the stack outputs the local cloud and the
 * tools read (ids fixed in docs/TEAM-NOTES.md), and the operations dashboard.
 */
export class WatershedStack extends Stack {
  public readonly clickstream: ClickstreamPipeline;
  public readonly liveDashboard: LiveDashboard;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: WatershedStackProps = {}) {
    super(scope, id, props);

    this.clickstream = new ClickstreamPipeline(this, 'Clickstream', props.clickstream);
    const clicks = this.clickstream;

    new CfnOutput(this, 'ClicksStreamName', {
      description: 'Kinesis stream producers write click events to',
      value: clicks.clicksStream.streamName,
    });
    new CfnOutput(this, 'ClicksStreamArn', { value: clicks.clicksStream.streamArn });
    new CfnOutput(this, 'ClickWindowsTableName', {
      description: 'Clicks per URL per 1-minute window',
      value: clicks.windowTable.tableName,
    });
    new CfnOutput(this, 'AggregatorStateTableName', {
      description: 'Aggregator checkpoints and eventId ledger',
      value: clicks.stateTable.tableName,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'Invalid click records with their reason',
      value: clicks.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'LateEventsQueueUrl', {
      description: 'Click events that arrived after their window closed',
      value: clicks.lateEventsQueue.queueUrl,
    });
    new CfnOutput(this, 'FailedBatchQueueUrl', {
      description: 'Shard sequence ranges the aggregator gave up on',
      value: clicks.failedBatchQueue.queueUrl,
    });

    this.liveDashboard = new LiveDashboard(this, 'LiveDashboard', {
      apiGatewayCloudWatchRole: apiGatewayCloudWatchRoleContext(this),
      ...props.liveDashboard,
      windowTable: clicks.windowTable,
      allowedLateness:
        props.clickstream?.allowedLateness ?? Duration.seconds(AGGREGATOR_DEFAULTS.allowedLatenessSeconds),
    });
    const live = this.liveDashboard;
    new CfnOutput(this, 'DashboardUrl', {
      description: 'The live dashboard (CloudFront); sign in with a user of the user pool',
      value: live.dashboardUrl,
    });
    new CfnOutput(this, 'WebSocketUrl', {
      description: 'WebSocket API of the live dashboard; connect with ?token=<Cognito ID token>',
      value: live.webSocketUrl,
    });
    new CfnOutput(this, 'UserPoolId', {
      description: 'Users of the live dashboard (no self sign-up: create them with admin-create-user)',
      value: live.userPool.userPoolId,
    });
    new CfnOutput(this, 'UserPoolClientId', {
      description: 'App client of the live dashboard (authorization code flow with PKCE)',
      value: live.userPoolClient.userPoolClientId,
    });
    new CfnOutput(this, 'ConnectionsTableName', {
      description: 'Open WebSocket connections of the live dashboard',
      value: live.connectionsTable.tableName,
    });

    this.dashboard = this.createDashboard();
  }

  private createDashboard(): cloudwatch.Dashboard {
    const clicks = this.clickstream;
    const minute = Duration.minutes(1);
    const sum = (metric: cloudwatch.Metric) => metric.with({ statistic: cloudwatch.Stats.SUM, period: minute });

    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    const live = this.liveDashboard;
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Clickstream alarms',
        alarms: Object.values(clicks.alarms),
        width: 12,
        height: 3,
      }),
      new cloudwatch.AlarmStatusWidget({
        title: 'Live dashboard alarms',
        alarms: Object.values(live.alarms),
        width: 12,
        height: 3,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Clicks in (records/min)',
        left: [sum(clicks.clicksStream.metricIncomingRecords())],
        right: [sum(clicks.clicksStream.metricIncomingBytes())],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Aggregator lag (ms)',
        left: [clicks.metricIteratorAge()],
        leftAnnotations: [{ value: Duration.seconds(60).toMilliseconds(), label: 'alarm' }],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Aggregator invocations',
        left: [
          sum(clicks.aggregator.metricInvocations()),
          sum(clicks.aggregator.metricErrors()),
          sum(clicks.aggregator.metricThrottles()),
        ],
        right: [clicks.aggregator.metricDuration({ statistic: cloudwatch.Stats.p(99), period: minute })],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'DynamoDB writes (WCU/min)',
        left: [
          sum(clicks.windowTable.metricConsumedWriteCapacityUnits()),
          sum(clicks.stateTable.metricConsumedWriteCapacityUnits()),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Sinks: messages sent/min',
        left: [
          sum(clicks.deadLetterQueue.metricNumberOfMessagesSent({ label: 'dead-letter' })),
          clicks.metricLateEvents({ label: 'late events' }),
          sum(clicks.failedBatchQueue.metricNumberOfMessagesSent({ label: 'failed batches' })),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Sinks: messages waiting',
        left: [
          clicks.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: 'dead-letter', period: minute }),
          clicks.lateEventsQueue.metricApproximateNumberOfMessagesVisible({ label: 'late events', period: minute }),
          clicks.failedBatchQueue.metricApproximateNumberOfMessagesVisible({ label: 'failed batches', period: minute }),
        ],
        width: 8,
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Live dashboard: broadcaster lag (ms)',
        left: [live.metricIteratorAge()],
        leftAnnotations: [{ value: Duration.seconds(30).toMilliseconds(), label: 'alarm' }],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Live dashboard: broadcaster invocations',
        left: [sum(live.broadcaster.metricInvocations()), sum(live.broadcaster.metricErrors())],
        right: [live.broadcaster.metricDuration({ statistic: cloudwatch.Stats.p(99), period: minute })],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Live dashboard: @connections posts/min',
        left: [
          live.metricMessagesPosted({ label: 'posted' }),
          live.metricGoneConnections({ label: 'gone (410)' }),
          live.metricPostFailures({ label: 'failed' }),
        ],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Live dashboard: WebSocket API/min',
        left: [live.metricConnectCount({ label: 'connects' }), live.metricMessageCount({ label: 'messages' })],
        width: 6,
      }),
    );
    return dashboard;
  }
}

/**
 * `cdk deploy -c apiGatewayCloudWatchRole=false` leaves the region's API Gateway account setting
 * alone (another stack or the console manages it). Context from the command line is a string.
 */
export function apiGatewayCloudWatchRoleContext(scope: Construct): boolean {
  const value: unknown = scope.node.tryGetContext('apiGatewayCloudWatchRole');
  if (value === undefined || value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw new Error(`The context apiGatewayCloudWatchRole must be true or false (cdk deploy -c apiGatewayCloudWatchRole=false). Received ${JSON.stringify(value)}`);
}
