import { parseArgs } from 'node:util';
import { CLICK_DEFAULTS, resolveClickOptions } from './clicks';
import { DEFAULT_OUTPUTS_FILE, LOCAL_ENDPOINT, LOCAL_REGION, TARGET_KINDS, type TargetKind } from './producer';
import { MAX_SEED } from './random';

/** Command-line parsing for `npm run simulate`: pure, so it is unit tested without a subprocess. */

export class UsageError extends Error {
  override name = 'UsageError';
}

export const DEFAULT_DURATION_SECONDS = 60;

/**
 * The flags that say which deployment a tool talks to, shared by \`npm run simulate\` and
 * \`npm run ops\`: the local cloud, LocalStack or AWS.
 */
export const TARGET_HELP = `  --target T          local | localstack | aws                             (default local)
  --endpoint URL      endpoint of every service                            (default: for local, the running local
                                                                            cloud's edge, found in .watershed/local-cloud.json
                                                                            (npm start -- --port N is followed);
                                                                            ${LOCAL_ENDPOINT} for localstack; AWS's for aws)
  --outputs-file P    outputs of \`cdk deploy --outputs-file P\`, where
                      stream and queue names are read                      (default: for local, the running local
                                                                            cloud's, ${DEFAULT_OUTPUTS_FILE})
  --region R          region                                               (default ${LOCAL_REGION} for local and
                                                                            localstack; the default chain for aws)`;

export const TARGET_OPTIONS = {
  target: { type: 'string' },
  endpoint: { type: 'string' },
  'outputs-file': { type: 'string' },
  region: { type: 'string' },
} as const;

export interface TargetFlags {
  readonly target: TargetKind;
  readonly endpoint?: string;
  readonly outputsFile?: string;
  readonly region?: string;
}

/** Validates the target flags (see TARGET_HELP); throws UsageError naming the bad value. */
export function parseTargetFlags(values: { target?: string; endpoint?: string; 'outputs-file'?: string; region?: string }): TargetFlags {
  const target = values.target ?? 'local';
  if (!(TARGET_KINDS as readonly string[]).includes(target)) {
    throw new UsageError(`--target must be one of ${TARGET_KINDS.join(', ')}. Received ${JSON.stringify(target)}`);
  }
  let endpoint: string | undefined;
  if (values.endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(values.endpoint);
    } catch {
      throw new UsageError(`--endpoint must be a URL such as ${LOCAL_ENDPOINT}. Received ${JSON.stringify(values.endpoint)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--endpoint must be an http or https URL. Received ${JSON.stringify(values.endpoint)}`);
    }
    endpoint = values.endpoint;
  }
  return {
    target: target as TargetKind,
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(values['outputs-file'] !== undefined ? { outputsFile: nonEmpty('outputs-file', values['outputs-file']) } : {}),
    ...(values.region !== undefined ? { region: nonEmpty('region', values.region) } : {}),
  };
}

export const HELP_TEXT = `Usage: npm run simulate -- clicks [options]

Generates a realistic click stream (Zipf URL popularity, user sessions, mild disorder) and puts it
on the Watershed clicks stream with PutRecords, paced to --rate. Each record is either a valid
event or an injected fault whose kind is known, so results can be checked against ground truth.

Traffic
  --rate N            records per second                                   (default ${CLICK_DEFAULTS.rate})
  --duration S        seconds of traffic: count = rate x duration          (default ${DEFAULT_DURATION_SECONDS})
  --count N           exact number of records instead of --duration
  --urls N            distinct URL paths                                   (default ${CLICK_DEFAULTS.urls})
  --users N           distinct users; each clicks in sessions              (default ${CLICK_DEFAULTS.users})
  --zipf S            Zipf exponent of URL popularity                      (default ${CLICK_DEFAULTS.zipf})
  --disorder-ms MS    some events are timestamped up to MS before now      (default ${CLICK_DEFAULTS.disorderMs})
  --seed N            PRNG seed, 0..${MAX_SEED}                             (default: random, printed)

Injected faults (fractions of all records, 0..1, sum at most 1)
  --duplicates F      producer re-sends: the same bytes, eventId and
                      partition key, a few seconds later                   (default ${CLICK_DEFAULTS.duplicates})
  --late F            events timestamped --late-by-ms before now           (default ${CLICK_DEFAULTS.late})
  --late-by-ms MS     how late a late event is                             (default ${CLICK_DEFAULTS.lateByMs})
  --malformed F       not JSON, missing field, wrong type, oversized > 4 KiB,
                      timestamp 1 hour ahead                               (default ${CLICK_DEFAULTS.malformed})

Target
${TARGET_HELP}
  --stream NAME       stream name                                          (default: from the outputs file)
  -h, --help          show this help

Progress is one status line on a terminal, periodic lines otherwise. Ctrl-C stops after the
batch in flight and prints the summary (exit code 130); a second Ctrl-C quits at once.
Exit codes: 0 done, 1 runtime error, 2 invalid arguments, 130 interrupted.`;

