import { parseArgs } from 'node:util';
import { KINESIS_ENGINES, type KinesisEngine } from './emulators/types';
import { startLocalCloud } from './cloud';
import { StatusLine } from './status-line';
import { runClickSimulator } from '../simulator/run';
import { silenceSdkNodeWarningForTools } from '../contracts/sdk-node-warning';
import { runOrderSimulator } from '../simulator/order-run';
import { fixVenueOverride, MarketDataStatus, parseHostPort, startDemoVenues, type DemoVenues, type ExternalFixVenue } from './market-data';

export const START_HELP = `Usage: npm start [-- options]

Runs all of Watershed locally, with no Docker and no AWS account: synthesizes the CDK app, starts
Kinesis, DynamoDB (with Streams), S3 and SQS behind one LocalStack-compatible edge, provisions what
the template declares, runs its Lambda functions with their event source mappings, serves its
WebSocket API and the live dashboard, and starts the click and order simulators. Stack outputs go to
.watershed/outputs.json (the format of cdk deploy --outputs-file).

Options
  --port N              edge port                                        (default 4566)
  --dashboard-port N    port of the live dashboard, http://localhost:N   (default 3000)
  --persist [DIR]       keep emulator data in DIR across restarts        (default: in memory;
                                                                          DIR defaults to .watershed/data)
  --kinesis-engine E    kinesalite | kinesis-local                       (default kinesalite)
  --shards N            shards of the clicks stream, 1 to 64; the same   (default 1)
                        as cdk deploy -c clicksShards=N. Reshard while it
                        runs with aws kinesis update-shard-count
  --no-simulate         start everything except the traffic simulators
  --rate N              simulated clicks per second                      (default 200)
  --duplicates F        share of producer re-sends the simulator injects (default 0.01)
  --late F              share of late events                             (default 0.005)
  --malformed F         share of malformed records                       (default 0.005)
  --order-rate N        simulated orders per second (fraud scoring)      (default 20)
  --fix HOST:PORT       connect the market-data gateway to this FIX 4.4 acceptor
                        instead of the FIX venue simulator               (default: the simulator)
  --fix-sender ID       SenderCompID for --fix                           (default: the template's)
  --fix-target ID       TargetCompID for --fix                           (default: the template's)
  -h, --help            show this help

Requires Node.js >= 20 and Java >= 17 (for DynamoDB Local). Ctrl-C stops everything.`;

export interface StartOptions {
  port: number;
  dashboardPort: number;
  persistDirectory?: string;
  kinesisEngine: KinesisEngine;
  shards: number;
  simulate: boolean;
  rate: number;
  duplicates: number;
  late: number;
  malformed: number;
  orderRate: number;
  /** An external FIX acceptor for the gateway, instead of the venue simulator. */
  fix?: ExternalFixVenue;
}

/** Each shard runs in its own execution environment (a worker thread): this bounds memory at start. */
const MAX_START_SHARDS = 64;

export class StartUsageError extends Error {
  override name = 'StartUsageError';
}

