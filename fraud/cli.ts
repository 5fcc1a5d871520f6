import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { readLocalCloudState } from '../contracts/local-cloud';
import { DEFAULT_SCORING_CONFIG, type ScoringConfig } from '../contracts/fraud';
import { activateConfig, parseScoringConfig, putConfigVersion, readConfigPointer } from '../lambdas/fraud/config-source';
import { localClientConfig } from '../local/clients';
import { STACK_NAME } from '../lib/names';
import { UsageError, integerIn, positiveNumber } from '../simulator/args';
import { generateOrders } from '../simulator/orders';
import { qualityReport, replayOrders, type Confusion, type LabelledOrder, type QualityReport } from './backtest';

export const FRAUD_HELP = `Usage: npm run fraud -- <command> [options]

Commands
  backtest [--config FILE] [--input FILE] [--json]
      Replays labelled orders through the scorer's own pure core and prints precision, recall,
      false-positive rate and the confusion matrix per score threshold, and at the configuration's
      decisions (REVIEW or BLOCK flagged; BLOCK alone), overall and per fraud pattern.
      --config FILE     scoring configuration (JSON, contracts/fraud.ts ScoringConfig)
                                                           (default: the built-in ${DEFAULT_SCORING_CONFIG.modelVersion})
      --input FILE      JSON Lines of {"order": {...}, "label": "legit" | "account-takeover" |
                        "card-testing" | "shared-ip"} (npm run simulate -- orders --labels FILE
                        writes them)                       (default: simulated orders, see below)
      --orders N        simulated orders                   (default 50000)
      --users N         simulated users                    (default 5000)
      --rate N          simulated orders per second        (default 1)
      --seed N          simulation seed                    (default 1)
      --json            the report as JSON

  config show                       the active and shadow versions of the running local cloud
  config put FILE                   store FILE as a new version (versions are immutable)
  config activate VERSION [--shadow VERSION ...]
                                    make VERSION decide and run the shadows beside it; takes
                                    effect within the scorer's configuration max age (10 s)
      --table NAME      configuration table            (default: FraudConfigTableName of the running local cloud)
      --endpoint URL    DynamoDB endpoint              (default: the running local cloud's edge)

Exit codes: 0 ok, 1 failure, 2 usage error.`;

export interface FraudCliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

