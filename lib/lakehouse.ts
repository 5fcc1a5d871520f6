import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { LAKEHOUSE_TABLES, lakehouseTableLayout, type LakehouseTableName } from '../lakehouse/tables';

/**
 * Defaults of the lakehouse; each is a trade-off and the comment says which way it leans.
 */
export const LAKEHOUSE_DEFAULTS = {
  /**
   * Freshness against file count: Firehose commits an Iceberg snapshot per buffer flush, so 60 s
   * gives at most ~1,440 data files per table and day before compaction (the Glue optimizer, or
   * `npm run lake -- compact` locally), and lets batch queries see data within about a minute.
   * The dashboard's live view reads the stream, not the lake, so it does not wait for this.
   */
  bufferingInterval: Duration.seconds(60),
  /**
   * Firehose's maximum for Iceberg: at market-data rates a flush fills by size first, and bigger
   * Parquet files mean fewer files to plan and open per query.
   */
  bufferingSizeMiB: 128,
  /** The S3 prefix tables live under: `s3://<bucket>/warehouse/<table>`. */
  warehousePrefix: 'warehouse',
  /** Unmappable records land here, per table, with Firehose's error envelope (reason included). */
  errorPrefix: 'errors',
  /** Snapshots older than this are expired by the Glue retention optimizer (time travel horizon). */
  snapshotRetentionDays: 7,
} as const;

/** The Firehose error prefix of a table: `errors/<table>/`. */
export const lakehouseErrorPrefix = (table: string) => `${LAKEHOUSE_DEFAULTS.errorPrefix}/${table}/`;

export interface LakehouseProps {
  /** Source of `user_activity`: ClickEvent JSON records. */
  readonly clicksStream: kinesis.IStream;
  /** Source of `market_ticks`: MarketTick JSON records. */
  readonly marketDataStream: kinesis.IStream;
  /**
   * Firehose buffering interval, 0 to 900 seconds (whole seconds).
   * @default - 60 seconds (LAKEHOUSE_DEFAULTS.bufferingInterval)
   */
  readonly bufferingInterval?: Duration;
  /**
   * Firehose buffering size in MiB, 1 to 128.
   * @default - 128 (LAKEHOUSE_DEFAULTS.bufferingSizeMiB)
   */
  readonly bufferingSizeMiB?: number;
  /**
   * Glue database of the tables (lowercase letters, digits and underscores).
   * @default 'watershed_lakehouse'
   */
  readonly databaseName?: string;
  /**
   * What happens to the buckets and log group when they leave the stack. DESTROY empties and
   * deletes the lake with the stack (a demo leaves nothing to pay for); pass RETAIN when the lake
   * must outlive it.
   * @default - RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A lakehouse table: its Glue definition, location and delivery stream. */
export interface LakehouseTable {
  readonly name: LakehouseTableName;
  readonly glueTable: glue.CfnTable;
  /** `s3://<bucket>/warehouse/<table>`. */
  readonly location: string;
  readonly deliveryStream: firehose.CfnDeliveryStream;
}

/**
 * The lakehouse: market ticks and user activity in Apache Iceberg v2 tables on S3, delivered by
 * Amazon Data Firehose from the Kinesis streams with unique keys (upserts), catalogued in the
 * Glue Data Catalog, compacted by Glue table optimizers, and queried with Athena.
 *
 * Why Glue and not S3 Tables: Firehose writes Glue-catalogued Iceberg tables in an ordinary
 * bucket with IAM alone, while S3 Tables needs the account-level analytics integration (Lake
 * Formation) before Firehose or Athena can see a table. An ordinary bucket is also what the local
 * cloud emulates, so `LakehouseBucketName` and `LakehouseWarehousePath` mean the same thing
 * locally and on AWS. Glue's compaction and snapshot-retention optimizers cover what S3 Tables
 * would do automatically. The tables are created in the stack because Firehose needs them (and
 * their identifier fields) before it accepts unique keys.
 */
export class Lakehouse extends Construct {
  /** Iceberg data, metadata and Firehose error output. */
  public readonly bucket: s3.Bucket;
  /** Server access logs of the lakehouse and Athena result buckets. */
  public readonly accessLogsBucket: s3.Bucket;
  /** Athena query results (SSE-S3, expired after 30 days). */
  public readonly resultsBucket: s3.Bucket;
  /** `s3://<bucket>/warehouse`: each table lives at `<warehousePath>/<table>`. */
  public readonly warehousePath: string;
  public readonly databaseName: string;
  public readonly database: glue.CfnDatabase;
  public readonly tables: Record<LakehouseTableName, LakehouseTable>;
  /** Firehose's delivery and error log group. */
  public readonly logGroup: logs.LogGroup;
  public readonly workGroup: athena.CfnWorkGroup;

