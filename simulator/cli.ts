import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { HELP_TEXT, UsageError, parseSimulatorArgs } from './args';
import type { ProducerStats } from './producer';
import { ordersMain } from './order-run';
import { runClickSimulator, type ClickSimulatorResult } from './run';
import { silenceSdkNodeWarningForTools } from '../contracts/sdk-node-warning';

/**
 * `npm run simulate -- clicks [options]`. The logic lives in ./args (parsing), ./run (the
 * in-process simulator, also used by `npm start`), ./clicks (generation) and ./producer (Kinesis).
 */

export { HELP_TEXT, UsageError, parseSimulatorArgs, type CliClickOptions, type ParsedCommand } from './args';
export { runClickSimulator, type ClickSimulatorOptions, type ClickSimulatorResult } from './run';

const number = new Intl.NumberFormat('en-US');
const rateOf = (stats: ProducerStats): number => (stats.elapsedMs > 0 ? (stats.sent * 1000) / stats.elapsedMs : 0);

/** One status line: sent, achieved rate, injected counts, errors. */
export function formatProgress(stats: ProducerStats, targetRate: number): string {
  const { resend, late, malformed } = stats.sentByKind;
  const errors = stats.failedAttempts + stats.dropped > 0 ? ` | failed ${number.format(stats.failedAttempts)} retried ${number.format(stats.retried)} dropped ${number.format(stats.dropped)}` : '';
  return (
    `sent ${number.format(stats.sent)} | ${rateOf(stats).toFixed(1)}/s of ${number.format(targetRate)}/s` +
    ` | resend ${number.format(resend)} late ${number.format(late)} malformed ${number.format(malformed)}` +
    `${errors} | ${(stats.elapsedMs / 1000).toFixed(1)} s`
  );
}

export function formatSummary(result: ClickSimulatorResult): string {
  const { stats } = result;
  const codes = Object.entries(stats.errorCodes).map(([code, n]) => `${code} ${number.format(n)}`).join(', ');
  return [
    `${result.aborted ? 'Interrupted' : 'Done'}: sent ${number.format(stats.sent)} records to ${result.streamName} in ${(stats.elapsedMs / 1000).toFixed(1)} s ` +
      `(${rateOf(stats).toFixed(1)}/s, target ${number.format(result.rate)}/s)`,
    `  by kind: valid ${number.format(stats.sentByKind.valid)}, resend ${number.format(stats.sentByKind.resend)}, late ${number.format(stats.sentByKind.late)}, malformed ${number.format(stats.sentByKind.malformed)}`,
    `  PutRecords calls ${number.format(stats.calls)}, failed attempts ${number.format(stats.failedAttempts)}, retried ${number.format(stats.retried)}, dropped ${number.format(stats.dropped)}${codes ? ` (${codes})` : ''}`,
    `  seed ${result.seed} (--seed ${result.seed} reproduces this workload)`,
  ].join('\n');
}

export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

/** Runs the CLI and resolves to its exit code. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  silenceSdkNodeWarningForTools();
  if (argv[0] === 'orders') return ordersMain(argv.slice(1), io);
  let parsed;
  try {
    parsed = parseSimulatorArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`error: ${error.message}\nRun \`npm run simulate -- --help\` for the options.\n`);
    return 2;
  }
  if (parsed.command === 'help') {
    io.stdout.write(`${HELP_TEXT}\n`);
    return 0;
  }
  const { options } = parsed;

  const tty = io.stderr.isTTY === true;
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    io.stderr.write(`${tty ? '\n' : ''}Stopping after the batch in flight (Ctrl-C again to quit now)...\n`);
  };
  process.on('SIGINT', onSigint);

  const minIntervalMs = tty ? 250 : 5_000;
  let lastShown = Number.NEGATIVE_INFINITY;
  let shownOnTty = false;
  const show = (stats: ProducerStats): void => {
    const now = performance.now();
    if (now - lastShown < minIntervalMs) return;
    lastShown = now;
    const line = formatProgress(stats, options.rate);
    if (tty) {
      io.stderr.write(`\r\x1b[2K${line}`);
      shownOnTty = true;
    } else {
      io.stderr.write(`${line}\n`);
    }
  };

  try {
    const result = await runClickSimulator({ ...options, onProgress: show }, controller.signal);
    if (shownOnTty) io.stderr.write('\n');
    io.stdout.write(`${formatSummary(result)}\n`);
    return result.aborted ? 130 : 0;
  } catch (error) {
    if (shownOnTty) io.stderr.write('\n');
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
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
