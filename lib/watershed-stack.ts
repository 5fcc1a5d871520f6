import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { AGGREGATOR_DEFAULTS } from '../contracts/aggregator-settings';
import { ClickstreamPipeline, type ClickstreamPipelineProps } from './clickstream-pipeline';
import { FraudPipeline, type FraudPipelineProps } from './fraud-pipeline';
import { Lakehouse, type LakehouseProps } from './lakehouse';
import { LiveDashboard, type LiveDashboardProps } from './live-dashboard';
import { MarketDataGateway, type MarketDataGatewayProps } from './market-data-gateway';
import { MarketPanel } from './market-panel';

/** Context key that overrides the lakehouse's Firehose buffering interval (seconds), e.g. for fast local tests. */
export const LAKEHOUSE_BUFFERING_CONTEXT = 'watershed:lakehouseBufferingSeconds';

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

  /**
   * Settings of the fraud pipeline. Its alerts always go to the live dashboard.
   * @default - the FraudPipeline defaults
   */
  readonly fraud?: Omit<FraudPipelineProps, 'dashboard'>;
  /**
   * Settings of the lakehouse. Its source streams always come from the pipelines.
   * @default - the Lakehouse defaults
   */
  readonly lakehouse?: Omit<LakehouseProps, 'clicksStream' | 'marketDataStream'>;
  /**
   * Settings of the market-data gateway (FIX sessions, REST feeds, VPC).
   * @default - the MarketDataGateway defaults: the local venue simulators
   */
  readonly marketData?: MarketDataGatewayProps;
}

/**
 * The Watershed stack: one construct per pipeline, the stack outputs the local cloud and the
 * tools read (ids fixed in docs/TEAM-NOTES.md), and the operations dashboard.
 */
