import { AGGREGATOR_DEFAULTS } from '../../contracts/aggregator-settings';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { App } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardConfig } from '../../contracts/dashboard';
import { DashboardEnv } from '../../contracts/dashboard-settings';
import {
  CONNECT_IDENTITY_SOURCE,
  WEB_SOCKET_STAGE_NAME,
  type LiveDashboard,
} from '../../lib/live-dashboard';
import type { WatershedStack } from '../../lib/watershed-stack';
import { logicalIdOf, resolved, synthesizeWatershed } from './support';

interface PolicyStatement {
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Effect: string;
  readonly Condition?: unknown;
  readonly Principal?: unknown;
}

let app: App;
let stack: WatershedStack;
let live: LiveDashboard;
let template: Template;
let outdir: string;

beforeAll(() => {
  ({ app, stack, template, outdir } = synthesizeWatershed());
  live = stack.liveDashboard;
});

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const json = (value: unknown) => JSON.stringify(value);
const ref = (value: string) => resolved(stack, value);
/** The synthesized resource of an L2 construct. */
const resourceOf = (construct: { node: { defaultChild?: unknown } }) => template.toJSON().Resources[logicalIdOf(stack, construct)];
const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** Every statement of the IAM policies attached to a function's role. */
function statementsOf(fn: { role?: { roleName: string } }): PolicyStatement[] {
  const roleRef = json(ref(fn.role!.roleName));
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => json(role) === roleRef))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[]);
}

const routes = () => Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((route) => route.Properties);

