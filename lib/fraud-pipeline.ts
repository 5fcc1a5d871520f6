import * as path from 'node:path';
import { CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, KinesisEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FRAUD_DEFAULTS, FraudScorerEnv, CONFIG_TABLE_KEY } from '../contracts/fraud-settings';
import { DashboardEnv, DASHBOARD_DEFAULTS } from '../contracts/dashboard-settings';
import { acknowledgeNodeRuntime, acknowledgeUnscopedActions } from './shared/nag';
import { queueDepthAlarm, sinkQueue } from './shared/sink-queue';
import { checkInteger, checkSeconds } from './shared/validation';
import { WINDOW_STREAM_EVENT_SOURCE_DEFAULTS } from './live-dashboard';
import { STREAM_CONSUMER_TRACING_DEFAULT, watershedFunction, type WatershedFunction } from './watershed-function';

export const FRAUD_SERVICES = { scorer: 'fraud-scorer', alerts: 'fraud-alerts' } as const;

/**
 * Event source mapping defaults of the scorer on the orders stream: the clickstream's safeguards
 * (bisection, bounded retries and record age, an on-failure destination, partial batch responses),
 * tuned for latency, since an order must be decided within a second.
 */
export const ORDERS_EVENT_SOURCE_DEFAULTS = {
  /**
   * Each scored order is one decision, one user profile and one IP item in a transaction of at
   * most 100 items, so a batch of 100 orders is a few transactions; larger batches only add
   * latency to the orders at their end.
   */
  batchSize: 100,
  /** No waiting: every second of batching is a second of decision latency. */
  maxBatchingWindow: Duration.seconds(0),
  /** A poison batch is split so the healthy half commits; re-delivered halves are skipped by the checkpoint. */
  bisectBatchOnError: true,
  /** Enough halvings to isolate one record in 100, bounded so a shard never stalls. */
  retryAttempts: 10,
  /** An order an hour old is past any useful decision; its range goes to the failed-batch queue for replay. */
  maxRecordAge: Duration.hours(1),
  /** The scorer reports the first record it did not commit; Lambda resumes there. */
  reportBatchItemFailures: true,
  /** Orders written before the mapping existed are still scored. */
  startingPosition: lambda.StartingPosition.TRIM_HORIZON,
  /**
   * The per-shard checkpoint (committed in the transaction with the decisions and profiles) needs
   * one batch in flight per shard, in order. Scale out with shards.
   */
  parallelizationFactor: 1,
} as const;

/** The DynamoDB actions the scorer is granted on each table, by the table's environment variable. */
export const SCORER_TABLE_ACTIONS = {
  [FraudScorerEnv.decisionsTableName]: ['dynamodb:BatchGetItem', 'dynamodb:PutItem'],
  [FraudScorerEnv.profilesTableName]: ['dynamodb:BatchGetItem', 'dynamodb:PutItem'],
  [FraudScorerEnv.stateTableName]: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  [FraudScorerEnv.configTableName]: ['dynamodb:GetItem'],
} as const;

/** Key schemas of the fraud tables. */
export const FRAUD_TABLE_KEYS = {
  decisions: { partitionKey: 'orderId' },
  profiles: { partitionKey: 'userId' },
  state: { partitionKey: 'pk', sortKey: 'sk', timeToLiveAttribute: 'expiresAt' },
  config: { partitionKey: CONFIG_TABLE_KEY },
} as const;

const STREAM_RETENTION = Duration.hours(24);

export interface FraudPipelineProps {
  /**
   * Shards of the `orders` stream. Orders are partitioned by userId; each shard is scored by its
   * own execution environment, one batch at a time.
   * @default - 2
   */
  readonly shardCount?: number;

  /**
   * Orders per scorer invocation, between 1 and 10000.
   * @default - 100 (ORDERS_EVENT_SOURCE_DEFAULTS.batchSize)
   */
  readonly batchSize?: number;

  /**
   * How long the mapping gathers orders before invoking, between 0 and 300 seconds.
   * @default - 0 seconds (ORDERS_EVENT_SOURCE_DEFAULTS.maxBatchingWindow)
   */
  readonly maxBatchingWindow?: Duration;

  /**
   * Records larger than this are dead-lettered as `oversized`, between 1 and 1048576 bytes.
   * @default - FRAUD_DEFAULTS.maxOrderBytes (16384 bytes)
   */
  readonly maxOrderBytes?: number;

  /**
   * How long the scorer trusts the configuration it read before reading it again; a newly
   * activated version takes effect within this time, without a redeploy. Whole seconds.
   * @default - FRAUD_DEFAULTS.configMaxAgeSeconds (10 seconds)
   */
  readonly configMaxAge?: Duration;

