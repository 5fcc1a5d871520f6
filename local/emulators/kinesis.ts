import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  findFreePort,
  helperScript,
  probeJsonApi,
  spawnEmulator,
  withFreePort,
  type EmulatorProcess,
} from './process';
import {
  KINESIS_ENGINES,
  MissingRuntimeError,
  type KinesisEngine,
  type RunningService,
} from './types';

export interface KinesisOptions {
  /**
   * The engine that serves the Kinesis API.
   * @default 'kinesalite' - fast (13–19k records/s); `kinesis-local` (kinesis-mock) has the wider
   * API (enhanced fan-out, encryption, on-demand mode) but is slower (0.5–1.3k records/s).
   */
  readonly engine?: KinesisEngine;
  /** @default - a port the OS picks */
  readonly port?: number;
  /** Keep streams and records in this folder across restarts. @default - in memory */
  readonly persistDir?: string;
  /** @default 100 */
  readonly shardLimit?: number;
  /** @default 30000 */
  readonly readyTimeoutMs?: number;
}

const KINESIS_JSON = 'application/x-amz-json-1.1';
const LIST_STREAMS = 'Kinesis_20131202.ListStreams';
const requireFromHere = createRequire(import.meta.url);

/** Starts a Kinesis emulator as a child process and waits until it answers. */
export async function startKinesis(options: KinesisOptions = {}): Promise<RunningService> {
  const engine = options.engine ?? 'kinesalite';
  switch (engine) {
    case 'kinesalite':
      return startKinesalite(options);
    case 'kinesis-local':
      return startKinesisLocal(options);
    default:
      throw new Error(
        `Unknown Kinesis engine. Received ${String(engine)}; expected one of ${KINESIS_ENGINES.join(', ')}`,
      );
  }
}

async function startKinesalite(options: KinesisOptions): Promise<RunningService> {
  const service = 'kinesis (kinesalite)';
  if (options.persistDir) await mkdir(options.persistDir, { recursive: true });
  const settings = {
    host: '127.0.0.1',
    port: options.port ?? 0,
    path: options.persistDir,
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: options.shardLimit ?? 100,
  };
  const proc = spawnEmulator({
    service,
    command: process.execPath,
    args: [helperScript('kinesalite-main.cjs'), JSON.stringify(settings)],
    orphanGuard: 'preload',
  });
  try {
    const match = await proc.waitForLine(/^kinesalite listening on (\d+)/, options.readyTimeoutMs ?? 30_000);
    return serviceOf(service, `http://127.0.0.1:${Number(match[1])}`, proc);
  } catch (error) {
    await proc.stop();
    throw error;
  }
}

/** The folder of the installed `kinesis-local` package, which holds main.js and server.json. */
function kinesisLocalDir(): string {
  try {
    return dirname(requireFromHere.resolve('kinesis-local/package.json'));
  } catch {
    throw new MissingRuntimeError(
      "The Kinesis engine 'kinesis-local' is not installed: run `npm install --save-exact kinesis-local` " +
        "or choose the engine 'kinesalite'",
    );
  }
}

async function startKinesisLocal(options: KinesisOptions): Promise<RunningService> {
  const service = 'kinesis (kinesis-local)';
  const packageDir = kinesisLocalDir();
  if (options.persistDir) await mkdir(options.persistDir, { recursive: true });
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  return withFreePort(options.port, async (port) => {
    const env: Record<string, string> = {
      KINESIS_MOCK_PLAIN_PORT: String(port),
      // The TLS port cannot be turned off; it gets a free port of its own.
      KINESIS_MOCK_TLS_PORT: String(await findFreePort()),
      CREATE_STREAM_DURATION: '0ms',
      DELETE_STREAM_DURATION: '0ms',
      UPDATE_SHARD_COUNT_DURATION: '0ms',
      UPDATE_STREAM_MODE_DURATION: '0ms',
      REGISTER_STREAM_CONSUMER_DURATION: '0ms',
      DEREGISTER_STREAM_CONSUMER_DURATION: '0ms',
      START_STREAM_ENCRYPTION_DURATION: '0ms',
      STOP_STREAM_ENCRYPTION_DURATION: '0ms',
      MERGE_SHARDS_DURATION: '0ms',
      SPLIT_SHARD_DURATION: '0ms',
      SHARD_LIMIT: String(options.shardLimit ?? 100),
      LOG_LEVEL: 'WARN',
      SHOULD_PERSIST_DATA: options.persistDir ? 'true' : 'false',
      ...(options.persistDir ? { PERSIST_PATH: options.persistDir, LOAD_DATA_IF_EXISTS: 'true' } : {}),
    };
    const proc = spawnEmulator({
      service,
      command: process.execPath,
      args: [join(packageDir, 'main.js')],
      // kinesis-local reads server.json (its TLS certificate) from the working directory.
      cwd: packageDir,
      env,
      orphanGuard: 'preload',
    });
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      await proc.waitUntilReady(() => probeJsonApi(endpoint, LIST_STREAMS, KINESIS_JSON), readyTimeoutMs);
      // kinesis-local takes seconds to shut down on SIGTERM; that only matters when it has data
      // to write, so an in-memory instance is killed at once.
      const graceMs = options.persistDir ? 10_000 : 0;
      return serviceOf(service, endpoint, proc, graceMs);
    } catch (error) {
      await proc.stop();
      throw error;
    }
  });
}

function serviceOf(name: string, endpoint: string, proc: EmulatorProcess, graceMs?: number): RunningService {
  return { name, endpoint, pid: proc.child.pid, exited: proc.exited, stop: () => proc.stop(graceMs) };
}