describe('WebSocket API', () => {
  it('is a WebSocket API', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'WEBSOCKET' });
  });

  it('has exactly the $connect, $disconnect and $default routes', () => {
    expect(routes().map((route) => route.RouteKey).sort()).toStrictEqual(['$connect', '$default', '$disconnect']);
  });

  it('guards $connect with the Lambda authorizer', () => {
    const authorizers = template.findResources('AWS::ApiGatewayV2::Authorizer');
    expect(Object.keys(authorizers)).toHaveLength(1);
    expect(routes().find((route) => route.RouteKey === '$connect')).toMatchObject({
      AuthorizationType: 'CUSTOM',
      AuthorizerId: { Ref: Object.keys(authorizers)[0] },
    });
  });

  it.each(['$disconnect', '$default'])('has no authorizer on %s (API Gateway authorizes WebSocket connections once)', (routeKey) => {
    const route = routes().find((candidate) => candidate.RouteKey === routeKey);
    expect(route?.AuthorizationType).toBe('NONE');
    expect(route?.AuthorizerId).toBeUndefined();
  });

  it('authorizes with a REQUEST authorizer reading the token from the query string', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      ApiId: ref(live.webSocketApi.apiId),
      AuthorizerType: 'REQUEST',
      IdentitySource: [CONNECT_IDENTITY_SOURCE],
    });
    expect(CONNECT_IDENTITY_SOURCE).toBe('route.request.querystring.token');
    const [authorizer] = Object.values(template.findResources('AWS::ApiGatewayV2::Authorizer'));
    expect(json(authorizer!.Properties.AuthorizerUri)).toContain(logicalIdOf(stack, live.authorizerFunction));
  });

  it('routes all three routes to the connections function', () => {
    const integrations = Object.values(template.findResources('AWS::ApiGatewayV2::Integration'));
    expect(integrations).toHaveLength(1);
    expect(integrations[0]!.Properties).toMatchObject({ IntegrationType: 'AWS_PROXY' });
    expect(json(integrations[0]!.Properties.IntegrationUri)).toContain(logicalIdOf(stack, live.connectionsFunction));
  });

  it('lets API Gateway invoke the authorizer and the connections function, from this API only', () => {
    for (const fn of [live.authorizerFunction, live.connectionsFunction]) {
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
        FunctionName: Match.objectLike({ 'Fn::GetAtt': [logicalIdOf(stack, fn), 'Arn'] }),
        SourceArn: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([ref(live.webSocketApi.apiId)])]) }),
      });
    }
  });

  it(`deploys automatically to the "${WEB_SOCKET_STAGE_NAME}" stage, with JSON access logs`, () => {
    const stage = resourceOf(live.stage);
    expect(stage.Properties).toMatchObject({ StageName: 'live', AutoDeploy: true });
    expect(stage.Properties.AccessLogSettings.DestinationArn).toStrictEqual(ref(live.accessLogGroup.logGroupArn));
    expect(JSON.parse(stage.Properties.AccessLogSettings.Format)).toMatchObject({
      requestId: '$context.requestId',
      connectionId: '$context.connectionId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
  });

  it('sets the API Gateway CloudWatch role before creating the stage, and retains both', () => {
    const [accountId, account] = Object.entries(template.findResources('AWS::ApiGateway::Account'))[0]!;
    expect(account.DeletionPolicy).toBe('Retain');
    expect(resourceOf(live.stage).DependsOn).toContain(accountId);
    const roleId = (account.Properties.CloudWatchRoleArn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;
    const role = template.toJSON().Resources[roleId];
    expect(role.DeletionPolicy).toBe('Retain');
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toMatchObject([{ Principal: { Service: 'apigateway.amazonaws.com' } }]);
  });
});

describe('@connections permissions', () => {
  /** arn:<partition>:execute-api:<region>:<account>:<this API>/live/<method>/@connections/<id> */
  const connectionsArn = () => ({
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':execute-api:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ':',
        ref(live.webSocketApi.apiId),
        '/live/*/@connections/*',
      ],
    ],
  });

  it.each([
    ['connections function', () => live.connectionsFunction],
    ['broadcaster', () => live.broadcaster],
  ])('lets the %s manage connections of this API stage only', (_name, fn) => {
    const statements = statementsOf(fn()).filter((statement) => asArray(statement.Action).includes('execute-api:ManageConnections'));
    expect(statements).toStrictEqual([{ Action: 'execute-api:ManageConnections', Effect: 'Allow', Resource: connectionsArn() }]);
  });

  it('grants execute-api:ManageConnections to nothing else, and never on "*"', () => {
    const grants = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as PolicyStatement[]).filter((statement) =>
        asArray(statement.Action).some((action) => action.startsWith('execute-api:')),
      ),
    );
    // The connections function, the broadcaster, the fraud pipeline's alert broadcaster and the market panel's prices broadcaster.
    expect(grants).toHaveLength(4);
    for (const grant of grants) expect(grant.Resource).toStrictEqual(connectionsArn());
  });

  it.each([
    ['connections function', () => live.connectionsFunction],
    ['broadcaster', () => live.broadcaster],
  ])('gives the %s the stage callback URL as its only @connections endpoint', (_name, fn) => {
    const variables = resourceOf(fn()).Properties.Environment.Variables;
    expect(variables[DashboardEnv.managementApiEndpoint]).toStrictEqual(ref(live.stage.callbackUrl));
    expect(Object.keys(variables).filter((name) => name.startsWith('AWS_ENDPOINT_URL'))).toStrictEqual([
      'AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI',
    ]);
  });
});

