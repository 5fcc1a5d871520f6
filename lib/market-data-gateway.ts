import { Duration, IgnoreMode, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  DEMO_GATEWAY_CONFIG,
  GATEWAY_METRICS,
  GATEWAY_SESSION_TABLE_KEY,
  GatewayConfig,
  GatewayEnv,
  VENUE_SECRET_KEYS,
  type GatewayConfigInput,
} from '../contracts/market-data-gateway';
import { PROJECT_ROOT } from './watershed-function';

/**
 * What the gateway's image holds: the repository layout with only what the gateway runs. The
 * build context is the repository root (the image runs `npm ci` from the lock file), so
 * everything else is excluded and `cdk synth` stages a few hundred KB, not node_modules.
 */
const IMAGE_CONTEXT_EXCLUDE = ['*', '!package.json', '!package-lock.json', '!tsconfig.json', '!contracts', '!gateway'];

/** The gateway's command in the container: the same command the local cloud runs. */
export const GATEWAY_COMMAND = ['node', '--import', 'tsx', 'gateway/main.ts'];

export interface MarketDataGatewayProps {
  /**
   * FIX sessions and REST feeds (contracts/market-data-gateway.ts, validated at synth).
   * @default - DEMO_GATEWAY_CONFIG: the two venue simulators on 127.0.0.1 that `npm start` runs;
   * on AWS, pass the real venues
   */
  readonly config?: GatewayConfigInput;

  /**
   * Shards of the `market-data` stream; ticks are partitioned by symbol.
   * @default 1
   */
  readonly shardCount?: number;

  /**
   * The VPC to run in; it needs private subnets with egress (NAT) to reach the venues.
   * @default - a new VPC over 2 AZs with one NAT gateway and flow logs
   */
  readonly vpc?: ec2.IVpc;

  /**
   * Alarm when fewer ticks than this reach the stream in 5 minutes (a feed gone quiet).
   * @default 1
   */
  readonly minTicksPerFiveMinutes?: number;

  /**
   * Topic notified when an alarm fires.
   * @default - no alarm action
   */
  readonly alarmTopic?: ITopic;

  /** @default RemovalPolicy.DESTROY (see ClickstreamPipelineProps.removalPolicy) */
  readonly removalPolicy?: RemovalPolicy;
}

export interface MarketDataGatewayAlarms {
  /** A configured FIX session has not been logged on for 3 minutes (or the gateway reports nothing). */
  readonly sessionDown: cloudwatch.Alarm;
  /** Fewer ticks than `minTicksPerFiveMinutes` reached the stream. */
  readonly tickRate: cloudwatch.Alarm;
  /** Input the gateway could not turn into ticks is waiting in the dead-letter queue. */
  readonly deadLetterQueueDepth: cloudwatch.Alarm;
}

/**
 * The market-data gateway: an ECS Fargate service (one task) that holds the FIX sessions and polls
 * the REST quote feeds, normalises everything to `MarketTick` and puts it on the `market-data`
 * stream; its FIX session table (sequence numbers that survive a new task), its dead-letter queue,
 * the venue credentials in Secrets Manager, a VPC with no inbound access, and its alarms.
 */
export class MarketDataGateway extends Construct {
  /** Customer-managed key of the `market-data` stream. */
  public readonly streamKey: kms.Key;
  /** The `market-data` stream: one MarketTick JSON per record, partition key = symbol. */
  public readonly stream: kinesis.IStream;
  /** One item per FIX session: sequence numbers and epoch (GatewaySessionItem). */
  public readonly sessionTable: dynamodb.Table;
  /** Input that did not become a tick, with the reason and the raw message (GatewayDeadLetter). */
  public readonly deadLetterQueue: sqs.Queue;
  /** Venue credentials: `fixPassword` and `restApiKey` (VENUE_SECRET_KEYS). */
  public readonly venueSecret: secretsmanager.Secret;
  public readonly vpc: ec2.IVpc;
  public readonly securityGroup: ec2.SecurityGroup;
  public readonly cluster: ecs.Cluster;
  public readonly taskDefinition: ecs.FargateTaskDefinition;
  public readonly service: ecs.FargateService;
  public readonly logGroup: logs.LogGroup;
  public readonly alarms: MarketDataGatewayAlarms;
  /** The validated configuration the task runs with. */
  public readonly config: GatewayConfig;

