import * as path from 'node:path';
import {
  AssetHashType,
  Aws,
  type CfnElement,
  type CfnResource,
  CustomResource,
  DockerImage,
  Duration,
  Fn,
  Lazy,
  Names,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as cognito from 'aws-cdk-lib/aws-cognito';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { DashboardConfig } from '../contracts/dashboard';
import { CONNECTIONS_TABLE_KEYS } from '../contracts/dashboard-connections';
import { DASHBOARD_DEFAULTS, DashboardEnv } from '../contracts/dashboard-settings';
import { buildDashboardSync } from '../web/build';
import { acknowledgeNodeRuntime, acknowledgeUnscopedActions } from './shared/nag';
import { queueDepthAlarm, sinkQueue } from './shared/sink-queue';
import { checkSeconds } from './shared/validation';
import { METRICS_NAMESPACE, PROJECT_ROOT, STREAM_CONSUMER_TRACING_DEFAULT, watershedFunction, type WatershedFunction, type WatershedFunctionOptions } from './watershed-function';

const WEB_ROOT = path.join(PROJECT_ROOT, 'web');

/** The WebSocket API's only stage: `wss://<api>.execute-api.<region>.amazonaws.com/live`. */
export const WEB_SOCKET_STAGE_NAME = 'live';
/** Requests per second per route of the stage: far above a dashboard's needs, far below a flood's. */
export const WEB_SOCKET_THROTTLE_DEFAULTS = { rateLimit: 50, burstLimit: 100 } as const;
/** Where the $connect authorizer finds the JWT: browsers cannot set headers on a WebSocket handshake. */
export const CONNECT_IDENTITY_SOURCE = 'route.request.querystring.token';
export const DASHBOARD_SERVICES = {
  authorizer: 'dashboard-authorizer',
  connections: 'dashboard-connections',
  broadcaster: 'dashboard-broadcaster',
} as const;

/**
 * Event source mapping of the broadcaster on the window table's stream. The dashboard is about
 * latency (p99 under 2 s from click to screen), and an update is worth little once it is old.
 */
export const WINDOW_STREAM_EVENT_SOURCE_DEFAULTS = {
  /**
   * Up to 1,000 changes are coalesced into one message per connection, so one broadcast (a Scan of
   * the connections table plus a post per connection) covers many aggregator commits. With no
   * batching window the size never adds latency: Lambda invokes with whatever the poll found.
   */
  batchSize: 1000,
  /**
   * No waiting: the aggregator already batches clicks for a second, and stream polling adds about
   * 250 ms per shard. DynamoDB Streams mappings take whole seconds, so 0 is the only sub-second value.
   */
  maxBatchingWindow: Duration.seconds(0),
  /** Isolates a batch that throws (an unreadable record) instead of retrying it whole. */
  bisectBatchOnError: true,
  /**
   * Few retries: a broadcast a few retries late is already stale, and later changes of the same
   * windows carry their full counts. Failed ranges go to the on-failure queue.
   */
  retryAttempts: 3,
  /**
   * Five minutes: after an outage, changes older than this are skipped (and recorded in the
   * on-failure queue) rather than replayed to clients that have moved on; a reconnect's snapshot
   * shows the current counts anyway.
   */
  maxRecordAge: Duration.minutes(5),
  /** The broadcaster reports the first record it could not decode; Lambda resumes from it. */
  reportBatchItemFailures: true,
  /**
   * LATEST: the dashboard shows what changes now. TRIM_HORIZON would replay 24 hours of window
   * changes to every client when the mapping is created.
   */
  startingPosition: lambda.StartingPosition.LATEST,
  /** In order per shard: the latest image of a window must not be overtaken by an older one. */
  parallelizationFactor: 1,
} as const;

/** The $connect authorizer and the connection routes run at the rate users connect: traced. */
const REQUEST_DRIVEN_TRACING = lambda.Tracing.ACTIVE;

const COGNITO_DOMAIN_PREFIX = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const COGNITO_RESERVED_WORDS = ['aws', 'amazon', 'cognito'];

export interface LiveDashboardProps {
  /**
   * The clickstream window table (contracts/clickstream.ts: shard partials per minute and shard progress). Its stream, with new and old
   * images, triggers the broadcaster; the $default route scans it for snapshots.
   */
  readonly windowTable: dynamodb.ITable;

  /**
   * The aggregator's allowed lateness: a window is flagged `final` once its end plus this has
   * passed. Pass the clickstream pipeline's value. Whole seconds.
   */
  readonly allowedLateness: Duration;

  /**
   * Prefix of the Cognito managed-login domain, `https://<prefix>.auth.<region>.amazoncognito.com`.
   * Unique per region across all AWS accounts; lowercase letters, digits and hyphens, and none of
   * "aws", "amazon", "cognito".
   * @default - the stack name in lowercase, a hyphen and the account id, e.g. `watershed-123456789012`
   */
  readonly cognitoDomainPrefix?: string;

  /**
   * How long a connection item lives (the connections table's TTL), in case its $disconnect never
   * runs. Between 1 minute and 24 hours.
   * @default - 2 hours, API Gateway's maximum connection duration
   */
  readonly connectionTtl?: Duration;

  /**
   * The static web app to host.
   * @default - the dashboard built by `buildDashboardSync` (web/build.ts) at synthesis, with local esbuild
   */
  readonly webAppSource?: s3deploy.ISource;

  /**
   * Set the region's API Gateway account setting to a role that lets API Gateway write the stage's
   * access logs (WebSocket and REST APIs need it; without it the stage fails to deploy). There is one
   * such setting per account and region: pass false where another stack already manages it.
   * @default true
   */
  readonly apiGatewayCloudWatchRole?: boolean;

  /**
   * Steady-state and burst limits of every route of the WebSocket stage (requests per second),
   * so a flood of unauthenticated `$connect` attempts is refused by API Gateway (429) before it
   * invokes the authorizer.
   * @default - { rateLimit: 50, burstLimit: 100 }
   */
  readonly webSocketThrottle?: apigwv2.ThrottleSettings;

  /**
   * X-Ray tracing of the broadcaster, which the window table's stream drives at up to about one
   * invocation a second per shard. Active tracing samples the first invocation each second and 5%
   * of the rest (X-Ray's default, which the Lambda guide says functions cannot change), so it would trace nearly
   * every one. The authorizer and the connection routes are request-driven, run at the rate users
   * connect, and always keep Active tracing. `-c streamTracing=active` turns this on for the stack.
   * @default - lambda.Tracing.DISABLED (STREAM_CONSUMER_TRACING_DEFAULT)
   */
  readonly broadcasterTracing?: lambda.Tracing;

  /**
   * Topic notified when an alarm fires.
   * @default - no alarm action; the alarms are visible on the dashboard and console only
   */
  readonly alarmTopic?: ITopic;

  /**
   * What happens to the tables, buckets, queue, user pool and log groups when they leave the
   * stack. The default suits the demo: `cdk destroy` leaves nothing to pay for (buckets are
   * emptied first). The API Gateway CloudWatch role is always retained: the account setting
   * that names it outlives the stack.
   * @default - RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

// A type alias, not an interface, so `Object.values(alarms)` is typed `Alarm[]`, not `any[]`.
/** The live dashboard's alarms, by what they watch. */
export type LiveDashboardAlarms = {
  /** The broadcaster threw or timed out (an unreadable batch, or the connections table unreadable). */
  readonly broadcasterErrors: cloudwatch.Alarm;
  /** The broadcaster is more than 30 s behind the window table's stream. */
  readonly iteratorAge: cloudwatch.Alarm;
  /** Window-change ranges the broadcaster gave up on are waiting in `failedBroadcastQueue`. */
  readonly failedBroadcastQueueDepth: cloudwatch.Alarm;
}

/**
 * The live dashboard: an API Gateway WebSocket API whose $connect is authorized with a Cognito ID
 * token, a connections table, a broadcaster that turns the window table's stream into `windows`
 * messages for every subscribed connection, and the static web app on S3 behind CloudFront, with
 * its `config.json` written at deploy time.
 */
export class LiveDashboard extends Construct {
  /** One item per open connection (pk `connectionId`, TTL `expiresAt`). */
  public readonly connectionsTable: dynamodb.Table;
  /** Users who may open the dashboard (no self sign-up; an administrator creates them). */
  public readonly userPool: cognito.UserPool;
  /** Managed login, authorization code flow with PKCE. */
  public readonly userPoolDomain: cognito.UserPoolDomain;
  /** The dashboard's public app client: code flow, no secret. */
  public readonly userPoolClient: cognito.UserPoolClient;
  /** Private bucket of the web app, read only by CloudFront through origin access control. */
  public readonly siteBucket: s3.Bucket;
  /** Server access logs of `siteBucket` and CloudFront's standard logs. */
  public readonly accessLogsBucket: s3.Bucket;
  public readonly distribution: cloudfront.Distribution;
  /** The web app and its `config.json`, uploaded at deploy time. */
  public readonly deployment: s3deploy.BucketDeployment;
  /** `https://<distribution>.cloudfront.net/`: where users open the dashboard, and the OAuth redirect URI. */
  public readonly dashboardUrl: string;
  /** $connect REQUEST authorizer: verifies the ID token in `?token=`. */
  public readonly authorizerFunction: NodejsFunction;
  /** $connect, $disconnect and $default. */
  public readonly connectionsFunction: NodejsFunction;
  /** Window table stream -> @connections. */
  public readonly broadcaster: NodejsFunction;
  /** The broadcaster's trigger on the window table's stream. */
  public readonly eventSource: DynamoEventSource;
  /** On-failure destination of the broadcaster's mapping: stream ranges it gave up on. */
  public readonly failedBroadcastQueue: sqs.Queue;
  public readonly webSocketApi: apigwv2.WebSocketApi;
  public readonly stage: apigwv2.WebSocketStage;
  /** `wss://<api>.execute-api.<region>.amazonaws.com/live`. */
  public readonly webSocketUrl: string;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly alarms: LiveDashboardAlarms;

  /** X-Ray tracing of the broadcaster. */
  public readonly broadcasterTracing: lambda.Tracing;

  private readonly removalPolicy: RemovalPolicy;

  constructor(scope: Construct, id: string, props: LiveDashboardProps) {
    super(scope, id);
    validateProps(props);
    if (props.windowTable.tableStreamArn === undefined) {
      throw new Error('windowTable must have a stream with new and old images. Received a table without a stream');
    }
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.broadcasterTracing = props.broadcasterTracing ?? STREAM_CONSUMER_TRACING_DEFAULT;
    const removalPolicy = this.removalPolicy;
    const destroy = removalPolicy === RemovalPolicy.DESTROY;

    this.connectionsTable = new dynamodb.Table(this, 'ConnectionsTable', {
      partitionKey: { name: CONNECTIONS_TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      timeToLiveAttribute: CONNECTIONS_TABLE_KEYS.timeToLiveAttribute,
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy,
    });

    // ---- Hosting: private bucket, CloudFront with origin access control ----
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // CloudFront standard logs are delivered with an ACL grant, so ACLs must stay enabled.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
      autoDeleteObjects: destroy,
    });
    this.siteBucket = new s3.Bucket(this, 'SiteBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'site-bucket/',
      removalPolicy,
      autoDeleteObjects: destroy,
    });
    this.distribution = new cloudfront.Distribution(this, 'Distribution', {
      comment: 'Watershed live dashboard',
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.siteBucket, {
          // Origin access control names are unique per account, not per region: the region in
          // the name lets the same stack deploy to a second region of the account.
          originAccessControl: new cloudfront.S3OriginAccessControl(this, 'SiteOriginAccessControl', {
            originAccessControlName: Fn.join('-', [Names.uniqueResourceName(this, { maxLength: 40 }), Aws.REGION]),
          }),
        }),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: this.securityHeadersPolicy(),
        compress: true,
      },
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: true,
      logBucket: this.accessLogsBucket,
      logFilePrefix: 'cloudfront/',
    });
    this.dashboardUrl = `https://${this.distribution.distributionDomainName}/`;

    // ---- Cognito: admin-created users, TOTP MFA, managed login with the code flow + PKCE ----
    this.userPool = new cognito.UserPool(this, 'UserPool', {
      selfSignUpEnabled: false,
      signInAliases: { email: true },
      autoVerify: { email: true },
      mfa: cognito.Mfa.REQUIRED,
      mfaSecondFactor: { otp: true, sms: false },
      passwordPolicy: {
        minLength: 12,
        requireLowercase: true,
        requireUppercase: true,
        requireDigits: true,
        requireSymbols: true,
        tempPasswordValidity: Duration.days(3),
      },
      accountRecovery: cognito.AccountRecovery.EMAIL_ONLY,
      featurePlan: cognito.FeaturePlan.ESSENTIALS,
      deletionProtection: !destroy,
      removalPolicy,
    });
    this.userPoolClient = this.userPool.addClient('DashboardClient', {
      // A browser app cannot keep a secret; PKCE protects its authorization codes instead.
      generateSecret: false,
      oAuth: {
        flows: { authorizationCodeGrant: true, implicitCodeGrant: false, clientCredentials: false },
        scopes: [cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
        callbackUrls: [this.dashboardUrl],
        logoutUrls: [this.dashboardUrl],
      },
      supportedIdentityProviders: [cognito.UserPoolClientIdentityProvider.COGNITO],
      preventUserExistenceErrors: true,
      enableTokenRevocation: true,
      idTokenValidity: Duration.hours(1),
      accessTokenValidity: Duration.hours(1),
      refreshTokenValidity: Duration.hours(12),
    });
    this.userPoolDomain = this.userPool.addDomain('Domain', {
      cognitoDomain: { domainPrefix: props.cognitoDomainPrefix ?? this.defaultDomainPrefix() },
      managedLoginVersion: cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN,
    });
    // Managed login (v2) serves no pages for a client without a style; Cognito's defaults suffice.
    new cognito.CfnManagedLoginBranding(this, 'ManagedLoginBranding', {
      userPoolId: this.userPool.userPoolId,
      clientId: this.userPoolClient.userPoolClientId,
      useCognitoProvidedValues: true,
    });

    // ---- Functions ----
    const allowedLatenessSeconds = String(props.allowedLateness.toSeconds());
    const authorizer = this.dashboardFunction('Authorizer', {
      entry: 'authorize.handler.ts',
      description: 'Live dashboard: verifies the Cognito ID token of a WebSocket $connect',
      service: DASHBOARD_SERVICES.authorizer,
      memorySize: 256,
      timeout: Duration.seconds(10),
      environment: {
        [DashboardEnv.userPoolId]: this.userPool.userPoolId,
        [DashboardEnv.userPoolClientId]: this.userPoolClient.userPoolClientId,
      },
    });
    this.authorizerFunction = authorizer.fn;

    this.webSocketApi = new apigwv2.WebSocketApi(this, 'WebSocketApi', {
      description: 'Watershed live dashboard',
    });
    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.webSocketApi,
      stageName: WEB_SOCKET_STAGE_NAME,
      autoDeploy: true,
      throttle: props.webSocketThrottle ?? WEB_SOCKET_THROTTLE_DEFAULTS,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogGroup),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTimeEpoch',
            connectionId: '$context.connectionId',
            eventType: '$context.eventType',
            routeKey: '$context.routeKey',
            status: '$context.status',
            sourceIp: '$context.identity.sourceIp',
            principalId: '$context.authorizer.principalId',
            authorizeError: '$context.authorize.error',
            integrationError: '$context.integration.error',
            error: '$context.error.message',
          }),
        ),
      },
    });
    this.webSocketUrl = this.stage.url;
    if (props.apiGatewayCloudWatchRole ?? true) this.setApiGatewayCloudWatchRole();

    const connections = this.dashboardFunction('Connections', {
      entry: 'connection-routes.handler.ts',
      description: 'Live dashboard: WebSocket $connect, $disconnect and $default (subscribe, ping)',
      service: DASHBOARD_SERVICES.connections,
      memorySize: 512,
      // API Gateway waits at most 29 s for a WebSocket integration.
      timeout: Duration.seconds(29),
      environment: {
        [DashboardEnv.allowedLatenessSeconds]: allowedLatenessSeconds,
        [DashboardEnv.connectionTtlSeconds]: String(
          (props.connectionTtl ?? Duration.seconds(DASHBOARD_DEFAULTS.connectionTtlSeconds)).toSeconds(),
        ),
        [DashboardEnv.managementApiEndpoint]: this.stage.callbackUrl,
      },
    });
    this.connectionsFunction = connections.fn;
    // Put on $connect, the conditional Update of subscribe, Delete on $disconnect and on 410.
    this.bindTable(connections.fn, this.connectionsTable, DashboardEnv.connectionsTableName, [
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:DeleteItem',
    ]);
    // The snapshot's Queries: one per minute partition and one of the shards' progress, never a Scan.
    this.bindTable(connections.fn, props.windowTable, DashboardEnv.windowTableName, ['dynamodb:Query']);
    this.stage.grantManagementApiAccess(connections.fn);

    const broadcaster = this.dashboardFunction('Broadcaster', {
      entry: 'broadcast.handler.ts',
      description: 'Live dashboard: window table changes -> every subscribed WebSocket connection',
      service: DASHBOARD_SERVICES.broadcaster,
      tracing: this.broadcasterTracing,
      memorySize: 512,
      timeout: Duration.seconds(60),
      environment: {
        [DashboardEnv.allowedLatenessSeconds]: allowedLatenessSeconds,
        [DashboardEnv.postConcurrency]: String(DASHBOARD_DEFAULTS.postConcurrency),
        [DashboardEnv.managementApiEndpoint]: this.stage.callbackUrl,
      },
    });
    this.broadcaster = broadcaster.fn;
    // Scan for the subscribed connections, Delete for those that answer 410.
    this.bindTable(broadcaster.fn, this.connectionsTable, DashboardEnv.connectionsTableName, [
      'dynamodb:Scan',
      'dynamodb:DeleteItem',
    ]);
    // Queries of the changed minutes' partials (totals across shards) and of the shards' watermarks.
    this.bindTable(broadcaster.fn, props.windowTable, DashboardEnv.windowTableName, ['dynamodb:Query']);
    this.stage.grantManagementApiAccess(broadcaster.fn);

    this.failedBroadcastQueue = sinkQueue(this, 'FailedBroadcastQueue', {
      removalPolicy,
      holds: 'window-table stream ranges the broadcaster gave up on',
    });
    // Grants stream read on the window table; SqsDlq grants send on failedBroadcastQueue.
    this.eventSource = new DynamoEventSource(props.windowTable, {
      ...WINDOW_STREAM_EVENT_SOURCE_DEFAULTS,
      onFailure: new SqsDlq(this.failedBroadcastQueue),
    });
    this.broadcaster.addEventSource(this.eventSource);

    // ---- Routes: the authorizer guards $connect; API Gateway allows authorizers nowhere else ----
    const integration = new WebSocketLambdaIntegration('ConnectionsIntegration', this.connectionsFunction);
    this.webSocketApi.addRoute('$connect', {
      integration,
      authorizer: new WebSocketLambdaAuthorizer('TokenAuthorizer', this.authorizerFunction, {
        identitySource: [CONNECT_IDENTITY_SOURCE],
      }),
    });
    this.webSocketApi.addRoute('$disconnect', { integration });
    this.webSocketApi.addRoute('$default', { integration });

    // ---- The web app and its config.json ----
    const config: DashboardConfig = {
      webSocketUrl: this.webSocketUrl,
      auth: {
        mode: 'cognito',
        domain: this.userPoolDomain.baseUrl(),
        clientId: this.userPoolClient.userPoolClientId,
        redirectUri: this.dashboardUrl,
      },
      allowedLatenessSeconds: props.allowedLateness.toSeconds(),
    };
    // A role of its own, as for the functions: the default one attaches AWSLambdaBasicExecutionRole.
    const deploymentLogGroup = new logs.LogGroup(this, 'WebAppDeploymentLogGroup', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy,
    });
    const deploymentRole = new iam.Role(this, 'WebAppDeploymentRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Watershed live dashboard: uploads the web app and config.json',
    });
    deploymentLogGroup.grantWrite(deploymentRole);
    this.deployment = new s3deploy.BucketDeployment(this, 'WebApp', {
      destinationBucket: this.siteBucket,
      role: deploymentRole,
      logGroup: deploymentLogGroup,
      sources: [props.webAppSource ?? webAppAsset(), s3deploy.Source.jsonData('config.json', config)],
      memoryLimit: 512,
    });
    this.invalidateAfterDeployment(deploymentRole);

    this.alarms = this.createAlarms();
    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of Object.values(this.alarms)) alarm.addAlarmAction(action);
    }

    this.acknowledgeNagFindings([authorizer, connections, broadcaster], deploymentRole);
  }

  /** IteratorAge of the broadcaster's mapping: how far behind the window table's stream it is. */
  public metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.broadcaster.metric('IteratorAge', {
      statistic: cloudwatch.Stats.MAXIMUM,
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Messages the broadcaster posted to connections (one per message part per connection). */
  public metricMessagesPosted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.broadcasterMetric('MessagesPosted', props);
  }

  /** Connections that answered 410 Gone and were deleted. */
  public metricGoneConnections(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.broadcasterMetric('GoneConnections', props);
  }

  /** Posts that failed otherwise (throttled, timed out); the connections were kept. */
  public metricPostFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.broadcasterMetric('PostFailures', props);
  }

  /** WebSocket connection requests (AWS/ApiGateway ConnectCount). */
  public metricConnectCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.apiMetric('ConnectCount', props);
  }

  /** Messages sent to and from clients through the API (AWS/ApiGateway MessageCount). */
  public metricMessageCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.apiMetric('MessageCount', props);
  }

  private broadcasterMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service: DASHBOARD_SERVICES.broadcaster },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(1),
      ...props,
    });
  }

  private apiMetric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: { ApiId: this.webSocketApi.apiId, Stage: this.stage.stageName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(1),
      ...props,
    });
  }

  /**
   * CloudFront's managed SecurityHeadersPolicy plus a Content-Security-Policy whose connect-src is
   * the page's own origin (config.json), this stage's WebSocket URL and the Cognito domain (token
   * endpoint), instead of index.html's `ws: wss: http: https:`, which the local cloud needs (its
   * ports are chosen at start). A browser enforces both policies, so the header narrows the meta
   * tag. Both endpoints exist only later in the constructor, hence the Lazy value.
   */
  private securityHeadersPolicy(): cloudfront.IResponseHeadersPolicy {
    return new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeadersPolicy', {
      comment: 'Watershed live dashboard: security headers, CSP connect-src limited to its endpoints',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: Lazy.string({
            produce: () => dashboardContentSecurityPolicy({ webSocketUrl: this.webSocketUrl, cognitoDomainUrl: this.userPoolDomain.baseUrl() }),
          }),
          override: true,
        },
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, override: false },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.NO_REFERRER, override: true },
        xssProtection: { protection: true, modeBlock: true, override: true },
      },
    });
  }

  /**
   * index.html and config.json keep their names across deployments, so the deployment invalidates
   * `/*` to serve users the new ones. BucketDeployment's own `distribution` prop cannot be scoped:
   * it grants cloudfront:CreateInvalidation and GetInvalidation on Resource "*" (aws-cdk-lib
   * 2.276). So the distribution is handed to the deployment's handler through the same custom
   * resource properties that prop sets (DistributionId, DistributionPaths), and the role is granted
   * both actions on this distribution's ARN only (Distribution.grant*).
   */
  private invalidateAfterDeployment(deploymentRole: iam.Role): void {
    const deploymentResource = this.deployment.node.children.find((child): child is CustomResource => child instanceof CustomResource);
    if (deploymentResource === undefined) throw new Error('BucketDeployment no longer has a CustomResource child; see invalidateAfterDeployment');
    const customResource = deploymentResource.node.defaultChild as CfnResource;
    customResource.addPropertyOverride('DistributionId', this.distribution.distributionId);
    customResource.addPropertyOverride('DistributionPaths', ['/*']);
    this.distribution.grantCreateInvalidation(deploymentRole);
    this.distribution.grant(deploymentRole, 'cloudfront:GetInvalidation');
  }

  /** `<stack name in lowercase>-<account id>`: unique per account and region, like the stack. */
  private defaultDomainPrefix(): string {
    const stackName = Stack.of(this).stackName;
    const slug = Token.isUnresolved(stackName)
      ? 'watershed'
      : stackName.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'watershed';
    return Fn.join('-', [slug, Aws.ACCOUNT_ID]);
  }

  /** A dashboard function (lib/watershed-function.ts): its own role, log group and bundling. */
  private dashboardFunction(
    id: string,
    options: Omit<WatershedFunctionOptions, 'removalPolicy' | 'roleDescription' | 'tracing'> & { tracing?: lambda.Tracing },
  ): WatershedFunction {
    return watershedFunction(this, id, {
      tracing: REQUEST_DRIVEN_TRACING,
      ...options,
      entry: path.join('lambdas', 'dashboard', options.entry),
      roleDescription: `Watershed ${options.service}`,
      removalPolicy: this.removalPolicy,
    });
  }

  /** Sets the table's environment variable on the function and grants it exactly these item actions. */
  private bindTable(fn: lambda.Function, table: dynamodb.ITable, variable: string, actions: string[]): void {
    fn.addEnvironment(variable, table.tableName);
    table.grant(fn, ...actions);
  }

  /**
   * WebSocket (and REST) stages can log only once the region's API Gateway account setting names a
   * role API Gateway may assume to write to CloudWatch Logs; otherwise the stage fails to create.
   * Both are retained: deleting the role would break logging for every API that relies on it.
   */
  private setApiGatewayCloudWatchRole(): void {
    const role = new iam.Role(this, 'ApiGatewayCloudWatchRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'Lets API Gateway write access and execution logs to CloudWatch Logs (account setting)',
      managedPolicies: [iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs')],
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new apigateway.CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    this.stage.node.addDependency(account);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'This role is the account-wide API Gateway logging role, which API Gateway assumes to create and write ' +
        'the log groups of every API stage in the region. The AWS-managed policy is the documented, maintained ' +
        'permission set for exactly that; a hand-written copy would need the same wildcards.',
    });
  }

  private createAlarms(): LiveDashboardAlarms {
    return {
      broadcasterErrors: new cloudwatch.Alarm(this, 'BroadcasterErrorsAlarm', {
        alarmDescription: 'Live dashboard broadcaster invocations failed (unreadable batch, connections table, timeout)',
        metric: this.broadcaster.metricErrors({ statistic: cloudwatch.Stats.SUM, period: Duration.minutes(5) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      // Sustained for three minutes: a dashboard 30 s behind is visibly not live.
      iteratorAge: new cloudwatch.Alarm(this, 'BroadcasterIteratorAgeAlarm', {
        alarmDescription: 'Live dashboard broadcaster is more than 30 s behind the window table stream',
        metric: this.metricIteratorAge(),
        threshold: Duration.seconds(30).toMilliseconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        // No invocations means no window changes, not lag.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      failedBroadcastQueueDepth: queueDepthAlarm(
        this,
        'FailedBroadcastQueueDepthAlarm',
        this.failedBroadcastQueue,
        'Window-change ranges the broadcaster gave up on are waiting in the failed-broadcast queue',
      ),
    };
  }

  /**
   * cdk-nag (AwsSolutions) acknowledgements, each on the narrowest construct it concerns and, where
   * a finding has a detail, by its full id `Rule[Finding]`, so no other finding is hidden.
   */
  private acknowledgeNagFindings(functions: WatershedFunction[], deploymentRole: iam.Role): void {
    for (const { fn, role } of functions) {
      acknowledgeNodeRuntime(fn);
      acknowledgeUnscopedActions(role, {
        grants: 'tables, stream, queue, @connections, logs',
        tracing: fn === this.broadcaster ? this.broadcasterTracing : REQUEST_DRIVEN_TRACING,
        ...(fn === this.broadcaster ? { others: 'dynamodb:ListStreams, added by the DynamoDB stream trigger' } : {}),
      });
    }
    for (const { role } of functions.filter(({ fn }) => fn === this.connectionsFunction || fn === this.broadcaster)) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${this.logicalIdOf(this.webSocketApi)}>/${WEB_SOCKET_STAGE_NAME}/*/@connections/*]`,
        reason:
          'execute-api:ManageConnections on this API\'s own stage only. Connection ids exist only at run ' +
          'time, so the ARN ends in a wildcard for the method and the connection id; the grant is ' +
          'grantManagementApiAccess of the stage.',
      });
    }
    Validations.of(this.webSocketApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'API Gateway WebSocket APIs authorize once, on $connect (Lambda REQUEST authorizer verifying a ' +
        'Cognito ID token); they accept no authorizer on $disconnect or on message routes such as $default. ' +
        'Messages can only arrive on a connection that passed $connect.',
    });
    Validations.of(this.userPool).acknowledge({
      id: 'AwsSolutions-COG8',
      reason:
        'The Plus feature plan (threat protection) is billed per monthly active user; this demo pool has no ' +
        'self sign-up, admin-created users only, TOTP MFA required and a 12-character password policy on ' +
        'the Essentials plan, which managed login needs.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR4',
      reason:
        'The distribution uses its default *.cloudfront.net certificate, for which CloudFront cannot raise ' +
        'the minimum protocol version; doing so needs a custom domain and an ACM certificate in us-east-1, ' +
        'which this environment-agnostic demo stack does not own. Viewers are redirected to HTTPS.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'The dashboard serves only static files to signed-in users of any country; the data is reached over ' +
        'the WebSocket API, which requires a Cognito token. A geo restriction would protect nothing.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR2',
      reason:
        'A WAF web ACL for CloudFront must live in us-east-1 and costs a monthly fee; the distribution serves ' +
        'only static, public-by-design files (no origin compute, no data), GET and HEAD only.',
    });
    const deploymentFindings: Array<[string, string]> = [
      ['Action::s3:GetObject*', 'read the web app asset from the CDK assets bucket and list the site bucket'],
      ['Action::s3:GetBucket*', 'read bucket metadata of the assets and site buckets'],
      ['Action::s3:List*', 'list the site bucket to prune files of earlier deployments'],
      ['Action::s3:DeleteObject*', 'prune files of earlier deployments from the site bucket'],
      ['Action::s3:Abort*', 'abort its own multipart uploads to the site bucket'],
      ['Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*', 'read the staged web app asset, whose key is a content hash'],
      [`Resource::<${this.logicalIdOf(this.siteBucket)}.Arn>/*`, 'write and prune any object of the site bucket, which holds only this web app'],
    ];
    for (const [finding, purpose] of deploymentFindings) {
      Validations.of(deploymentRole).acknowledge({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason:
          `Added by CDK's BucketDeployment (grantRead/grantReadWrite) so its handler can ${purpose}. ` +
          'The role belongs to that handler alone and names both buckets.',
      });
    }
    // The BucketDeployment's handler is a CDK-managed singleton at stack level; its Python runtime
    // is CDK's choice, not a prop.
    for (const handler of Stack.of(this).node.children) {
      if (handler instanceof lambda.Function && handler.node.id.startsWith('Custom::CDKBucketDeployment')) {
        Validations.of(handler).acknowledge({
          id: 'AwsSolutions-L1',
          reason:
            'The runtime of the BucketDeployment handler is chosen by aws-cdk-lib (the AWS CLI layer it ' +
            'ships is built for it) and is not configurable; it runs only during deployments.',
        });
      }
    }
  }

  private logicalIdOf(construct: Construct): string {
    return Stack.of(this).getLogicalId(construct.node.defaultChild as CfnElement);
  }
}

/**
 * The dashboard page's Content-Security-Policy as CloudFront sends it: index.html's policy, with
 * connect-src narrowed to the page's origin, the WebSocket stage URL (a path without a trailing
 * slash matches only itself; the `?token=` query is not part of the match) and the Cognito domain,
 * and framing refused (frame-ancestors works only in a header).
 */
export function dashboardContentSecurityPolicy(endpoints: { webSocketUrl: string; cognitoDomainUrl: string }): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self' ${endpoints.webSocketUrl} ${endpoints.cognitoDomainUrl}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The web app, built with local esbuild at synthesis (no Docker); hashed by its output. */
function webAppAsset(): s3deploy.ISource {
  return s3deploy.Source.asset(WEB_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('none'),
      local: {
        tryBundle(outputDir: string): boolean {
          buildDashboardSync(outputDir);
          return true;
        },
      },
    },
  });
}

/** Synth-time validation; every message names the prop, the allowed range and the value received. */
function validateProps(props: LiveDashboardProps): void {
  checkSeconds('allowedLateness', props.allowedLateness, 0);
  checkSeconds('connectionTtl', props.connectionTtl, 60, Duration.hours(24).toSeconds());
  const prefix = props.cognitoDomainPrefix;
  if (prefix !== undefined && !Token.isUnresolved(prefix)) {
    if (!COGNITO_DOMAIN_PREFIX.test(prefix)) {
      throw new Error(
        `cognitoDomainPrefix must be 1 to 63 lowercase letters, digits or inner hyphens. Received ${prefix}`,
      );
    }
    const reserved = COGNITO_RESERVED_WORDS.find((word) => prefix.includes(word));
    if (reserved !== undefined) {
      throw new Error(`cognitoDomainPrefix must not contain "${reserved}". Received ${prefix}`);
    }
  }
}
