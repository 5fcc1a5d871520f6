import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  type GetQueryResultsCommandOutput,
  type QueryExecutionState,
} from '@aws-sdk/client-athena';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { runQueryCli } from '../../bin/query';
import { athenaSql, queryAthena } from '../../lakehouse/query/athena-query';
import { QueryError, withTimeTravel } from '../../lakehouse/query/statement';
import { LAKEHOUSE_TABLE_NAMES } from '../../lakehouse/tables';

/** `npm run query --target aws`: Athena's polling, paging, failures and time-travel SQL, against a mocked client (no network). */

const athenaMock = mockClient(AthenaClient);
const athena = new AthenaClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const QUERY_ID = 'q-0001';
const WORK_GROUP = 'Watershed-lakehouse';
const DATABASE = 'watershed_lakehouse';
const directory = mkdtempSync(join(tmpdir(), 'athena-query-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const execution = (State: QueryExecutionState, extra: Record<string, unknown> = {}) => ({
  QueryExecution: { QueryExecutionId: QUERY_ID, Status: { State, ...extra }, Statistics: { DataScannedInBytes: 2_500_000, EngineExecutionTimeInMillis: 900 } },
});

/** A GetQueryResults page; `header` repeats the column names, as Athena does on a SELECT's first page. */
function page(rows: (string | undefined)[][], options: { header?: boolean; nextToken?: string } = {}): Partial<GetQueryResultsCommandOutput> {
  const columns = [
    { Name: 'symbol', Label: 'symbol', Type: 'varchar' },
    { Name: 'n', Label: 'n', Type: 'bigint' },
    { Name: 'avg_price', Label: 'avg_price', Type: 'double' },
    { Name: 'halted', Label: 'halted', Type: 'boolean' },
  ];
  const header = options.header === true ? [{ Data: columns.map((column) => ({ VarCharValue: column.Name })) }] : [];
  return {
    ResultSet: { ResultSetMetadata: { ColumnInfo: columns }, Rows: [...header, ...rows.map((row) => ({ Data: row.map((value) => (value === undefined ? {} : { VarCharValue: value })) }))] },
    ...(options.nextToken !== undefined ? { NextToken: options.nextToken } : {}),
  };
}

const instant = { sleep: async () => undefined };

beforeEach(() => {
  athenaMock.reset();
});

describe('queryAthena: start, poll, page', () => {
  it('polls with growing waits until SUCCEEDED, reports progress of a long query, and pages the results', async () => {
    // Prepare
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
    athenaMock
      .on(GetQueryExecutionCommand)
      .resolvesOnce(execution('QUEUED'))
      .resolvesOnce(execution('RUNNING'))
      .resolvesOnce(execution('RUNNING'))
      .resolvesOnce(execution('RUNNING'))
      .resolvesOnce(execution('RUNNING'))
      .resolves(execution('SUCCEEDED'));
    athenaMock
      .on(GetQueryResultsCommand)
      .resolvesOnce(page([['AAPL', '2', '11.5', 'false']], { header: true, nextToken: 'page-2' }))
      .resolvesOnce(page([['MSFT', '9007199254740993', 'NaN', undefined]]));
    const waits: number[] = [];
    let clock = 0;
    const progress: string[] = [];

    // Act
    const result = await queryAthena(athena, {
      sql: 'SELECT symbol, count(*) AS n, avg(lastPrice) AS avg_price, false AS halted FROM market_ticks GROUP BY symbol',
      workGroup: WORK_GROUP,
      database: DATABASE,
      tables: LAKEHOUSE_TABLE_NAMES,
      sleep: async (ms) => {
        waits.push(ms);
        clock += 3_000;
      },
      now: () => clock,
      onProgress: (line) => progress.push(line),
    });

    // Assess
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input).toStrictEqual({
      QueryString: 'SELECT symbol, count(*) AS n, avg(lastPrice) AS avg_price, false AS halted FROM market_ticks GROUP BY symbol',
      WorkGroup: WORK_GROUP,
      QueryExecutionContext: { Catalog: 'AwsDataCatalog', Database: DATABASE },
    });
    // Polls at 0, 3, 6, 9, 12 s of the fake clock; a progress line from 5 s on, at most every 5 s.
    expect(waits).toStrictEqual([200, 300, 450, 675, 1013]);
    expect(progress).toStrictEqual(['athena: query q-0001 RUNNING for 6 s, 2.5 MB scanned', 'athena: query q-0001 RUNNING for 12 s, 2.5 MB scanned']);
    expect(athenaMock.commandCalls(GetQueryResultsCommand).map((call) => call.args[0].input)).toStrictEqual([
      { QueryExecutionId: QUERY_ID, MaxResults: 1_000 },
      { QueryExecutionId: QUERY_ID, MaxResults: 1_000, NextToken: 'page-2' },
    ]);
    expect(result.columns).toStrictEqual(['symbol', 'n', 'avg_price', 'halted']);
    expect(result.rows).toStrictEqual([
      { symbol: 'AAPL', n: 2, avg_price: 11.5, halted: false },
      { symbol: 'MSFT', n: '9007199254740993', avg_price: NaN, halted: null },
    ]);
    expect(result.dataScannedBytes).toBe(2_500_000);
  });

  it.each([
    ['a SQL error (FAILED, user category)', execution('FAILED', { AthenaError: { ErrorCategory: 2, ErrorMessage: "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved" } }), /^SQL error: COLUMN_NOT_FOUND: .*'nope'.*\(query q-0001 in workgroup Watershed-lakehouse\)$/],
    ['an Athena failure (FAILED, system category)', execution('FAILED', { AthenaError: { ErrorCategory: 1, ErrorMessage: 'Internal error' }, StateChangeReason: 'Internal error' }), /^Athena query failed: Internal error/],
    ['a cancelled query', execution('CANCELLED', { StateChangeReason: 'Query cancelled by user' }), /^Athena query q-0001 was cancelled: Query cancelled by user/],
  ])('%s is a QueryError with the reason, and no results are fetched', async (_, finalState, message) => {
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
    athenaMock.on(GetQueryExecutionCommand).resolvesOnce(execution('RUNNING')).resolves(finalState);
    const run = queryAthena(athena, { sql: 'SELECT nope FROM market_ticks', workGroup: WORK_GROUP, database: DATABASE, tables: LAKEHOUSE_TABLE_NAMES, ...instant });
    await expect(run).rejects.toThrow(message);
    await expect(run).rejects.toBeInstanceOf(QueryError);
    expect(athenaMock.commandCalls(GetQueryResultsCommand)).toHaveLength(0);
  });

  it.each([
    ['DELETE FROM market_ticks', /only SELECT/],
    ["/* c */ INSERT INTO market_ticks VALUES ('x')", /only SELECT/],
    ['SELECT 1; DROP TABLE market_ticks', /exactly one SQL statement; received 2/],
  ])('refuses %s before calling Athena', async (sql, message) => {
    await expect(queryAthena(athena, { sql, workGroup: WORK_GROUP, database: DATABASE, tables: LAKEHOUSE_TABLE_NAMES, ...instant })).rejects.toThrow(message);
    expect(athenaMock.calls()).toHaveLength(0);
  });
});

