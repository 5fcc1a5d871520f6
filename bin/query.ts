import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LAKEHOUSE_TABLE_NAMES } from '../lakehouse/tables';
import { formatRows, OUTPUT_FORMATS, type OutputFormat } from '../lakehouse/query/format';
import { queryLakehouse, type AsOf } from '../lakehouse/query/duckdb-query';
import { findLakehouse, optionValue, UsageError } from './lakehouse-target';

export const QUERY_HELP = `Usage: npm run query -- "SQL" [--as-of SNAPSHOT_ID|TIMESTAMP] [--format table|csv|json] [--json] [--csv] [--state-dir DIR]

Runs one read-only SELECT over the lakehouse tables (${LAKEHOUSE_TABLE_NAMES.join(', ')}) of the running
local cloud, with DuckDB over the tables' current Iceberg snapshots, deletes applied.
  --as-of ID|TIME  read the snapshot with this id (one table), or the snapshots current at this
                   ISO-8601 time, e.g. 2026-11-30T18:00:00Z (default: the current snapshots);
                   list them with \`npm run lake -- snapshots TABLE\`
  --format F       table, csv or json (default: table)
  --json, --csv    shorthands for --format json / --format csv
  --state-dir DIR  the local cloud's state directory (default: .watershed)
  --help           this text
Data goes to stdout, the snapshots read to stderr. Exit codes: 0 ok, 1 query failed, 2 usage.`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: CliIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };

export function parseAsOf(value: string): AsOf {
  if (/^\d{1,16}$/.test(value)) return { snapshotId: Number(value) };
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--as-of ${JSON.stringify(value)} is neither a snapshot id nor a time: give an id from \`npm run lake -- snapshots TABLE\` or an ISO-8601 time such as 2026-11-30T18:00:00Z`);
  return { timestampMs: ms };
}

export async function runQueryCli(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout(`${QUERY_HELP}\n`);
      return 0;
    }
    const valued = new Set(['--as-of', '--format', '--state-dir']);
    const positional = argv.filter((arg, index) => !arg.startsWith('--') && !valued.has(argv[index - 1] ?? ''));
    const unknown = argv.filter((arg) => arg.startsWith('--') && !valued.has(arg) && arg !== '--json' && arg !== '--csv');
    if (unknown.length > 0) throw new UsageError(`unknown option ${unknown[0]}; see --help`);
    if (positional.length !== 1) throw new UsageError(`give the SQL as one argument, in quotes${positional.length > 1 ? ` (received ${positional.length} arguments)` : ''}`);
    const formatOption = optionValue(argv, '--format') ?? (argv.includes('--json') ? 'json' : argv.includes('--csv') ? 'csv' : 'table');
    if (!(OUTPUT_FORMATS as readonly string[]).includes(formatOption)) throw new UsageError(`--format ${JSON.stringify(formatOption)}: use one of ${OUTPUT_FORMATS.join(', ')}`);
    const asOfValue = optionValue(argv, '--as-of');
    const asOf = asOfValue === undefined ? undefined : parseAsOf(asOfValue);
    const lakehouse = findLakehouse(optionValue(argv, '--state-dir'));
    try {
      const tables = Object.fromEntries(await Promise.all(LAKEHOUSE_TABLE_NAMES.map(async (name) => [name, await lakehouse.open(name)] as const)));
      const result = await queryLakehouse({ sql: positional[0]!, tables, asOf, cacheDirectory: lakehouse.cacheDirectory });
      for (const [name, snapshot] of Object.entries(result.snapshots)) {
        io.stderr(snapshot === undefined ? `${name}: no snapshot yet (empty)\n` : `${name}: snapshot ${snapshot['snapshot-id']} of ${new Date(snapshot['timestamp-ms']).toISOString()}\n`);
      }
      io.stdout(formatRows(result.columns, result.rows, formatOption as OutputFormat));
      return 0;
    } finally {
      lakehouse.close();
    }
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
