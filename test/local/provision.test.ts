import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import { STACK_NAME, synthesize } from '../../local/cloud';
import { provisionStack, type ProvisionedStack } from '../../local/cloudformation/provision';
import { readTemplate, UnsupportedTemplateError, type CfnResource, type CfnTemplate } from '../../local/cloudformation/template';
import { startServices, type LocalServices } from '../../local/emulators';
import { kinesisMappingSettings } from '../../local/lambda/kinesis-event-source';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

const ACCOUNT = '000000000000';

let directory: string;
let services: LocalServices;
let template: CfnTemplate;
let stack: ProvisionedStack;
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;
let sqs: SQSClient;

beforeAll(async () => {
  if (!java.available) return;
  directory = mkdtempSync(join(tmpdir(), 'watershed-provision-'));
  // Start the emulators first: synthesis holds the event loop for seconds, while they boot in their own processes.
  const starting = startServices({ edgePort: 0 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  template = readTemplate(synthesize(join(directory, 'cdk.out')));
  services = await starting;
  kinesis = new KinesisClient(localClientConfig(services.edgeUrl));
  dynamodb = new DynamoDBClient(localClientConfig(services.edgeUrl));
  sqs = new SQSClient(localClientConfig(services.edgeUrl));
  stack = await provisionStack({ template, stackName: STACK_NAME, assemblyDirectory: join(directory, 'cdk.out'), edgeUrl: services.edgeUrl });
});

afterAll(async () => {
  for (const client of [kinesis, dynamodb, sqs]) client?.destroy();
  await services?.stop();
  if (directory) rmSync(directory, { recursive: true, force: true });
});

/** Logical ids and resources of one type in the synthesized template. */
function resourcesOfType(type: string): [string, CfnResource & { Properties: Record<string, unknown> }][] {
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === type)
    .map(([id, resource]) => [id, { ...resource, Properties: resource.Properties ?? {} }]);
}

const PSEUDO: Record<string, string> = { 'AWS::Region': 'us-east-1', 'AWS::Partition': 'aws', 'AWS::URLSuffix': 'amazonaws.com', 'AWS::AccountId': ACCOUNT };

/** What the template's Ref / Fn::GetAtt / Fn::Join (as CDK writes them) should have become locally. */
function provisioned(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(provisioned);
  if ('Ref' in value) return PSEUDO[String(value.Ref)] ?? stack.resources.get(String(value.Ref))?.ref;
  if ('Fn::Join' in value) {
    const [separator, parts] = value['Fn::Join'] as [string, unknown[]];
    return parts.map(provisioned).join(separator);
  }
  if ('Fn::GetAtt' in value) {
    const [logicalId, attribute] = value['Fn::GetAtt'] as [string, string];
    return stack.resources.get(logicalId)?.attributes[attribute];
  }
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, provisioned(item)]));
}

/** The physical name a resource got: its Ref (for queues, the URL's last segment). */
const nameOf = (logicalId: string): string => {
  const resource = stack.resources.get(logicalId);
  if (resource === undefined) throw new Error(`${logicalId} was not provisioned`);
  return resource.attributes.QueueName ?? resource.ref;
};

const byName = (a: { AttributeName?: string }, b: { AttributeName?: string }) => String(a.AttributeName).localeCompare(String(b.AttributeName));