export class WatershedStack extends Stack {
  public readonly clickstream: ClickstreamPipeline;
  public readonly liveDashboard: LiveDashboard;
  public readonly fraud: FraudPipeline;
  public readonly lakehouse: Lakehouse;
  public readonly marketData: MarketDataGateway;
  /** The dashboard's market panel: latest quotes from the gateway's stream. */
  public readonly marketPanel: MarketPanel;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: WatershedStackProps = {}) {
    super(scope, id, props);

    const tracing = streamTracingContext(this);
    this.clickstream = new ClickstreamPipeline(this, 'Clickstream', { ...(tracing && { tracing }), ...props.clickstream });
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
      ...(tracing && { broadcasterTracing: tracing }),
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

    this.fraud = new FraudPipeline(this, 'Fraud', {
      ...(tracing && { tracing }),
      ...props.fraud,
      dashboard: { connectionsTable: live.connectionsTable, stage: live.stage },
    });
    this.addFraudOutputs();

    this.marketData = new MarketDataGateway(this, 'MarketData', props.marketData);
    new CfnOutput(this, 'MarketDataStreamName', {
      description: 'Kinesis stream of MarketTick JSON (partition key: symbol) from the market-data gateway',
      value: this.marketData.stream.streamName,
    });
    new CfnOutput(this, 'MarketDataStreamArn', { value: this.marketData.stream.streamArn });
    new CfnOutput(this, 'GatewaySessionTableName', {
      description: 'FIX session sequence numbers of the market-data gateway',
      value: this.marketData.sessionTable.tableName,
    });
    new CfnOutput(this, 'GatewayDeadLetterQueueUrl', {
      description: 'Market-data input the gateway could not turn into ticks, with the reason',
      value: this.marketData.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'GatewayVenueSecretArn', {
      description: 'Venue credentials of the gateway (fixPassword, restApiKey): put the real values here',
      value: this.marketData.venueSecret.secretArn,
    });

    // The dashboard's market panel reads the gateway's ticks too.
    this.marketPanel = new MarketPanel(this, 'MarketPanel', {
      marketDataStream: this.marketData.stream,
      connectionsTable: live.connectionsTable,
      stage: live.stage,
      snapshotFunction: live.connectionsFunction,
      tracing: props.liveDashboard?.broadcasterTracing ?? tracing,
    });

    // The lakehouse reads the gateway's ticks.
    const bufferingSeconds = this.node.tryGetContext(LAKEHOUSE_BUFFERING_CONTEXT) as string | number | undefined;
    this.lakehouse = new Lakehouse(this, 'Lakehouse', {
      ...(bufferingSeconds === undefined ? {} : { bufferingInterval: Duration.seconds(Number(bufferingSeconds)) }),
      ...props.lakehouse,
      clicksStream: clicks.clicksStream,
      marketDataStream: this.marketData.stream,
    });
    new CfnOutput(this, 'LakehouseBucketName', { description: 'Bucket of the Iceberg warehouse', value: this.lakehouse.bucket.bucketName });
    new CfnOutput(this, 'LakehouseWarehousePath', {
      description: 'S3 prefix of the Iceberg warehouse: each table lives at <LakehouseWarehousePath>/<table>',
      value: this.lakehouse.warehousePath,
    });
    new CfnOutput(this, 'LakehouseDatabaseName', { description: 'Glue database of the lakehouse tables', value: this.lakehouse.databaseName });
    new CfnOutput(this, 'LakehouseWorkGroup', { description: 'Athena workgroup for SQL over the lakehouse', value: this.lakehouse.workGroup.ref });

    this.dashboard = this.createDashboard();
    this.addFraudWidgets();
  }

  private addFraudOutputs(): void {
    const fraud = this.fraud;
    new CfnOutput(this, 'OrdersStreamName', { description: 'Kinesis stream producers write orders to (partition key: userId)', value: fraud.ordersStream.streamName });
    new CfnOutput(this, 'OrdersStreamArn', { value: fraud.ordersStream.streamArn });
    new CfnOutput(this, 'DecisionsTableName', { description: 'One fraud decision per orderId, with score, reasons and modelVersion', value: fraud.decisionsTable.tableName });
    new CfnOutput(this, 'ProfilesTableName', { description: 'One spending profile per userId (orderCount, Welford mean and variance, windows)', value: fraud.profilesTable.tableName });
    new CfnOutput(this, 'ScorerStateTableName', { description: 'Scorer checkpoints and per-shard IP activity', value: fraud.stateTable.tableName });
    new CfnOutput(this, 'FraudConfigTableName', { description: 'Scoring configuration versions and the active/shadow pointer', value: fraud.configTable.tableName });
    new CfnOutput(this, 'OrdersDeadLetterQueueUrl', { description: 'Invalid orders with their reason', value: fraud.deadLetterQueue.queueUrl });
    new CfnOutput(this, 'OrdersFailedBatchQueueUrl', { description: 'Order and alert stream ranges the mappings gave up on', value: fraud.failedBatchQueue.queueUrl });
  }

  private addFraudWidgets(): void {
    const fraud = this.fraud;
    const minute = Duration.minutes(1);
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Fraud alarms', alarms: Object.values(fraud.alarms), width: 6, height: 6 }),
      new cloudwatch.GraphWidget({
        title: 'Fraud decisions/min',
        left: [fraud.metricDecisions('ALLOW'), fraud.metricDecisions('REVIEW'), fraud.metricDecisions('BLOCK')],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Fraud: order arrival -> decision (ms)',
        left: [fraud.metricDecisionLatency({ statistic: cloudwatch.Stats.p(50) }), fraud.metricDecisionLatency()],
        leftAnnotations: [{ value: 1000, label: 'alarm (p99)' }],
        width: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Fraud scorer lag (ms) and errors',
        left: [fraud.metricIteratorAge()],
        right: [fraud.scorer.metricErrors({ statistic: cloudwatch.Stats.SUM, period: minute })],
        width: 6,
      }),
    );
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

/**
 * `-c streamTracing=active|off`: X-Ray tracing of every stream-driven function (aggregator, fraud
 * scorer and alert broadcaster, dashboard broadcaster) without a code edit; props still win.
 * Undefined when not given: each construct's default (off, STREAM_CONSUMER_TRACING_DEFAULT) applies.
 */
export function streamTracingContext(scope: Construct): lambda.Tracing | undefined {
  const value: unknown = scope.node.tryGetContext('streamTracing');
  if (value === undefined) return undefined;
  if (value === 'active') return lambda.Tracing.ACTIVE;
  if (value === 'off') return lambda.Tracing.DISABLED;
  throw new Error(`The context streamTracing must be active or off (cdk deploy -c streamTracing=active). Received ${JSON.stringify(value)}`);
}