describe('functions', () => {
  const functions = () => [live.authorizerFunction, live.connectionsFunction, live.broadcaster];

  it.each([
    ['Runtime', 'nodejs22.x'],
    ['Architectures', ['arm64']],
    ['Handler', 'index.handler'],
  ])('all set %s to %j', (property, value) => {
    for (const fn of functions()) expect(resourceOf(fn).Properties[property]).toStrictEqual(value);
  });

  it('trace the request-driven functions, not the stream-driven broadcaster', () => {
    expect(resourceOf(live.authorizerFunction).Properties.TracingConfig).toStrictEqual({ Mode: 'Active' });
    expect(resourceOf(live.connectionsFunction).Properties.TracingConfig).toStrictEqual({ Mode: 'Active' });
    expect(resourceOf(live.broadcaster).Properties.TracingConfig).toBeUndefined();
  });

  it('each log to a log group of their own, in JSON', () => {
    const groups = functions().map((fn) => resourceOf(fn).Properties.LoggingConfig);
    for (const group of groups) expect(group.LogFormat).toBe('JSON');
    expect(new Set(groups.map((group) => json(group.LogGroup))).size).toBe(3);
  });

  it('answer within API Gateway\'s 29 s integration timeout on the routes', () => {
    expect(resourceOf(live.connectionsFunction).Properties.Timeout).toBeLessThanOrEqual(29);
    expect(resourceOf(live.authorizerFunction).Properties.Timeout).toBeLessThanOrEqual(29);
  });

  const settingsOf: Array<[string, () => NodejsFunction, Record<string, () => unknown>]> = [
    [
      'authorizer',
      () => live.authorizerFunction,
      { USER_POOL_ID: () => ref(live.userPool.userPoolId), USER_POOL_CLIENT_ID: () => ref(live.userPoolClient.userPoolClientId) },
    ],
    [
      'connections function',
      () => live.connectionsFunction,
      {
        CONNECTIONS_TABLE_NAME: () => ref(live.connectionsTable.tableName),
        WINDOW_TABLE_NAME: () => ref(stack.clickstream.windowTable.tableName),
        ALLOWED_LATENESS_SECONDS: () => '60',
        CONNECTION_TTL_SECONDS: () => '7200',
      },
    ],
    [
      'broadcaster',
      () => live.broadcaster,
      {
        CONNECTIONS_TABLE_NAME: () => ref(live.connectionsTable.tableName),
        WINDOW_TABLE_NAME: () => ref(stack.clickstream.windowTable.tableName),
        ALLOWED_LATENESS_SECONDS: () => '60',
      },
    ],
  ];
  it.each(settingsOf)('give the %s its settings', (_name, fn, expected) => {
    const variables = resourceOf(fn()).Properties.Environment.Variables;
    for (const [variable, value] of Object.entries(expected)) expect(variables[variable], variable).toStrictEqual(value());
  });

  it('use only the documented environment variable names', () => {
    const known = new Set<string>([
      ...Object.values(DashboardEnv),
      'POWERTOOLS_SERVICE_NAME',
      'POWERTOOLS_METRICS_NAMESPACE',
      'NODE_OPTIONS',
      // Set on functions that are not traced, so the Powertools Tracer is a no-op.
      'POWERTOOLS_TRACE_ENABLED',
    ]);
    for (const fn of functions()) {
      expect(Object.keys(resourceOf(fn).Properties.Environment.Variables).filter((name) => !known.has(name))).toStrictEqual([]);
    }
  });

  const tableGrants: Array<[string, () => NodejsFunction, Array<[string, () => string]>]> = [
    [
      'connections function',
      () => live.connectionsFunction,
      [
        ['dynamodb:PutItem', () => live.connectionsTable.tableArn],
        ['dynamodb:UpdateItem', () => live.connectionsTable.tableArn],
        ['dynamodb:DeleteItem', () => live.connectionsTable.tableArn],
        ['dynamodb:Query', () => stack.clickstream.windowTable.tableArn],
      ],
    ],
    [
      'broadcaster',
      () => live.broadcaster,
      [
        ['dynamodb:Scan', () => live.connectionsTable.tableArn],
        ['dynamodb:DeleteItem', () => live.connectionsTable.tableArn],
        ['dynamodb:Query', () => stack.clickstream.windowTable.tableArn],
        ['dynamodb:GetRecords', () => stack.clickstream.windowTable.tableStreamArn!],
        ['dynamodb:GetShardIterator', () => stack.clickstream.windowTable.tableStreamArn!],
      ],
    ],
  ];
  it.each(tableGrants)('grant the %s exactly its DynamoDB item actions, by ARN', (_name, fn, expected) => {
    const statements = statementsOf(fn());
    for (const [action, arn] of expected) {
      const allowed = statements.some(
        (statement) =>
          asArray(statement.Action).includes(action) &&
          asArray(statement.Resource).some((resource) => json(resource) === json(ref(arn()))),
      );
      expect(allowed, action).toBe(true);
    }
    const itemActions = statements
      .flatMap((statement) => asArray(statement.Action))
      .filter((action) => /^dynamodb:(Put|Update|Delete|Scan|Query|Get|Batch|Transact|ConditionCheck)/.test(action));
    expect(new Set(itemActions)).toStrictEqual(new Set(expected.map(([action]) => action)));
  });

  it('let the broadcaster send failed ranges to the failed-broadcast queue', () => {
    const allowed = statementsOf(live.broadcaster).some(
      (statement) => asArray(statement.Action).includes('sqs:SendMessage') && json(statement.Resource) === json(ref(live.failedBroadcastQueue.queueArn)),
    );
    expect(allowed).toBe(true);
  });

  it('grant the authorizer nothing but its logs and traces', () => {
    const actions = statementsOf(live.authorizerFunction).flatMap((statement) => asArray(statement.Action)).sort();
    expect(actions).toStrictEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
  });

  it('never grant a data-plane action on Resource "*"', () => {
    for (const fn of functions()) {
      const wildcards = statementsOf(fn).filter((statement) => asArray(statement.Resource).includes('*')).flatMap((statement) => asArray(statement.Action));
      expect(wildcards.filter((action) => !/^xray:Put|^dynamodb:ListStreams$/.test(action))).toStrictEqual([]);
    }
  });

  it.each([
    ['authorizer', () => live.authorizerFunction],
    ['connections function', () => live.connectionsFunction],
    ['broadcaster', () => live.broadcaster],
  ])('load the %s bundle standalone, with the environment the construct sets', (_name, fn) => {
    // Copy the bundle where there is no node_modules to resolve from, and require it with the
    // function's own variables (tokens replaced by sample values), as the Lambda runtime would.
    const dir = mkdtempSync(path.join(tmpdir(), 'watershed-dashboard-bundle-'));
    try {
      const assetDir = path.join(outdir, resourceOf(fn()).Metadata['aws:asset:path'] as string);
      for (const file of ['index.js', 'index.js.map']) copyFileSync(path.join(assetDir, file), path.join(dir, file));
      const variables = resourceOf(fn()).Properties.Environment.Variables as Record<string, unknown>;
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AWS_REGION: 'us-east-1' };
      for (const [name, value] of Object.entries(variables)) env[name] = typeof value === 'string' ? value : `sample-${name.toLowerCase()}`;
      if (env.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI?.startsWith('sample')) env.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI = 'https://abc123.execute-api.us-east-1.amazonaws.com/live';
      const handlerType = execFileSync(process.execPath, ['-e', 'process.stdout.write(typeof require("./index.js").handler)'], {
        cwd: dir,
        env,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(handlerType.trim().split('\n').at(-1)).toMatch(/function$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bundle with local esbuild into standalone CommonJS', () => {
    for (const fn of functions()) {
      const dir = path.join(outdir, resourceOf(fn).Metadata['aws:asset:path'] as string);
      expect(readdirSync(dir).sort()).toStrictEqual(['index.js', 'index.js.map']);
      expect(readFileSync(path.join(dir, 'index.js'), 'utf8')).toMatch(/module\.exports/);
    }
  });
});

describe('connections table', () => {
  it('is keyed by connectionId alone and expires items by expiresAt', () => {
    expect(resourceOf(live.connectionsTable).Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'connectionId', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('bills on demand, with point-in-time recovery and encryption at rest', () => {
    expect(resourceOf(live.connectionsTable).Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });
});

describe('broadcaster event source mapping', () => {
  const mapping = () => {
    const toBroadcaster = json(ref(live.broadcaster.functionName));
    const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).filter(
      (candidate) => json(candidate.Properties.FunctionName) === toBroadcaster,
    );
    expect(mappings).toHaveLength(1);
    return mappings[0]!.Properties;
  };

  it('reads the window table\'s stream', () => {
    expect(mapping().EventSourceArn).toStrictEqual(ref(stack.clickstream.windowTable.tableStreamArn!));
  });

  it.each([
    ['BatchSize', 1000],
    ['MaximumBatchingWindowInSeconds', 0],
    ['BisectBatchOnFunctionError', true],
    ['MaximumRetryAttempts', 3],
    ['MaximumRecordAgeInSeconds', 300],
    ['FunctionResponseTypes', ['ReportBatchItemFailures']],
    ['StartingPosition', 'LATEST'],
    ['ParallelizationFactor', 1],
  ])('sets %s to %j', (property, value) => {
    expect(mapping()[property]).toStrictEqual(value);
  });

  it('sends ranges it gives up on to the failed-broadcast queue', () => {
    expect(mapping().DestinationConfig).toStrictEqual({ OnFailure: { Destination: ref(live.failedBroadcastQueue.queueArn) } });
  });

  it('has an encrypted, TLS-only failed-broadcast queue keeping messages 14 days', () => {
    expect(resourceOf(live.failedBroadcastQueue).Properties).toStrictEqual({ MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [ref(live.failedBroadcastQueue.queueUrl)],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });
});

describe('dashboard hosting', () => {
  const distribution = () => resourceOf(live.distribution).Properties.DistributionConfig;
  const bucketPolicy = () =>
    Object.values(template.findResources('AWS::S3::BucketPolicy')).find((policy) => json(policy.Properties.Bucket) === json(ref(live.siteBucket.bucketName)))!
      .Properties.PolicyDocument.Statement as PolicyStatement[];

  it('reads the site bucket through origin access control, not an identity', () => {
    const [oacId, oac] = Object.entries(template.findResources('AWS::CloudFront::OriginAccessControl'))[0]!;
    expect(oac.Properties.OriginAccessControlConfig).toMatchObject({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' });
    expect(distribution().Origins).toStrictEqual([
      expect.objectContaining({
        DomainName: ref(live.siteBucket.bucketRegionalDomainName),
        OriginAccessControlId: { 'Fn::GetAtt': [oacId, 'Id'] },
        S3OriginConfig: { OriginAccessIdentity: '' },
      }),
    ]);
    template.resourceCountIs('AWS::CloudFront::CloudFrontOriginAccessIdentity', 0);
  });

  it('serves viewers over HTTPS only (HTTP is redirected)', () => {
    expect(distribution().DefaultCacheBehavior.ViewerProtocolPolicy).toBe('redirect-to-https');
    expect(distribution().CacheBehaviors).toBeUndefined();
  });

  it('serves index.html at the root, GET and HEAD only, with the security headers policy', () => {
    expect(distribution()).toMatchObject({
      DefaultRootObject: 'index.html',
      DefaultCacheBehavior: {
        AllowedMethods: ['GET', 'HEAD'],
        // Its own policy: the managed SecurityHeadersPolicy's headers plus the CSP (tracing-csp-invalidation.test.ts).
        ResponseHeadersPolicyId: { Ref: logicalIdOf(stack, live.node.findChild('SecurityHeadersPolicy') as never) },
      },
    });
  });

  it('logs requests to the access-logs bucket', () => {
    expect(distribution().Logging).toStrictEqual({ Bucket: ref(live.accessLogsBucket.bucketRegionalDomainName), Prefix: 'cloudfront/' });
  });

  it.each([
    ['site bucket', () => live.siteBucket],
    ['access-logs bucket', () => live.accessLogsBucket],
  ])('blocks all public access to the %s and encrypts it', (_name, bucket) => {
    expect(resourceOf(bucket()).Properties).toMatchObject({
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    });
  });

  it.each([
    ['site bucket', () => live.siteBucket],
    ['access-logs bucket', () => live.accessLogsBucket],
  ])('denies requests to the %s without TLS 1.2', (_name, bucket) => {
    const statements = Object.values(template.findResources('AWS::S3::BucketPolicy'))
      .filter((policy) => json(policy.Properties.Bucket) === json(ref(bucket().bucketName)))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[]);
    expect(statements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        expect.objectContaining({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
      ]),
    );
  });

  it('lets only this distribution read the site bucket (and cdk destroy empty it)', () => {
    const allows = bucketPolicy().filter((statement) => statement.Effect === 'Allow');
    const reads = allows.filter((statement) => json(statement.Principal) === json({ Service: 'cloudfront.amazonaws.com' }));
    expect(reads).toStrictEqual([
      expect.objectContaining({
        Action: 's3:GetObject',
        Condition: { StringEquals: { 'AWS:SourceArn': expect.objectContaining({ 'Fn::Join': expect.anything() }) } },
      }),
    ]);
    expect(json(reads[0]!.Condition)).toContain(logicalIdOf(stack, live.distribution));
    // The only other grant: the auto-delete custom resource, which empties the bucket on stack deletion.
    const others = allows.filter((statement) => !reads.includes(statement));
    expect(others.map((statement) => json(statement.Principal))).toStrictEqual([expect.stringContaining('AutoDeleteObjects')]);
  });

  it('logs site bucket access to the access-logs bucket', () => {
    expect(resourceOf(live.siteBucket).Properties.LoggingConfiguration).toStrictEqual({
      DestinationBucketName: ref(live.accessLogsBucket.bucketName),
      LogFilePrefix: 'site-bucket/',
    });
  });

  it('uploads the web app with config.json and invalidates the distribution', () => {
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment'));
    expect(deployment!.Properties).toMatchObject({
      DestinationBucketName: ref(live.siteBucket.bucketName),
      DistributionId: ref(live.distribution.distributionId),
      DistributionPaths: ['/*'],
      Prune: true,
    });
    expect(deployment!.Properties.SourceObjectKeys).toHaveLength(2);
  });

  it('writes config.json as DashboardConfig, with the deploy-time values', () => {
    // Source.jsonData stages the JSON with markers, which the deployment replaces with these values.
    const [deployment] = Object.values(template.findResources('Custom::CDKBucketDeployment'));
    const markers: Record<string, unknown> = Object.assign({}, ...(deployment!.Properties.SourceMarkers as Record<string, unknown>[]));
    const staged = readdirSync(outdir)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => path.join(outdir, name, 'config.json'))
      .find(existsSync);
    const config = JSON.parse(readFileSync(staged!, 'utf8'));
    /** A staged string as the parts of a CloudFormation Fn::Join: literals and the markers' values. */
    const parts = (value: string): unknown[] =>
      value
        .split(/(<<marker:[^>]+>>)/)
        .filter((part) => part !== '')
        .map((part) => (part.startsWith('<<marker:') ? markers[part] : part));
    /** A resolved token in the same form. */
    const expectedParts = (token: string): unknown[] => {
      const value = ref(token) as { 'Fn::Join'?: [string, unknown[]] };
      return value['Fn::Join'] ? value['Fn::Join'][1] : [value];
    };
    expect(Object.keys(config).sort()).toStrictEqual(['allowedLatenessSeconds', 'auth', 'webSocketUrl']);
    expect(config.allowedLatenessSeconds).toBe(AGGREGATOR_DEFAULTS.allowedLatenessSeconds);
    expect(config.auth.mode).toBe('cognito');
    expect(Object.keys(config.auth).sort()).toStrictEqual(['clientId', 'domain', 'mode', 'redirectUri']);
    expect(parts(config.webSocketUrl)).toStrictEqual(expectedParts(live.webSocketUrl));
    expect(parts(config.auth.domain)).toStrictEqual(expectedParts(live.userPoolDomain.baseUrl()));
    expect(parts(config.auth.clientId)).toStrictEqual(expectedParts(live.userPoolClient.userPoolClientId));
    expect(parts(config.auth.redirectUri)).toStrictEqual(expectedParts(live.dashboardUrl));
    // With any deploy-time values in place, it is what the web app parses.
    const deployed = JSON.parse(JSON.stringify(config).replace(/<<marker:[^>]+>>/g, 'abc123'));
    expect(DashboardConfig.parse(deployed)).toStrictEqual(deployed);
  });

  it('builds the web app at synthesis with local esbuild', () => {
    const staged = readdirSync(outdir)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => path.join(outdir, name))
      .find((dir) => existsSync(path.join(dir, 'index.html')));
    expect(staged).toBeDefined();
    expect(readdirSync(staged!)).toEqual(expect.arrayContaining(['index.html', 'app.js']));
  });
});

describe('Cognito', () => {
  it('lets no one sign up: an administrator creates users', () => {
    expect(resourceOf(live.userPool).Properties.AdminCreateUserConfig).toMatchObject({ AllowAdminCreateUserOnly: true });
  });

  it('requires TOTP MFA and a strong password', () => {
    expect(resourceOf(live.userPool).Properties).toMatchObject({
      MfaConfiguration: 'ON',
      EnabledMfas: ['SOFTWARE_TOKEN_MFA'],
      Policies: { PasswordPolicy: { MinimumLength: 12, RequireLowercase: true, RequireUppercase: true, RequireNumbers: true, RequireSymbols: true } },
    });
  });

  it('has a public client for the authorization code flow, without a secret', () => {
    expect(resourceOf(live.userPoolClient).Properties).toMatchObject({
      GenerateSecret: false,
      AllowedOAuthFlows: ['code'],
      AllowedOAuthFlowsUserPoolClient: true,
      AllowedOAuthScopes: ['openid', 'email', 'profile'],
      SupportedIdentityProviders: ['COGNITO'],
      CallbackURLs: [ref(live.dashboardUrl)],
      LogoutURLs: [ref(live.dashboardUrl)],
    });
  });

  it('hosts the managed login (v2), styled with Cognito\'s defaults', () => {
    expect(resourceOf(live.userPoolDomain).Properties).toMatchObject({
      ManagedLoginVersion: 2,
      Domain: { 'Fn::Join': ['-', ['watershed', { Ref: 'AWS::AccountId' }]] },
    });
    template.hasResourceProperties('AWS::Cognito::ManagedLoginBranding', {
      UserPoolId: ref(live.userPool.userPoolId),
      ClientId: ref(live.userPoolClient.userPoolClientId),
      UseCognitoProvidedValues: true,
    });
  });
});

describe('alarms', () => {
  const alarmOf = (alarm: cloudwatch.Alarm) => resourceOf(alarm).Properties;

  it('watches broadcaster errors, its lag and the failed-broadcast queue', () => {
    expect(Object.keys(live.alarms).sort()).toStrictEqual(['broadcasterErrors', 'failedBroadcastQueueDepth', 'iteratorAge']);
    expect(live.node.findAll().filter((construct) => construct instanceof cloudwatch.Alarm)).toHaveLength(3);
  });

  it('alarms on any broadcaster error', () => {
    expect(alarmOf(live.alarms.broadcasterErrors)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [{ Name: 'FunctionName', Value: ref(live.broadcaster.functionName) }],
    });
  });

  it('alarms when the broadcaster is more than 30 s behind for three minutes', () => {
    expect(alarmOf(live.alarms.iteratorAge)).toMatchObject({
      MetricName: 'IteratorAge',
      Statistic: 'Maximum',
      Threshold: 30_000,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Dimensions: [{ Name: 'FunctionName', Value: ref(live.broadcaster.functionName) }],
    });
  });

  it('alarms when the failed-broadcast queue holds a message', () => {
    expect(alarmOf(live.alarms.failedBroadcastQueueDepth)).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'QueueName', Value: ref(live.failedBroadcastQueue.queueName) }],
    });
  });

  it('charts the broadcaster and the WebSocket API on the operations dashboard', () => {
    const body = json(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0]);
    for (const metric of ['MessagesPosted', 'GoneConnections', 'PostFailures', 'ConnectCount', 'MessageCount']) {
      expect(body).toContain(`\\"${metric}\\"`);
    }
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing unacknowledged in the live dashboard or its deployment', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(app);
    expect(report.violations.map((v) => `${v.severity} ${v.ruleName} ${v.violatingResources[0]?.constructPath}`)).toStrictEqual([]);
  });
});
