import { createServer } from 'node:http';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSqsHandler, type HttpHandler } from './protocol';
import { SqsStore, type SqsSnapshot } from './store';

export { SqsStore } from './store';
export { SqsError } from './errors';
export { createSqsHandler, SUPPORTED_OPERATIONS, type HttpHandler } from './protocol';
export { md5OfBody, md5OfMessageAttributes } from './md5';

export interface SqsServerOptions {
  /** @default - a port the OS picks */
  readonly port?: number;
  /**
   * Origin of the queue URLs returned, for example `http://localhost:4566` behind the edge.
   * @default - `http://localhost:<port the request was sent to>`
   */
  readonly queueUrlOrigin?: string;
  /** Save queues and messages to this JSON file on stop, and load them on start. @default - in memory */
  readonly persistFile?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** Receives errors that are bugs in the stand-in (the client gets a 500). */
  readonly onInternalError?: (error: unknown) => void;
}

export interface SqsServer {
  readonly name: string;
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly store: SqsStore;
  /** The request handler, for mounting in process (on the edge) without a network hop. */
  readonly handler: HttpHandler;
  stop(): Promise<void>;
}

/** Starts the local SQS stand-in: an HTTP server on 127.0.0.1 speaking the AWS JSON 1.0 protocol. */
export async function startSqs(options: SqsServerOptions = {}): Promise<SqsServer> {
  const store = new SqsStore({ region: options.region, accountId: options.accountId });
  if (options.persistFile) {
    const snapshot = await readSnapshot(options.persistFile);
    if (snapshot) store.restore(snapshot);
  }
  const handler = createSqsHandler(store, {
    queueUrlOrigin: options.queueUrlOrigin,
    onInternalError: options.onInternalError,
  });
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    store.close();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    if (options.persistFile) await writeSnapshot(options.persistFile, store.snapshot());
  };
  return {
    name: 'sqs (local stand-in)',
    endpoint: `http://127.0.0.1:${port}`,
    store,
    handler,
    stop: () => (stopped ??= stop()),
  };
}

async function readSnapshot(file: string): Promise<SqsSnapshot | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as SqsSnapshot;
  } catch (error) {
    throw new Error(`The SQS snapshot ${file} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

async function writeSnapshot(file: string, snapshot: SqsSnapshot): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(snapshot));
  await rename(temporary, file);
}
