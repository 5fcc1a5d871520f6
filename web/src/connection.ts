import { PROTOCOL_VERSION, type ClientMessage } from '../../contracts/dashboard';
import { SignInRedirectError, UnauthorizedError, type TokenSource } from './auth';

/**
 * The WebSocket connection: get a token, connect with `?token=`, subscribe on open, reconnect with
 * exponential backoff and jitter after a drop. No DOM: the page passes callbacks, and tests pass a
 * fake socket and clock.
 */

export type ConnectionStatus =
  | { readonly phase: 'connecting'; readonly attempt: number }
  | { readonly phase: 'open'; readonly since: number }
  | { readonly phase: 'reconnecting'; readonly attempt: number; readonly retryAt: number; readonly reason: string }
  /** The token was refused or could not be issued: retries with a fresh one at `retryAt`, or waits for the user. */
  | { readonly phase: 'unauthorized'; readonly retryAt: number | undefined; readonly reason: string }
  /** Navigating to the sign-in page. */
  | { readonly phase: 'signing-in' }
  | { readonly phase: 'stopped' };

/** The part of the browser's WebSocket the connection uses. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface BackoffPolicy {
  /** First retry delay's upper bound. @default 500 */
  readonly baseMs: number;
  /** Largest delay. @default 30000 */
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

/**
 * Delay before retry `attempt` (1-based): exponential, capped, with "equal jitter": a random point
 * in the upper half of the step. Clients that dropped together spread out, and every retry waits at
 * least as long as the previous one could have.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

/** Close codes a server may use to say the token was refused after the upgrade (API Gateway answers 401/403 before it). */
const UNAUTHORIZED_CLOSE_CODES = new Set([1008, 4001, 4003, 4401, 4403]);

export interface ConnectionOptions {
  /** `wss://…/stage`: the token goes in the `token` query parameter. */
  readonly webSocketUrl: string;
  readonly tokens: TokenSource;
  readonly onStatus: (status: ConnectionStatus) => void;
  /** Every frame, unparsed, with the time it arrived. */
  readonly onMessage: (data: unknown, at: number) => void;
  /** A connection opened: a snapshot follows. */
  readonly onOpen?: (at: number) => void;
  /** @default - the browser's WebSocket */
  readonly createSocket?: (url: string) => SocketLike;
  readonly backoff?: BackoffPolicy;
  /** @default - the real clock and timers */
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Gives up on a handshake that takes longer. @default 10000 */
  readonly connectTimeoutMs?: number;
  /** Sends a ping this often, well inside API Gateway's 10-minute idle timeout. @default 300000 */
  readonly pingIntervalMs?: number;
}

const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export function withToken(webSocketUrl: string, token: string): string {
  const url = new URL(webSocketUrl);
  url.searchParams.set('token', token);
  return url.toString();
}

const encode = (message: ClientMessage): string => JSON.stringify(message);

export class LiveConnection {
  private socket: SocketLike | undefined;
  private timer: unknown;
  private pingTimer: unknown;
  /** Failed attempts since the last connection that delivered a message. */
  private failures = 0;
  /** Get a new token before the next attempt: the last one may have been refused. */
  private freshToken = false;
  private stopped = true;
  private generation = 0;
  private readonly clock: Clock;
  private readonly createSocket: (url: string) => SocketLike;

  constructor(private readonly options: ConnectionOptions) {
    this.clock = options.clock ?? realClock;
    this.createSocket = options.createSocket ?? ((url) => new WebSocket(url) as unknown as SocketLike);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.generation += 1;
    this.clearTimers();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, 'client stopped');
    this.options.onStatus({ phase: 'stopped' });
  }

  /** Skips the remaining backoff (e.g. the browser came back online). */
  retryNow(): void {
    if (this.stopped || this.socket !== undefined) return;
    this.clearTimers();
    void this.connect();
  }

  private clearTimers(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.pingTimer !== undefined) this.clock.clearTimeout(this.pingTimer);
    this.timer = undefined;
    this.pingTimer = undefined;
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.options.onStatus({ phase: 'connecting', attempt: this.failures + 1 });
    let token: string;
    try {
      token = await this.options.tokens.token({ fresh: this.freshToken });
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof SignInRedirectError) {
        this.options.onStatus({ phase: 'signing-in' });
        return;
      }
      this.retryLater(error instanceof UnauthorizedError ? 'unauthorized' : 'reconnecting', `token: ${(error as Error).message}`);
      return;
    }
    if (generation !== this.generation) return;
    this.freshToken = false;

    let opened = false;
    let delivered = false;
    const socket = this.createSocket(withToken(this.options.webSocketUrl, token));
    this.socket = socket;
    this.timer = this.clock.setTimeout(() => {
      if (!opened) socket.close(4000, 'handshake timeout');
    }, this.options.connectTimeoutMs ?? 10_000);

    socket.onopen = () => {
      if (generation !== this.generation) return;
      opened = true;
      this.clearTimers();
      const at = this.clock.now();
      this.options.onOpen?.(at);
      this.options.onStatus({ phase: 'open', since: at });
      socket.send(encode({ v: PROTOCOL_VERSION, type: 'subscribe' }));
      this.schedulePing(socket, generation);
    };
    socket.onmessage = (event) => {
      if (generation !== this.generation) return;
      if (!delivered) {
        // The server answered the subscription: it works, so the next drop starts the backoff over.
        delivered = true;
        this.failures = 0;
      }
      this.options.onMessage(event.data, this.clock.now());
    };
    socket.onerror = () => undefined; // always followed by close, which decides what to do
    socket.onclose = (event) => {
      if (generation !== this.generation) return;
      this.socket = undefined;
      this.clearTimers();
      if (this.stopped) return;
      if (UNAUTHORIZED_CLOSE_CODES.has(event.code)) {
        this.freshToken = true;
        this.retryLater('unauthorized', `refused (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
        return;
      }
      // Refused before it opened: API Gateway answers a bad or expired token with 401/403, which a
      // browser reports as a bare close. Get a new token for the next attempt, just in case.
      if (!opened) this.freshToken = true;
      this.retryLater('reconnecting', opened ? `closed (${event.code})` : 'could not connect');
    };
  }

  private schedulePing(socket: SocketLike, generation: number): void {
    const interval = this.options.pingIntervalMs ?? 300_000;
    this.pingTimer = this.clock.setTimeout(() => {
      if (generation !== this.generation || socket.readyState !== 1) return;
      socket.send(encode({ v: PROTOCOL_VERSION, type: 'ping' }));
      this.schedulePing(socket, generation);
    }, interval);
  }

  private retryLater(phase: 'reconnecting' | 'unauthorized', reason: string): void {
    this.failures += 1;
    const delay = backoffDelay(this.failures, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random ?? Math.random);
    const retryAt = this.clock.now() + delay;
    this.options.onStatus(phase === 'unauthorized' ? { phase, retryAt, reason } : { phase, attempt: this.failures, retryAt, reason });
    const generation = this.generation;
    this.timer = this.clock.setTimeout(() => {
      if (generation !== this.generation || this.stopped) return;
      this.timer = undefined;
      void this.connect();
    }, delay);
  }
}
