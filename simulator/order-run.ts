import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { UsageError, fraction, integerIn, nonEmpty, positiveNumber } from './args';
import { ORDER_DEFAULTS, generateOrders, type GeneratedOrder, type OrderGeneratorOptions } from './orders';
import { DEFAULT_OUTPUTS_FILE, LOCAL_ENDPOINT, TARGET_KINDS, createKinesisClient, putAll, resolveStreamName, type ProducerStats, type StreamOutput, type TargetKind } from './producer';
import { MAX_SEED } from './random';
import { randomSeed } from './run';

/** The orders stream's output: `OrdersStreamName`, or any key with `OrdersStream` and then `Name`. */
export const ORDERS_STREAM_OUTPUT: StreamOutput = { key: 'OrdersStreamName', pattern: /OrdersStream.*Name/, label: 'orders' };

export const ORDERS_HELP = `Usage: npm run simulate -- orders [options]

Generates e-commerce orders from users with their own habits (home currency and IP, typical
basket and spend), about 2% fraud in three patterns (account takeover, card testing, one IP
across many users), producer re-sends and invalid orders, and puts them on the orders stream
(partition key: userId). The ground-truth label of each order is kept outside its payload.

Traffic
  --rate N            orders per second                                    (default ${ORDER_DEFAULTS.rate})
  --duration S        seconds of traffic: count = rate x duration          (default 60)
  --count N           exact number of records instead of --duration
  --users N           distinct legitimate users                            (default ${ORDER_DEFAULTS.users})
  --fraud F           share of fraudulent orders, 0..0.5                   (default ${ORDER_DEFAULTS.fraud})
  --duplicates F      share of producer re-sends, 0..0.5                   (default ${ORDER_DEFAULTS.duplicates})
  --malformed F       share of invalid orders (each kind the scorer
                      dead-letters), 0..0.5                                (default ${ORDER_DEFAULTS.malformed})
  --seed N            PRNG seed, 0..${MAX_SEED}                             (default: random, printed)
  --labels FILE       also write each order with its label as JSON Lines
                      ({"order": ..., "label": ...}), for the backtest      (default: none)

Target
  --target T          local | localstack | aws                             (default local)
  --endpoint URL      Kinesis endpoint                                     (default ${LOCAL_ENDPOINT} for local)
  --stream NAME       stream name                                          (default: OrdersStreamName from the outputs file)
  --outputs-file P    outputs of \`cdk deploy --outputs-file P\`             (default ${DEFAULT_OUTPUTS_FILE} for local)
  --region R          region                                               (default us-east-1 for local)
  -h, --help          show this help

Exit codes: 0 done, 1 runtime error, 2 invalid arguments, 130 interrupted.`;

export interface OrderSimulatorOptions extends Omit<OrderGeneratorOptions, 'count'> {
  readonly target?: TargetKind;
  readonly endpoint?: string;
  readonly region?: string;
  readonly stream?: string;
  readonly outputsFile?: string;
  readonly count?: number;
  readonly durationSeconds?: number;
  /** Kinesis client to use (the caller keeps ownership). */
  readonly client?: KinesisClient;
  readonly onProgress?: (stats: ProducerStats) => void;
  /** For every acknowledged record, e.g. to write the labels. */
  readonly onSent?: (record: GeneratedOrder) => void;
}

export interface OrderSimulatorResult {
  readonly streamName: string;
  readonly seed: number;
  readonly rate: number;
  readonly stats: ProducerStats;
  readonly aborted: boolean;
}

/** Runs the order simulator in-process until `count` orders are sent or `signal` aborts. Used by the CLI and `npm start`. */
export async function runOrderSimulator(options: OrderSimulatorOptions, signal?: AbortSignal): Promise<OrderSimulatorResult> {
  const { target = 'local', endpoint, region, stream, outputsFile, durationSeconds, client: injected, onProgress, onSent, ...generator } = options;
  const rate = generator.rate ?? ORDER_DEFAULTS.rate;
  const count = durationSeconds !== undefined ? Math.round(rate * durationSeconds) : options.count;
  const seed = generator.seed ?? randomSeed();
  const streamName = resolveStreamName({ target, stream, outputsFile, output: ORDERS_STREAM_OUTPUT });
  const client = injected ?? createKinesisClient({ kind: target, endpoint, region });
  try {
    const stats = await putAll(client, streamName, generateOrders({ ...generator, rate, count, seed, startTime: generator.startTime ?? Date.now() }), { rate, signal, onProgress, onSent });
    return { streamName, seed, rate, stats, aborted: count === undefined || stats.sent + stats.dropped < count };
  } finally {
    if (injected === undefined) client.destroy();
  }
}

export interface CliOrderOptions extends OrderSimulatorOptions {
  readonly labelsFile?: string;
}

