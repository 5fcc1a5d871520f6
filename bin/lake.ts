import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { compactTable, expireTableSnapshots } from '../lakehouse/maintenance';
import { formatRows, type OutputFormat } from '../lakehouse/query/format';
import { LAKEHOUSE_TABLE_NAMES } from '../lakehouse/tables';
import { findLakehouse, optionValue, tableName, UsageError } from './lakehouse-target';
import type { CliIo } from './query';

export const LAKE_HELP = `Usage: npm run lake -- snapshots|compact|expire TABLE [options]

Maintenance of the running local cloud's lakehouse tables (${LAKEHOUSE_TABLE_NAMES.join(', ')}).
  snapshots TABLE   the table's snapshot history: id, time, operation, records, files, checkpoints
    --json          JSON instead of a table
  compact TABLE     rewrite the current rows (deletes applied) as one data file per partition,
                    in a new snapshot; readers see the same rows before and after
  expire TABLE      remove snapshots older than --older-than, and the files only they use
    --older-than D  age such as 7d, 12h, 30m, 0s (default: 7d, the Glue retention on AWS)
    --retain-last N keep at least the newest N snapshots (default: 1)
  --state-dir DIR   the local cloud's state directory (default: .watershed)
  --help            this text
Exit codes: 0 ok, 1 failure, 2 usage.`;

const processIo: CliIo = { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) };
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseAge(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value);
  if (match === null) throw new UsageError(`--older-than ${JSON.stringify(value)}: give a number and a unit s, m, h or d, e.g. 7d`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export async function runLakeCli(argv: string[], io: CliIo = processIo): Promise<number> {
  try {
    if (argv.includes('--help') || argv.includes('-h') || argv.length === 0) {
      io.stdout(`${LAKE_HELP}\n`);
      return argv.length === 0 ? 2 : 0;
    }
    const valued = new Set(['--older-than', '--retain-last', '--state-dir']);
    const positional = argv.filter((arg, index) => !arg.startsWith('--') && !valued.has(argv[index - 1] ?? ''));
    const unknown = argv.filter((arg) => arg.startsWith('--') && !valued.has(arg) && arg !== '--json');
    if (unknown.length > 0) throw new UsageError(`unknown option ${unknown[0]}; see --help`);
    const [command, table] = positional;
    if (!['snapshots', 'compact', 'expire'].includes(command ?? '')) throw new UsageError(`unknown command ${JSON.stringify(command)}: use snapshots, compact or expire`);
    const name = tableName(table);
    const olderThan = parseAge(optionValue(argv, '--older-than') ?? '7d');
    const retainText = optionValue(argv, '--retain-last') ?? '1';
    if (!/^[1-9]\d*$/.test(retainText)) throw new UsageError(`--retain-last ${JSON.stringify(retainText)}: give a whole number of at least 1`);
    const lakehouse = findLakehouse(optionValue(argv, '--state-dir'));
    try {
      const iceberg = await lakehouse.open(name);
      if (command === 'snapshots') {
        const rows = iceberg.metadata.snapshots.map((snapshot) => ({
          snapshot_id: snapshot['snapshot-id'],
          committed_at: new Date(snapshot['timestamp-ms']).toISOString(),
          operation: snapshot.summary.operation,
          sequence: snapshot['sequence-number'],
          added_records: Number(snapshot.summary['added-records'] ?? 0),
          total_records: Number(snapshot.summary['total-records'] ?? 0),
          data_files: Number(snapshot.summary['total-data-files'] ?? 0),
          delete_files: Number(snapshot.summary['total-delete-files'] ?? 0),
          current: snapshot['snapshot-id'] === iceberg.metadata['current-snapshot-id'],
          checkpoints: Object.entries(snapshot.summary).filter(([key]) => key.startsWith('watershed.kinesis.offsets.')).map(([, value]) => value).join(' '),
        }));
        const format: OutputFormat = argv.includes('--json') ? 'json' : 'table';
        io.stdout(formatRows(rows.length > 0 ? Object.keys(rows[0]!) : ['snapshot_id'], rows, format));
        return 0;
      }
      if (command === 'compact') {
        const result = await compactTable(iceberg);
        io.stdout(
          result.snapshot === undefined
            ? `${name}: nothing to compact (${result.filesBefore.data} data file(s), no delete files)\n`
            : `${name}: ${result.filesBefore.data} data + ${result.filesBefore.deletes} delete files -> ${result.filesAfter} data file(s), ${result.rows} rows (${result.deletedRowsMerged} deleted rows merged) in snapshot ${result.snapshot['snapshot-id']}\n`,
        );
        return 0;
      }
      const result = await expireTableSnapshots(iceberg, { olderThanMs: Date.now() - olderThan, retainLast: Number(retainText) });
      io.stdout(`${name}: expired ${result.expired.length} snapshot(s), kept ${result.kept}, removed ${result.filesRemoved} file(s)\n`);
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
  void runLakeCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