describe.skipIf(!java.available)(titled('provisionStack with the synthesized Watershed template', java), () => {
  it('creates every Kinesis stream with the template shard count, recording the encryption it cannot apply', async () => {
    // Prepare
    const streams = resourcesOfType('AWS::Kinesis::Stream');

    // Act
    const { StreamNames = [] } = await kinesis.send(new ListStreamsCommand({}));

    // Assess
    // Each pipeline adds its own; every one of them is checked below.
    expect(streams.length).toBeGreaterThanOrEqual(1);
    expect([...StreamNames].sort()).toStrictEqual(streams.map(([id]) => nameOf(id)).sort());
    for (const [id, resource] of streams) {
      const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: nameOf(id) }));
      expect({
        StreamStatus: StreamDescriptionSummary?.StreamStatus,
        OpenShardCount: StreamDescriptionSummary?.OpenShardCount,
        RetentionPeriodHours: StreamDescriptionSummary?.RetentionPeriodHours,
      }).toStrictEqual({ StreamStatus: 'ACTIVE', OpenShardCount: resource.Properties.ShardCount, RetentionPeriodHours: resource.Properties.RetentionPeriodHours });
      expect(stack.resources.get(id)).toStrictEqual({
        type: 'AWS::Kinesis::Stream',
        ref: `${STACK_NAME}-${id}`,
        attributes: { Arn: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/${STACK_NAME}-${id}` },
        note: 'KMS encryption recorded; this engine stores data unencrypted',
      });
    }
  });

  it('creates every DynamoDB table with the template key schema, stream view type and TTL attribute', async () => {
    // Prepare
    const tables = resourcesOfType('AWS::DynamoDB::Table');

    // Act
    const { TableNames = [] } = await dynamodb.send(new ListTablesCommand({}));

    // Assess: the window and state tables of the clickstream, the connections table of the dashboard
    // Each pipeline adds its own; every one of them is checked below.
    expect(tables.length).toBeGreaterThanOrEqual(3);
    expect([...TableNames].sort()).toStrictEqual(tables.map(([id]) => nameOf(id)).sort());
    for (const [id, resource] of tables) {
      const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: nameOf(id) }));
      const { TimeToLiveDescription } = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: nameOf(id) }));
      const ttl = resource.Properties.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
      const streamSpecification = resource.Properties.StreamSpecification as { StreamViewType: string } | undefined;
      expect({
        KeySchema: Table?.KeySchema,
        AttributeDefinitions: [...(Table?.AttributeDefinitions ?? [])].sort(byName),
        StreamSpecification: Table?.StreamSpecification,
        TimeToLive: TimeToLiveDescription,
      }).toStrictEqual({
        KeySchema: resource.Properties.KeySchema,
        AttributeDefinitions: [...(resource.Properties.AttributeDefinitions as { AttributeName: string }[])].sort(byName),
        StreamSpecification: streamSpecification === undefined ? undefined : { StreamEnabled: true, StreamViewType: streamSpecification.StreamViewType },
        TimeToLive: ttl?.Enabled ? { AttributeName: ttl.AttributeName, TimeToLiveStatus: 'ENABLED' } : { TimeToLiveStatus: 'DISABLED' },
      });
      expect(stack.resources.get(id)?.attributes).toStrictEqual({
        Arn: Table?.TableArn,
        ...(streamSpecification === undefined ? {} : { StreamArn: Table?.LatestStreamArn }),
      });
    }
  });

  it('creates every SQS queue, reachable by name, with the template retention period', async () => {
    // Prepare
    const queues = resourcesOfType('AWS::SQS::Queue');

    // Act
    const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({}));

    // Assess: dead letters, late events, failed batches; failed broadcasts
    // Each pipeline adds its own; every one of them is checked below.
    expect(queues.length).toBeGreaterThanOrEqual(4);
    expect([...QueueUrls].sort()).toStrictEqual(queues.map(([id]) => stack.resources.get(id)?.ref).sort());
    for (const [id, resource] of queues) {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: nameOf(id) }));
      const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['MessageRetentionPeriod', 'QueueArn'] }));
      expect({ QueueUrl, ...Attributes }).toStrictEqual({
        QueueUrl: stack.resources.get(id)?.ref,
        MessageRetentionPeriod: String(resource.Properties.MessageRetentionPeriod),
        QueueArn: stack.resources.get(id)?.attributes.Arn,
      });
      expect(QueueUrl).toBe(`${services.edgeUrl.replace('127.0.0.1', 'localhost')}/${ACCOUNT}/${STACK_NAME}-${id}`);
    }
  });

  it('hands over every Lambda function with its bundled code and its environment resolved to the provisioned names', () => {
    // Prepare: the custom resources' providers (S3 auto-delete, BucketDeployment) run on AWS only
    const providers = new Set(
      Object.values(template.Resources)
        .filter((resource) => resource.Type.startsWith('Custom::'))
        .map((resource) => (resource.Properties?.ServiceToken as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]),
    );
    const functions = resourcesOfType('AWS::Lambda::Function').filter(([id]) => !providers.has(id));

    // Act
    const specs = stack.functions;

    // Assess: the aggregator; the dashboard's authorizer, connections and broadcaster
    // Each pipeline adds its own; every one of them is checked below.
    expect(functions.length).toBeGreaterThanOrEqual(4);
    expect(providers.size).toBe(2);
    for (const provider of providers) expect(stack.resources.get(provider)?.note).toMatch(/^recorded, not run: /);
    expect(specs.map((spec) => spec.logicalId)).toStrictEqual(functions.map(([id]) => id));
    for (const [id, resource] of functions) {
      const spec = specs.find((candidate) => candidate.logicalId === id)!;
      const variables = (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(spec).toStrictEqual({
        logicalId: id,
        functionName: `${STACK_NAME}-${id}`,
        functionArn: `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${STACK_NAME}-${id}`,
        codeDirectory: join(directory, 'cdk.out', String(resource.Metadata?.['aws:asset:path'])),
        handler: resource.Properties.Handler,
        runtime: resource.Properties.Runtime,
        timeoutSeconds: resource.Properties.Timeout,
        memorySize: resource.Properties.MemorySize,
        environment: Object.fromEntries(Object.entries(variables).map(([key, value]) => [key, provisioned(value)])),
      });
      expect(Object.values(spec.environment).every((value) => typeof value === 'string' && !value.includes('[object Object]'))).toBe(true);
      expect(existsSync(join(spec.codeDirectory, `${spec.handler.split('.')[0]}.js`))).toBe(true);
    }
  });

  it('points the aggregator at the provisioned tables and queues', async () => {
    // Prepare
    const aggregator = stack.functions.find((spec) => spec.logicalId.includes('Aggregator'))!;

    // Act
    const { TableNames = [] } = await dynamodb.send(new ListTablesCommand({}));

    // Assess
    expect({
      WINDOW_TABLE_NAME: aggregator.environment.WINDOW_TABLE_NAME,
      STATE_TABLE_NAME: aggregator.environment.STATE_TABLE_NAME,
      DEAD_LETTER_QUEUE_URL: aggregator.environment.DEAD_LETTER_QUEUE_URL,
      LATE_EVENTS_QUEUE_URL: aggregator.environment.LATE_EVENTS_QUEUE_URL,
    }).toStrictEqual({
      WINDOW_TABLE_NAME: stack.outputs.ClickWindowsTableName,
      STATE_TABLE_NAME: stack.outputs.AggregatorStateTableName,
      DEAD_LETTER_QUEUE_URL: stack.outputs.DeadLetterQueueUrl,
      LATE_EVENTS_QUEUE_URL: stack.outputs.LateEventsQueueUrl,
    });
    expect(TableNames).toContain(aggregator.environment.WINDOW_TABLE_NAME);
    expect(TableNames).toContain(aggregator.environment.STATE_TABLE_NAME);
  });

  it('hands over every event source mapping with its template properties resolved', () => {
    // Prepare
    const mappings = resourcesOfType('AWS::Lambda::EventSourceMapping');

    // Act
    const specs = stack.eventSourceMappings;

    // Assess: clicks stream -> aggregator; window table stream -> broadcaster
    // Each pipeline adds its own; every one of them is checked below.
    expect(mappings.length).toBeGreaterThanOrEqual(2);
    expect(specs.map((spec) => spec.logicalId)).toStrictEqual(mappings.map(([id]) => id));
    for (const [id, resource] of mappings) {
      const spec = specs.find((candidate) => candidate.logicalId === id)!;
      const properties = provisioned(resource.Properties) as Record<string, unknown>;
      expect(spec).toStrictEqual({
        logicalId: id,
        uuid: expect.stringMatching(/^[0-9a-f-]{36}$/),
        functionName: properties.FunctionName,
        eventSourceArn: properties.EventSourceArn,
        properties,
      });
      expect(stack.resources.get(id)?.ref).toBe(spec.uuid);
    }
  });

  it('keeps the error handling the stack configures for the aggregator mapping', () => {
    // Prepare
    const [mapping] = stack.eventSourceMappings;
    const failedBatchQueue = resourcesOfType('AWS::SQS::Queue').find(([id]) => id.includes('FailedBatch'))!;
    const [streamId] = resourcesOfType('AWS::Kinesis::Stream')[0]!;

    // Act
    const settings = kinesisMappingSettings(mapping!.properties);

    // Assess
    expect(mapping!.eventSourceArn).toBe(stack.outputs.ClicksStreamArn);
    expect(mapping!.eventSourceArn).toBe(stack.resources.get(streamId)?.attributes.Arn);
    expect(mapping!.functionName).toBe(stack.functions[0]?.functionName);
    expect(settings).toStrictEqual({
      batchSize: 1000,
      maximumBatchingWindowMs: 1000,
      startingPosition: 'TRIM_HORIZON',
      startingPositionTimestamp: undefined,
      reportBatchItemFailures: true,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 10,
      maximumRecordAgeMs: 3_600_000,
      onFailureDestinationArn: stack.resources.get(failedBatchQueue[0])?.attributes.Arn,
    });
  });

  it('resolves every output to the provisioned name, ARN or URL', () => {
    // Prepare
    const stream = resourcesOfType('AWS::Kinesis::Stream').find(([id]) => id.startsWith('ClickstreamClicksStream'))![0];
    const [windowTable, stateTable] = ['WindowTable', 'StateTable'].map((part) => resourcesOfType('AWS::DynamoDB::Table').find(([id]) => id.includes(part))![0]);
    const [deadLetter, late, failed] = ['DeadLetter', 'LateEvents', 'FailedBatch'].map((part) => resourcesOfType('AWS::SQS::Queue').find(([id]) => id.includes(part))![0]);

    // Act
    const { outputs } = stack;

    // Assess: stage URLs in their local form; everything else as the template resolves
    const apiId = stack.webSocketApis[0]!.apiId;
    const local = { WebSocketUrl: `${services.edgeUrl.replace('http', 'ws')}/_ws/${apiId}/live` };
    expect(outputs).toStrictEqual({
      ...Object.fromEntries(Object.entries(template.Outputs ?? {}).map(([key, output]) => [key, provisioned(output.Value)])),
      ...local,
    });
    const [connectionsTable] = resourcesOfType('AWS::DynamoDB::Table').find(([id]) => id.includes('Connections'))!;
    const [distribution] = resourcesOfType('AWS::CloudFront::Distribution')[0]!;
    const [userPool] = resourcesOfType('AWS::Cognito::UserPool')[0]!;
    const [userPoolClient] = resourcesOfType('AWS::Cognito::UserPoolClient')[0]!;
    expect(outputs).toMatchObject({
      ...local,
      DashboardUrl: `https://${stack.resources.get(distribution)?.attributes.DomainName}/`,
      UserPoolId: stack.resources.get(userPool)?.ref,
      UserPoolClientId: stack.resources.get(userPoolClient)?.ref,
      ConnectionsTableName: `${STACK_NAME}-${connectionsTable}`,
      ClicksStreamName: `${STACK_NAME}-${stream}`,
      ClicksStreamArn: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/${STACK_NAME}-${stream}`,
      ClickWindowsTableName: `${STACK_NAME}-${windowTable}`,
      AggregatorStateTableName: `${STACK_NAME}-${stateTable}`,
      DeadLetterQueueUrl: stack.resources.get(deadLetter!)?.ref,
      LateEventsQueueUrl: stack.resources.get(late!)?.ref,
      FailedBatchQueueUrl: stack.resources.get(failed!)?.ref,
    });
  });

  it('joins the WebSocket API of the template: $connect authorized by the authorizer, every route on the connections function', () => {
    // Prepare
    const fn = (part: string) => stack.functions.find((spec) => spec.logicalId.startsWith(`LiveDashboard${part}`))!.functionName;
    const [apiLogicalId] = resourcesOfType('AWS::ApiGatewayV2::Api')[0]!;
    const [, authorizer] = resourcesOfType('AWS::ApiGatewayV2::Authorizer')[0]!;

    // Act
    const apis = stack.webSocketApis;

    // Assess
    expect(apis).toStrictEqual([
      {
        logicalId: apiLogicalId,
        apiId: stack.resources.get(apiLogicalId)?.ref,
        name: 'WebSocketApi',
        routeSelectionExpression: '$request.body.action',
        stages: ['live'],
        routes: [
          {
            routeKey: '$connect',
            functionName: fn('Connections'),
            authorizationType: 'CUSTOM',
            authorizer: {
              authorizerId: expect.stringMatching(/^[a-z0-9]{6}$/),
              name: authorizer.Properties.Name,
              functionName: fn('Authorizer'),
              identitySource: ['route.request.querystring.token'],
            },
            returnsResponse: false,
          },
          { routeKey: '$disconnect', functionName: fn('Connections'), authorizationType: 'NONE', returnsResponse: false },
          { routeKey: '$default', functionName: fn('Connections'), authorizationType: 'NONE', returnsResponse: false },
        ],
      },
    ]);
    // The functions that call @connections get the stage's callback URL; the runtime points it at the edge.
    for (const part of ['Connections', 'Broadcaster']) {
      const spec = stack.functions.find((candidate) => candidate.logicalId.startsWith(`LiveDashboard${part}`))!;
      expect(spec.environment.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI).toBe(`https://${apis[0]!.apiId}.execute-api.us-east-1.amazonaws.com/live`);
    }
  });

  it('gives the development issuer the user pool and its app client, and the authorizer their ids', () => {
    // Prepare
    const [userPool] = resourcesOfType('AWS::Cognito::UserPool')[0]!;
    const authorizer = stack.functions.find((spec) => spec.logicalId.startsWith('LiveDashboardAuthorizer'))!;

    // Act
    const pools = stack.userPools;

    // Assess
    expect(pools).toStrictEqual([{ logicalId: userPool, userPoolId: expect.stringMatching(/^us-east-1_[A-Za-z0-9]{9}$/), clientIds: [stack.outputs.UserPoolClientId] }]);
    expect({ USER_POOL_ID: authorizer.environment.USER_POOL_ID, USER_POOL_CLIENT_ID: authorizer.environment.USER_POOL_CLIENT_ID }).toStrictEqual({
      USER_POOL_ID: pools[0]!.userPoolId,
      USER_POOL_CLIENT_ID: stack.outputs.UserPoolClientId,
    });
  });

  it('hands over the broadcaster mapping on the window table stream, with the stream ARN DynamoDB Local gave it', async () => {
    // Prepare
    const [windowTable] = resourcesOfType('AWS::DynamoDB::Table').find(([id]) => id.includes('WindowTable'))!;
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: nameOf(windowTable) }));

    // Act
    const mapping = stack.eventSourceMappings.find((candidate) => candidate.functionName.includes('Broadcaster'))!;

    // Assess
    expect(mapping.eventSourceArn).toBe(Table?.LatestStreamArn);
    expect(kinesisMappingSettings(mapping.properties)).toMatchObject({ startingPosition: 'LATEST', maximumBatchingWindowMs: 0, reportBatchItemFailures: true, bisectBatchOnFunctionError: true });
  });

  it('records, without emulating, the resources that only matter on AWS', () => {
    // Prepare
    const awsOnly = Object.entries(template.Resources).filter(([, resource]) =>
      [
        'AWS::IAM::Role',
        'AWS::IAM::Policy',
        'AWS::SQS::QueuePolicy',
        'AWS::CloudWatch::Alarm',
        'AWS::CloudWatch::Dashboard',
        'AWS::Logs::LogGroup',
        'AWS::S3::BucketPolicy',
        'AWS::CloudFront::Distribution',
        'AWS::CloudFront::OriginAccessControl',
        'AWS::Lambda::LayerVersion',
        'AWS::ApiGateway::Account',
        'AWS::Cognito::UserPoolDomain',
        'AWS::Cognito::ManagedLoginBranding',
        'Custom::CDKBucketDeployment',
        'Custom::S3AutoDeleteObjects',
      ].includes(resource.Type),
    );

    // Act
    const recorded = awsOnly.map(([id]) => stack.resources.get(id));

    // Assess
    expect(awsOnly.length).toBeGreaterThan(0);
    expect(recorded.every((resource) => resource !== undefined && resource.note !== undefined)).toBe(true);
    expect(new Set(stack.resources.keys())).toStrictEqual(new Set(Object.keys(template.Resources)));
  });
});

