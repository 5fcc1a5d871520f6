import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
} from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  StartStreamEncryptionCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION, localClientConfig } from '../clients';
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

export interface ProvisionedStack {
  stackName: string;
  outputs: Record<string, string>;
  functions: FunctionSpec[];
  eventSourceMappings: EventSourceMappingSpec[];
  /** Logical id -> what the resource became locally, for status output and tests. */
  resources: Map<string, ResourceAttributes & { type: string; note?: string }>;
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
          await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: onDemand ? 4 : Number(props.ShardCount ?? 1) }));
          await waitFor(`stream ${name}`, async () =>
            (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE');
          const note = await applyStreamEncryption(kinesis, name, props.StreamEncryption as StreamEncryption | undefined);
          record(name, { Arn: `arn:aws:kinesis:${region}:${account}:stream/${name}` }, note);
          log(`  kinesis stream  ${name}${note ? ` (${note})` : ''}`);
          break;
        }
        case 'AWS::DynamoDB::Table': {
          const name = physicalName(logicalId, props.TableName, 255);
          const { tableArn, streamArn } = await createTable(dynamodb, name, props);
          record(name, { Arn: tableArn, ...(streamArn ? { StreamArn: streamArn } : {}) });
          log(`  dynamodb table  ${name}${streamArn ? ' (with stream)' : ''}`);
          break;
        }
        case 'AWS::SQS::Queue': {
          const name = physicalName(logicalId, props.QueueName, 80);
          const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: queueAttributes(props) }));
          const url = options.publicEdgeUrl === undefined ? QueueUrl! : `${options.publicEdgeUrl}/${account}/${name}`;
          record(url, { Arn: `arn:aws:sqs:${region}:${account}:${name}`, QueueName: name, QueueUrl: url });
          log(`  sqs queue       ${name}`);
          break;
        }
        case 'AWS::S3::Bucket': {
          const name = physicalName(logicalId, props.BucketName, 63).toLowerCase();
          await s3.send(new CreateBucketCommand({ Bucket: name }));
          record(name, {
            Arn: `arn:aws:s3:::${name}`,
            DomainName: `${name}.s3.amazonaws.com`,
            RegionalDomainName: `${name}.s3.${region}.amazonaws.com`,
            WebsiteURL: `${options.edgeUrl}/${name}`,
          });
          log(`  s3 bucket       ${name}`);
          break;
        }
        case 'AWS::Lambda::Function': {
          const spec = functionSpec(logicalId, resource, props, physicalName(logicalId, props.FunctionName, 64), options.assemblyDirectory);
          functions.push(spec);
          record(spec.functionName, { Arn: spec.functionArn });
          log(`  lambda function ${spec.functionName} (${spec.runtime}, ${spec.handler})`);
          break;
        }
        case 'AWS::Lambda::EventSourceMapping': {
          const uuid = randomUUID();
          const functionName = String(props.FunctionName).split(':').at(-1)!;
          eventSourceMappings.push({ logicalId, uuid, functionName, eventSourceArn: String(props.EventSourceArn), properties: props });
          record(uuid, {});
          log(`  event source    ${String(props.EventSourceArn).split(':').at(-1)} -> ${functionName}`);
          break;
        }
        case 'AWS::IAM::Role':
          record(physicalName(logicalId, props.RoleName, 64), { Arn: `arn:aws:iam::${account}:role/${physicalName(logicalId, props.RoleName, 64)}` }, 'IAM is not enforced locally');
          break;
        case 'AWS::SNS::Topic': {
          const name = physicalName(logicalId, props.TopicName, 256);
          record(`arn:aws:sns:${region}:${account}:${name}`, { TopicName: name, TopicArn: `arn:aws:sns:${region}:${account}:${name}` });
          break;
        }
        default:
          if (!RECORDED_ONLY.has(resource.Type)) {
            throw new UnsupportedTemplateError(`${logicalId} has type ${resource.Type}, which the local cloud does not provision`);
          }
          record(logicalId, { Arn: `arn:aws:local:${region}:${account}:${logicalId}` }, 'AWS only');
      }
    }
    const outputs: Record<string, string> = {};
    for (const [key, output] of Object.entries(template.Outputs ?? {})) {
      outputs[key] = String(resolver.resolve(output.Value));
    }
    return { stackName, outputs, functions, eventSourceMappings, resources };
  } finally {
    for (const client of [kinesis, dynamodb, sqs, s3]) client.destroy();
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
  await dynamodb.send(new CreateTableCommand(input));
  const ttl = props.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
  if (ttl?.Enabled) {
    await dynamodb.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true } }));
  }
  const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
  return { tableArn: Table!.TableArn!, streamArn: Table!.LatestStreamArn };
}

function queueAttributes(props: Record<string, unknown>): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const key of ['VisibilityTimeout', 'MessageRetentionPeriod', 'DelaySeconds', 'ReceiveMessageWaitTimeSeconds', 'MaximumMessageSize']) {
    if (props[key] !== undefined) attributes[key] = String(props[key]);
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
    handler: String(props.Handler ?? 'index.handler'),
    runtime: String(props.Runtime ?? 'nodejs22.x'),
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
