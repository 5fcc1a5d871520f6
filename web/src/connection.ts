import { PROTOCOL_VERSION, type ClientMessage } from '../../contracts/dashboard';
import { renewAtMs, SignInRedirectError, UnauthorizedError, type TokenSource } from './auth';

/**
 * The WebSocket connection: get a token, connect with `?token=`, subscribe on open, reconnect with
 * exponential backoff and jitter after a drop. It keeps the token renewed before it expires, and
 * replaces the socket before API Gateway's connection limit ends it (a handover: the new socket
 * subscribes while the old one still delivers, and takes over at its first message). No DOM: the
 * page passes callbacks, and tests pass a fake socket and clock.
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

/**
 * API Gateway closes a WebSocket connection after 2 hours, whatever it is doing ("Connection
 * duration for WebSocket API: 2 hours", not adjustable, in "Quotas for configuring and running a
 * WebSocket in API Gateway"). The local cloud's gateway does the same.
 */
export const MAX_CONNECTION_MS = 2 * 60 * 60 * 1000;
/** A handover starts this long before the limit: time for a token refresh and a few failed attempts. */
export const HANDOVER_LEAD_MS = 5 * 60_000;

/**
 * When a connection that may live `maxConnectionMs` hands over to a new one: HANDOVER_LEAD_MS
 * before the limit, or at three quarters of a limit shorter than four leads (tests shorten it).
 */
export const handoverAfterMs = (maxConnectionMs: number): number => maxConnectionMs - Math.min(HANDOVER_LEAD_MS, maxConnectionMs / 4);

/** A renewal never runs sooner than this after the last one, so a token that is never "usable" cannot spin. */
const MIN_RENEWAL_DELAY_MS = 1000;

/** Close codes a server may use to say the token was refused after the upgrade (API Gateway answers 401/403 before it). */
const UNAUTHORIZED_CLOSE_CODES = new Set([1008, 4001, 4003, 4401, 4403]);

export interface ConnectionOptions {
  /** `wss://…/stage`: the token goes in the `token` query parameter. */
  readonly webSocketUrl: string;
  readonly tokens: TokenSource;
  readonly onStatus: (status: ConnectionStatus) => void;
  /** Every frame, unparsed, with the time it arrived. */
  readonly onMessage: (data: unknown, at: number) => void;
  /**
   * A connection opened after none was: its snapshot follows and supersedes what the page holds.
   * Not called on a handover, where the new connection's snapshot arrives while the page is live.
   */
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
  /** The server's limit on a connection's life; a new one takes over before it. @default MAX_CONNECTION_MS */
  readonly maxConnectionMs?: number;
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
  /** The socket whose messages the page gets. */
  private socket: SocketLike | undefined;
  /** A handover's new socket, until its first message makes it `socket`. */
  private successor: SocketLike | undefined;
  private timer: unknown;
  private pingTimer: unknown;
  private handoverTimer: unknown;
  private renewalTimer: unknown;
  /** Failed attempts since the last connection that delivered a message. */
  private failures = 0;
  private handoverFailures = 0;
  private renewalFailures = 0;
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
    if (this.renewalTimer !== undefined) this.clock.clearTimeout(this.renewalTimer);
    this.renewalTimer = undefined;
    this.abandonSuccessor();
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
    for (const timer of [this.timer, this.pingTimer, this.handoverTimer]) if (timer !== undefined) this.clock.clearTimeout(timer);
    this.timer = undefined;
    this.pingTimer = undefined;
    this.handoverTimer = undefined;
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
    this.scheduleRenewal(token);

    let opened = false;
    let delivered = false;
    const socket = this.createSocket(withToken(this.options.webSocketUrl, token));
    this.socket = socket;
    this.timer = this.clock.setTimeout(() => {
      if (!opened) socket.close(4000, 'handshake timeout');
    }, this.options.connectTimeoutMs ?? 10_000);

