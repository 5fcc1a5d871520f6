/**
 * The first hour of a new user, in a fresh checkout (a project sandbox, see
 * test/support/project-sandbox.ts): `npm start` on a non-default port, the simulator following it
 * through .watershed/local-cloud.json, the README's snippets against it, then a clean Ctrl-C, after
 * which the console and the function logs hold no warning and no error.
 *
 * README snippets: a ```sh fence directly preceded by the line `<!-- readme-test -->` runs here,
 * in README order, with `bash -euo pipefail`, in the sandbox folder, against the running local
 * cloud, once with every AWS CLI found (`aws` on PATH, /usr/bin/aws; v1 and v2 when both are
 * installed). Other fences are documentation only. A marked snippet must finish in seconds, leave
 * no process behind, send only valid events (the log check follows), and need only what .ci/run
 * installs: bash, jq, the AWS CLI and npm. Snippets are read from README.md, never copied here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_CLOUD_STATE_FILE, readLocalCloudState, type LocalCloudState } from '../../contracts/local-cloud';
import { findFreePort } from '../../local/emulators/process';
import { findAwsClis } from '../support/aws-cli';
import { eventually, windowCountsAt } from '../support/local-cloud';
import { createProjectSandbox } from '../support/project-sandbox';
import { readReadmeSnippets } from '../support/readme-snippets';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();
const awsClis = findAwsClis();
const jq = spawnSync('jq', ['--version']).status === 0;
const tools = { available: awsClis.length > 0 && jq, reason: `the README snippets need the AWS CLI and jq (apt-get install -y awscli jq); found ${awsClis.length} AWS CLI(s), jq ${jq ? 'yes' : 'no'}` };
if (!tools.available && process.env.CI === 'true') throw new Error(`CI=true: ${tools.reason}`);
if (!tools.available) console.warn(`Skipping the README snippets: ${tools.reason}`);

/** Words that mark a line as a warning or an error, in any log. */
const NOISE = /(\b|[a-z])(warn(ing)?|error|errors|exception)\b|\b(ECONNREFUSED|ECONNRESET|ServiceUnavailable\w*|fatal|deprecat\w*)\b|⚠/i;

