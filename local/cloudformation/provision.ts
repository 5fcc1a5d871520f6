import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient, StartStreamEncryptionCommand } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { S3ObjectStore } from '../../lakehouse/s3-object-store';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, localClientConfig } from '../clients';
import { LakehouseResources, type DeliveryStreamSpec, type IcebergTableSpec } from '../firehose/lakehouse-resources';
import { ContainerServiceCollector, LocalSecrets, networkRecord, type ContainerServiceSpec } from './containers';
import { propertyText } from './property-text';
import { reconcileBucket, reconcileQueue, reconcileStream, reconcileTable, type ReconcileOutcome } from './reconcile';
import {
  dependencyOrder,
  IntrinsicResolver,
  UnsupportedTemplateError,
  type CfnResource,
  type CfnTemplate,
  type ResourceAttributes,
} from './template';

/** A Lambda function as the local runtime needs it, resolved from the template. */
export interface FunctionSpec {
  logicalId: string;
  functionName: string;
  functionArn: string;
  /** Absolute path of the bundled code (the asset directory in cdk.out). */
  codeDirectory: string;
  handler: string;
  runtime: string;
  timeoutSeconds: number;
  memorySize: number;
  environment: Record<string, string>;
}

/** An event source mapping with its properties resolved to local names and ARNs. */
export interface EventSourceMappingSpec {
  logicalId: string;
  uuid: string;
  functionName: string;
  eventSourceArn: string;
  properties: Record<string, unknown>;
}

/** A REQUEST Lambda authorizer of a WebSocket API. */
export interface WebSocketAuthorizerSpec {
  authorizerId: string;
  name: string;
  functionName: string;
  /** e.g. `route.request.querystring.token`: a request missing any of them is refused with 401 unasked. */
  identitySource: string[];
}

export interface WebSocketRouteSpec {
  routeKey: string;
  /** The function of its AWS_PROXY integration. */
  functionName: string;
  authorizationType: 'NONE' | 'CUSTOM' | 'AWS_IAM';
  authorizer?: WebSocketAuthorizerSpec;
  /** Two-way route: the integration's response body goes back to the client (an AWS::ApiGatewayV2::RouteResponse exists). */
  returnsResponse: boolean;
}

/** An AWS::ApiGatewayV2::Api of ProtocolType WEBSOCKET with its routes, resolved to local functions. */
export interface WebSocketApiSpec {
  logicalId: string;
  apiId: string;
  name: string;
  /** e.g. `$request.body.action`. */
  routeSelectionExpression: string;
  stages: string[];
  routes: WebSocketRouteSpec[];
}

/** An AWS::Cognito::UserPool and the ids of its app clients, for the development issuer. */
export interface UserPoolSpec {
  logicalId: string;
  userPoolId: string;
  clientIds: string[];
}

/** Where the local cloud serves WebSocket APIs: `ws://<edge host>/_ws/<apiId>/<stage>`. */
export const WEBSOCKET_PATH_PREFIX = '/_ws/';

export function webSocketStageUrl(edgeUrl: string, apiId: string, stage: string): string {
  return `${edgeUrl.replace(/^http/, 'ws')}${WEBSOCKET_PATH_PREFIX}${apiId}/${stage}`;
}

export interface ProvisionedStack {
  stackName: string;
  outputs: Record<string, string>;
  functions: FunctionSpec[];
  eventSourceMappings: EventSourceMappingSpec[];
  webSocketApis: WebSocketApiSpec[];
  userPools: UserPoolSpec[];
  /** Iceberg tables created from AWS::Glue::Table resources. */
  icebergTables: IcebergTableSpec[];
  /** AWS::KinesisFirehose::DeliveryStream resources the local Firehose stand-in runs. */
  deliveryStreams: DeliveryStreamSpec[];
  /** ECS services, each to run as supervised local processes (local/containers). */
  containerServices: ContainerServiceSpec[];
  /** Logical id -> what the resource became locally, for status output and tests. */
  resources: Map<string, ResourceAttributes & { type: string; note?: string }>;
  /** What provisioning did to each stream, table, queue and bucket: created, kept, updated, or found to differ. */
  reconciled: Map<string, ReconcileOutcome>;
}

