import * as z from 'zod';
import { EventTimestamp } from '../../contracts/clickstream';

/**
 * Iceberg schemas and partition specs (spec v2, primitive types only), derived from the zod
 * contracts in contracts/ so that a table's columns are never written down a second time.
 */

/** The Iceberg primitive types the contracts map to. */
export type IcebergPrimitive = 'string' | 'long' | 'double' | 'boolean' | 'timestamptz';

export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergPrimitive;
  doc?: string;
}

export interface IcebergSchema {
  type: 'struct';
  'schema-id': number;
  fields: IcebergField[];
  /** The row identity: the unique key that upserts replace on. */
  'identifier-field-ids'?: number[];
}

export interface PartitionField {
  name: string;
  transform: 'day' | 'identity';
  'source-id': number;
  'field-id': number;
}

export interface PartitionSpec {
  'spec-id': number;
  fields: PartitionField[];
}

/** Iceberg numbers partition fields from 1000, apart from column ids. */
export const FIRST_PARTITION_FIELD_ID = 1000;

export class SchemaMappingError extends Error {
  override readonly name = 'SchemaMappingError';
}

/**
 * The Iceberg schema of a zod object contract. Fields become columns in declaration order with
 * ids from 1; nullable ones are optional; the shared `EventTimestamp` becomes `timestamptz`.
 * A field type with no faithful Iceberg primitive is an error, not a guess.
 */
export function icebergSchemaOf(contract: z.ZodObject, options: { identifierFields?: readonly string[] } = {}): IcebergSchema {
  const fields = Object.entries(contract.shape).map(([name, fieldSchema], index) => {
    const { type, required } = primitiveOf(name, fieldSchema as z.ZodType);
    return { id: index + 1, name, required, type };
  });
  const identifierFieldIds = (options.identifierFields ?? []).map((name) => {
    const field = fields.find((candidate) => candidate.name === name);
    if (field === undefined) throw new SchemaMappingError(`identifier field ${name} is not a field of the contract (fields: ${fields.map((f) => f.name).join(', ')})`);
    // Iceberg: identifier fields must be required and primitive.
    if (!field.required) throw new SchemaMappingError(`identifier field ${name} must be required, but the contract allows null`);
    return field.id;
  });
  return { type: 'struct', 'schema-id': 0, fields, ...(identifierFieldIds.length > 0 ? { 'identifier-field-ids': identifierFieldIds } : {}) };
}

function primitiveOf(name: string, schema: z.ZodType): { type: IcebergPrimitive; required: boolean } {
  if (schema === EventTimestamp) return { type: 'timestamptz', required: true };
  if (schema instanceof z.ZodNullable || schema instanceof z.ZodOptional) {
    return { type: primitiveOf(name, schema.unwrap() as z.ZodType).type, required: false };
  }
  if (schema instanceof z.ZodString || schema instanceof z.ZodEnum) return { type: 'string', required: true };
  if (schema instanceof z.ZodBoolean) return { type: 'boolean', required: true };
  if (schema instanceof z.ZodNumber) return { type: schema.isInt ? 'long' : 'double', required: true };
  throw new SchemaMappingError(`field ${name}: zod type ${schema.def.type} has no Iceberg primitive here; map it in lakehouse/iceberg/schema.ts`);
}

/** A spec partitioning by the UTC day of a `timestamptz` column (Iceberg `day` transform). */
export function dayPartitionSpec(schema: IcebergSchema, sourceColumn: string): PartitionSpec {
  const source = schema.fields.find((field) => field.name === sourceColumn);
  if (source === undefined) throw new SchemaMappingError(`partition column ${sourceColumn} is not in the schema`);
  if (source.type !== 'timestamptz') throw new SchemaMappingError(`partition column ${sourceColumn} is ${source.type}; the day transform needs timestamptz`);
  return { 'spec-id': 0, fields: [{ name: `${sourceColumn}_day`, transform: 'day', 'source-id': source.id, 'field-id': FIRST_PARTITION_FIELD_ID }] };
}

export const UNPARTITIONED: PartitionSpec = { 'spec-id': 0, fields: [] };

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 (UTC) of an epoch-ms instant: Iceberg's `day` transform. */
export function dayOf(epochMs: number): number {
  return Math.floor(epochMs / DAY_MS);
}

/** A partition tuple as stored in manifests: partition field name -> value. */
export type PartitionValues = Record<string, number | string | null>;

/** The partition values of a row (epoch-ms timestamps) under `spec`. */
export function partitionOf(spec: PartitionSpec, schema: IcebergSchema, row: Record<string, unknown>): PartitionValues {
  const values: PartitionValues = {};
  for (const field of spec.fields) {
    const source = schema.fields.find((candidate) => candidate.id === field['source-id'])!;
    const value = row[source.name];
    if (value === null || value === undefined) values[field.name] = null;
    else if (field.transform === 'day') values[field.name] = dayOf(Number(value));
    else values[field.name] = value as number | string;
  }
  return values;
}

/** A stable key for grouping rows by partition. */
export function partitionKey(values: PartitionValues): string {
  return JSON.stringify(values);
}