describe.skipIf(!java.available)(titled('provisioning again (a restart with --persist) reconciles', java), () => {
  it('keeps every stream, table, queue and bucket the first run created, and keeps the mapping ids', async () => {
    // Act: the same template, against the emulators the first provisioning filled
    const again = await provisionStack({ template, stackName: STACK_NAME, assemblyDirectory: join(directory, 'cdk.out'), edgeUrl: services.edgeUrl });

    // Assess
    expect(stack.reconciled.size).toBeGreaterThan(0);
    expect([...stack.reconciled.values()].every((outcome) => outcome.action === 'created')).toBe(true);
    expect(Object.fromEntries(again.reconciled)).toStrictEqual(Object.fromEntries([...stack.reconciled.keys()].map((id) => [id, { action: 'kept' }])));
    expect(again.eventSourceMappings.map((mapping) => mapping.uuid)).toStrictEqual(stack.eventSourceMappings.map((mapping) => mapping.uuid));
    expect(again.outputs.ClicksStreamName).toBe(stack.outputs.ClicksStreamName);
  });

  it('updates what can change in place, and reports what cannot, naming it', async () => {
    // Prepare: a template whose queue timeout and table key changed since the first run
    const first: CfnTemplate = {
      Resources: {
        Jobs: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'reconciled-jobs', VisibilityTimeout: 30 } },
        Items: {
          Type: 'AWS::DynamoDB::Table',
          Properties: { TableName: 'reconciled-items', KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }], AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }] },
        },
      },
    };
    const changed: CfnTemplate = structuredClone(first);
    changed.Resources.Jobs!.Properties!.VisibilityTimeout = 90;
    changed.Resources.Items!.Properties!.KeySchema = [{ AttributeName: 'pk', KeyType: 'HASH' }];
    changed.Resources.Items!.Properties!.AttributeDefinitions = [{ AttributeName: 'pk', AttributeType: 'S' }];
    const lines: string[] = [];
    await provisionStack({ template: first, stackName: 'Reconciled', assemblyDirectory: directory, edgeUrl: services.edgeUrl });

    // Act
    const again = await provisionStack({ template: changed, stackName: 'Reconciled', assemblyDirectory: directory, edgeUrl: services.edgeUrl, log: (line) => lines.push(line) });

    // Assess
    expect(again.reconciled.get('Jobs')).toStrictEqual({ action: 'updated', detail: 'set VisibilityTimeout as declared' });
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: 'reconciled-jobs' }));
    expect((await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['VisibilityTimeout'] }))).Attributes?.VisibilityTimeout).toBe('90');
    expect(again.reconciled.get('Items')).toStrictEqual({ action: 'differs', detail: expect.stringContaining('key schema [["id","HASH"]], declared [["pk","HASH"]]') });
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}! Items differs from the template: key schema .* start without --persist, or delete the persisted folder/));
  });
});