export interface ProvisionOptions {
  template: CfnTemplate;
  stackName: string;
  /** The cdk.out directory: asset paths in the template are relative to it. */
  assemblyDirectory: string;
  edgeUrl: string;
  /** Queue URLs name this host, as LocalStack's do, so they work from outside the process too. */
  publicEdgeUrl?: string;
  log?: (message: string) => void;
}

/**
 * Types that only matter on AWS (IAM, alarms, dashboards, policies): provisioning records them
 * so references resolve, and says so, but there is nothing to emulate.
 */
const RECORDED_ONLY = new Set([
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::IAM::ManagedPolicy',
  'AWS::KMS::Alias',
  'AWS::SQS::QueuePolicy',
  'AWS::S3::BucketPolicy',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::SNS::Topic',
  'AWS::SNS::TopicPolicy',
  'AWS::SNS::Subscription',
  'AWS::Lambda::Permission',
  'AWS::Logs::LogGroup',
  'AWS::CDK::Metadata',
]);

/** Families of AWS-only types, recorded like RECORDED_ONLY, with the reason given in the note. */
const RECORDED_ONLY_PREFIXES: ReadonlyArray<readonly [string, string]> = [
  ['AWS::Logs::', 'AWS only'],
  ['AWS::CloudFront::', 'not emulated: the local cloud serves the dashboard itself'],
  ['AWS::WAFv2::', 'AWS only'],
];

/**
 * Custom resources run provider code on AWS during deployment (e.g. BucketDeployment copying the
 * dashboard to S3). The local cloud does that work itself where it matters, so it records them.
 */
const CUSTOM_RESOURCE_NOTE = 'custom resource: not run locally';

/**
 * Creates in the local cloud what a synthesized template declares, in dependency order, so
 * local runs use exactly the configuration that deploys.
 */
