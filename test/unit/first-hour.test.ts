import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_CLOUD_STATE_FILE, type LocalCloudState } from '../../contracts/local-cloud';
import { assertPortsFree, PortInUseError } from '../../local/ports';
import { reset } from '../../local/reset';
import { SDK_NODE_WARNING_SWITCH, sdkNodeWarningEnvironment, silenceSdkNodeWarningForTools } from '../../contracts/sdk-node-warning';
import { NoLocalCloudError, resolveLocalTarget } from '../../simulator/local-target';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'watershed-first-hour-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

/** Writes a local cloud state file as a running cloud would (pid: this process, which is alive). */
function writeState(stateDirectory: string, state: Partial<LocalCloudState> = {}): LocalCloudState {
  const full: LocalCloudState = {
    edgeUrl: 'http://127.0.0.1:4577',
    dashboardUrl: 'http://127.0.0.1:3001/',
    outputsFile: join(stateDirectory, 'outputs.json'),
    pid: process.pid,
    startedAt: new Date().toISOString(),
    ...state,
  };
  mkdirSync(stateDirectory, { recursive: true });
  writeFileSync(join(stateDirectory, LOCAL_CLOUD_STATE_FILE), JSON.stringify(full));
  return full;
}

/** A pid that is certainly not running: above the kernel's limit. */
const DEAD_PID = 4_194_305;

describe('the simulator finds the running local cloud', () => {
  it('takes the edge and the outputs file from the state file (npm start -- --port 4577 is followed)', () => {
    const state = writeState(join(directory, '.watershed'));
    expect(resolveLocalTarget({ target: 'local', stateDirectory: join(directory, '.watershed') })).toStrictEqual({
      endpoint: 'http://127.0.0.1:4577',
      outputsFile: state.outputsFile,
    });
  });

  it('lets flags win over the state file', () => {
    writeState(join(directory, '.watershed'));
    expect(resolveLocalTarget({ target: 'local', endpoint: 'http://127.0.0.1:9999', stateDirectory: join(directory, '.watershed') })).toMatchObject({
      endpoint: 'http://127.0.0.1:9999',
    });
    expect(resolveLocalTarget({ target: 'local', outputsFile: 'mine.json', stateDirectory: join(directory, '.watershed') })).toMatchObject({
      outputsFile: 'mine.json',
    });
  });

  it('says how to start one when none runs, also when the state file names a stopped process', () => {
    expect(() => resolveLocalTarget({ target: 'local', stateDirectory: join(directory, '.watershed') })).toThrow(NoLocalCloudError);
    writeState(join(directory, '.watershed'), { pid: DEAD_PID });
    expect(() => resolveLocalTarget({ target: 'local', stateDirectory: join(directory, '.watershed') })).toThrow(/No local cloud is running here.*npm start.*--endpoint URL and --stream NAME/);
  });

  it('leaves other targets alone', () => {
    expect(resolveLocalTarget({ target: 'aws', stateDirectory: join(directory, '.watershed') })).toStrictEqual({ endpoint: undefined, outputsFile: undefined });
  });
});

describe('a port conflict is reported before bundling', () => {
  let server: Server;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  it('names the taken port and the flag that moves it; free ports and port 0 pass', async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const taken = (server.address() as { port: number }).port;
    const check = assertPortsFree([
      { port: taken, what: 'The edge', flag: '--port' },
      { port: 0, what: 'The dashboard', flag: '--dashboard-port' },
    ]);
    await expect(check).rejects.toThrow(PortInUseError);
    await expect(check).rejects.toThrow(`The edge cannot listen on 127.0.0.1:${taken}: the port is in use`);
    await expect(check).rejects.toThrow('`--port N` picks another port');
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await expect(assertPortsFree([{ port: taken, what: 'The edge', flag: '--port' }])).resolves.toBeUndefined();
  });
});

