import { parseArgs } from 'node:util';
import { parseTargetFlags, TARGET_HELP, TARGET_OPTIONS, UsageError, type TargetFlags } from '../simulator/args';
import { dlq, formatDlq, formatReplay, formatStatus, replay, status, tail, type OpsIo } from './commands';
import { OpsError, resolveTarget, type ResolveTargetOptions } from './target';

export const OPS_HELP = `Usage: npm run ops -- <command> [options]

Inspects and operates a Watershed deployment: the local cloud (found by itself while \`npm start\`
runs), LocalStack or AWS.

Commands
  status                 streams and shards (open or closed, parents), iterator age and queued
                         records per shard and mapping (local cloud), queue depths, functions
  tail STREAM            decoded records as they arrive, with shard, sequence number and arrival
    --from F             latest | trim-horizon | an ISO-8601 time               (default latest)
    --shard ID           one shard only                                         (default: all)
    --limit N            stop after N records                                   (default: until Ctrl-C)
  dlq [QUEUE]            dead-letter, late-event and failed-batch messages grouped by reason, the
                         original record decoded; messages are left in place. QUEUE is an output
                         key (DeadLetterQueueUrl), a queue name or a URL    (default: every ...QueueUrl output)
    --reason R           only messages with this reason (e.g. invalid-json, late-event,
                         RetryAttemptsExhausted)                                (default: all)
  replay                 re-drives the records named by the failed-batch messages through the
                         function that gave up on them; deletes a message only once its records
                         were processed. Safe to repeat: processing is exactly once.
    --queue Q            failed-batch queue (output key, name or URL)           (default FailedBatchQueueUrl)
    --dry-run            say what would be replayed; change nothing             (default off)

Options for every command
  --json                 JSON instead of tables (tail: one JSON object a line)  (default off)
${TARGET_HELP}
  -h, --help             show this help

Data goes to stdout, diagnostics to stderr. Exit codes: 0 done, 1 failed (nothing running, no
credentials, an unknown stream or queue, a batch that failed again), 2 invalid arguments.`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  from: { type: 'string' },
  shard: { type: 'string' },
  limit: { type: 'string' },
  reason: { type: 'string' },
  queue: { type: 'string' },
  'dry-run': { type: 'boolean' },
  ...TARGET_OPTIONS,
} as const;

export type OpsCommand =
  | { command: 'help' }
  | { command: 'status'; json: boolean; target: TargetFlags }
  | { command: 'tail'; json: boolean; target: TargetFlags; stream: string; from: 'latest' | 'trim-horizon' | Date; shard?: string; limit?: number }
  | { command: 'dlq'; json: boolean; target: TargetFlags; queue?: string; reason?: string }
  | { command: 'replay'; json: boolean; target: TargetFlags; queue?: string; dryRun: boolean };

const COMMAND_FLAGS: Record<string, readonly string[]> = {
  status: [],
  tail: ['from', 'shard', 'limit'],
  dlq: ['reason'],
  replay: ['queue', 'dry-run'],
};

