import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AthenaClient } from '@aws-sdk/client-athena';
import { DEFAULT_STATE_DIRECTORY } from '../contracts/local-cloud';
import { LAKEHOUSE_TABLE_NAMES } from '../lakehouse/tables';
import { formatRows, OUTPUT_FORMATS, type OutputFormat } from '../lakehouse/query/format';
import { QueryError, type AsOf, type AthenaAsOf } from '../lakehouse/query/statement';
import { explainAwsError, OpsError, resolveTargetEnvironment } from '../ops/target';
import { parseTargetFlags, TARGET_HELP, TARGET_OPTIONS, UsageError as TargetUsageError, type TargetFlags } from '../simulator/args';
import { findLakehouse, UsageError } from './lakehouse-target';

export const QUERY_HELP = `Usage: npm run query -- "SQL" [options]

Runs one read-only SELECT over the lakehouse tables (${LAKEHOUSE_TABLE_NAMES.join(', ')}).
--target local (the default): on the running local cloud, with DuckDB over the tables' current
Iceberg snapshots, deletes applied. --target aws (or localstack): with Athena, in the stack's
workgroup (output LakehouseWorkGroup) against its Glue database (output LakehouseDatabaseName).
  --as-of ID|TIME     read the snapshot with this id (one table), or the snapshots current at
                      this ISO-8601 time, e.g. 2026-11-30T18:00:00Z     (default: the current snapshots)
                      locally: list them with \`npm run lake -- snapshots TABLE\`; on Athena it adds
                      FOR VERSION AS OF ID or FOR TIMESTAMP AS OF TIMESTAMP '<UTC time>' after each
                      lakehouse table in a FROM list or JOIN
  --format F          table, csv or json                                   (default table)
  --json, --csv       shorthands for --format json / --format csv          (default off)
  --state-dir DIR     the local cloud's state directory, --target local    (default ${DEFAULT_STATE_DIRECTORY})
${TARGET_HELP}
                      --endpoint, --outputs-file and --region apply to --target aws|localstack, which
                      needs --outputs-file (the workgroup and database are read there); local uses --state-dir
  -h, --help          this text
Data goes to stdout; the snapshots read (local) or the query id and bytes scanned (Athena), and
progress of long Athena queries, to stderr. Exit codes: 0 ok, 1 query failed, 2 usage.`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };

export function parseAsOf(value: string): AsOf {
  if (/^\d{1,19}$/.test(value)) {
    // Iceberg snapshot ids are longs; beyond 2^53 a JS number would silently round.
    if (!Number.isSafeInteger(Number(value))) throw new UsageError(`--as-of ${value} is larger than this tool can represent exactly; use a time instead`);
    return { snapshotId: Number(value) };
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--as-of ${JSON.stringify(value)} is neither a snapshot id nor a time: give an id from \`npm run lake -- snapshots TABLE\` or an ISO-8601 time such as 2026-11-30T18:00:00Z`);
  return { timestampMs: ms };
}

/** `--as-of` for Athena: as parseAsOf, but a snapshot id of any length is kept as its exact digits. */
export function parseAthenaAsOf(value: string): AthenaAsOf {
  return /^\d{1,19}$/.test(value) ? { snapshotId: value.replace(/^0+(?=\d)/, '') } : parseAsOf(value);
}

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  'as-of': { type: 'string' },
  format: { type: 'string' },
  json: { type: 'boolean' },
  csv: { type: 'boolean' },
  'state-dir': { type: 'string' },
  ...TARGET_OPTIONS,
} as const;

export interface QueryCommand {
  sql: string;
  format: OutputFormat;
  /** AsOf for --target local; AthenaAsOf (snapshot ids as exact digits) otherwise. */
  asOf?: AsOf | AthenaAsOf;
  stateDirectory?: string;
  target: TargetFlags;
}

/** Parses `argv` (after `npm run query --`); throws UsageError naming the bad value. Pure. */
export function parseQueryArgs(argv: readonly string[]): QueryCommand | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; see --help`);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return 'help';
  if (positionals.length !== 1) throw new UsageError(`give the SQL as one argument, in quotes${positionals.length > 1 ? ` (received ${positionals.length} arguments)` : ''}`);
  const format = values.format ?? (values.json === true ? 'json' : values.csv === true ? 'csv' : 'table');
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${JSON.stringify(format)}: use one of ${OUTPUT_FORMATS.join(', ')}`);
  let target: TargetFlags;
  try {
    target = parseTargetFlags(values);
  } catch (error) {
    throw error instanceof TargetUsageError ? new UsageError(error.message) : error;
  }
  if (target.target === 'local') {
    // The local DuckDB path finds the lakehouse through the local cloud's state directory alone.
    for (const flag of ['endpoint', 'outputs-file', 'region'] as const) {
      if (values[flag] !== undefined) throw new UsageError(`--${flag} applies to --target aws|localstack; the local cloud is found through --state-dir`);
    }
  } else {
    if (values['state-dir'] !== undefined) throw new UsageError(`--state-dir applies to --target local, not ${target.target}`);
    if (target.outputsFile === undefined) throw new UsageError(`--target ${target.target} needs --outputs-file PATH (written by \`cdk deploy --outputs-file PATH\`): the Athena workgroup and Glue database are read there`);
  }
  return {
    sql: positionals[0]!,
    format: format as OutputFormat,
    ...(values['as-of'] !== undefined ? { asOf: target.target === 'local' ? parseAsOf(values['as-of']) : parseAthenaAsOf(values['as-of']) } : {}),
    ...(values['state-dir'] !== undefined ? { stateDirectory: values['state-dir'] } : {}),
    target,
  };
}