describe("the AWS SDK's Node.js version warning", () => {
  it('is switched off in functions declared for Node.js 22 or later, and only there', () => {
    expect(sdkNodeWarningEnvironment('nodejs22.x')).toStrictEqual({ [SDK_NODE_WARNING_SWITCH]: 'true' });
    expect(sdkNodeWarningEnvironment('nodejs24.x')).toStrictEqual({ [SDK_NODE_WARNING_SWITCH]: 'true' });
    expect(sdkNodeWarningEnvironment('nodejs20.x')).toStrictEqual({});
    expect(sdkNodeWarningEnvironment('python3.13')).toStrictEqual({});
  });

  it("is switched off for the tools unless the user set the SDK's switch", () => {
    const env: NodeJS.ProcessEnv = {};
    silenceSdkNodeWarningForTools(env);
    expect(env[SDK_NODE_WARNING_SWITCH]).toBe('true');
    const userChoice: NodeJS.ProcessEnv = { [SDK_NODE_WARNING_SWITCH]: 'false' };
    silenceSdkNodeWarningForTools(userChoice);
    expect(userChoice[SDK_NODE_WARNING_SWITCH]).toBe('false');
  });
});

describe('npm run reset', () => {
  const run = async (argv: string[], confirm?: (question: string) => Promise<boolean>) => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const chunks = { out: '', err: '' };
    stdout.on('data', (chunk: Buffer) => (chunks.out += chunk.toString()));
    stderr.on('data', (chunk: Buffer) => (chunks.err += chunk.toString()));
    const code = await reset(argv, directory, { stdout, stderr, confirm });
    return { code, ...chunks };
  };
  const populate = () => {
    mkdirSync(join(directory, '.watershed', 'logs'), { recursive: true });
    writeFileSync(join(directory, '.watershed', 'outputs.json'), '{}');
    mkdirSync(join(directory, 'cdk.out'));
    writeFileSync(join(directory, 'keep.txt'), 'not local state');
  };

  it('deletes .watershed/ and cdk.out/ after a yes, and nothing else', async () => {
    populate();
    const questions: string[] = [];
    const result = await run([], async (question) => {
      questions.push(question);
      return true;
    });
    expect(result).toMatchObject({ code: 0, out: 'Deleted .watershed/ and cdk.out/.\n' });
    expect(questions).toStrictEqual(['Delete .watershed/ and cdk.out/ (local cloud state, logs and persisted data)? [y/N] ']);
    expect(readdirSync(directory)).toStrictEqual(['keep.txt']);
  });

  it('deletes nothing after a no (exit 1), or without a terminal and without --yes (exit 2)', async () => {
    populate();
    expect(await run([], async () => false)).toMatchObject({ code: 1, err: 'Nothing deleted.\n' });
    expect(await run([])).toMatchObject({ code: 2, err: expect.stringContaining('pass --yes') });
    expect(readdirSync(directory).sort()).toStrictEqual(['.watershed', 'cdk.out', 'keep.txt']);
  });

  it('deletes without asking with --yes, and reports JSON with --json', async () => {
    populate();
    expect(await run(['--yes', '--json'])).toMatchObject({ code: 0, out: '{"deleted":[".watershed","cdk.out"]}\n' });
    expect(await run(['-y'])).toMatchObject({ code: 0, out: 'Nothing to delete: no local state here.\n' });
  });

  it('refuses while a local cloud runs here', async () => {
    populate();
    writeState(join(directory, '.watershed'));
    const result = await run(['--yes']);
    expect(result.code).toBe(1);
    expect(result.err).toContain(`A local cloud is running here (pid ${process.pid}`);
    expect(readdirSync(directory)).toContain('.watershed');
  });

  it('rejects unknown flags with exit 2 and lists every flag in --help', async () => {
    expect(await run(['--force'])).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--force'") });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--yes', '--json', '--help']) expect(help.out).toContain(flag);
  });
});
