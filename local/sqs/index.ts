import { createServer } from 'node:http';
import { SqsFileJournal } from './journal';
import { createSqsHandler, type HttpHandler } from './protocol';
import { SqsStore } from './store';

export { SqsStore, type SqsJournal, type SqsJournalEntry } from './store';
export { SqsFileJournal } from './journal';
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
  /**
   * Keep queues and messages in this folder: each change is journaled before it is acknowledged,
   * so it survives a kill -9 (see journal.ts). @default - in memory
   */
  readonly persistDirectory?: string;
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
  let journal: SqsFileJournal | undefined;
  const store = new SqsStore({ region: options.region, accountId: options.accountId, journal: { append: (entry) => journal?.append(entry) } });
  if (options.persistDirectory !== undefined) journal = SqsFileJournal.open(options.persistDirectory, store).journal;
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
    journal?.close();
  };
  return {
    name: 'sqs (local stand-in)',
    endpoint: `http://127.0.0.1:${port}`,
    store,
    handler,
    stop: () => (stopped ??= stop()),
  };
}