export interface QueryCliDependencies {
  /** The Athena client for a target's client configuration (tests pass a mocked one). */
  athena?: (config: ConstructorParameters<typeof AthenaClient>[0]) => AthenaClient;
  /** Polling waits (tests pass an instant one). */
  sleep?: (ms: number) => Promise<void>;
}

async function runLocal(command: QueryCommand, io: CliIo): Promise<void> {
  // DuckDB is loaded only for the local path.
  const { queryLakehouse } = await import('../lakehouse/query/duckdb-query');
  const lakehouse = findLakehouse(command.stateDirectory);
  try {
    const tables = Object.fromEntries(await Promise.all(LAKEHOUSE_TABLE_NAMES.map(async (name) => [name, await lakehouse.open(name)] as const)));
    const result = await queryLakehouse({ sql: command.sql, tables, ...(command.asOf ? { asOf: command.asOf as AsOf } : {}), cacheDirectory: lakehouse.cacheDirectory });
    for (const [name, snapshot] of Object.entries(result.snapshots)) {
      io.stderr(snapshot === undefined ? `${name}: no snapshot yet (empty)\n` : `${name}: snapshot ${snapshot['snapshot-id']} of ${new Date(snapshot['timestamp-ms']).toISOString()}\n`);
    }
    io.stdout(formatRows(result.columns, result.rows, command.format));
  } finally {
    lakehouse.close();
  }
}

async function runAthena(command: QueryCommand, io: CliIo, dependencies: QueryCliDependencies): Promise<void> {
  const { queryAthena } = await import('../lakehouse/query/athena-query');
  const environment = resolveTargetEnvironment(command.target);
  const workGroup = environment.outputs.LakehouseWorkGroup;
  const database = environment.outputs.LakehouseDatabaseName;
  if (workGroup === undefined || database === undefined) {
    throw new OpsError(
      `the outputs in ${environment.outputsFile} have no ${workGroup === undefined ? 'LakehouseWorkGroup' : 'LakehouseDatabaseName'}: pass the outputs file of a deployment with the lakehouse (\`cdk deploy --outputs-file PATH\`)`,
    );
  }
  const athena = (dependencies.athena ?? ((config) => new AthenaClient(config ?? {})))(environment.clientConfig);
  try {
    const result = await queryAthena(athena, {
      sql: command.sql,
      workGroup,
      database,
      tables: LAKEHOUSE_TABLE_NAMES,
      ...(command.asOf ? { asOf: command.asOf } : {}),
      onProgress: (line) => io.stderr(`${line}\n`),
      ...(dependencies.sleep ? { sleep: dependencies.sleep } : {}),
    });
    const scanned = result.dataScannedBytes === undefined ? '' : `, ${result.dataScannedBytes} bytes scanned`;
    io.stderr(`athena: query ${result.queryExecutionId} in workgroup ${workGroup}, database ${database}${scanned}\n`);
    io.stdout(formatRows(result.columns, result.rows, command.format));
  } catch (error) {
    if (error instanceof QueryError) throw error;
    const failure = error as { name?: string; message?: string };
    if (failure.name === 'InvalidRequestException' && /work ?group/i.test(failure.message ?? '')) {
      throw new OpsError(`Athena workgroup ${workGroup}: ${failure.message}. Is the stack deployed in this region (--region, AWS_REGION) and is ${environment.outputsFile} its outputs file?`);
    }
    if (failure.name === 'InvalidRequestException') throw new QueryError(`Athena rejected the query: ${failure.message}`);
    throw explainAwsError(error, environment, `running the query in Athena workgroup ${workGroup}`);
  } finally {
    athena.destroy();
  }
}

export async function runQueryCli(argv: string[], io: CliIo = processIo, dependencies: QueryCliDependencies = {}): Promise<number> {
  try {
    const command = parseQueryArgs(argv);
    if (command === 'help') {
      io.stdout(`${QUERY_HELP}\n`);
      return 0;
    }
    if (command.target.target === 'local') await runLocal(command, io);
    else await runAthena(command, io, dependencies);
    return 0;
  } catch (error) {
    io.stderr(`${(error as Error).message}\n`);
    return error instanceof UsageError ? 2 : 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  void runQueryCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