export interface CliClickOptions {
  readonly rate: number;
  readonly durationSeconds?: number;
  readonly count?: number;
  readonly target: TargetKind;
  readonly endpoint?: string;
  readonly stream?: string;
  readonly outputsFile?: string;
  readonly region?: string;
  readonly duplicates: number;
  readonly late: number;
  readonly lateByMs: number;
  readonly malformed: number;
  readonly disorderMs: number;
  readonly urls: number;
  readonly users: number;
  readonly zipf: number;
  readonly seed?: number;
}

export type ParsedCommand = { readonly command: 'help' } | { readonly command: 'clicks'; readonly options: CliClickOptions };

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  count: { type: 'string' },
  ...TARGET_OPTIONS,
  stream: { type: 'string' },
  duplicates: { type: 'string' },
  late: { type: 'string' },
  'late-by-ms': { type: 'string' },
  malformed: { type: 'string' },
  'disorder-ms': { type: 'string' },
  urls: { type: 'string' },
  users: { type: 'string' },
  zipf: { type: 'string' },
  seed: { type: 'string' },
} as const;

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(flag: string, raw: string): number {
  if (!DECIMAL.test(raw.trim())) throw new UsageError(`--${flag} must be a number. Received ${JSON.stringify(raw)}`);
  return Number(raw);
}

function positiveNumber(flag: string, raw: string): number {
  const value = toNumber(flag, raw);
  if (!(value > 0) || !Number.isFinite(value)) throw new UsageError(`--${flag} must be greater than 0. Received ${raw}`);
  return value;
}

function integerIn(flag: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = toNumber(flag, raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${flag} must be an integer between ${min} and ${max}. Received ${raw}`);
  }
  return value;
}

function fraction(flag: string, raw: string): number {
  const value = toNumber(flag, raw);
  if (value < 0 || value > 1) throw new UsageError(`--${flag} must be a fraction between 0 and 1. Received ${raw}`);
  return value;
}

function nonEmpty(flag: string, raw: string): string {
  if (raw.trim().length === 0) throw new UsageError(`--${flag} must not be empty`);
  return raw;
}

/** Parses `argv` (without node and the script); throws UsageError with a message for the user. */
export function parseSimulatorArgs(argv: readonly string[]): ParsedCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { command: 'help' };

  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('Missing command: the only command is `clicks`');
  if (command !== 'clicks') throw new UsageError(`Unknown command ${JSON.stringify(command)}: the only command is \`clicks\``);
  if (extra.length > 0) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}`);

  if (values.duration !== undefined && values.count !== undefined) {
    throw new UsageError('--duration and --count are exclusive: pass one of them');
  }
  const targetFlags = parseTargetFlags(values);

  const options: CliClickOptions = {
    rate: values.rate !== undefined ? positiveNumber('rate', values.rate) : CLICK_DEFAULTS.rate,
    ...(values.count !== undefined
      ? { count: integerIn('count', values.count, 1) }
      : { durationSeconds: values.duration !== undefined ? positiveNumber('duration', values.duration) : DEFAULT_DURATION_SECONDS }),
    ...targetFlags,
    ...(values.stream !== undefined ? { stream: nonEmpty('stream', values.stream) } : {}),
    duplicates: values.duplicates !== undefined ? fraction('duplicates', values.duplicates) : CLICK_DEFAULTS.duplicates,
    late: values.late !== undefined ? fraction('late', values.late) : CLICK_DEFAULTS.late,
    lateByMs: values['late-by-ms'] !== undefined ? integerIn('late-by-ms', values['late-by-ms'], 1) : CLICK_DEFAULTS.lateByMs,
    malformed: values.malformed !== undefined ? fraction('malformed', values.malformed) : CLICK_DEFAULTS.malformed,
    disorderMs: values['disorder-ms'] !== undefined ? integerIn('disorder-ms', values['disorder-ms'], 0) : CLICK_DEFAULTS.disorderMs,
    urls: values.urls !== undefined ? integerIn('urls', values.urls, 1, 10_000_000) : CLICK_DEFAULTS.urls,
    users: values.users !== undefined ? integerIn('users', values.users, 1, 10_000_000) : CLICK_DEFAULTS.users,
    zipf: values.zipf !== undefined ? toNumber('zipf', values.zipf) : CLICK_DEFAULTS.zipf,
    ...(values.seed !== undefined ? { seed: integerIn('seed', values.seed, 0, MAX_SEED) } : {}),
  };
  if (options.zipf < 0) throw new UsageError(`--zipf must be >= 0. Received ${values.zipf}`);
  const injected = options.duplicates + options.late + options.malformed;
  if (injected > 1) {
    throw new UsageError(`--duplicates + --late + --malformed must not exceed 1. Received ${injected}`);
  }
  try {
    // Cross-field rules (for example --late-by-ms against the allowed lateness) live with the generator.
    resolveClickOptions({ ...options, count: undefined, startTime: 0, seed: options.seed ?? 0 });
  } catch (error) {
    throw new UsageError((error as Error).message.replace('lateByMs', '--late-by-ms'));
  }
  return { command: 'clicks', options };
}