function readConfigFile(path: string): ScoringConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--config ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); pass a JSON file`);
  }
  try {
    return parseScoringConfig(text, path);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function readLabelled(path: string): LabelledOrder[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--input ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return text.split('\n').flatMap((line, index) => {
    if (line.trim() === '') return [];
    try {
      const entry = JSON.parse(line) as { order?: unknown; label?: LabelledOrder['label'] };
      return [{ order: entry.order ?? entry, label: entry.label }];
    } catch (error) {
      throw new UsageError(`--input ${path} line ${index + 1} is not JSON: ${(error as Error).message}`);
    }
  });
}

const percent = (value: number) => `${(value * 100).toFixed(2)}%`;
const confusionRow = (name: string, c: Confusion) =>
  `| ${name} | ${percent(c.precision)} | ${percent(c.recall)} | ${percent(c.falsePositiveRate)} | ${c.truePositives} | ${c.falsePositives} | ${c.falseNegatives} | ${c.trueNegatives} |`;

export function formatReport(report: QualityReport): string {
  const header = ['| flagged when | precision | recall | FPR | TP | FP | FN | TN |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |'];
  const lines = [
    `model ${report.modelVersion}: ${report.orders.legit} legitimate and ${report.orders.fraud} fraudulent orders ` +
      `(${Object.entries(report.orders.byPattern).map(([pattern, count]) => `${pattern} ${count}`).join(', ')}); ` +
      `${report.orders.duplicates} re-sends skipped, ${report.orders.invalid} invalid`,
    '',
    '### At the configuration\'s decisions',
    ...header,
    confusionRow('REVIEW or BLOCK', report.flagged),
    confusionRow('BLOCK', report.blocked),
    ...Object.entries(report.byPattern).flatMap(([pattern, { flagged, blocked }]) => [
      confusionRow(`${pattern}: REVIEW or BLOCK`, flagged),
      confusionRow(`${pattern}: BLOCK`, blocked),
    ]),
    '',
    `Legitimate orders wrongly blocked: ${percent(report.blocked.falsePositiveRate)} (Stripe publishes 0.1% for Radar).`,
    '',
    '### By score threshold (flagged = score >= threshold)',
    ...header,
    ...report.byThreshold.map(({ threshold, confusion }) => confusionRow(`score >= ${threshold.toFixed(1)}`, confusion)),
  ];
  return lines.join('\n');
}

async function backtest(argv: readonly string[], io: FraudCliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      input: { type: 'string' },
      orders: { type: 'string' },
      users: { type: 'string' },
      rate: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`Unexpected arguments: ${positionals.join(' ')}`);
  const config = values.config === undefined ? DEFAULT_SCORING_CONFIG : readConfigFile(values.config);
  const orders =
    values.input !== undefined
      ? readLabelled(values.input)
      : [
          ...generateOrders({
            count: values.orders === undefined ? 50_000 : integerIn('orders', values.orders, 1, 10_000_000),
            users: values.users === undefined ? 5_000 : integerIn('users', values.users, 1, 10_000_000),
            rate: values.rate === undefined ? 1 : positiveNumber('rate', values.rate),
            seed: values.seed === undefined ? 1 : integerIn('seed', values.seed, 0, 0xffff_ffff),
            malformed: 0,
            startTime: Date.parse('2026-01-01T00:00:00Z'),
          }),
        ].flatMap((record) => (record.truth.kind === 'malformed' ? [] : [{ order: JSON.parse(Buffer.from(record.data).toString('utf8')) as unknown, label: record.truth.label }]));
  io.stderr.write(`replaying ${orders.length} orders through ${config.modelVersion}...\n`);
  const report = qualityReport(replayOrders(orders, { active: config, shadows: [] }), config);
  io.stdout.write(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  return 0;
}

async function configCommand(argv: readonly string[], io: FraudCliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: true,
    options: { table: { type: 'string' }, endpoint: { type: 'string' }, shadow: { type: 'string', multiple: true } },
  });
  const [action, argument, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}`);
  const state = values.endpoint === undefined || values.table === undefined ? readLocalCloudState() : undefined;
  const endpoint = values.endpoint ?? state?.edgeUrl;
  let table = values.table;
  if (table === undefined && state !== undefined) {
    const outputs = JSON.parse(readFileSync(state.outputsFile, 'utf8')) as Record<string, Record<string, string>>;
    table = outputs[STACK_NAME]?.FraudConfigTableName;
  }
  if (endpoint === undefined || table === undefined) throw new UsageError('No running local cloud found: start one with `npm start`, or pass --endpoint and --table');
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(endpoint)));
  try {
    switch (action) {
      case 'show': {
        const pointer = await readConfigPointer(ddb, table);
        io.stdout.write(`${JSON.stringify(pointer ?? { active: DEFAULT_SCORING_CONFIG.modelVersion, shadows: [], note: 'built-in default' }, null, 2)}\n`);
        return 0;
      }
      case 'put': {
        if (argument === undefined) throw new UsageError('config put needs a FILE');
        const config = readConfigFile(argument);
        io.stdout.write(`${config.modelVersion}: ${await putConfigVersion(ddb, table, config)}\n`);
        return 0;
      }
      case 'activate': {
        if (argument === undefined) throw new UsageError('config activate needs a VERSION');
        io.stdout.write(`${JSON.stringify(await activateConfig(ddb, table, { active: argument, shadows: values.shadow ?? [] }), null, 2)}\n`);
        return 0;
      }
      default:
        throw new UsageError(`Unknown config action ${JSON.stringify(action)}: show, put or activate`);
    }
  } finally {
    ddb.destroy();
  }
}

export async function main(argv: readonly string[], io: FraudCliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || command === '--help' || command === '-h') {
      (command === undefined ? io.stderr : io.stdout).write(`${FRAUD_HELP}\n`);
      return command === undefined ? 2 : 0;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(`${FRAUD_HELP}\n`);
      return 0;
    }
    if (command === 'backtest') return await backtest(rest, io);
    if (command === 'config') return await configCommand(rest, io);
    throw new UsageError(`Unknown command ${JSON.stringify(command)}: backtest or config`);
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    io.stderr.write(`error: ${(error as Error).message}\n${usage ? 'Run `npm run fraud -- --help` for the options.\n' : ''}`);
    return usage ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
