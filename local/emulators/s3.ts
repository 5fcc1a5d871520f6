import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { EmulatorStartError, type RunningService } from './types';

export interface S3Options {
  /** @default - a port the OS picks */
  readonly port?: number;
  /** Keep buckets and objects in this folder across restarts. @default - a temporary folder, removed on stop */
  readonly persistDir?: string;
}

/**
 * Starts s3rver in this process on 127.0.0.1.
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
  const s3rver = new S3rver({ directory, silent: true });
  const server = createServer(s3rver.callback());
  try {
    await listen(server, options.port ?? 0);
  } catch (error) {
    if (temporary) await rm(directory, { recursive: true, force: true });
    throw new EmulatorStartError(service, error instanceof Error ? error.message : String(error));
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    if (temporary) await rm(directory, { recursive: true, force: true });
  };
  return {
    name: service,
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => (stopped ??= stop()),
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}