  constructor(scope: Construct, id: string, props: MarketDataGatewayProps = {}) {
    super(scope, id);
    const parsed = GatewayConfig.safeParse(props.config ?? DEMO_GATEWAY_CONFIG);
    if (!parsed.success) {
      throw new Error(`config is not a valid gateway configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
    }
    this.config = parsed.data;
    const shardCount = props.shardCount ?? 1;
    if (!Number.isInteger(shardCount) || shardCount < 1) throw new Error(`shardCount must be an integer of at least 1. Received ${shardCount}`);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;

    this.streamKey = new kms.Key(this, 'StreamKey', {
      description: 'Encrypts the Watershed market-data stream',
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: Duration.days(7),
    });
    const stream = new kinesis.Stream(this, 'MarketDataStream', {
      streamMode: kinesis.StreamMode.PROVISIONED,
      shardCount,
      retentionPeriod: Duration.hours(24),
      encryption: kinesis.StreamEncryption.KMS,
      encryptionKey: this.streamKey,
      removalPolicy,
    });
    this.stream = stream;

    this.sessionTable = new dynamodb.Table(this, 'SessionTable', {
      partitionKey: { name: GATEWAY_SESSION_TABLE_KEY.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy,
    });

    // Placeholder values: operators put the venue's real credentials with
    // `aws secretsmanager put-secret-value` (README); a new task reads them at start.
    this.venueSecret = new secretsmanager.Secret(this, 'VenueSecret', {
      description: 'Watershed market-data gateway: venue credentials (FIX logon password, REST API key)',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ [VENUE_SECRET_KEYS.restApiKey]: 'replace-with-the-venue-api-key' }),
        generateStringKey: VENUE_SECRET_KEYS.fixPassword,
        excludePunctuation: true,
        passwordLength: 24,
      },
      removalPolicy,
    });

    this.vpc = props.vpc ?? this.createVpc(removalPolicy);
    // No ingress rule at all: the gateway only dials out (FIX initiator, HTTPS polls, AWS APIs).
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: this.vpc,
      description: 'Watershed market-data gateway: no inbound; outbound to the venues and AWS APIs',
      allowAllOutbound: true,
    });

    this.cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: this.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
    });

    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.ARM64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    this.taskDefinition.addContainer('Gateway', {
      // Staged at synth (no Docker needed); built and pushed by `cdk deploy`.
      image: ecs.ContainerImage.fromAsset(PROJECT_ROOT, {
        file: 'gateway/Dockerfile',
        exclude: IMAGE_CONTEXT_EXCLUDE,
        ignoreMode: IgnoreMode.DOCKER,
        platform: Platform.LINUX_ARM64,
      }),
      command: GATEWAY_COMMAND,
      essential: true,
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'gateway' }),
      environment: {
        [GatewayEnv.config]: JSON.stringify(this.config),
        [GatewayEnv.streamName]: stream.streamName,
        [GatewayEnv.sessionTableName]: this.sessionTable.tableName,
        [GatewayEnv.deadLetterQueueUrl]: this.deadLetterQueue.queueUrl,
      },
      secrets: Object.fromEntries(
        secretVariables(this.config).map(([variable, key]) => [variable, ecs.Secret.fromSecretsManager(this.venueSecret, key)]),
      ),
      stopTimeout: Duration.seconds(30),
    });
    const taskRole = this.taskDefinition.taskRole;
    stream.grantWrite(taskRole);
    this.sessionTable.grantReadWriteData(taskRole);
    this.deadLetterQueue.grantSendMessages(taskRole);

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: this.taskDefinition,
      // One task per FIX session identity: two tasks logged on as the same SenderCompID would
      // fight over its sequence numbers, so a deployment stops the old task before starting one.
      desiredCount: 1,
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      assignPublicIp: false,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [this.securityGroup],
      circuitBreaker: { rollback: true },
      enableExecuteCommand: false,
    });

    this.alarms = this.createAlarms(props.minTicksPerFiveMinutes ?? 1);
    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of [this.alarms.sessionDown, this.alarms.tickRate, this.alarms.deadLetterQueueDepth]) alarm.addAlarmAction(action);
    }
    this.acknowledgeNagFindings();
  }

  /** Ticks put on the stream (EMF from the gateway), all sources. */
  public metricTicksPublished(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: GATEWAY_METRICS.namespace,
      metricName: GATEWAY_METRICS.ticks,
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** 1 while every configured FIX session is logged on (the minimum over sessions). */
  public metricSessionsUp(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: GATEWAY_METRICS.namespace,
      metricName: GATEWAY_METRICS.sessionUp,
      statistic: cloudwatch.Stats.MINIMUM,
      period: Duration.minutes(1),
      ...props,
    });
  }

  private createVpc(removalPolicy: RemovalPolicy): ec2.Vpc {
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Gateway', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
    });
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogGroup', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });
    vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) });
    return vpc;
  }

  private createAlarms(minTicks: number): MarketDataGatewayAlarms {
    const alarms: MarketDataGatewayAlarms = {
      sessionDown: new cloudwatch.Alarm(this, 'SessionDownAlarm', {
        alarmDescription: 'A FIX session of the market-data gateway has been down for 3 minutes (or the gateway reports nothing)',
        metric: this.metricSessionsUp(),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        // The gateway reports its sessions every few seconds: silence means it is not running.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      tickRate: new cloudwatch.Alarm(this, 'TickRateAlarm', {
        alarmDescription: `Fewer than ${minTicks} ticks reached the market-data stream in 5 minutes`,
        metric: this.metricTicksPublished(),
        threshold: minTicks,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      deadLetterQueueDepth: new cloudwatch.Alarm(this, 'DeadLetterQueueDepthAlarm', {
        alarmDescription: 'Market-data input the gateway could not turn into ticks is waiting in its dead-letter queue',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: cloudwatch.Stats.MAXIMUM, period: Duration.minutes(1) }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    };
    return alarms;
  }

  /** cdk-nag acknowledgements, each on the narrowest construct it concerns, with its reason. */
  private acknowledgeNagFindings(): void {
    Validations.of(this.stream).acknowledge({
      id: 'AwsSolutions-KDS3',
      reason:
        'A customer-managed key scopes kms:Encrypt/Decrypt to the gateway role and the consumers by grant, ' +
        'audits each use in CloudTrail, and lets an operator crypto-shred the stream by disabling the key.',
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the terminal sink of bad market-data input, inspected by operators; nothing receives from it automatically.',
    });
    Validations.of(this.venueSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Venue credentials are issued by the venue (FIX logon password, quote API key): they change when the venue ' +
        'changes them, so a rotation Lambda could only invent values the venue would refuse. Operators put new ' +
        'values with put-secret-value; the next task reads them.',
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds the validated gateway configuration and resource names, no credentials: the FIX ' +
        'password and API key come from Secrets Manager through the container secrets.',
    });
    for (const action of ['kms:ReEncrypt*', 'kms:GenerateDataKey*']) {
      Validations.of(this.taskDefinition.taskRole).acknowledge({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason:
          'From stream.grantWrite: Kinesis server-side encryption asks KMS for data keys on the producer\'s behalf. ' +
          'The wildcard is in the action name only (GenerateDataKey, GenerateDataKeyWithoutPlaintext...); the ' +
          'resource is the stream key alone.',
      });
    }
    const executionRole = this.taskDefinition.executionRole;
    if (executionRole !== undefined) {
      Validations.of(executionRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken, which ECS needs to pull the image, supports no resource-level permissions. ' +
          'Every other grant (the image repository, the log group, the secret) names its resource.',
      });
    }
  }
}

/** The container secrets the configuration asks for: [variable, key of the venue secret]. */
export function secretVariables(config: GatewayConfig): [string, string][] {
  const pairs = new Map<string, string>();
  for (const session of config.fixSessions) if (session.passwordEnv !== undefined) pairs.set(session.passwordEnv, VENUE_SECRET_KEYS.fixPassword);
  for (const feed of config.restFeeds) if (feed.apiKeyEnv !== undefined) pairs.set(feed.apiKeyEnv, VENUE_SECRET_KEYS.restApiKey);
  return [...pairs];
}