describe('--as-of on Athena: Iceberg time travel after each lakehouse table reference', () => {
  it.each([
    [
      'a snapshot id',
      'SELECT symbol, count(*) FROM market_ticks GROUP BY symbol',
      { snapshotId: 4_242 },
      'SELECT symbol, count(*) FROM market_ticks FOR VERSION AS OF 4242 GROUP BY symbol',
    ],
    [
      'a time, before the alias, on a qualified and a quoted name, leaving strings, comments and column qualifiers alone',
      `SELECT t.symbol, 'market_ticks' AS label -- from market_ticks\nFROM watershed_lakehouse.market_ticks t JOIN "user_activity" u ON u.userId = t.source WHERE market_ticks.symbol <> ''`,
      { timestampMs: Date.parse('2026-11-30T18:00:00Z') },
      `SELECT t.symbol, 'market_ticks' AS label -- from market_ticks\nFROM watershed_lakehouse.market_ticks FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 18:00:00.000 UTC' t JOIN "user_activity" FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 18:00:00.000 UTC' u ON u.userId = t.source WHERE market_ticks.symbol <> ''`,
    ],
    [
      'a comma-separated FROM list',
      'SELECT count(*) FROM market_ticks, user_activity',
      { timestampMs: Date.parse('2026-11-30T18:00:00.5Z') },
      "SELECT count(*) FROM market_ticks FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 18:00:00.500 UTC', user_activity FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 18:00:00.500 UTC'",
    ],
  ])('%s', async (_, sql, asOf, expected) => {
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
    athenaMock.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athenaMock.on(GetQueryResultsCommand).resolves(page([], { header: true }));
    await queryAthena(athena, { sql, workGroup: WORK_GROUP, database: DATABASE, tables: LAKEHOUSE_TABLE_NAMES, asOf, ...instant });
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.QueryString).toBe(expected);
  });

  it('a snapshot id names one table: a query over both is refused; a query naming no table after FROM/JOIN too', () => {
    expect(() => athenaSql('SELECT * FROM market_ticks JOIN user_activity ON true', LAKEHOUSE_TABLE_NAMES, { snapshotId: 1 })).toThrow(/names one table's snapshot, but the query reads market_ticks and user_activity/);
    expect(() => athenaSql('SELECT 1 AS market_ticks', LAKEHOUSE_TABLE_NAMES, { snapshotId: 1 })).toThrow(/--as-of needs a lakehouse table after FROM or JOIN .*names market_ticks elsewhere only/);
    expect(withTimeTravel('SELECT * FROM market_ticks_archive', LAKEHOUSE_TABLE_NAMES, { snapshotId: 1 }).tables).toStrictEqual([]);
  });
});

