import { existsSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { DEFAULT_STATE_DIRECTORY, readLocalCloudState } from '../contracts/local-cloud';

export const RESET_HELP = `Usage: npm run reset [-- options]

Deletes the local cloud's state in this folder, after asking: .watershed/ (outputs, function
logs, the dashboard build, and the emulator data that npm start -- --persist keeps there) and
cdk.out/ (the synthesized app and bundled functions; npm start rebuilds it).

Options
  -y, --yes     delete without asking (for scripts)                      (default: ask)
  --json        print what was deleted as JSON                           (default: text)
  -h, --help    show this help

A data folder passed to --persist DIR outside .watershed/ is not touched: delete it yourself.
Exit codes: 0 deleted (or nothing to delete), 1 refused (a local cloud is running here, or the
answer was no), 2 usage error.`;

/** What `npm run reset` deletes, relative to the project folder. */
export const RESET_TARGETS = [DEFAULT_STATE_DIRECTORY, 'cdk.out'] as const;

export class ResetUsageError extends Error {
  override name = 'ResetUsageError';
}

export interface ResetOptions {
  yes: boolean;
  json: boolean;
}

export function parseResetArgs(argv: readonly string[]): ResetOptions | 'help' {
  try {
    const { values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { yes: { type: 'boolean', short: 'y' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) return 'help';
    return { yes: values.yes ?? false, json: values.json ?? false };
  } catch (error) {
    throw new ResetUsageError((error as Error).message);
  }
}

/** The targets that exist under `root`. */
export function existingResetTargets(root: string): string[] {
  return RESET_TARGETS.filter((target) => existsSync(resolve(root, target)) && statSync(resolve(root, target)).isDirectory());
}

export interface ResetIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Asks a yes/no question; undefined when there is no terminal to ask on. */
  confirm?: (question: string) => Promise<boolean>;
}

export async function reset(argv: readonly string[], root: string, io: ResetIo): Promise<number> {
  let options: ResetOptions | 'help';
  try {
    options = parseResetArgs(argv);
  } catch (error) {
    if (!(error instanceof ResetUsageError)) throw error;
    io.stderr.write(`${error.message}\n\n${RESET_HELP}\n`);
    return 2;
  }
  if (options === 'help') {
    io.stdout.write(`${RESET_HELP}\n`);
    return 0;
  }
  const running = readLocalCloudState(resolve(root, DEFAULT_STATE_DIRECTORY));
  if (running !== undefined) {
    io.stderr.write(`A local cloud is running here (pid ${running.pid}, edge ${running.edgeUrl}): stop it (Ctrl-C in its terminal) and run npm run reset again.\n`);
    return 1;
  }
  const targets = existingResetTargets(root);
  if (targets.length === 0) {
    io.stdout.write(options.json ? `${JSON.stringify({ deleted: [] })}\n` : 'Nothing to delete: no local state here.\n');
    return 0;
  }
  if (!options.yes) {
    if (io.confirm === undefined) {
      io.stderr.write(`Would delete ${targets.map((target) => `${target}/`).join(' and ')}; there is no terminal to confirm on: pass --yes.\n`);
      return 2;
    }
    const answer = await io.confirm(`Delete ${targets.map((target) => `${target}/`).join(' and ')} (local cloud state, logs and persisted data)? [y/N] `);
    if (!answer) {
      io.stderr.write('Nothing deleted.\n');
      return 1;
    }
  }
  for (const target of targets) rmSync(resolve(root, target), { recursive: true, force: true });
  io.stdout.write(options.json ? `${JSON.stringify({ deleted: targets })}\n` : `Deleted ${targets.map((target) => `${target}/`).join(' and ')}.\n`);
  return 0;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

if (require.main === module) {
  reset(process.argv.slice(2), process.cwd(), {
    stdout: process.stdout,
    stderr: process.stderr,
    confirm: process.stdin.isTTY === true ? askOnTerminal : undefined,
  }).then(
    (code) => process.exit(code),
    (error: Error) => {
      process.stderr.write(`npm run reset failed: ${error.message}\n`);
      process.exit(1);
    },
  );
}
