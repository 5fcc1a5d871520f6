import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helperScript, spawnEmulator } from './process';
import type { RunningService } from './types';

export interface S3Options {
  /** @default - a port the OS picks */
  readonly port?: number;
  /** Keep buckets and objects in this folder across restarts. @default - a temporary folder, removed on stop */
  readonly persistDir?: string;
  /** @default 30000 */
  readonly readyTimeoutMs?: number;
}

/**
 * Starts s3rver in a child process (s3rver-main.cjs) on 127.0.0.1, so that it can be supervised
 * like the other emulators.
 *
 * s3rver itself accepts only the access key `S3RVER` or unsigned requests; the edge removes
 * signatures on the s3 route so that any credentials work there. Clients should use
 * path-style addressing (`forcePathStyle: true`).
 */
export async function startS3(options: S3Options = {}): Promise<RunningService> {
  const service = 's3 (s3rver)';
  const temporary = options.persistDir === undefined;
  const directory = options.persistDir ?? (await mkdtemp(join(tmpdir(), 'watershed-s3-')));
  await mkdir(directory, { recursive: true });
  const proc = spawnEmulator({
    service,
    command: process.execPath,
    args: [helperScript('s3rver-main.cjs'), JSON.stringify({ directory, port: options.port ?? 0 })],
    orphanGuard: 'preload',
  });
  let port: number;
  try {
    port = Number((await proc.waitForLine(/^s3rver listening on (\d+)/, options.readyTimeoutMs ?? 30_000))[1]);
  } catch (error) {
    await proc.stop();
    if (temporary) await rm(directory, { recursive: true, force: true });
    throw error;
  }

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    await proc.stop();
    if (temporary) await rm(directory, { recursive: true, force: true });
  };
  return {
    name: service,
    endpoint: `http://127.0.0.1:${port}`,
    pid: proc.child.pid,
    exited: proc.exited,
    stop: () => (stopped ??= stop()),
  };
}