describe.skipIf(!java.available)(titled('provisionStack with hand-made templates', java), () => {
  const queue = (properties: Record<string, unknown> = {}): CfnResource => ({ Type: 'AWS::SQS::Queue', Properties: properties });

  it.each<[string, CfnTemplate, string]>([
    [
      'an unsupported resource type',
      { Resources: { Jobs: queue({ QueueName: 'hand-made-jobs' }), Bastion: { Type: 'AWS::EC2::Instance', Properties: { ImageId: 'ami-12345678' } } } },
      'Bastion has type AWS::EC2::Instance, which the local cloud does not provision',
    ],
    [
      'a function without asset metadata',
      { Resources: { Worker: { Type: 'AWS::Lambda::Function', Properties: { Handler: 'index.handler', Runtime: 'nodejs22.x' } } } },
      "Worker has no aws:asset:path metadata: synthesize with the context 'aws:cdk:enable-asset-metadata' set to true",
    ],
    [
      'an intrinsic function the local cloud does not support',
      { Resources: { Imported: queue({ QueueName: { 'Fn::ImportValue': 'SharedQueueName' } }) } },
      'Fn::ImportValue is not supported by the local cloud',
    ],
  ])('rejects %s with an error that names it', async (_name, handMade, message) => {
    // Act
    const provisioning = provisionStack({ template: handMade, stackName: 'HandMade', assemblyDirectory: directory, edgeUrl: services.edgeUrl });

    // Assess
    await expect(provisioning).rejects.toThrow(UnsupportedTemplateError);
    await expect(provisioning).rejects.toThrow(message);
  });

  it('skips a resource whose condition is false and provisions the one whose condition is true', async () => {
    // Prepare
    const handMade: CfnTemplate = {
      Conditions: { InLocalRegion: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] }, InOtherRegion: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] } },
      Resources: {
        Kept: { ...queue({ QueueName: 'conditional-kept' }), Condition: 'InLocalRegion' },
        Skipped: { ...queue({ QueueName: 'conditional-skipped' }), Condition: 'InOtherRegion' },
      },
      Outputs: { KeptUrl: { Value: { Ref: 'Kept' } } },
    };

    // Act
    const provisionedStack = await provisionStack({ template: handMade, stackName: 'Conditional', assemblyDirectory: directory, edgeUrl: services.edgeUrl });
    const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'conditional-' }));

    // Assess
    expect([...provisionedStack.resources.keys()]).toStrictEqual(['Kept']);
    expect(QueueUrls.map((url) => url.split('/').at(-1))).toStrictEqual(['conditional-kept']);
    expect(provisionedStack.outputs).toStrictEqual({ KeptUrl: QueueUrls[0] });
  });
});