describe('npm run query --target aws (CLI)', () => {
  const outputsFile = join(directory, 'outputs.json');
  writeFileSync(outputsFile, JSON.stringify({ Watershed: { LakehouseWorkGroup: WORK_GROUP, LakehouseDatabaseName: DATABASE } }));
  const bareOutputs = join(directory, 'bare.json');
  writeFileSync(bareOutputs, JSON.stringify({ Watershed: { StreamName: 'clicks' } }));

  async function cli(argv: string[]) {
    let stdout = '';
    let stderr = '';
    const code = await runQueryCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) }, { athena: () => athena, ...instant });
    return { code, stdout, stderr };
  }

  it('prints the rows with the same formatter as the local path, and the query id on stderr', async () => {
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
    athenaMock.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athenaMock.on(GetQueryResultsCommand).resolves(page([['AAPL', '2', '11.5', 'true']], { header: true }));
    const csv = await cli(['SELECT symbol FROM market_ticks', '--target', 'aws', '--outputs-file', outputsFile, '--csv']);
    expect(csv).toStrictEqual({ code: 0, stdout: 'symbol,n,avg_price,halted\nAAPL,2,11.5,true\n', stderr: `athena: query q-0001 in workgroup ${WORK_GROUP}, database ${DATABASE}, 2500000 bytes scanned\n` });
    const table = await cli(['SELECT symbol FROM market_ticks', '--target', 'aws', '--outputs-file', outputsFile, '--region', 'eu-west-1']);
    expect(table.stdout).toBe('symbol | n | avg_price | halted\n-------+---+-----------+-------\nAAPL   | 2 |      11.5 | true\n(1 row)\n');
  });

  it.each([
    ['no --outputs-file', ['SELECT 1', '--target', 'aws'], 2, /--target aws needs --outputs-file PATH/],
    ['--state-dir with aws', ['SELECT 1', '--target', 'aws', '--outputs-file', 'x.json', '--state-dir', '.watershed'], 2, /--state-dir applies to --target local/],
    ['an unknown target', ['SELECT 1', '--target', 'azure'], 2, /--target must be one of local, localstack, aws. Received "azure"/],
    ['an unknown flag', ['SELECT 1', '--bogus'], 2, /Unknown option '--bogus'/],
    ['outputs without the lakehouse', ['SELECT 1', '--target', 'aws', '--outputs-file', bareOutputs], 1, /have no LakehouseWorkGroup: pass the outputs file of a deployment with the lakehouse/],
  ])('%s: the exit code, and a message saying what to do', async (_, argv, code, message) => {
    const result = await cli(argv);
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(athenaMock.calls()).toHaveLength(0);
  });

  it.each([
    ['no credentials', Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), /No AWS credentials for --target aws: set AWS_PROFILE/],
    ['a missing workgroup', Object.assign(new Error('WorkGroup Watershed-lakehouse is not found.'), { name: 'InvalidRequestException' }), /Athena workgroup Watershed-lakehouse: WorkGroup Watershed-lakehouse is not found\.\. Is the stack deployed in this region/],
    ['a query Athena rejects up front', Object.assign(new Error('Queries of this type are not supported'), { name: 'InvalidRequestException' }), /Athena rejected the query: Queries of this type are not supported/],
  ])('%s: exit 1 with a clear message', async (_, error, message) => {
    athenaMock.on(StartQueryExecutionCommand).rejects(error);
    const result = await cli(['SELECT count(*) FROM market_ticks', '--target', 'aws', '--outputs-file', outputsFile]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('--as-of a snapshot id beyond 2^53 (as Iceberg writers pick them) reaches Athena digit for digit', async () => {
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
    athenaMock.on(GetQueryExecutionCommand).resolves(execution('SUCCEEDED'));
    athenaMock.on(GetQueryResultsCommand).resolves(page([], { header: true }));
    const result = await cli(['SELECT count(*) FROM market_ticks', '--target', 'aws', '--outputs-file', outputsFile, '--as-of', '6713920480321574917']);
    expect(result.code).toBe(0);
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.QueryString).toBe('SELECT count(*) FROM market_ticks FOR VERSION AS OF 6713920480321574917');
  });

  it('a SQL error from Athena exits 1 and names the error', async () => {
    athenaMock.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: QUERY_ID });
    athenaMock.on(GetQueryExecutionCommand).resolves(execution('FAILED', { AthenaError: { ErrorCategory: 2, ErrorMessage: "SYNTAX_ERROR: line 1:8: Column 'nope' cannot be resolved" } }));
    const result = await cli(['SELECT nope FROM market_ticks', '--target', 'aws', '--outputs-file', outputsFile, '--as-of', '2026-11-30T18:00:00Z']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^SQL error: SYNTAX_ERROR: .*'nope'/);
    expect(athenaMock.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.QueryString).toBe("SELECT nope FROM market_ticks FOR TIMESTAMP AS OF TIMESTAMP '2026-11-30 18:00:00.000 UTC'");
  });
});
