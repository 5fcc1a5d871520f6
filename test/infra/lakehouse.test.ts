import { App, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { Lakehouse, LAKEHOUSE_DEFAULTS } from '../../lib/lakehouse';
import { WatershedStack } from '../../lib/watershed-stack';
import { lakehouseTableLayout } from '../../lakehouse/tables';
import { propsTestStack } from './support';

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);
const json = (value: unknown) => JSON.stringify(value);

/** A synthesized property tree, walked by the assertions below (shapes checked by them, not by types). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudFormation JSON of many shapes
type Cfn = any;

let stack: WatershedStack;
let template: Template;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;

beforeAll(() => {
  // The whole stack, without bundling the functions, with cdk-nag run at synthesis: a finding
  // that is not acknowledged with a reason fails the synth.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] }, builtinCloudFormationValidation: false });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  stack = new WatershedStack(app, 'Watershed');
  app.synth();
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

const ofType = (type: string) => Object.entries(resources).filter(([, resource]) => resource.Type === type);
const idOf = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

describe('Firehose delivery into Iceberg', () => {
  it('one delivery stream per table, reading its Kinesis stream, with unique keys, buffering, error prefix and logging', () => {
    const streams = ofType('AWS::KinesisFirehose::DeliveryStream').map(([, resource]) => resource.Properties as Record<string, Cfn>);
    expect(streams).toHaveLength(2);
    const byTable = Object.fromEntries(streams.map((props) => [props.IcebergDestinationConfiguration.DestinationTableConfigurationList[0].DestinationTableName, props]));
    const clicksArn = json(stack.resolve(stack.clickstream.clicksStream.streamArn));
    expect(json(byTable.user_activity.KinesisStreamSourceConfiguration.KinesisStreamARN)).toBe(clicksArn);
    expect(json(byTable.market_ticks.KinesisStreamSourceConfiguration.KinesisStreamARN)).toContain('MarketDataStream');
    for (const [table, key] of [['market_ticks', 'tickId'], ['user_activity', 'eventId']] as const) {
      const props = byTable[table];
      expect(props.DeliveryStreamType).toBe('KinesisStreamAsSource');
      const destination = props.IcebergDestinationConfiguration;
      expect(destination.DestinationTableConfigurationList).toEqual([
        { DestinationDatabaseName: 'watershed_lakehouse', DestinationTableName: table, UniqueKeys: [key], S3ErrorOutputPrefix: `errors/${table}/` },
      ]);
      expect(destination.BufferingHints).toEqual({ IntervalInSeconds: LAKEHOUSE_DEFAULTS.bufferingInterval.toSeconds(), SizeInMBs: LAKEHOUSE_DEFAULTS.bufferingSizeMiB });
      expect(destination.CloudWatchLoggingOptions.Enabled).toBe(true);
      expect(json(destination.CatalogConfiguration.CatalogArn)).toMatch(/:glue:.*:catalog/);
      expect(destination.s3BackupMode).toBe('FailedDataOnly');
      expect(destination.S3Configuration.ErrorOutputPrefix).toBe(`errors/${table}/`);
      expect(json(destination.RoleARN)).toBe(json(props.KinesisStreamSourceConfiguration.RoleARN));
    }
  });

  it('each delivery role reaches only its own stream, table, prefixes and log group', () => {
    for (const table of ['market_ticks', 'user_activity'] as const) {
      const props = resources[stack.getLogicalId(stack.lakehouse.tables[table].deliveryStream)]!.Properties as { KinesisStreamSourceConfiguration: { RoleARN: { 'Fn::GetAtt': [string, string] } } };
      const roleId = props.KinesisStreamSourceConfiguration.RoleARN['Fn::GetAtt'][0];
      const statements = ofType('AWS::IAM::Policy')
        .filter(([, policy]) => json(policy.Properties.Roles).includes(`"${roleId}"`))
        .flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
      expect(statements.length).toBeGreaterThan(0);
      const other = table === 'market_ticks' ? 'user_activity' : 'market_ticks';
      for (const statement of statements) {
        const resourcesText = json(statement.Resource);
        expect(asArray(statement.Resource)).not.toContain('*');
        expect(resourcesText).not.toContain(`/${other}`);
        for (const action of asArray(statement.Action)) expect(action).not.toMatch(/^(s3|glue|kinesis|logs):\*$/);
        if (asArray(statement.Action).some((action) => action.startsWith('s3:'))) {
          expect(resourcesText).toMatch(new RegExp(`(warehouse|errors)/${table}/\\*`));
        }
        if (asArray(statement.Action).some((action) => action.startsWith('glue:'))) {
          expect(resourcesText).toContain(`table/watershed_lakehouse/${table}`);
        }
      }
      const actions = statements.flatMap((statement) => asArray(statement.Action));
      expect(actions).toEqual(expect.arrayContaining(['kinesis:GetRecords', 'kinesis:GetShardIterator', 'glue:GetTable', 'glue:UpdateTable', 's3:PutObject', 'logs:PutLogEvents']));
    }
  });
});

describe('Glue Iceberg tables, optimizers, Athena, buckets, outputs', () => {
  it('creates both tables in the stack from the zod contracts, with unique keys as identifier fields and day partitions', () => {
    const tables = Object.fromEntries(ofType('AWS::Glue::Table').map(([, resource]) => [(resource.Properties.TableInput as { Name: string }).Name, resource.Properties as Record<string, Cfn>]));
    expect(Object.keys(tables).sort()).toEqual(['market_ticks', 'user_activity']);
    for (const name of ['market_ticks', 'user_activity'] as const) {
      const { schema, spec } = lakehouseTableLayout(name);
      const input = tables[name]!.OpenTableFormatInput.IcebergInput;
      expect(input.MetadataOperation).toBe('CREATE');
      expect(input.Version).toBe('2');
      expect(input.IcebergTableInput.Schema.Fields).toEqual(schema.fields.map((field) => ({ Id: field.id, Name: field.name, Type: field.type, Required: field.required })));
      expect(input.IcebergTableInput.Schema.IdentifierFieldIds).toEqual(schema['identifier-field-ids']);
      expect(input.IcebergTableInput.PartitionSpec.Fields).toEqual([{ Name: spec.fields[0]!.name, SourceId: spec.fields[0]!['source-id'], Transform: 'day', FieldId: 1000 }]);
      expect(json(input.IcebergTableInput.Location)).toContain(`/warehouse/${name}`);
    }
  });

  it('plans small files away: compaction and snapshot retention optimizers on each table', () => {
    const optimizers = ofType('AWS::Glue::TableOptimizer').map(([, resource]) => `${String(resource.Properties.TableName)}:${String(resource.Properties.Type)}`).sort();
    expect(optimizers).toEqual(['market_ticks:compaction', 'market_ticks:retention', 'user_activity:compaction', 'user_activity:retention']);
  });

  it('has an Athena workgroup that enforces encrypted results', () => {
    const workGroups = ofType('AWS::Athena::WorkGroup');
    expect(workGroups).toHaveLength(1);
    const configuration = (workGroups[0]![1].Properties as Record<string, Cfn>).WorkGroupConfiguration;
    expect(configuration.EnforceWorkGroupConfiguration).toBe(true);
    expect(configuration.ResultConfiguration.EncryptionConfiguration).toEqual({ EncryptionOption: 'SSE_S3' });
    expect(json(configuration.ResultConfiguration.OutputLocation)).toContain(idOf(stack.lakehouse.resultsBucket));
  });

  it('encrypts and TLS-guards the lakehouse buckets', () => {
    for (const bucket of [stack.lakehouse.bucket, stack.lakehouse.resultsBucket, stack.lakehouse.accessLogsBucket]) {
      const props = resources[idOf(bucket)]!.Properties as Record<string, Cfn>;
      expect(props.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
      expect(props.PublicAccessBlockConfiguration).toMatchObject({ BlockPublicAcls: true, RestrictPublicBuckets: true });
    }
    const policies = ofType('AWS::S3::BucketPolicy').map(([, policy]) => json(policy.Properties));
    expect(policies.filter((policy) => policy.includes('aws:SecureTransport')).length).toBeGreaterThanOrEqual(3);
  });

  it('outputs the bucket and the warehouse path under which each table lives', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(Object.keys(outputs).filter((key) => key.includes('LakehouseBucket'))).toEqual(['LakehouseBucketName']);
    expect(Object.keys(outputs).filter((key) => key.includes('WarehousePath'))).toEqual(['LakehouseWarehousePath']);
    expect(json(outputs.LakehouseWarehousePath!.Value)).toBe(json({ 'Fn::Join': ['', ['s3://', { Ref: idOf(stack.lakehouse.bucket) }, '/warehouse']] }));
  });
});

describe('Lakehouse props', () => {
  const streams = (stack: Stack) => ({ clicksStream: new kinesis.Stream(stack, 'Clicks'), marketDataStream: new kinesis.Stream(stack, 'Ticks') });
  it('rejects buffering hints Firehose does not accept, naming the value', () => {
    expect(() => new Lakehouse(propsTestStack(), 'Lake', { ...streams(propsTestStack()), bufferingInterval: Duration.seconds(901) })).toThrow(/0 to 900 whole seconds. Received 901/);
    expect(() => new Lakehouse(propsTestStack(), 'Lake', { ...streams(propsTestStack()), bufferingSizeMiB: 0 })).toThrow(/1 to 128. Received 0/);
    expect(() => new Lakehouse(propsTestStack(), 'Lake', { ...streams(propsTestStack()), databaseName: 'Bad-Name' })).toThrow(/lowercase.*Bad-Name/);
  });
  it('takes the buffering interval from the props', () => {
    const stack = propsTestStack();
    new Lakehouse(stack, 'Lake', { ...streams(stack), bufferingInterval: Duration.seconds(5), bufferingSizeMiB: 16 });
    const props = Object.values(Template.fromStack(stack).findResources('AWS::KinesisFirehose::DeliveryStream'))[0]!.Properties as Record<string, Cfn>;
    expect(props.IcebergDestinationConfiguration.BufferingHints).toEqual({ IntervalInSeconds: 5, SizeInMBs: 16 });
  });
});