/** Parses `npm run simulate -- orders ...` (argv after `orders`); throws UsageError. */
export function parseOrderArgs(argv: readonly string[]): CliOrderOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        help: { type: 'boolean', short: 'h' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        count: { type: 'string' },
        users: { type: 'string' },
        fraud: { type: 'string' },
        duplicates: { type: 'string' },
        malformed: { type: 'string' },
        seed: { type: 'string' },
        labels: { type: 'string' },
        target: { type: 'string' },
        endpoint: { type: 'string' },
        stream: { type: 'string' },
        'outputs-file': { type: 'string' },
        region: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help === true) return 'help';
  if (values.duration !== undefined && values.count !== undefined) throw new UsageError('--duration and --count are exclusive: pass one of them');
  const target = values.target ?? 'local';
  if (!(TARGET_KINDS as readonly string[]).includes(target)) throw new UsageError(`--target must be one of ${TARGET_KINDS.join(', ')}. Received ${JSON.stringify(target)}`);
  const share = (flag: 'fraud' | 'duplicates' | 'malformed') => {
    const raw = values[flag];
    if (raw === undefined) return ORDER_DEFAULTS[flag];
    const value = fraction(flag, raw);
    if (value > 0.5) throw new UsageError(`--${flag} must be at most 0.5. Received ${raw}`);
    return value;
  };
  return {
    target: target as TargetKind,
    rate: values.rate !== undefined ? positiveNumber('rate', values.rate) : ORDER_DEFAULTS.rate,
    ...(values.count !== undefined ? { count: integerIn('count', values.count, 1) } : { durationSeconds: values.duration !== undefined ? positiveNumber('duration', values.duration) : 60 }),
    users: values.users !== undefined ? integerIn('users', values.users, 1, 10_000_000) : ORDER_DEFAULTS.users,
    fraud: share('fraud'),
    duplicates: share('duplicates'),
    malformed: share('malformed'),
    ...(values.seed !== undefined ? { seed: integerIn('seed', values.seed, 0, MAX_SEED) } : {}),
    ...(values.labels !== undefined ? { labelsFile: nonEmpty('labels', values.labels) } : {}),
    ...(values.endpoint !== undefined ? { endpoint: nonEmpty('endpoint', values.endpoint) } : {}),
    ...(values.stream !== undefined ? { stream: nonEmpty('stream', values.stream) } : {}),
    ...(values['outputs-file'] !== undefined ? { outputsFile: nonEmpty('outputs-file', values['outputs-file']) } : {}),
    ...(values.region !== undefined ? { region: nonEmpty('region', values.region) } : {}),
  };
}

/** `npm run simulate -- orders ...`: resolves to the exit code. */
export async function ordersMain(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
  let options: CliOrderOptions | 'help';
  try {
    options = parseOrderArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`error: ${error.message}\nRun \`npm run simulate -- orders --help\` for the options.\n`);
    return 2;
  }
  if (options === 'help') {
    io.stdout.write(`${ORDERS_HELP}\n`);
    return 0;
  }
  const { labelsFile, ...simulator } = options;
  const labels = labelsFile === undefined ? undefined : createWriteStream(labelsFile);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  let lastShown = 0;
  try {
    const result = await runOrderSimulator(
      {
        ...simulator,
        onProgress: (stats) => {
          if (performance.now() - lastShown < 5_000) return;
          lastShown = performance.now();
          io.stderr.write(`sent ${stats.sent} orders (${((stats.sent * 1000) / Math.max(1, stats.elapsedMs)).toFixed(1)}/s)\n`);
        },
        onSent: labels === undefined ? undefined : (record) => {
          if (record.truth.kind === 'valid') labels.write(`${JSON.stringify({ order: record.truth.order, label: record.truth.label })}\n`);
        },
      },
      controller.signal,
    );
    const { stats } = result;
    io.stdout.write(
      `${result.aborted ? 'Interrupted' : 'Done'}: sent ${stats.sent} records to ${result.streamName} in ${(stats.elapsedMs / 1000).toFixed(1)} s ` +
        `(${((stats.sent * 1000) / Math.max(1, stats.elapsedMs)).toFixed(1)}/s, target ${result.rate}/s)\n` +
        `  by kind: valid ${stats.sentByKind.valid}, resend ${stats.sentByKind.resend}, malformed ${stats.sentByKind.malformed}; dropped ${stats.dropped}\n` +
        `  seed ${result.seed} (--seed ${result.seed} reproduces this workload)${labelsFile === undefined ? '' : `; labels in ${labelsFile}`}\n`,
    );
    return result.aborted ? 130 : 0;
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
    await new Promise<void>((resolve) => (labels === undefined ? resolve() : labels.end(resolve)));
  }
}