function numberOption(name: string, raw: string | undefined, fallback: number, { min = 0, max = Number.POSITIVE_INFINITY, integer = false } = {}): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new StartUsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}. Received ${raw}`);
  }
  return value;
}

export function parseStartArgs(argv: readonly string[]): StartOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowNegative: true,
      options: {
        port: { type: 'string' },
        'dashboard-port': { type: 'string' },
        persist: { type: 'boolean' },
        'kinesis-engine': { type: 'string' },
        shards: { type: 'string' },
        simulate: { type: 'boolean', default: true },
        rate: { type: 'string' },
        duplicates: { type: 'string' },
        late: { type: 'string' },
        malformed: { type: 'string' },
        'order-rate': { type: 'string' },
        fix: { type: 'string' },
        'fix-sender': { type: 'string' },
        'fix-target': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  } catch (error) {
    throw new StartUsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  // `--persist DIR`: parseArgs has no optional-value flags, so the directory arrives as a positional.
  if (positionals.length > (values.persist ? 1 : 0)) throw new StartUsageError(`Unexpected argument: ${positionals.at(-1)}`);
  const engine = values['kinesis-engine'] ?? 'kinesalite';
  if (!KINESIS_ENGINES.includes(engine as KinesisEngine)) {
    throw new StartUsageError(`--kinesis-engine must be one of ${KINESIS_ENGINES.join(', ')}. Received ${engine}`);
  }
  let fix: ExternalFixVenue | undefined;
  if (values.fix !== undefined) {
    try {
      fix = { ...parseHostPort(values.fix, '--fix'), senderCompId: values['fix-sender'], targetCompId: values['fix-target'] };
    } catch (error) {
      throw new StartUsageError((error as Error).message);
    }
  } else if (values['fix-sender'] !== undefined || values['fix-target'] !== undefined) {
    throw new StartUsageError('--fix-sender and --fix-target go with --fix HOST:PORT (the external acceptor)');
  }
  return {
    ...(fix === undefined ? {} : { fix }),
    port: numberOption('port', values.port, 4566, { min: 0, max: 65_535, integer: true }),
    dashboardPort: numberOption('dashboard-port', values['dashboard-port'], 3000, { min: 0, max: 65_535, integer: true }),
    persistDirectory: values.persist ? (positionals[0] ?? '.watershed/data') : undefined,
    kinesisEngine: engine as KinesisEngine,
    shards: numberOption('shards', values.shards, 1, { min: 1, max: MAX_START_SHARDS, integer: true }),
    simulate: values.simulate,
    rate: numberOption('rate', values.rate, 200, { min: 1, max: 20_000 }),
    duplicates: numberOption('duplicates', values.duplicates, 0.01, { max: 1 }),
    late: numberOption('late', values.late, 0.005, { max: 1 }),
    malformed: numberOption('malformed', values.malformed, 0.005, { max: 1 }),
    orderRate: numberOption('order-rate', values['order-rate'], 20, { min: 1, max: 5_000 }),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  silenceSdkNodeWarningForTools();
  let options: StartOptions | 'help';
  try {
    options = parseStartArgs(argv);
  } catch (error) {
    if (error instanceof StartUsageError) {
      process.stderr.write(`${error.message}\n\n${START_HELP}\n`);
      return 2;
    }
    throw error;
  }
  if (options === 'help') {
    process.stdout.write(`${START_HELP}\n`);
    return 0;
  }

  const started = Date.now();
  const interactive = process.stdout.isTTY === true;
  // On a terminal the status line is redrawn in place: a log line (an emulator died) replaces it first.
  const log = (line: string) => process.stdout.write(`${interactive ? '\r\x1b[2K' : ''}${line}\n`);
  log('Watershed local cloud: starting (synthesizing the CDK app and starting the emulators)');
  // The venue simulators first, on the ports the template's gateway configuration names, so the
  // gateway finds them as soon as the local cloud starts it.
  const venues: DemoVenues | undefined = options.simulate ? await startDemoVenues({ fix: options.fix === undefined }) : undefined;
  if (venues !== undefined) log(`market-data venues: REST quotes ${venues.rest.url}${venues.fix === undefined ? '' : `, FIX 4.4 acceptor 127.0.0.1:${venues.fix.port}`}`);
  if (options.fix !== undefined) log(`market-data gateway: FIX session to the external acceptor ${options.fix.host}:${options.fix.port}`);
  const cloud = await startLocalCloud({
    serviceEnvironment: options.fix === undefined ? undefined : fixVenueOverride(options.fix),
    edgePort: options.port,
    kinesisEngine: options.kinesisEngine,
    persistDirectory: options.persistDirectory,
    dashboardPort: options.dashboardPort,
    clicksShards: options.shards,
    log: (line) => log(`  ${line}`),
  });
  log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  log(`  edge         ${cloud.edgeUrl}   (AWS_ENDPOINT_URL=${cloud.edgeUrl} or aws --endpoint-url ${cloud.edgeUrl}, any credentials, region us-east-1)`);
  log(`  outputs      .watershed/outputs.json`);
  log(`  function logs .watershed/logs/`);
  if (cloud.dashboardUrl !== '') {
    // Bound to 127.0.0.1; browsers reach it as localhost.
    log(`  dashboard    ${cloud.dashboardUrl.replace('127.0.0.1', 'localhost')}   (--dashboard-port N changes the port)`);
    log(`  websocket    ${cloud.webSocketUrl}?token=<JWT>   (a development token: POST ${cloud.devIssuer.tokenUrl})`);
  }
  for (const [key, value] of Object.entries(cloud.outputs)) log(`  ${key.padEnd(24)} ${value}`);

  const stopSimulator = new AbortController();
  let simulator: Promise<unknown> = Promise.resolve();
  if (options.simulate) {
    log(`click simulator: ${options.rate}/s (duplicates ${options.duplicates}, late ${options.late}, malformed ${options.malformed}); --no-simulate turns it off`);
    simulator = runClickSimulator(
      {
        target: 'local',
        endpoint: cloud.edgeUrl,
        stream: cloud.outputs.ClicksStreamName,
        rate: options.rate,
        duplicates: options.duplicates,
        late: options.late,
        malformed: options.malformed,
      },
      stopSimulator.signal,
    ).catch((error: Error) => log(`click simulator stopped: ${error.message}`));
    log(`order simulator: ${options.orderRate}/s, about 2% fraud (--order-rate N changes it)`);
    const orders = runOrderSimulator(
      { target: 'local', endpoint: cloud.edgeUrl, stream: cloud.outputs.OrdersStreamName, rate: options.orderRate },
      stopSimulator.signal,
    ).catch((error: Error) => log(`order simulator stopped: ${error.message}`));
    simulator = Promise.all([simulator, orders]);
  }

  const status = new StatusLine(cloud);
  await status.start();
  const marketData = new MarketDataStatus(cloud.metrics);
  const timer = setInterval(() => {
    const line = `${status.render()} | ${marketData.render()}`;
    if (interactive) process.stdout.write(`\r\x1b[2K${line}`);
    else log(line);
  }, interactive ? 1000 : 10_000);

  const stopRequestedAt = await new Promise<number>((resolve) => {
    process.once('SIGINT', () => resolve(Date.now()));
    process.once('SIGTERM', () => resolve(Date.now()));
  });
  clearInterval(timer);
  await status.stop();
  log(`${interactive ? '\n' : ''}stopping... (Ctrl-C again to quit at once)`);
  let lastInterruptAt = stopRequestedAt;
  process.on('SIGINT', () => {
    // npm and tsx relay the terminal's Ctrl-C, so one key press arrives as a burst of signals,
    // spread out on a busy machine: only a signal after a quiet gap is a second key press.
    const now = Date.now();
    const quietGapMs = now - lastInterruptAt;
    lastInterruptAt = now;
    if (quietGapMs > 1500) process.exit(130);
  });
  stopSimulator.abort();
  await simulator;
  await cloud.stop();
  await venues?.stop();
  log('stopped');
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`npm start failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