export async function provisionStack(options: ProvisionOptions): Promise<ProvisionedStack> {
  const { template, stackName } = options;
  const log = options.log ?? (() => undefined);
  const config = localClientConfig(options.edgeUrl);
  const kinesis = new KinesisClient(config);
  const dynamodb = new DynamoDBClient(config);
  const sqs = new SQSClient(config);
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  const region = LOCAL_REGION;
  const account = LOCAL_ACCOUNT_ID;
  const resources: ProvisionedStack['resources'] = new Map();
  const resolver = new IntrinsicResolver(template, { region, accountId: account, stackName }, resources);
  const functions: FunctionSpec[] = [];
  const eventSourceMappings: EventSourceMappingSpec[] = [];
  const webSocket = new WebSocketApiCollector(options.publicEdgeUrl ?? options.edgeUrl);
  const userPools: UserPoolSpec[] = [];
  const providers = customResourceProviders(template);
  const reconciled: ProvisionedStack['reconciled'] = new Map();
  /** ` (kept)`, ` (differs: ...)`: what a log line adds about what provisioning found. */
  const outcome = (logicalId: string, result: ReconcileOutcome): string => {
    reconciled.set(logicalId, { action: result.action, ...(result.detail === undefined ? {} : { detail: result.detail }) });
    if (result.action === 'differs') log(`  ! ${logicalId} differs from the template: ${result.detail ?? ''}`);
    return result.action === 'created' ? '' : ` (${result.action}${result.detail === undefined || result.action === 'differs' ? '' : `: ${result.detail}`})`;
  };
  const lakehouseStore = new S3ObjectStore(config);
  const lakehouse = new LakehouseResources(lakehouseStore, region, account, log);
  const secrets = new LocalSecrets();
  const containers = new ContainerServiceCollector(secrets, region, account);
  const physicalName = (logicalId: string, explicit: unknown, maxLength = 128) =>
    explicit === undefined ? `${stackName}-${logicalId}`.slice(0, maxLength) : resolver.resolveString(explicit, `${logicalId} name`);

  try {
    for (const logicalId of dependencyOrder(template)) {
      const resource = template.Resources[logicalId]!;
      if (resource.Condition !== undefined && !resolver.condition(resource.Condition)) continue;
      const props = (resolver.resolve(resource.Properties ?? {}) ?? {}) as Record<string, unknown>;
      const record = (ref: string, attributes: Record<string, string> = {}, note?: string) =>
        resources.set(logicalId, { ref, attributes, type: resource.Type, note });

      switch (resource.Type) {
        case 'AWS::KMS::Key': {
          const keyId = randomUUID();
          record(keyId, { Arn: `arn:aws:kms:${region}:${account}:key/${keyId}`, KeyId: keyId }, 'recorded; data is not encrypted locally');
          break;
        }
        case 'AWS::Kinesis::Stream': {
          const name = physicalName(logicalId, props.Name);
          const onDemand = (props.StreamModeDetails as { StreamMode?: string } | undefined)?.StreamMode === 'ON_DEMAND';
          const found = await reconcileStream(kinesis, name, onDemand ? 4 : Number(props.ShardCount ?? 1), () =>
            waitFor(`stream ${name}`, async () =>
              (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE'));
          const note = await applyStreamEncryption(kinesis, name, props.StreamEncryption as StreamEncryption | undefined);
          record(name, { Arn: `arn:aws:kinesis:${region}:${account}:stream/${name}` }, note);
          log(`  kinesis stream  ${name}${note ? ` (${note})` : ''}${outcome(logicalId, found)}`);
          break;
        }
        case 'AWS::DynamoDB::Table': {
          const name = physicalName(logicalId, props.TableName, 255);
          const { tableArn, streamArn, found } = await createTable(dynamodb, name, props);
          record(name, { Arn: tableArn, ...(streamArn ? { StreamArn: streamArn } : {}) });
          log(`  dynamodb table  ${name}${streamArn ? ' (with stream)' : ''}${outcome(logicalId, found)}`);
          break;
        }
        case 'AWS::SQS::Queue': {
          const name = physicalName(logicalId, props.QueueName, 80);
          const found = await reconcileQueue(sqs, name, queueAttributes(props));
          const url = options.publicEdgeUrl === undefined ? found.queueUrl : `${options.publicEdgeUrl}/${account}/${name}`;
          record(url, { Arn: `arn:aws:sqs:${region}:${account}:${name}`, QueueName: name, QueueUrl: url });
          log(`  sqs queue       ${name}${outcome(logicalId, found)}`);
          break;
        }
        case 'AWS::S3::Bucket': {
          const name = physicalName(logicalId, props.BucketName, 63).toLowerCase();
          const found = await reconcileBucket(s3, name);
          record(name, {
            Arn: `arn:aws:s3:::${name}`,
            DomainName: `${name}.s3.amazonaws.com`,
            RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
            WebsiteURL: `${options.edgeUrl}/${name}`,
          });
          log(`  s3 bucket       ${name}${outcome(logicalId, found)}`);
          break;
        }
        case 'AWS::Lambda::Function': {
          const runtime = propertyText(props.Runtime, 'nodejs22.x');
          if (providers.has(logicalId) || !runtime.startsWith('nodejs')) {
            // e.g. BucketDeployment's Python handler, or the provider of S3 auto-delete-objects.
            const name = physicalName(logicalId, props.FunctionName, 64);
            const why = providers.has(logicalId) ? 'it serves custom resources, which run on AWS only' : `the local runtime runs Node.js functions, this one is ${runtime}`;
            record(name, { Arn: `arn:aws:lambda:${region}:${account}:function:${name}` }, `recorded, not run: ${why}`);
            break;
          }
          const spec = functionSpec(logicalId, resource, props, physicalName(logicalId, props.FunctionName, 64), options.assemblyDirectory);
          functions.push(spec);
          record(spec.functionName, { Arn: spec.functionArn });
          log(`  lambda function ${spec.functionName} (${spec.runtime}, ${spec.handler})`);
          break;
        }
        case 'AWS::Lambda::EventSourceMapping': {
          // Stable across restarts, so that positions persisted under it (--persist) are found again.
          const uuid = stableUuid(`${stackName}/${logicalId}`);
          const functionName = String(props.FunctionName).split(':').at(-1)!;
          eventSourceMappings.push({ logicalId, uuid, functionName, eventSourceArn: String(props.EventSourceArn), properties: props });
          record(uuid, {});
          const source = String(props.EventSourceArn);
          const table = /:table\/([^/]+)\/stream\//.exec(source)?.[1];
          log(`  event source    ${table === undefined ? source.split(':').at(-1) : `table/${table} stream`} -> ${functionName}`);
          break;
        }
        case 'AWS::ApiGatewayV2::Api': {
          if (props.ProtocolType !== 'WEBSOCKET') {
            throw new UnsupportedTemplateError(`${logicalId} is an API Gateway ${String(props.ProtocolType)} API; the local cloud serves WEBSOCKET APIs only`);
          }
          const apiId = webSocket.addApi(logicalId, props);
          record(apiId, { ApiId: apiId, ApiEndpoint: webSocket.endpoint(apiId) });
          log(`  websocket api   ${propertyText(props.Name, logicalId)} (${apiId})`);
          break;
        }
        case 'AWS::ApiGatewayV2::Stage': {
          const stageName = String(props.StageName);
          webSocket.addStage(logicalId, props);
          record(stageName, {});
          log(`  websocket stage ${stageName}: ${webSocketStageUrl(options.publicEdgeUrl ?? options.edgeUrl, String(props.ApiId), stageName)}`);
          break;
        }
        case 'AWS::ApiGatewayV2::Integration':
          record(webSocket.addIntegration(logicalId, props), {});
          break;
        case 'AWS::ApiGatewayV2::Authorizer':
          record(webSocket.addAuthorizer(logicalId, props), {});
          break;
        case 'AWS::ApiGatewayV2::Route':
          record(webSocket.addRoute(logicalId, props), {});
          break;
        case 'AWS::ApiGatewayV2::RouteResponse':
          record(webSocket.addRouteResponse(logicalId, props), {});
          break;
        case 'AWS::ApiGatewayV2::Deployment': {
          const deploymentId = localId(6);
          record(deploymentId, { DeploymentId: deploymentId }, 'recorded: every stage serves the routes of the template');
          break;
        }
        case 'AWS::Cognito::UserPool': {
          const userPoolId = `${region}_${localId(9, ALPHANUMERIC)}`;
          const issuer = `${options.publicEdgeUrl ?? options.edgeUrl}/${userPoolId}`;
          userPools.push({ logicalId, userPoolId, clientIds: [] });
          record(
            userPoolId,
            {
              Arn: `arn:aws:cognito-idp:${region}:${account}:userpool/${userPoolId}`,
              ProviderName: issuer.replace(/^https?:\/\//, ''),
              ProviderURL: issuer,
              UserPoolId: userPoolId,
            },
            'development issuer: tokens from POST /_watershed/dev-token, no sign-in',
          );
          log(`  user pool       ${userPoolId} (development issuer ${issuer})`);
          break;
        }
        case 'AWS::Cognito::UserPoolClient': {
          const clientId = localId(26);
          const pool = userPools.find((candidate) => candidate.userPoolId === props.UserPoolId);
          if (pool === undefined) throw new UnsupportedTemplateError(`${logicalId} names user pool ${String(props.UserPoolId)}, which is not in the template`);
          pool.clientIds.push(clientId);
          record(clientId, { ClientId: clientId, Name: propertyText(props.ClientName, logicalId) });
          log(`  user pool client ${clientId}`);
          break;
        }
        case 'AWS::Cognito::UserPoolDomain':
          record(propertyText(props.Domain, logicalId), { CloudFrontDistribution: 'local.cloudfront.net' }, 'managed login is not emulated; local clients use development tokens');
          break;
        case 'AWS::CloudFront::Distribution': {
          const id = `E${localId(13, UPPER_ALPHANUMERIC)}`;
          record(id, { Id: id, DomainName: `${id.toLowerCase()}.cloudfront.net` }, 'not emulated: the local cloud serves the dashboard itself');
          break;
        }
        case 'AWS::IAM::Role':
          record(physicalName(logicalId, props.RoleName, 64), { Arn: `arn:aws:iam::${account}:role/${physicalName(logicalId, props.RoleName, 64)}` }, 'IAM is not enforced locally');
          break;
        case 'AWS::SecretsManager::Secret': {
          const arn = secrets.create(props, physicalName(logicalId, props.Name, 256), region, account);
          record(arn, { Id: arn }, 'local secret: its value generated from GenerateSecretString, given to the containers that name it');
          log(`  secret          ${arn.split(':').at(-1)}`);
          break;
        }
        case 'AWS::ECS::Cluster': {
          const name = physicalName(logicalId, props.ClusterName, 255);
          record(name, { Arn: `arn:aws:ecs:${region}:${account}:cluster/${name}` }, 'services run as local processes');
          break;
        }
        case 'AWS::ECS::TaskDefinition': {
          const arn = containers.addTaskDefinition(logicalId, props, physicalName(logicalId, props.Family, 255));
          record(arn, { TaskDefinitionArn: arn });
          break;
        }
        case 'AWS::ECS::Service': {
          const spec = containers.addService(logicalId, props, physicalName(logicalId, props.ServiceName, 255));
          record(spec.serviceArn, { Name: spec.serviceName, ServiceArn: spec.serviceArn }, 'runs as a supervised local process');
          log(`  ecs service     ${spec.serviceName} (${spec.desiredCount} task: ${spec.containers.map((container) => container.command.join(' ')).join('; ')})`);
          break;
        }
        case 'AWS::SNS::Topic': {
          const name = physicalName(logicalId, props.TopicName, 256);
          record(`arn:aws:sns:${region}:${account}:${name}`, { TopicName: name, TopicArn: `arn:aws:sns:${region}:${account}:${name}` });
          break;
        }
        default: {
          if (await lakehouse.provision(logicalId, resource.Type, props, physicalName(logicalId, undefined, 64), record)) break;
          const network = networkRecord(resource.Type, logicalId);
          if (network !== undefined) {
            resources.set(logicalId, { ...network, type: resource.Type, note: 'networking is the host\'s own locally' });
            break;
          }
          const family = RECORDED_ONLY_PREFIXES.find(([prefix]) => resource.Type.startsWith(prefix));
          const custom = resource.Type.startsWith('Custom::') || resource.Type === 'AWS::CloudFormation::CustomResource';
          if (!RECORDED_ONLY.has(resource.Type) && family === undefined && !custom && !RECORDED_ONLY_NOTES.has(resource.Type)) {
            throw new UnsupportedTemplateError(`${logicalId} has type ${resource.Type}, which the local cloud does not provision`);
          }
          const note = custom ? CUSTOM_RESOURCE_NOTE : (RECORDED_ONLY_NOTES.get(resource.Type) ?? family?.[1] ?? 'AWS only');
          const arn = `arn:aws:local:${region}:${account}:${logicalId}`;
          record(logicalId, RECORDED_ONLY.has(resource.Type) ? { Arn: arn } : { Arn: arn, Id: logicalId }, note);
        }
      }
    }
    const webSocketApis = webSocket.build(new Set(functions.map((spec) => spec.functionName)));
    const outputs: Record<string, string> = {};
    for (const [key, output] of Object.entries(template.Outputs ?? {})) {
      outputs[key] = webSocket.localizeUrl(String(resolver.resolve(output.Value)));
    }
    return { stackName, outputs, functions, eventSourceMappings, webSocketApis, userPools, icebergTables: lakehouse.tables, deliveryStreams: lakehouse.deliveryStreams, containerServices: containers.services, resources, reconciled };
  } finally {
    for (const client of [kinesis, dynamodb, sqs, s3]) client.destroy();
    lakehouseStore.destroy();
  }
}

/** Logical ids of the functions that custom resources name as their ServiceToken. */
function customResourceProviders(template: CfnTemplate): Set<string> {
  const providers = new Set<string>();
  for (const resource of Object.values(template.Resources)) {
    if (!resource.Type.startsWith('Custom::') && resource.Type !== 'AWS::CloudFormation::CustomResource') continue;
    const token = resource.Properties?.ServiceToken as { 'Fn::GetAtt'?: [string, string] } | undefined;
    const provider = token?.['Fn::GetAtt']?.[0];
    if (provider !== undefined) providers.add(provider);
  }
  return providers;
}

/** AWS-only types whose record says why they need nothing locally. */
const RECORDED_ONLY_NOTES = new Map([
  ['AWS::Lambda::LayerVersion', 'recorded: layers are not mounted locally (the Node.js functions bundle their code)'],
  ['AWS::Lambda::LayerVersionPermission', 'AWS only'],
  ['AWS::ApiGateway::Account', 'AWS only: the account setting for API Gateway logging'],
  ['AWS::Cognito::UserPoolGroup', 'recorded: the development issuer has no groups'],
  ['AWS::Cognito::ManagedLoginBranding', 'recorded: managed login is not emulated'],
  ['AWS::Cognito::UserPoolUICustomizationAttachment', 'recorded: managed login is not emulated'],
  ['AWS::Cognito::UserPoolResourceServer', 'recorded: the development issuer issues ID tokens only'],
]);

const LOWER_ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ALPHANUMERIC = `${UPPER_ALPHANUMERIC}abcdefghijklmnopqrstuvwxyz`;

/** A random id in the style of AWS's generated ids (API ids, client ids): `length` characters of `alphabet`. */
function localId(length: number, alphabet = LOWER_ALPHANUMERIC): string {
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** `arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations` -> the function's name. */
export function functionNameOfInvocationUri(uri: string): string | undefined {
  const match = /:lambda:path\/[^/]+\/functions\/(arn:[^/]+)\/invocations$/.exec(uri);
  return match?.[1]?.split(':')[6];
}

/**
 * Gathers AWS::ApiGatewayV2 resources as they are provisioned (in dependency order, each with its
 * properties resolved), then joins them into one WebSocketApiSpec per API: routes point at their
 * integration (`Target: integrations/<id>`) and their authorizer (`AuthorizerId`).
 */
class WebSocketApiCollector {
  private readonly apis = new Map<string, { logicalId: string; name: string; routeSelectionExpression: string; stages: string[] }>();
  private readonly integrations = new Map<string, { logicalId: string; apiId: string; functionName?: string; type: string }>();
  private readonly authorizers = new Map<string, WebSocketAuthorizerSpec & { logicalId: string; apiId: string; type: string }>();
  private readonly routes = new Map<string, { logicalId: string; apiId: string; routeKey: string; target?: string; authorizationType: string; authorizerId?: string }>();
  private readonly routeResponses = new Set<string>();

  constructor(private readonly edgeUrl: string) {}

  endpoint(apiId: string): string {
    return `${this.edgeUrl.replace(/^http/, 'ws')}${WEBSOCKET_PATH_PREFIX}${apiId}`;
  }

  addApi(logicalId: string, props: Record<string, unknown>): string {
    const apiId = localId(10);
    this.apis.set(apiId, {
      logicalId,
      name: propertyText(props.Name, logicalId),
      routeSelectionExpression: propertyText(props.RouteSelectionExpression, '$request.body.action'),
      stages: [],
    });
    return apiId;
  }

  addStage(logicalId: string, props: Record<string, unknown>): void {
    this.api(logicalId, props.ApiId).stages.push(String(props.StageName));
  }

  addIntegration(logicalId: string, props: Record<string, unknown>): string {
    this.api(logicalId, props.ApiId);
    const id = localId(7);
    const type = String(props.IntegrationType);
    const functionName = functionNameOfInvocationUri(propertyText(props.IntegrationUri, ''));
    this.integrations.set(id, { logicalId, apiId: String(props.ApiId), type, functionName });
    return id;
  }

  addAuthorizer(logicalId: string, props: Record<string, unknown>): string {
    this.api(logicalId, props.ApiId);
    const authorizerId = localId(6);
    const functionName = functionNameOfInvocationUri(propertyText(props.AuthorizerUri, ''));
    if (props.AuthorizerType !== 'REQUEST' || functionName === undefined) {
      throw new UnsupportedTemplateError(
        `${logicalId}: the local cloud supports REQUEST Lambda authorizers on WebSocket APIs. Received ${String(props.AuthorizerType)} with ${String(props.AuthorizerUri)}`,
      );
    }
    this.authorizers.set(authorizerId, {
      logicalId,
      apiId: String(props.ApiId),
      type: String(props.AuthorizerType),
      authorizerId,
      name: propertyText(props.Name, logicalId),
      functionName,
      identitySource: ((props.IdentitySource as string[] | undefined) ?? []).map(String),
    });
    return authorizerId;
  }

  addRoute(logicalId: string, props: Record<string, unknown>): string {
    this.api(logicalId, props.ApiId);
    const id = localId(7);
    this.routes.set(id, {
      logicalId,
      apiId: String(props.ApiId),
      routeKey: String(props.RouteKey),
      target: props.Target === undefined ? undefined : propertyText(props.Target),
      authorizationType: propertyText(props.AuthorizationType, 'NONE'),
      authorizerId: props.AuthorizerId === undefined ? undefined : propertyText(props.AuthorizerId),
    });
    return id;
  }

  addRouteResponse(logicalId: string, props: Record<string, unknown>): string {
    this.api(logicalId, props.ApiId);
    this.routeResponses.add(String(props.RouteId));
    return localId(6);
  }

  /** Joins what was gathered; every route must reach a Node.js function of the template. */
  build(functionNames: ReadonlySet<string>): WebSocketApiSpec[] {
    return [...this.apis].map(([apiId, api]) => ({
      logicalId: api.logicalId,
      apiId,
      name: api.name,
      routeSelectionExpression: api.routeSelectionExpression,
      stages: api.stages,
      routes: [...this.routes].filter(([, route]) => route.apiId === apiId).map(([routeId, route]) => {
        const integrationId = route.target?.replace(/^integrations\//, '');
        const integration = integrationId === undefined ? undefined : this.integrations.get(integrationId);
        if (integration === undefined) {
          throw new UnsupportedTemplateError(`${route.logicalId} (${route.routeKey}) has no integration the local cloud knows: Target ${String(route.target)}`);
        }
        if (integration.type !== 'AWS_PROXY' || integration.functionName === undefined) {
          throw new UnsupportedTemplateError(
            `${integration.logicalId}: the local cloud supports AWS_PROXY Lambda integrations. Received ${integration.type} for ${route.routeKey}`,
          );
        }
        if (!functionNames.has(integration.functionName)) {
          throw new UnsupportedTemplateError(`${route.logicalId} (${route.routeKey}) invokes ${integration.functionName}, which is not a Node.js function of the template`);
        }
        const authorizationType = route.authorizationType as WebSocketRouteSpec['authorizationType'];
        let authorizer: WebSocketAuthorizerSpec | undefined;
        if (authorizationType === 'CUSTOM') {
          const found = route.authorizerId === undefined ? undefined : this.authorizers.get(route.authorizerId);
          if (found === undefined) throw new UnsupportedTemplateError(`${route.logicalId} (${route.routeKey}) is CUSTOM-authorized with no known AuthorizerId`);
          const { logicalId: _logicalId, apiId: _apiId, type: _type, ...spec } = found;
          authorizer = spec;
        }
        return {
          routeKey: route.routeKey,
          functionName: integration.functionName,
          authorizationType,
          ...(authorizer === undefined ? {} : { authorizer }),
          returnsResponse: this.routeResponses.has(routeId),
        };
      }),
    }));
  }

  /**
   * Turns the AWS URLs of a provisioned API into their local form: CDK writes a stage's URL as
   * `wss://<apiId>.execute-api.<region>.<suffix>/<stage>` (and its callback URL with https), which
   * names no host locally.
   */
  localizeUrl(value: string): string {
    return value.replace(/\b(wss|https):\/\/([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\/[^\s"]*)?/g, (match, scheme: string, apiId: string, path?: string) => {
      if (!this.apis.has(apiId)) return match;
      const stagePath = path?.replace(/\/$/, '') ?? '';
      return scheme === 'wss' ? `${this.endpoint(apiId)}${stagePath}` : `${this.edgeUrl}${stagePath}`;
    });
  }

  private api(logicalId: string, apiId: unknown) {
    const api = this.apis.get(String(apiId));
    if (api === undefined) throw new UnsupportedTemplateError(`${logicalId} names API ${String(apiId)}, which is not a WebSocket API of the template`);
    return api;
  }
}

interface StreamEncryption {
  EncryptionType: 'KMS' | 'NONE';
  KeyId: string;
}

/**
 * kinesalite has no StartStreamEncryption; kinesis-local (kinesis-mock) has. Where the engine
 * lacks it, the template's encryption is recorded and reported instead of failing the start.
 */
async function applyStreamEncryption(kinesis: KinesisClient, streamName: string, encryption?: StreamEncryption): Promise<string | undefined> {
  if (encryption === undefined || encryption.EncryptionType !== 'KMS') return undefined;
  try {
    await kinesis.send(new StartStreamEncryptionCommand({ StreamName: streamName, EncryptionType: 'KMS', KeyId: encryption.KeyId }));
    await waitFor(`stream ${streamName} encryption`, async () =>
      (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE');
    return 'KMS encryption applied by the engine';
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'UnknownOperationException' || name === 'UnknownOperation' || /not.*(supported|implemented)/i.test((error as Error).message)) {
      return 'KMS encryption recorded; this engine stores data unencrypted';
    }
    throw error;
  }
}

/** A UUID (version 5 layout) derived from `name`: the same name gives the same id in every run. */
export function stableUuid(name: string): string {
  const bytes = createHash('sha1').update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function createTable(dynamodb: DynamoDBClient, name: string, props: Record<string, unknown>) {
  const streamSpecification = props.StreamSpecification as { StreamViewType: string } | undefined;
  const input: CreateTableCommandInput = {
    TableName: name,
    KeySchema: props.KeySchema as CreateTableCommandInput['KeySchema'],
    AttributeDefinitions: props.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
    BillingMode: 'PAY_PER_REQUEST',
    GlobalSecondaryIndexes: (props.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'])?.map((index) => ({
      ...index,
      ProvisionedThroughput: undefined,
    })),
    LocalSecondaryIndexes: props.LocalSecondaryIndexes as CreateTableCommandInput['LocalSecondaryIndexes'],
    StreamSpecification: streamSpecification
      ? { StreamEnabled: true, StreamViewType: streamSpecification.StreamViewType as 'NEW_IMAGE' }
      : undefined,
  };
  const ttl = props.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
  const { table, ...found } = await reconcileTable(dynamodb, input, ttl);
  return { tableArn: table.TableArn!, streamArn: table.LatestStreamArn, found };
}

function queueAttributes(props: Record<string, unknown>): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const key of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds', 'MaximumMessageSize']) {
    if (props[key] !== undefined) attributes[key] = propertyText(props[key]);
  }
  if (props.RedrivePolicy !== undefined) attributes.RedrivePolicy = JSON.stringify(props.RedrivePolicy);
  return attributes;
}

function functionSpec(logicalId: string, resource: CfnResource, props: Record<string, unknown>, functionName: string, assemblyDirectory: string): FunctionSpec {
  const assetPath = resource.Metadata?.['aws:asset:path'];
  if (typeof assetPath !== 'string') {
    throw new UnsupportedTemplateError(
      `${logicalId} has no aws:asset:path metadata: synthesize with the context 'aws:cdk:enable-asset-metadata' set to true`,
    );
  }
  const variables = (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  return {
    logicalId,
    functionName,
    functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    codeDirectory: join(assemblyDirectory, assetPath),
    handler: propertyText(props.Handler, 'index.handler'),
    runtime: propertyText(props.Runtime, 'nodejs22.x'),
    timeoutSeconds: Number(props.Timeout ?? 3),
    memorySize: Number(props.MemorySize ?? 128),
    environment: Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, String(value)])),
  };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