    // Events of a socket that is no longer `this.socket` (stopped, or handed over) are ignored.
    socket.onopen = () => {
      if (socket !== this.socket) return;
      opened = true;
      this.clearTimers();
      const at = this.clock.now();
      this.options.onOpen?.(at);
      this.options.onStatus({ phase: 'open', since: at });
      socket.send(encode({ v: PROTOCOL_VERSION, type: 'subscribe' }));
      this.whileOpen(socket);
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      if (!delivered) {
        // The server answered the subscription: it works, so the next drop starts the backoff over.
        delivered = true;
        this.failures = 0;
      }
      this.options.onMessage(event.data, this.clock.now());
    };
    socket.onerror = () => undefined; // always followed by close, which decides what to do
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.closed(event, opened);
    };
  }

  /** The socket delivering messages closed (the server, the network, the connection limit). */
  private closed(event: { code: number; reason: string }, opened: boolean): void {
    this.socket = undefined;
    this.clearTimers();
    this.abandonSuccessor();
    if (this.stopped) return;
    if (UNAUTHORIZED_CLOSE_CODES.has(event.code)) {
      // e.g. a server that closes when the token expires: the next attempt gets a new token, which
      // for Cognito means a silent refresh, not a sign-in.
      this.freshToken = true;
      this.retryLater('unauthorized', `refused (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
      return;
    }
    // Refused before it opened: API Gateway answers a bad or expired token with 401/403, which a
    // browser reports as a bare close. Get a new token for the next attempt, just in case.
    if (!opened) this.freshToken = true;
    this.retryLater('reconnecting', opened ? `closed (${event.code})` : 'could not connect');
  }

  /** Keeps an open socket alive (pings) and replaces it before the server's connection limit. */
  private whileOpen(socket: SocketLike): void {
    this.schedulePing(socket);
    this.handoverFailures = 0;
    this.handoverTimer = this.clock.setTimeout(() => void this.handover(socket), handoverAfterMs(this.options.maxConnectionMs ?? MAX_CONNECTION_MS));
  }

  private schedulePing(socket: SocketLike): void {
    const interval = this.options.pingIntervalMs ?? 300_000;
    this.pingTimer = this.clock.setTimeout(() => {
      if (socket !== this.socket || socket.readyState !== 1) return;
      socket.send(encode({ v: PROTOCOL_VERSION, type: 'ping' }));
      this.schedulePing(socket);
    }, interval);
  }

  /**
   * Opens a successor to `current` with a token that is valid now, and subscribes. `current` keeps
   * delivering until the successor's first message (its snapshot): then the successor delivers
   * and `current` is closed. The page sees no gap, and since a snapshot and re-delivered updates
   * never lower a count, nothing is counted twice. If the successor fails, `current` carries on
   * and the handover is retried with backoff; if the limit ends `current` first, the ordinary
   * reconnect takes over.
   */
  private async handover(current: SocketLike): Promise<void> {
    this.handoverTimer = undefined;
    if (current !== this.socket || this.stopped) return;
    let token: string;
    try {
      token = await this.options.tokens.token({ fresh: false });
    } catch (error) {
      if (current !== this.socket || this.stopped) return;
      if (error instanceof SignInRedirectError) {
        this.options.onStatus({ phase: 'signing-in' });
        return;
      }
      this.retryHandover(current);
      return;
    }
    if (current !== this.socket || this.stopped) return;
    this.scheduleRenewal(token);

    const next = this.createSocket(withToken(this.options.webSocketUrl, token));
    this.successor = next;
    // The successor must open and answer its subscription in time, or it is given up and retried.
    const handshake = this.clock.setTimeout(() => {
      if (next === this.successor) next.close(4000, 'handover timeout');
    }, this.options.connectTimeoutMs ?? 10_000);
    next.onopen = () => {
      if (next !== this.successor) return;
      next.send(encode({ v: PROTOCOL_VERSION, type: 'subscribe' }));
    };
    next.onmessage = (event) => {
      if (next === this.successor) {
        this.clock.clearTimeout(handshake);
        this.takeOver(current, next);
      }
      if (next !== this.socket) return;
      this.options.onMessage(event.data, this.clock.now());
    };
    next.onerror = () => undefined;
    next.onclose = (event) => {
      this.clock.clearTimeout(handshake);
      if (next === this.successor) {
        this.successor = undefined;
        this.retryHandover(current);
      } else if (next === this.socket) {
        this.closed(event, true);
      }
    };
  }

  private takeOver(current: SocketLike, next: SocketLike): void {
    this.successor = undefined;
    this.clearTimers();
    this.socket = next;
    this.failures = 0;
    this.options.onStatus({ phase: 'open', since: this.clock.now() });
    this.whileOpen(next);
    current.close(1000, 'replaced by a new connection');
  }

  private retryHandover(current: SocketLike): void {
    if (current !== this.socket || this.stopped) return;
    this.handoverFailures += 1;
    const delay = backoffDelay(this.handoverFailures, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random ?? Math.random);
    this.handoverTimer = this.clock.setTimeout(() => void this.handover(current), delay);
  }

  private abandonSuccessor(): void {
    const successor = this.successor;
    this.successor = undefined;
    successor?.close(1000, 'handover abandoned');
  }

  /**
   * Gets a new token before this one expires (renewAtMs), so the token source renews it in the
   * background: a Cognito refresh, or a new development token. A reconnect then never waits for
   * one, and a failed renewal is retried with backoff while the socket keeps delivering.
   */
  private scheduleRenewal(token: string): void {
    if (this.renewalTimer !== undefined) this.clock.clearTimeout(this.renewalTimer);
    this.renewalTimer = undefined;
    const renewAt = renewAtMs(token);
    if (renewAt === undefined || this.stopped) return;
    this.renewalTimer = this.clock.setTimeout(() => void this.renew(), Math.max(MIN_RENEWAL_DELAY_MS, renewAt - this.clock.now()));
  }

  private async renew(): Promise<void> {
    this.renewalTimer = undefined;
    if (this.stopped) return;
    try {
      const token = await this.options.tokens.token({ fresh: false });
      this.renewalFailures = 0;
      if (this.renewalTimer === undefined) this.scheduleRenewal(token);
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof SignInRedirectError) {
        // The session ended (the refresh token was refused): the page is going to the sign-in page.
        this.options.onStatus({ phase: 'signing-in' });
        return;
      }
      if (this.renewalTimer !== undefined) return; // a connect or handover got a token meanwhile
      this.renewalFailures += 1;
      const delay = backoffDelay(this.renewalFailures, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random ?? Math.random);
      this.renewalTimer = this.clock.setTimeout(() => void this.renew(), delay);
    }
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