  /**
   * The live dashboard's connections table and WebSocket stage: with both, REVIEW and BLOCK
   * decisions are pushed to subscribed clients as `alert` messages, with decision counts.
   * @default - no alerts on the dashboard
   */
  readonly dashboard?: { readonly connectionsTable: dynamodb.ITable; readonly stage: apigwv2.WebSocketStage };

  /**
   * X-Ray tracing of the scorer and the alert broadcaster, both driven by streams. Active tracing
   * samples the first invocation each second and 5% of the rest (X-Ray's default, which the Lambda
   * guide says functions cannot change). Turn on while investigating (`-c streamTracing=active` for the stack).
   * @default - lambda.Tracing.DISABLED (STREAM_CONSUMER_TRACING_DEFAULT)
   */
  readonly tracing?: lambda.Tracing;

  /**
   * Topic notified when an alarm fires.
   * @default - no alarm action
   */
  readonly alarmTopic?: ITopic;

  /**
   * What happens to the stream, its key, the tables and queues when they leave the stack.
   * @default - RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

// A type alias, not an interface, so `Object.values(alarms)` is typed `Alarm[]`, not `any[]`.
export type FraudAlarms = {
  readonly iteratorAge: cloudwatch.Alarm;
  readonly errors: cloudwatch.Alarm;
  readonly deadLetterQueueDepth: cloudwatch.Alarm;
  readonly failedBatchQueueDepth: cloudwatch.Alarm;
  /** p99 from an order's arrival on the stream to its decision above 1 s. */
  readonly decisionLatency: cloudwatch.Alarm;
};

/**
 * Fraud scoring: the `orders` stream, the scorer that enriches each order from per-user and
 * per-IP profiles and decides with a versioned, live configuration, the decisions table whose
 * stream feeds dashboard alerts, and the sinks and alarms around them.
 */
export class FraudPipeline extends Construct {
  public readonly streamKey: kms.Key;
  /** The `orders` stream, partitioned by userId. */
  public readonly ordersStream: kinesis.Stream;
  /** One item per order (DecisionItem), keyed by orderId; its stream feeds the dashboard. */
  public readonly decisionsTable: dynamodb.Table;
  /** One item per user (UserProfile), keyed by userId. */
  public readonly profilesTable: dynamodb.Table;
  /** Per-shard checkpoints and per-shard IP activity items (TTL `expiresAt`). */
  public readonly stateTable: dynamodb.Table;
  /** Scoring configuration versions and the pointer to the active and shadow ones. */
  public readonly configTable: dynamodb.Table;
  /** Invalid orders with their reason (OrderDeadLetterMessage). */
  public readonly deadLetterQueue: sqs.Queue;
  /** On-failure destination of both mappings: stream ranges to replay. */
  public readonly failedBatchQueue: sqs.Queue;
  public readonly scorer: NodejsFunction;
  public readonly eventSource: KinesisEventSource;
  /** Present when `dashboard` is given. */
  public readonly alertBroadcaster?: NodejsFunction;
  public readonly alarms: FraudAlarms;

  /** X-Ray tracing of the scorer and the alert broadcaster. */
  public readonly tracing: lambda.Tracing;