  constructor(scope: Construct, id: string, props: LakehouseProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const autoDeleteObjects = removalPolicy === RemovalPolicy.DESTROY;
    const interval = props.bufferingInterval ?? LAKEHOUSE_DEFAULTS.bufferingInterval;
    const intervalSeconds = interval.toSeconds();
    const sizeMiB = props.bufferingSizeMiB ?? LAKEHOUSE_DEFAULTS.bufferingSizeMiB;
    if (!Number.isInteger(intervalSeconds) || intervalSeconds < 0 || intervalSeconds > 900) {
      throw new Error(`Lakehouse bufferingInterval must be 0 to 900 whole seconds. Received ${intervalSeconds} s`);
    }
    if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || sizeMiB > 128) throw new Error(`Lakehouse bufferingSizeMiB must be an integer from 1 to 128. Received ${sizeMiB}`);
    this.databaseName = props.databaseName ?? 'watershed_lakehouse';
    if (!/^[a-z0-9_]{1,255}$/.test(this.databaseName)) throw new Error(`Lakehouse databaseName must be lowercase letters, digits and underscores. Received ${this.databaseName}`);

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy,
      autoDeleteObjects,
    });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'lakehouse/',
      removalPolicy,
      autoDeleteObjects,
    });
    this.resultsBucket = new s3.Bucket(this, 'AthenaResultsBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'athena-results/',
      lifecycleRules: [{ expiration: Duration.days(30) }],
      removalPolicy,
      autoDeleteObjects,
    });
    this.warehousePath = `s3://${this.bucket.bucketName}/${LAKEHOUSE_DEFAULTS.warehousePrefix}`;

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: this.databaseName, description: 'Watershed lakehouse: Iceberg tables written by Firehose' },
    });

    this.logGroup = new logs.LogGroup(this, 'DeliveryLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });
    const stack = Stack.of(this);
    const catalogArn = stack.formatArn({ service: 'glue', resource: 'catalog' });
    const databaseArn = stack.formatArn({ service: 'glue', resource: 'database', resourceName: this.databaseName });
    const tableArn = (table: string) => stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${this.databaseName}/${table}` });

    // Glue table optimizers (compaction, snapshot retention) work as this role on the tables only.
    const optimizerRole = new iam.Role(this, 'OptimizerRole', {
      assumedBy: new iam.ServicePrincipal('glue.amazonaws.com'),
      description: 'Watershed lakehouse: Glue compaction and snapshot retention of the Iceberg tables',
    });
    this.bucket.grantReadWrite(optimizerRole, `${LAKEHOUSE_DEFAULTS.warehousePrefix}/*`);
    iam.Grant.addToPrincipal({
      grantee: optimizerRole,
      actions: ['glue:GetTable', 'glue:UpdateTable', 'glue:GetDatabase'],
      resourceArns: [catalogArn, databaseArn, ...Object.keys(LAKEHOUSE_TABLES).map(tableArn)],
    });
    const optimizerLogGroup = new logs.LogGroup(this, 'OptimizerLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy });
    optimizerLogGroup.grantWrite(optimizerRole);

    const tables = {} as Record<LakehouseTableName, LakehouseTable>;
    for (const name of Object.keys(LAKEHOUSE_TABLES) as LakehouseTableName[]) {
      const definition = LAKEHOUSE_TABLES[name];
      const source = name === 'market_ticks' ? props.marketDataStream : props.clicksStream;
      const location = `${this.warehousePath}/${name}`;
      const { schema, spec } = lakehouseTableLayout(name);
      const glueTable = new glue.CfnTable(this, `${pascal(name)}Table`, {
        catalogId: Aws.ACCOUNT_ID,
        databaseName: this.databaseName,
        tableInput: { name, description: definition.description, tableType: 'EXTERNAL_TABLE', parameters: { table_type: 'ICEBERG' } },
        openTableFormatInput: {
          icebergInput: {
            metadataOperation: 'CREATE',
            version: '2',
            icebergTableInput: {
              location,
              schema: {
                schemaId: schema['schema-id'],
                type: 'struct',
                fields: schema.fields.map((field) => ({ id: field.id, name: field.name, type: field.type, required: field.required })),
                identifierFieldIds: schema['identifier-field-ids'],
              },
              partitionSpec: {
                specId: spec['spec-id'],
                fields: spec.fields.map((field) => ({ name: field.name, sourceId: field['source-id'], transform: field.transform, fieldId: field['field-id'] })),
              },
              properties: { 'write.format.default': 'parquet', 'format-version': '2' },
            },
          },
        },
      });
      glueTable.node.addDependency(this.database);

      for (const [type, configuration] of [
        ['compaction', {}],
        ['retention', { retentionConfiguration: { icebergConfiguration: { snapshotRetentionPeriodInDays: LAKEHOUSE_DEFAULTS.snapshotRetentionDays, numberOfSnapshotsToRetain: 1, cleanExpiredFiles: true } } }],
      ] as const) {
        const optimizer = new glue.CfnTableOptimizer(this, `${pascal(name)}${pascal(type)}`, {
          catalogId: Aws.ACCOUNT_ID,
          databaseName: this.databaseName,
          tableName: name,
          type,
          tableOptimizerConfiguration: { enabled: true, roleArn: optimizerRole.roleArn, ...configuration },
        });
        optimizer.node.addDependency(glueTable);
      }

      // One least-privilege role per delivery stream: its source stream, its table, the warehouse and error prefixes, its log stream.
      const role = new iam.Role(this, `${pascal(name)}DeliveryRole`, {
        assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } } }),
        description: `Watershed lakehouse: Firehose delivery into ${name}`,
      });
      source.grantRead(role);
      this.bucket.grantReadWrite(role, `${LAKEHOUSE_DEFAULTS.warehousePrefix}/${name}/*`);
      this.bucket.grantReadWrite(role, `${lakehouseErrorPrefix(name)}*`);
      iam.Grant.addToPrincipal({
        grantee: role,
        actions: ['glue:GetTable', 'glue:GetDatabase', 'glue:UpdateTable'],
        resourceArns: [catalogArn, databaseArn, tableArn(name)],
      });
      const logStream = new logs.LogStream(this, `${pascal(name)}DeliveryLogStream`, { logGroup: this.logGroup, logStreamName: name, removalPolicy });
      this.logGroup.grantWrite(role);

      const roleArn = role.roleArn;
      const deliveryStream = new firehose.CfnDeliveryStream(this, `${pascal(name)}Delivery`, {
        deliveryStreamType: 'KinesisStreamAsSource',
        kinesisStreamSourceConfiguration: { kinesisStreamArn: source.streamArn, roleArn },
        icebergDestinationConfiguration: {
          roleArn,
          catalogConfiguration: { catalogArn },
          destinationTableConfigurationList: [
            {
              destinationDatabaseName: this.databaseName,
              destinationTableName: name,
              uniqueKeys: [...definition.uniqueKey],
              s3ErrorOutputPrefix: lakehouseErrorPrefix(name),
            },
          ],
          bufferingHints: { intervalInSeconds: intervalSeconds, sizeInMBs: sizeMiB },
          cloudWatchLoggingOptions: { enabled: true, logGroupName: this.logGroup.logGroupName, logStreamName: logStream.logStreamName },
          retryOptions: { durationInSeconds: 300 },
          // Only records that fail go to S3 (the error prefix); delivered ones are in the table.
          s3BackupMode: 'FailedDataOnly',
          s3Configuration: {
            bucketArn: this.bucket.bucketArn,
            roleArn,
            errorOutputPrefix: lakehouseErrorPrefix(name),
            prefix: `${lakehouseErrorPrefix(name)}backup/`,
            bufferingHints: { intervalInSeconds: 60, sizeInMBs: 5 },
            compressionFormat: 'GZIP',
          },
        },
      });
      // Firehose checks its role and the table when the stream is created.
      deliveryStream.node.addDependency(role, glueTable);
      tables[name] = { name, glueTable, location, deliveryStream };
      Validations.of(deliveryStream).acknowledge({
        id: 'AwsSolutions-KDF1',
        reason:
          'Server-side encryption of a delivery stream applies only to Direct PUT sources. This one reads a ' +
          'KMS-encrypted Kinesis stream and writes to an SSE-S3 bucket over TLS, so the data is encrypted at every hop.',
      });
      this.acknowledgeObjectGrants(role, [`${LAKEHOUSE_DEFAULTS.warehousePrefix}/${name}/*`, `${lakehouseErrorPrefix(name)}*`],
        `Firehose writes and replaces objects under this table's own prefixes only (warehouse/${name}/*, ${lakehouseErrorPrefix(name)}*); stream, Glue table and log grants name their ARNs.`);
    }
    this.tables = tables;
    this.acknowledgeObjectGrants(optimizerRole, [`${LAKEHOUSE_DEFAULTS.warehousePrefix}/*`],
      'Compaction and snapshot retention rewrite and delete data and metadata files of any lakehouse table, all under warehouse/*; Glue grants name the tables.');
    Validations.of(this.accessLogsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the access-log bucket of the lakehouse and Athena result buckets itself; logging its own ' +
        'access into itself would loop, and its objects expire after 90 days.',
    });

    this.workGroup = this.createWorkGroup(removalPolicy);
  }

  /**
   * grantReadWrite on a key prefix expands to wildcard object actions (s3:GetObject*, ...) on
   * `<bucket>/<prefix>`: cdk-nag reports each; each is acknowledged with the reason.
   */
  private acknowledgeObjectGrants(role: iam.Role, prefixes: string[], reason: string): void {
    const bucketId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    const findings = [
      ...['s3:Abort*', 's3:DeleteObject*', 's3:GetBucket*', 's3:GetObject*', 's3:List*'].map((action) => `Action::${action}`),
      ...prefixes.map((prefix) => `Resource::<${bucketId}.Arn>/${prefix}`),
    ];
    for (const finding of findings) Validations.of(role).acknowledge({ id: `AwsSolutions-IAM5[${finding}]`, reason });
  }

  private createWorkGroup(removalPolicy: RemovalPolicy): athena.CfnWorkGroup {
    return new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: `${Stack.of(this).stackName}-lakehouse`,
      description: 'SQL over the Watershed lakehouse (Iceberg tables in the Glue Data Catalog)',
      recursiveDeleteOption: removalPolicy === RemovalPolicy.DESTROY,
      state: 'ENABLED',
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.resultsBucket.bucketName}/results/`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
  }
}

export function pascal(name: string): string {
  return name.replace(/(^|_)([a-z])/g, (_match, _separator, letter: string) => letter.toUpperCase());
}