describe.skipIf(!java.available)(titled('the first hour: npm start on another port, the simulator, the README, a clean stop', java), () => {
  let sandbox: ReturnType<typeof createProjectSandbox>;
  let cloud: ChildProcess;
  let console_ = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let state: LocalCloudState;
  let edgePort: number;

  beforeAll(async () => {
    sandbox = createProjectSandbox();
    do edgePort = await findFreePort();
    while (edgePort === 4566);
    // As a user types it; its own process group, so that the stop below is a terminal's Ctrl-C.
    cloud = spawn('npm', ['start', '--', '--port', String(edgePort), '--dashboard-port', '0', '--no-simulate'], {
      cwd: sandbox.directory,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    cloud.stdout!.on('data', (chunk: Buffer) => (console_ += chunk.toString()));
    cloud.stderr!.on('data', (chunk: Buffer) => (console_ += chunk.toString()));
    // 'close', not 'exit': npm may end on the SIGINT before its script has printed its last line;
    // the pipes close only when the local cloud itself is gone.
    exited = new Promise((resolve) => cloud.once('close', (code, signal) => resolve({ code, signal })));
    await eventually(async () => /^ready in /m.test(console_) || cloud.exitCode !== null, () => console_, 240_000);
    expect(cloud.exitCode, console_).toBeNull();
    state = readLocalCloudState(join(sandbox.directory, '.watershed'))!;
  }, 300_000);

  afterAll(async () => {
    if (cloud !== undefined && cloud.exitCode === null && cloud.signalCode === null) {
      process.kill(-cloud.pid!, 'SIGKILL');
      await exited;
    }
    sandbox?.dispose();
  });

  it('writes .watershed/local-cloud.json naming the port it was given', () => {
    expect(state).toMatchObject({ edgeUrl: `http://127.0.0.1:${edgePort}`, outputsFile: join(sandbox.directory, '.watershed', 'outputs.json') });
    // Quiet start: no line about CloudFront, which does not run locally.
    expect(console_).not.toMatch(/CloudFront/);
  });

  it('npm run simulate follows it there, with no flag, and every click is counted', async () => {
    const run = spawnSync('npm', ['run', 'simulate', '--', 'clicks', '--count', '300', '--rate', '300', '--seed', '7', '--duplicates', '0', '--late', '0', '--malformed', '0'], {
      cwd: sandbox.directory,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('Done: sent 300 records to Watershed-');
    expect(`${run.stdout}${run.stderr}`).not.toMatch(NOISE);

    const table = (JSON.parse(readFileSync(state.outputsFile, 'utf8')) as { Watershed: Record<string, string> }).Watershed.ClickWindowsTableName!;
    let counted = 0;
    await eventually(
      async () => {
        counted = [...(await windowCountsAt(state.edgeUrl, table)).values()].reduce((sum, count) => sum + count, 0);
        return counted >= 300;
      },
      () => `counted ${counted} of 300`,
    );
    expect(counted).toBe(300);
  }, 180_000);

  describe.skipIf(!tools.available)(titled('README snippets', tools), () => {
    const snippets = readReadmeSnippets(join(__dirname, '..', '..', 'README.md'));

    it('has some', () => {
      expect(snippets.length).toBeGreaterThan(0);
    });

    for (const cli of awsClis) {
      it.each(snippets.map((snippet) => [`${snippet.section} (README.md:${snippet.line})`, snippet] as const))(`%s, with ${cli.version.split(' ')[0]}`, (_, snippet) => {
        // This CLI first on PATH, as if it were the only one installed.
        const bin = join(sandbox.directory, `.aws-cli-v${cli.major}-${cli.version.split(' ')[0]!.replace(/\W/g, '_')}`);
        if (!existsSync(bin)) {
          mkdirSync(bin);
          symlinkSync(cli.path, join(bin, 'aws'));
        }
        const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
        // A user's shell: none of the test runner's AWS settings.
        for (const name of Object.keys(env)) if (name.startsWith('AWS_')) delete env[name];
        const run = spawnSync('bash', ['-euo', 'pipefail', '-c', snippet.script], { cwd: sandbox.directory, encoding: 'utf8', env, timeout: 120_000 });
        expect(run.status, `README.md:${snippet.line} with ${cli.version}\n--- script\n${snippet.script}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`).toBe(0);
      });
    }
  });

  it('stops on Ctrl-C silently, removes its state file, and leaves no warning or error in the console or the function logs', async () => {
    // What a terminal does on Ctrl-C: SIGINT to the foreground process group.
    process.kill(-cloud.pid!, 'SIGINT');
    const exit = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running after 60 s'), 60_000))]);
    // npm itself ends by the SIGINT it received, after its script (the local cloud) stopped.
    expect([{ code: 0, signal: null }, { code: null, signal: 'SIGINT' }], console_).toContainEqual(exit);
    expect(console_).toMatch(/stopping\.\.\. \(Ctrl-C again to quit at once\)\nstopped\n$/);
    expect(existsSync(join(sandbox.directory, '.watershed', LOCAL_CLOUD_STATE_FILE))).toBe(false);

    expect(console_.split('\n').filter((line) => NOISE.test(line))).toStrictEqual([]);

    const logDirectory = join(sandbox.directory, '.watershed', 'logs');
    const logs = readdirSync(logDirectory);
    expect(logs.length).toBeGreaterThan(0);
    const noisy: string[] = [];
    for (const file of logs) {
      for (const line of readFileSync(join(logDirectory, file), 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        let structured: { level?: unknown } | undefined;
        try {
          structured = JSON.parse(line) as { level?: unknown };
        } catch {
          // Not a structured line: judged by its words.
        }
        // Structured lines (Powertools logs, EMF metrics) by their level; metric names are not words.
        // With --no-simulate no market-data venue runs: the gateway saying it cannot reach its
        // FIX venue is its honest state (also on the status line), not noise.
        if (/^Watershed-MarketData/.test(file) && /fix \S+: connect ECONNREFUSED 127\.0\.0\.1:\d+$/.test(line)) continue;
        const noisy_ = structured === undefined ? NOISE.test(line) : typeof structured.level === 'string' && /WARN|ERROR|CRITICAL|FATAL/i.test(structured.level);
        if (noisy_) noisy.push(`${file}: ${line}`);
      }
    }
    expect(noisy).toStrictEqual([]);
  }, 90_000);
});
