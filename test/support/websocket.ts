import WebSocket, { type ClientOptions, type RawData } from 'ws';

/** What a WebSocket handshake came to: an open socket, or the HTTP answer that refused it. */
export type HandshakeOutcome = { opened: true; ws: WebSocket; inbox: Inbox } | { opened: false; status: number; body: string };

/**
 * Connects and resolves with the outcome either way: a refused handshake is an answer to
 * assert on, not an error. Messages are queued from the first one, so none is missed.
 */
export function connectWebSocket(url: string, options: ClientOptions = {}): Promise<HandshakeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    const inbox = new Inbox(ws);
    ws.once('open', () => resolve({ opened: true, ws, inbox }));
    ws.once('unexpected-response', (_request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ opened: false, status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.on('error', reject);
    });
    ws.once('error', reject);
  });
}

/** Connects and fails unless the handshake succeeds. */
export async function openWebSocket(url: string, options: ClientOptions = {}): Promise<{ ws: WebSocket; inbox: Inbox }> {
  const outcome = await connectWebSocket(url, options);
  if (!outcome.opened) throw new Error(`the handshake to ${url} was refused with ${outcome.status}: ${outcome.body}`);
  return outcome;
}

export interface Received {
  data: string;
  isBinary: boolean;
}

/** The text of a `ws` message, whichever of its three binary forms it arrived in. */
export function messageText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}

/** The messages a socket received, in order, and how it closed. */
export class Inbox {
  readonly received: Received[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  constructor(ws: WebSocket) {
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.received.push({ data: messageText(data), isBinary });
      this.wake();
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /** Waits for the message after the first `skip` ones (the next unread one by default). */
  async next(timeoutMs = 5_000, skip = this.read): Promise<Received> {
    await this.until(() => this.received.length > skip, `message #${skip + 1}`, timeoutMs);
    this.read = Math.max(this.read, skip + 1);
    return this.received[skip]!;
  }

  /** Waits for the next message that satisfies `match`, skipping others. */
  async nextMatching(match: (message: Received) => boolean, timeoutMs = 5_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.next(Math.max(1, deadline - Date.now()));
      if (match(message)) return message;
    }
  }

  async nextJson<T = unknown>(timeoutMs?: number): Promise<T> {
    return JSON.parse((await this.next(timeoutMs)).data) as T;
  }

  async closing(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== undefined, 'the close', timeoutMs);
    return this.closed!;
  }

  /** How many messages were consumed with next(). */
  private read = 0;

  private async until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(this.received.map((message) => message.data))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
