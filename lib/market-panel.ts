import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DASHBOARD_DEFAULTS, DashboardEnv } from '../contracts/dashboard-settings';
import { QUOTES_TABLE_KEYS } from '../contracts/market-quotes';
import { acknowledgeNodeRuntime, acknowledgeUnscopedActions } from './shared/nag';
import { queueDepthAlarm, sinkQueue } from './shared/sink-queue';
import { checkSeconds } from './shared/validation';
import { STREAM_CONSUMER_TRACING_DEFAULT, watershedFunction } from './watershed-function';

export const MARKET_PANEL_SERVICE = 'dashboard-prices';

/**
 * Event source mapping of the prices broadcaster on the `market-data` stream. The panel shows the
 * latest price, so what matters is that it is recent and that a fast feed cannot flood browsers.
 */
export const MARKET_DATA_EVENT_SOURCE_DEFAULTS = {
  /**
   * The throttle: Lambda gathers a shard's ticks for up to this long before it invokes, and a
   * shard has one batch in flight at a time, so each connection receives at most one `prices`
   * message per shard per second (plus one when a batch fills `batchSize` early).
   */
  maxBatchingWindow: Duration.seconds(1),
  /** Large, so the window and not the size decides when a batch goes: 1,000 ticks a second per shard. */
  batchSize: 1000,
  /** LATEST: the panel shows what happens now; a new mapping does not replay 24 hours of ticks. */
  startingPosition: lambda.StartingPosition.LATEST,
  bisectBatchOnError: true,
  /** Few retries: prices a few retries late are already stale, and the next batch has newer ones. */
  retryAttempts: 3,
  /** After an outage, ticks older than a minute are skipped (their range goes to the queue) rather than replayed. */
  maxRecordAge: Duration.minutes(1),
  reportBatchItemFailures: true,
  /** In order per shard: a symbol's ticks (partition key = symbol) reach the table in stream order. */
  parallelizationFactor: 1,
} as const;

export interface MarketPanelProps {
  /** The `market-data` stream of MarketTick JSON (partition key: symbol). */
  readonly marketDataStream: kinesis.IStream;
  /** The live dashboard's connections table: who gets the prices. */
  readonly connectionsTable: dynamodb.ITable;
  /** The live dashboard's WebSocket stage, whose @connections API the prices go through. */
  readonly stage: apigwv2.WebSocketStage;
  /**
   * The function that answers `subscribe` with a snapshot (LiveDashboard.connectionsFunction): it
   * is granted Query on the quotes table and told its name, so a new tab gets every symbol's quote.
   */
  readonly snapshotFunction: lambda.Function;
  /**
   * The mapping's batching window: at most one `prices` message per shard per this, per connection.
   * 0 to 300 seconds.
   * @default - 1 second (MARKET_DATA_EVENT_SOURCE_DEFAULTS.maxBatchingWindow)
   */
  readonly throttle?: Duration;
  /**
   * X-Ray tracing of the prices broadcaster (a stream consumer).
   * @default - lambda.Tracing.DISABLED (STREAM_CONSUMER_TRACING_DEFAULT)
   */
  readonly tracing?: lambda.Tracing;
  /**
   * Topic notified when an alarm fires.
   * @default - no alarm action
   */
  readonly alarmTopic?: ITopic;
  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

// A type alias, not an interface, so `Object.values(alarms)` is typed `Alarm[]`.
export type MarketPanelAlarms = {
  /** The prices broadcaster is more than 30 s behind the `market-data` stream. */
  readonly iteratorAge: cloudwatch.Alarm;
  /** Tick ranges the broadcaster gave up on are waiting in `failedBatchQueue`. */
  readonly failedBatchQueueDepth: cloudwatch.Alarm;
};

/**
 * The dashboard's market panel: a prices broadcaster on the `market-data` stream that keeps the
 * latest quote per symbol in a small table and pushes one `prices` message per batch to every
 * subscribed dashboard connection; the connections function reads the table for snapshots.
 */
export class MarketPanel extends Construct {
  /** One item per symbol (contracts/market-quotes.ts). */
  public readonly quotesTable: dynamodb.Table;
  public readonly broadcaster: NodejsFunction;
  public readonly eventSource: KinesisEventSource;
  /** On-failure destination of the mapping: tick ranges it gave up on. */
  public readonly failedBatchQueue: sqs.Queue;
  public readonly alarms: MarketPanelAlarms;
  public readonly tracing: lambda.Tracing;

