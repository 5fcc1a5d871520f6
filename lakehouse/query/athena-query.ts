import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  type AthenaClient,
  type ColumnInfo,
  type Datum,
  type QueryExecution,
} from '@aws-sdk/client-athena';
import { assertSingleSelect, QueryError, referencedTables, timeTravelClause, withTimeTravel, type AthenaAsOf } from './statement';

/**
 * The AWS side of `npm run query`: the same single SELECT, run by Athena in the stack's
 * workgroup against the Glue tables Firehose writes. The workgroup enforces its encrypted result
 * location, so none is passed. `--as-of` becomes Athena's Iceberg time travel on every lakehouse
 * table the query reads (see withTimeTravel).
 */

export interface AthenaQueryOptions {
  sql: string;
  /** The stack's workgroup (output LakehouseWorkGroup). */
  workGroup: string;
  /** The Glue database of the tables (output LakehouseDatabaseName). */
  database: string;
  /** The lakehouse table names, for the time-travel rewrite. */
  tables: readonly string[];
  asOf?: AthenaAsOf;
  /** Progress lines for long queries (the CLI writes them to stderr). */
  onProgress?: (line: string) => void;
  /** Polling: first wait, growth factor and cap. @default 200 ms, x1.5, 2,000 ms */
  poll?: { initialMs: number; factor: number; maxMs: number };
  /** A progress line at most this often, once a query has run this long. @default 5,000 ms */
  progressEveryMs?: number;
  /** Rows per GetQueryResults page (Athena's maximum is 1,000). @default 1,000 */
  pageSize?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

export interface AthenaQueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
  queryExecutionId: string;
  /** The SQL as sent (with the time-travel clauses). */
  sql: string;
  dataScannedBytes?: number;
  engineExecutionTimeMs?: number;
}

const DEFAULT_POLL = { initialMs: 200, factor: 1.5, maxMs: 2_000 };
const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'integer', 'int', 'bigint']);
const FLOAT_TYPES = new Set(['double', 'real', 'float']);

/** Athena returns every value as text: numbers and booleans back to JSON values, as the local path prints them. */
export function athenaValue(datum: Datum | undefined, column: ColumnInfo): unknown {
  const text = datum?.VarCharValue;
  if (text === undefined) return null;
  const type = column.Type?.toLowerCase() ?? 'varchar';
  if (INTEGER_TYPES.has(type)) return Number.isSafeInteger(Number(text)) ? Number(text) : text;
  if (FLOAT_TYPES.has(type)) return Number(text);
  if (type === 'boolean') return text === 'true';
  return text;
}

const megabytes = (bytes: number | undefined) => `${((bytes ?? 0) / 1_000_000).toFixed(1)} MB`;

/** The SQL Athena runs: the guard passed, `--as-of` applied. */
export function athenaSql(sql: string, tables: readonly string[], asOf: AthenaAsOf | undefined): string {
  assertSingleSelect(sql);
  if (asOf === undefined) return sql;
  const travelled = withTimeTravel(sql, tables, asOf);
  if (travelled.tables.length === 0) {
    const read = referencedTables(sql, tables);
    throw new QueryError(
      `--as-of needs a lakehouse table after FROM or JOIN (${tables.join(', ')})${read.length > 0 ? `; the query names ${read.join(', ')} elsewhere only` : ''}: ` +
        `or write the time travel yourself, e.g. FROM market_ticks ${timeTravelClause(asOf)}`,
    );
  }
  if ('snapshotId' in asOf && travelled.tables.length > 1) {
    throw new QueryError(`--as-of with a snapshot id names one table's snapshot, but the query reads ${travelled.tables.join(' and ')}; use a timestamp instead`);
  }
  return travelled.sql;
}

/** Starts the query, polls until it ends, and pages the results. SQL errors become QueryError. */
export async function queryAthena(athena: AthenaClient, options: AthenaQueryOptions): Promise<AthenaQueryResult> {
  const sql = athenaSql(options.sql, options.tables, options.asOf);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = options.now ?? Date.now;
  const poll = options.poll ?? DEFAULT_POLL;
  const progressEveryMs = options.progressEveryMs ?? 5_000;

  const started = await athena.send(
    new StartQueryExecutionCommand({ QueryString: sql, WorkGroup: options.workGroup, QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: options.database } }),
  );
  const id = started.QueryExecutionId;
  if (id === undefined) throw new QueryError('Athena accepted the query but returned no QueryExecutionId');

  const startedAt = now();
  let lastProgress = startedAt;
  let waitMs = poll.initialMs;
  let execution: QueryExecution | undefined;
  for (;;) {
    execution = (await athena.send(new GetQueryExecutionCommand({ QueryExecutionId: id }))).QueryExecution;
    const state = execution?.Status?.State;
    if (state === 'SUCCEEDED') break;
    if (state === 'FAILED') {
      const reason = execution?.Status?.AthenaError?.ErrorMessage ?? execution?.Status?.StateChangeReason ?? 'no reason given';
      // ErrorCategory 2 is the user's (SQL); 1 is Athena's own, 3 anything else.
      const what = execution?.Status?.AthenaError?.ErrorCategory === 2 ? 'SQL error' : 'Athena query failed';
      throw new QueryError(`${what}: ${reason} (query ${id} in workgroup ${options.workGroup})`);
    }
    if (state === 'CANCELLED') {
      throw new QueryError(`Athena query ${id} was cancelled${execution?.Status?.StateChangeReason ? `: ${execution.Status.StateChangeReason}` : ''} (workgroup ${options.workGroup})`);
    }
    const elapsed = now() - startedAt;
    if (elapsed >= progressEveryMs && now() - lastProgress >= progressEveryMs) {
      lastProgress = now();
      options.onProgress?.(`athena: query ${id} ${state ?? 'QUEUED'} for ${Math.round(elapsed / 1000)} s, ${megabytes(execution?.Statistics?.DataScannedInBytes)} scanned`);
    }
    await sleep(waitMs);
    waitMs = Math.min(poll.maxMs, Math.round(waitMs * poll.factor));
  }

  let columns: ColumnInfo[] | undefined;
  const rows: Record<string, unknown>[] = [];
  let nextToken: string | undefined;
  let firstPage = true;
  do {
    const page = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: options.pageSize ?? 1_000, ...(nextToken !== undefined ? { NextToken: nextToken } : {}) }));
    columns ??= page.ResultSet?.ResultSetMetadata?.ColumnInfo ?? [];
    const names = columns.map((column) => column.Label ?? column.Name ?? '');
    // The first row of a SELECT's first page repeats the column names.
    const data = (page.ResultSet?.Rows ?? []).slice(firstPage ? 1 : 0);
    for (const row of data) rows.push(Object.fromEntries(columns.map((column, index) => [names[index]!, athenaValue(row.Data?.[index], column)])));
    firstPage = false;
    nextToken = page.NextToken;
  } while (nextToken !== undefined);

  return {
    columns: (columns ?? []).map((column) => column.Label ?? column.Name ?? ''),
    rows,
    queryExecutionId: id,
    sql,
    ...(execution?.Statistics?.DataScannedInBytes !== undefined ? { dataScannedBytes: execution.Statistics.DataScannedInBytes } : {}),
    ...(execution?.Statistics?.EngineExecutionTimeInMillis !== undefined ? { engineExecutionTimeMs: execution.Statistics.EngineExecutionTimeInMillis } : {}),
  };
}
