import { IcebergTable } from '../../lakehouse/iceberg/table';
import type { IcebergField, IcebergPrimitive, IcebergSchema, PartitionSpec } from '../../lakehouse/iceberg/schema';
import type { ObjectStore } from '../../lakehouse/object-store';
import { propertyText } from '../cloudformation/property-text';
import { UnsupportedTemplateError } from '../cloudformation/template';

/**
 * The lakehouse resources of a template as the local cloud provisions them:
 * - AWS::Glue::Table with an Iceberg input: the Iceberg table is created at its location in S3
 *   (first metadata version and version hint), with the template's schema and partition spec,
 *   as Glue's CREATE does on AWS;
 * - AWS::KinesisFirehose::DeliveryStream with a Kinesis source and an Iceberg destination: its
 *   settings become a DeliveryStreamSpec that the local Firehose stand-in runs;
 * - Glue databases, table optimizers and Athena workgroups: recorded, with what stands in for
 *   them locally.
 */

export interface IcebergTableSpec {
  logicalId: string;
  database: string;
  name: string;
  /** `s3://bucket/warehouse/<table>`. */
  location: string;
}

export interface DeliveryStreamSpec {
  logicalId: string;
  name: string;
  sourceStreamArn: string;
  database: string;
  table: string;
  uniqueKeys: string[];
  bufferIntervalMs: number;
  bufferSizeBytes: number;
  /** The bucket of the table and of the error prefix. */
  bucket: string;
  /** e.g. `errors/market_ticks/`. */
  errorPrefix: string;
}

type Record_ = (ref: string, attributes?: Record<string, string>, note?: string) => void;

const ICEBERG_PRIMITIVES = new Set<IcebergPrimitive>(['string', 'long', 'double', 'boolean', 'timestamptz']);
/** Firehose's defaults for Iceberg destinations when the template gives no buffering hints. */
const DEFAULT_BUFFER_INTERVAL_SECONDS = 300;
const DEFAULT_BUFFER_SIZE_MIB = 5;

export class LakehouseResources {
  readonly tables: IcebergTableSpec[] = [];
  readonly deliveryStreams: DeliveryStreamSpec[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly region: string,
    private readonly account: string,
    private readonly log: (message: string) => void,
  ) {}

  /** Provisions `type` if it is a lakehouse resource; false when it is not one. */
  async provision(logicalId: string, type: string, props: Record<string, unknown>, physicalName: string, record: Record_): Promise<boolean> {
    switch (type) {
      case 'AWS::Glue::Database': {
        const name = String((props.DatabaseInput as { Name?: string } | undefined)?.Name ?? physicalName);
        record(name, {}, 'recorded: the local catalog is the file-catalog layout in S3');
        return true;
      }
      case 'AWS::Glue::Table':
        await this.createTable(logicalId, props, record);
        return true;
      case 'AWS::Glue::TableOptimizer':
        record(logicalId, {}, `recorded: run \`npm run lake -- ${props.Type === 'retention' ? 'expire' : 'compact'} ${String(props.TableName)}\` locally`);
        return true;
      case 'AWS::Athena::WorkGroup':
        record(propertyText(props.Name, physicalName), {}, 'recorded: `npm run query` answers with DuckDB locally');
        return true;
      case 'AWS::KinesisFirehose::DeliveryStream':
        this.addDeliveryStream(logicalId, props, physicalName, record);
        return true;
      default:
        return false;
    }
  }