  constructor(scope: Construct, id: string, props: MarketPanelProps) {
    super(scope, id);
    checkSeconds('throttle', props.throttle, 0, 300);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.tracing = props.tracing ?? STREAM_CONSUMER_TRACING_DEFAULT;

    this.quotesTable = new dynamodb.Table(this, 'QuotesTable', {
      partitionKey: { name: QUOTES_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: QUOTES_TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });
    this.failedBatchQueue = sinkQueue(this, 'FailedBatchQueue', { removalPolicy, holds: 'market-data ranges the prices broadcaster gave up on' });

    const { fn, role } = watershedFunction(this, 'PricesBroadcaster', {
      entry: path.join('lambdas', 'dashboard', 'prices.handler.ts'),
      description: 'Market panel: latest quote per symbol from market-data -> every subscribed dashboard connection',
      service: MARKET_PANEL_SERVICE,
      roleDescription: `Watershed ${MARKET_PANEL_SERVICE}`,
      memorySize: 256,
      timeout: Duration.seconds(60),
      environment: {
        [DashboardEnv.connectionsTableName]: props.connectionsTable.tableName,
        [DashboardEnv.postConcurrency]: String(DASHBOARD_DEFAULTS.postConcurrency),
        [DashboardEnv.managementApiEndpoint]: props.stage.callbackUrl,
        [DashboardEnv.quotesTableName]: this.quotesTable.tableName,
      },
      removalPolicy,
      tracing: this.tracing,
    });
    this.broadcaster = fn;
    // Exactly what the code sends: UpdateItem of quotes (quote-store.ts); Scan for the subscribed
    // connections and DeleteItem for those that answer 410 (connection-store.ts).
    this.quotesTable.grant(fn, 'dynamodb:UpdateItem');
    props.connectionsTable.grant(fn, 'dynamodb:Scan', 'dynamodb:DeleteItem');
    props.stage.grantManagementApiAccess(fn);
    // The snapshot reads every symbol with one Query.
    props.snapshotFunction.addEnvironment(DashboardEnv.quotesTableName, this.quotesTable.tableName);
    this.quotesTable.grant(props.snapshotFunction, 'dynamodb:Query');

    // The event source grants the stream's read actions and kms:Decrypt on its key.
    this.eventSource = new KinesisEventSource(props.marketDataStream, {
      ...MARKET_DATA_EVENT_SOURCE_DEFAULTS,
      maxBatchingWindow: props.throttle ?? MARKET_DATA_EVENT_SOURCE_DEFAULTS.maxBatchingWindow,
      onFailure: new SqsDlq(this.failedBatchQueue),
    });
    fn.addEventSource(this.eventSource);

    this.alarms = {
      iteratorAge: new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
        alarmDescription: 'Market panel prices broadcaster is more than 30 s behind the market-data stream',
        metric: fn.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(1) }),
        threshold: Duration.seconds(30).toMilliseconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      failedBatchQueueDepth: queueDepthAlarm(this, 'FailedBatchQueueDepthAlarm', this.failedBatchQueue, 'Market-data ranges the prices broadcaster gave up on are waiting in its failed-batch queue'),
    };
    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of Object.values(this.alarms)) alarm.addAlarmAction(action);
    }

    acknowledgeNodeRuntime(fn);
    acknowledgeUnscopedActions(role, { grants: 'Kinesis, KMS, DynamoDB, SQS, @connections, Logs', tracing: this.tracing });
    const apiLogicalId = Stack.of(this).getLogicalId(props.stage.api.node.defaultChild as CfnElement);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${props.stage.stageName}/*/@connections/*]`,
      reason: 'execute-api:ManageConnections on the dashboard stage only; connection ids exist only at run time (grantManagementApiAccess).',
    });
  }
}
