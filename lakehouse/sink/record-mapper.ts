import type { Row } from '../iceberg/parquet';
import type { IcebergField, IcebergSchema } from '../iceberg/schema';

/**
 * How a delivery stream turns one JSON record into a table row, as Firehose does for Iceberg:
 * columns by name, fields the table lacks ignored, and a record that cannot be mapped rejected
 * with a reason (it goes to the error prefix; the rest of the batch carries on).
 */

export type MappingErrorCode = 'InvalidJson' | 'SchemaMismatch';

export type MappedRecord = { ok: true; row: Row } | { ok: false; errorCode: MappingErrorCode; errorMessage: string };

const decoder = new TextDecoder('utf-8', { fatal: true });

export function mapRecord(schema: IcebergSchema, data: Uint8Array): MappedRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(data));
  } catch (error) {
    return { ok: false, errorCode: 'InvalidJson', errorMessage: `record is not UTF-8 JSON: ${(error as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, errorCode: 'InvalidJson', errorMessage: `record must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : typeof parsed}` };
  }
  const source = parsed as Record<string, unknown>;
  const row: Row = {};
  for (const field of schema.fields) {
    const result = columnValue(field, source[field.name]);
    if (typeof result === 'string') return { ok: false, errorCode: 'SchemaMismatch', errorMessage: result };
    row[field.name] = result.value;
  }
  return { ok: true, row };
}

/** The column value, or a message saying why the JSON value does not fit. */
function columnValue(field: IcebergField, value: unknown): { value: unknown } | string {
  if (value === undefined || value === null) {
    return field.required ? `column ${field.name} (${field.type}) is required but the record has ${value === null ? 'null' : 'no such field'}` : { value: null };
  }
  const wrong = () => `column ${field.name} is ${field.type}; the record has ${JSON.stringify(value).slice(0, 80)}`;
  switch (field.type) {
    case 'string':
      return typeof value === 'string' ? { value } : wrong();
    case 'double':
      return typeof value === 'number' && Number.isFinite(value) ? { value } : wrong();
    case 'long':
      return typeof value === 'number' && Number.isSafeInteger(value) ? { value } : wrong();
    case 'boolean':
      return typeof value === 'boolean' ? { value } : wrong();
    case 'timestamptz': {
      // As the contracts' EventTimestamp: epoch milliseconds, or ISO-8601 with an explicit zone.
      if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? { value } : wrong();
      if (typeof value === 'string' && /(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
        const ms = Date.parse(value);
        return Number.isNaN(ms) ? wrong() : { value: ms };
      }
      return `${wrong()} (expected epoch milliseconds or ISO-8601 with a zone)`;
    }
  }
}