  private async createTable(logicalId: string, props: Record<string, unknown>, record: Record_): Promise<void> {
    const name = String((props.TableInput as { Name?: string }).Name);
    const database = String(props.DatabaseName);
    const iceberg = (props.OpenTableFormatInput as { IcebergInput?: { IcebergTableInput?: Record<string, unknown> } } | undefined)?.IcebergInput?.IcebergTableInput;
    if (iceberg === undefined) {
      record(name, {}, 'recorded: only Iceberg tables are created locally');
      return;
    }
    const location = String(iceberg.Location).replace(/\/$/, '');
    const rawSchema = iceberg.Schema as { SchemaId?: number; Fields: { Id: number; Name: string; Type: string; Required: boolean | string }[]; IdentifierFieldIds?: number[] };
    const fields: IcebergField[] = rawSchema.Fields.map((field) => {
      if (!ICEBERG_PRIMITIVES.has(field.Type as IcebergPrimitive)) throw new UnsupportedTemplateError(`${logicalId}: column ${field.Name} has type ${field.Type}, which the local Iceberg writer does not support`);
      return { id: Number(field.Id), name: field.Name, type: field.Type as IcebergPrimitive, required: field.Required === true || field.Required === 'true' };
    });
    const schema: IcebergSchema = {
      type: 'struct',
      'schema-id': Number(rawSchema.SchemaId ?? 0),
      fields,
      ...(rawSchema.IdentifierFieldIds === undefined ? {} : { 'identifier-field-ids': rawSchema.IdentifierFieldIds.map(Number) }),
    };
    const rawSpec = iceberg.PartitionSpec as { SpecId?: number; Fields: { Name: string; SourceId: number; Transform: string; FieldId?: number }[] } | undefined;
    const spec: PartitionSpec = {
      'spec-id': Number(rawSpec?.SpecId ?? 0),
      fields: (rawSpec?.Fields ?? []).map((field, index) => {
        if (field.Transform !== 'day' && field.Transform !== 'identity') throw new UnsupportedTemplateError(`${logicalId}: partition transform ${field.Transform} is not supported locally (day, identity are)`);
        return { name: field.Name, transform: field.Transform, 'source-id': Number(field.SourceId), 'field-id': Number(field.FieldId ?? 1000 + index) };
      }),
    };
    const table = await IcebergTable.createIfAbsent(this.store, { location, schema, spec, properties: (iceberg.Properties as Record<string, string> | undefined) ?? {} });
    this.tables.push({ logicalId, database, name, location });
    record(name, { Arn: `arn:aws:glue:${this.region}:${this.account}:table/${database}/${name}` }, `Iceberg v2 table at ${location} (metadata v${table.version})`);
    this.log(`  iceberg table   ${database}.${name} at ${location}`);
  }

  private addDeliveryStream(logicalId: string, props: Record<string, unknown>, physicalName: string, record: Record_): void {
    const name = propertyText(props.DeliveryStreamName, physicalName).slice(0, 64);
    const arn = `arn:aws:firehose:${this.region}:${this.account}:deliverystream/${name}`;
    const source = props.KinesisStreamSourceConfiguration as { KinesisStreamARN?: string } | undefined;
    const destination = props.IcebergDestinationConfiguration as Record<string, unknown> | undefined;
    if (props.DeliveryStreamType !== 'KinesisStreamAsSource' || source?.KinesisStreamARN === undefined || destination === undefined) {
      record(name, { Arn: arn }, 'recorded, not run: the local stand-in runs Kinesis-sourced delivery streams into Iceberg');
      return;
    }
    const tables = (destination.DestinationTableConfigurationList as { DestinationDatabaseName: string; DestinationTableName: string; UniqueKeys?: string[]; S3ErrorOutputPrefix?: string }[] | undefined) ?? [];
    if (tables.length !== 1) {
      throw new UnsupportedTemplateError(`${logicalId}: the local Firehose stand-in writes one table per delivery stream (routing by JQ or Lambda is not emulated); this one lists ${tables.length}`);
    }
    const target = tables[0]!;
    const hints = destination.BufferingHints as { IntervalInSeconds?: number; SizeInMBs?: number } | undefined;
    const s3 = destination.S3Configuration as { BucketARN: string; ErrorOutputPrefix?: string };
    this.deliveryStreams.push({
      logicalId,
      name,
      sourceStreamArn: source.KinesisStreamARN,
      database: target.DestinationDatabaseName,
      table: target.DestinationTableName,
      uniqueKeys: target.UniqueKeys ?? [],
      bufferIntervalMs: Number(hints?.IntervalInSeconds ?? DEFAULT_BUFFER_INTERVAL_SECONDS) * 1000,
      bufferSizeBytes: Number(hints?.SizeInMBs ?? DEFAULT_BUFFER_SIZE_MIB) * 1024 * 1024,
      bucket: s3.BucketARN.split(':::').at(-1)!,
      errorPrefix: target.S3ErrorOutputPrefix ?? s3.ErrorOutputPrefix ?? 'errors/',
    });
    record(name, { Arn: arn }, `local Firehose stand-in into ${target.DestinationDatabaseName}.${target.DestinationTableName}`);
    this.log(`  delivery stream ${name}: ${source.KinesisStreamARN.split('/').at(-1)} -> ${target.DestinationDatabaseName}.${target.DestinationTableName}`);
  }
}