/** Parses `argv` (after `npm run ops --`); throws UsageError naming the bad value. Pure. */
export function parseOpsArgs(argv: readonly string[]): OpsCommand {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) return { command: 'help' };
  const [command, ...rest] = positionals;
  if (command === undefined) throw new UsageError('Missing command: status, tail, dlq or replay');
  const allowed = COMMAND_FLAGS[command];
  if (allowed === undefined) throw new UsageError(`Unknown command ${JSON.stringify(command)}: the commands are status, tail, dlq and replay`);
  for (const flag of Object.keys(COMMAND_FLAGS).flatMap((name) => COMMAND_FLAGS[name]!)) {
    if ((values as Record<string, unknown>)[flag] !== undefined && !allowed.includes(flag)) throw new UsageError(`--${flag} does not apply to ${command}`);
  }
  const target = parseTargetFlags(values);
  const json = values.json === true;
  switch (command) {
    case 'status':
      if (rest.length > 0) throw new UsageError(`status takes no arguments. Received ${rest.join(' ')}`);
      return { command, json, target };
    case 'tail': {
      const [stream, ...extra] = rest;
      if (stream === undefined) throw new UsageError('tail needs a STREAM: npm run ops -- tail <stream name> (npm run ops -- status lists them)');
      if (extra.length > 0) throw new UsageError(`Unexpected arguments: ${extra.join(' ')}`);
      let limit: number | undefined;
      if (values.limit !== undefined) {
        limit = Number(values.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number of at least 1. Received ${values.limit}`);
      }
      return { command, json, target, stream, from: parseFrom(values.from), ...(values.shard !== undefined ? { shard: values.shard } : {}), ...(limit !== undefined ? { limit } : {}) };
    }
    case 'dlq': {
      if (rest.length > 1) throw new UsageError(`dlq takes at most one QUEUE. Received ${rest.join(' ')}`);
      return { command, json, target, ...(rest[0] !== undefined ? { queue: rest[0] } : {}), ...(values.reason !== undefined ? { reason: values.reason } : {}) };
    }
    default:
      if (rest.length > 0) throw new UsageError(`replay takes no arguments (the queue is --queue Q). Received ${rest.join(' ')}`);
      return { command: 'replay', json, target, ...(values.queue !== undefined ? { queue: values.queue } : {}), dryRun: values['dry-run'] === true };
  }
}

function parseFrom(raw: string | undefined): 'latest' | 'trim-horizon' | Date {
  if (raw === undefined || raw === 'latest') return 'latest';
  if (raw === 'trim-horizon') return 'trim-horizon';
  const time = /^\d{4}-\d{2}-\d{2}T/.test(raw) ? new Date(raw) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) throw new UsageError(`--from must be latest, trim-horizon or an ISO-8601 time such as 2026-11-30T18:00:00Z. Received ${JSON.stringify(raw)}`);
  return time;
}

/** Runs one ops command; resolves to the exit code. `main` below wires it to the process. */
export async function runOps(argv: readonly string[], io: OpsIo, options: ResolveTargetOptions = {}): Promise<number> {
  let command: OpsCommand;
  try {
    command = parseOpsArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`${error.message}\n\nRun npm run ops -- --help for every command and flag.\n`);
    return 2;
  }
  if (command.command === 'help') {
    io.out(`${OPS_HELP}\n`);
    return 0;
  }
  let target;
  try {
    target = resolveTarget(command.target, options);
  } catch (error) {
    if (!(error instanceof OpsError)) throw error;
    io.err(`${error.message}\n`);
    return 1;
  }
  try {
    switch (command.command) {
      case 'status': {
        const report = await status(target);
        io.out(command.json ? `${JSON.stringify(report, null, 2)}\n` : formatStatus(report));
        return 0;
      }
      case 'tail':
        await tail(target, { stream: command.stream, from: command.from, json: command.json, ...(command.shard !== undefined ? { shard: command.shard } : {}), ...(command.limit !== undefined ? { limit: command.limit } : {}) }, io);
        return 0;
      case 'dlq': {
        const groups = await dlq(target, { ...(command.queue !== undefined ? { queue: command.queue } : {}), ...(command.reason !== undefined ? { reason: command.reason } : {}) });
        io.out(command.json ? `${JSON.stringify({ groups }, null, 2)}\n` : formatDlq(groups));
        return 0;
      }
      case 'replay': {
        const results = await replay(target, { dryRun: command.dryRun, ...(command.queue !== undefined ? { queue: command.queue } : {}) }, io);
        io.out(command.json ? `${JSON.stringify({ results }, null, 2)}\n` : formatReplay(results));
        const failed = results.filter((result) => result.outcome === 'failed').length;
        if (failed > 0) io.err(`${failed} batch${failed === 1 ? '' : 'es'} failed again and stay in the queue\n`);
        return failed > 0 ? 1 : 0;
      }
    }
  } catch (error) {
    io.err(`${error instanceof OpsError ? '' : 'ops failed: '}${(error as Error).message}\n`);
    return 1;
  } finally {
    target.destroy();
  }
}

if (require.main === module) {
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const io: OpsIo = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), signal: stop.signal };
  runOps(process.argv.slice(2), io).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`ops failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