  private readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: FraudPipelineProps = {}) {
    super(scope, id);
    checkInteger('shardCount', props.shardCount, 1);
    checkInteger('batchSize', props.batchSize, 1, 10_000);
    checkInteger('maxOrderBytes', props.maxOrderBytes, 1, 1024 * 1024);
    checkSeconds('maxBatchingWindow', props.maxBatchingWindow, 0, 300);
    checkSeconds('configMaxAge', props.configMaxAge, 0, 3600);
    const removalPolicy = (this.removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY);
    this.tracing = props.tracing ?? STREAM_CONSUMER_TRACING_DEFAULT;

    this.streamKey = new kms.Key(this, 'StreamKey', {
      description: 'Encrypts the Watershed orders stream',
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: Duration.days(7),
    });
    this.ordersStream = new kinesis.Stream(this, 'OrdersStream', {
      streamMode: kinesis.StreamMode.PROVISIONED,
      shardCount: props.shardCount ?? 2,
      retentionPeriod: STREAM_RETENTION,
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: this.streamKey,
      removalPolicy,
    });

    const table = (tableId: string, keys: { partitionKey: string; sortKey?: string; timeToLiveAttribute?: string }, stream?: dynamodb.StreamViewType) =>
      new dynamodb.Table(this, tableId, {
        partitionKey: { name: keys.partitionKey, type: dynamodb.AttributeType.STRING },
        ...(keys.sortKey === undefined ? {} : { sortKey: { name: keys.sortKey, type: dynamodb.AttributeType.STRING } }),
        ...(keys.timeToLiveAttribute === undefined ? {} : { timeToLiveAttribute: keys.timeToLiveAttribute }),
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        ...(stream === undefined ? {} : { stream }),
        removalPolicy,
      });
    this.decisionsTable = table('DecisionsTable', FRAUD_TABLE_KEYS.decisions, dynamodb.StreamViewType.NEW_IMAGE);
    this.profilesTable = table('ProfilesTable', FRAUD_TABLE_KEYS.profiles);
    this.stateTable = table('ScorerStateTable', FRAUD_TABLE_KEYS.state);
    this.configTable = table('ConfigTable', FRAUD_TABLE_KEYS.config);

    this.deadLetterQueue = sinkQueue(this, 'DeadLetterQueue', { removalPolicy, holds: 'invalid orders, with their reason' });
    this.failedBatchQueue = sinkQueue(this, 'FailedBatchQueue', { removalPolicy, holds: 'order stream ranges the event source mappings gave up on' });

    const scorer = this.fraudFunction('Scorer', {
      entry: 'scorer.ts',
      description: 'Scores each order from user and IP profiles with the active configuration, exactly once',
      service: FRAUD_SERVICES.scorer,
      memorySize: 512,
      // Far above what a batch takes on AWS (well under a second); the local cloud on a busy machine is slower.
      timeout: Duration.seconds(60),
      environment: {
        [FraudScorerEnv.maxOrderBytes]: String(props.maxOrderBytes ?? FRAUD_DEFAULTS.maxOrderBytes),
        [FraudScorerEnv.configMaxAgeSeconds]: String(props.configMaxAge?.toSeconds() ?? FRAUD_DEFAULTS.configMaxAgeSeconds),
      },
    });
    this.scorer = scorer.fn;
    // Exactly the item actions lambdas/fraud/scorer-store.ts and config-source.ts send: decisions
    // and profiles are read by BatchGetItem and written by Put items of the commit transaction;
    // the state table also has the consistent GetItem of checkpoints and the registry's Update;
    // the configuration is only read, by GetItem. TransactWriteItems has no IAM action of its own:
    // it is authorised per item action. test/infra/least-privilege.test.ts checks this list.
    for (const [table, variable] of [
      [this.decisionsTable, FraudScorerEnv.decisionsTableName],
      [this.profilesTable, FraudScorerEnv.profilesTableName],
      [this.stateTable, FraudScorerEnv.stateTableName],
      [this.configTable, FraudScorerEnv.configTableName],
    ] as const) {
      this.bindTable(table, variable, (t) => t.grant(this.scorer, ...SCORER_TABLE_ACTIONS[variable]));
    }
    this.scorer.addEnvironment(FraudScorerEnv.deadLetterQueueUrl, this.deadLetterQueue.queueUrl);
    this.deadLetterQueue.grantSendMessages(this.scorer);

    this.eventSource = new KinesisEventSource(this.ordersStream, {
      ...ORDERS_EVENT_SOURCE_DEFAULTS,
      batchSize: props.batchSize ?? ORDERS_EVENT_SOURCE_DEFAULTS.batchSize,
      maxBatchingWindow: props.maxBatchingWindow ?? ORDERS_EVENT_SOURCE_DEFAULTS.maxBatchingWindow,
      onFailure: new SqsDlq(this.failedBatchQueue),
    });
    this.scorer.addEventSource(this.eventSource);

    const functions = [scorer];
    if (props.dashboard !== undefined) functions.push(this.addAlertBroadcaster(props.dashboard));

    this.alarms = this.createAlarms();
    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of Object.values(this.alarms)) alarm.addAlarmAction(action);
    }
    this.acknowledgeNagFindings(functions, props.dashboard?.stage);
  }

  /** IteratorAge of the scorer's mapping: how far behind the orders stream it is. */
  public metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.scorer.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(1), ...props });
  }

  /** Milliseconds from an order's arrival on the stream to its decision (EMF metric of the scorer). */
  public metricDecisionLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.scorerMetric('DecisionLatency', { statistic: cloudwatch.Stats.p(99), ...props });
  }

  /** Decisions by outcome (`decision` ALLOW, REVIEW or BLOCK). */
  public metricDecisions(decision: 'ALLOW' | 'REVIEW' | 'BLOCK', props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.scorerMetric(`Decisions${decision[0]}${decision.slice(1).toLowerCase()}`, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  private scorerMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'Watershed',
      metricName,
      dimensionsMap: { service: FRAUD_SERVICES.scorer },
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** The alert broadcaster: the decisions table's stream -> `alert` messages to subscribed dashboard clients. */
  private addAlertBroadcaster(dashboard: NonNullable<FraudPipelineProps['dashboard']>): WatershedFunction {
    const alerts = this.fraudFunction('AlertBroadcaster', {
      entry: 'alert-broadcaster.ts',
      description: 'Fraud alerts: REVIEW and BLOCK decisions -> every subscribed dashboard connection',
      service: FRAUD_SERVICES.alerts,
      memorySize: 256,
      timeout: Duration.seconds(60),
      environment: {
        [DashboardEnv.connectionsTableName]: dashboard.connectionsTable.tableName,
        [DashboardEnv.postConcurrency]: String(DASHBOARD_DEFAULTS.postConcurrency),
        [DashboardEnv.managementApiEndpoint]: dashboard.stage.callbackUrl,
      },
    });
    (this as { alertBroadcaster?: NodejsFunction }).alertBroadcaster = alerts.fn;
    // Scan for the subscribed connections, Delete for those that answer 410.
    dashboard.connectionsTable.grant(alerts.fn, 'dynamodb:Scan', 'dynamodb:DeleteItem');
    dashboard.stage.grantManagementApiAccess(alerts.fn);
    // The dashboard's mapping settings: latency first, LATEST, few retries (alerts go stale).
    alerts.fn.addEventSource(new DynamoEventSource(this.decisionsTable, { ...WINDOW_STREAM_EVENT_SOURCE_DEFAULTS, onFailure: new SqsDlq(this.failedBatchQueue) }));
    return alerts;
  }

  private fraudFunction(id: string, options: Omit<Parameters<typeof watershedFunction>[2], 'removalPolicy' | 'roleDescription' | 'tracing'>): WatershedFunction {
    return watershedFunction(this, id, {
      ...options,
      entry: path.join('lambdas', 'fraud', options.entry),
      roleDescription: `Watershed ${options.service}`,
      removalPolicy: this.removalPolicy,
      tracing: this.tracing,
    });
  }

  private bindTable(table: dynamodb.Table, variable: string, grant: (table: dynamodb.Table) => void): void {
    this.scorer.addEnvironment(variable, table.tableName);
    grant(table);
  }

  private createAlarms(): FraudAlarms {
    const fiveMinutes = Duration.minutes(5);
    return {
      iteratorAge: new cloudwatch.Alarm(this, 'IteratorAgeAlarm', {
        alarmDescription: 'Fraud scorer is more than 30 s behind the orders stream (decisions are due within 30 s)',
        metric: this.metricIteratorAge(),
        threshold: Duration.seconds(30).toMilliseconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      errors: new cloudwatch.Alarm(this, 'ErrorsAlarm', {
        alarmDescription: 'Fraud scorer invocations failed (thrown error or timeout)',
        metric: this.scorer.metricErrors({ statistic: cloudwatch.Stats.SUM, period: fiveMinutes }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      deadLetterQueueDepth: queueDepthAlarm(this, 'DeadLetterQueueDepthAlarm', this.deadLetterQueue, 'Invalid orders are waiting in the dead-letter queue'),
      failedBatchQueueDepth: queueDepthAlarm(this, 'FailedBatchQueueDepthAlarm', this.failedBatchQueue, 'Order or alert batches exhausted their retries; replay their ranges'),
      // Sustained for three minutes: one cold start is not a trend.
      decisionLatency: new cloudwatch.Alarm(this, 'DecisionLatencyAlarm', {
        alarmDescription: 'p99 from order arrival to decision is above 1 s',
        metric: this.metricDecisionLatency(),
        threshold: 1000,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    };
  }

  private acknowledgeNagFindings(functions: WatershedFunction[], stage?: apigwv2.WebSocketStage): void {
    Validations.of(this.ordersStream).acknowledge({
      id: 'AwsSolutions-KDS3',
      reason:
        'A customer-managed key on purpose: orders carry user ids, amounts and IP addresses; the CMK scopes ' +
        'kms:Decrypt to the scorer by grant, is audited per use in CloudTrail, and can crypto-shred the stream.',
    });
    for (const { fn, role } of functions) {
      acknowledgeNodeRuntime(fn);
      acknowledgeUnscopedActions(role, {
        grants: 'Kinesis, KMS, DynamoDB, SQS, Logs',
        tracing: this.tracing,
        ...(fn === this.alertBroadcaster ? { others: 'dynamodb:ListStreams, added by the DynamoDB stream trigger' } : {}),
      });
    }
    if (stage !== undefined && this.alertBroadcaster !== undefined) {
      const apiLogicalId = Stack.of(this).getLogicalId(stage.api.node.defaultChild as CfnElement);
      Validations.of(functions[1]!.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${apiLogicalId}>/${stage.stageName}/*/@connections/*]`,
        reason: 'execute-api:ManageConnections on the dashboard stage only; connection ids exist only at run time (grantManagementApiAccess).',
      });
    }
  }

}
