import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../contracts/dashboard';
import { webcrypto } from 'node:crypto';
import { CognitoTokenSource, STORAGE_KEYS, TokenRequestError, UnauthorizedError, type BrowserDeps, type TokenSource } from '../../web/src/auth';
import { backoffDelay, handoverAfterMs, HANDOVER_LEAD_MS, LiveConnection, MAX_CONNECTION_MS, withToken, type Clock, type ConnectionStatus, type SocketLike } from '../../web/src/connection';

/** A clock whose timers run only when the test advances it. */
class ManualClock implements Clock {
  private time = 1_000_000;
  private timers: { at: number; callback: () => void; id: number }[] = [];
  private nextId = 1;

  now(): number {
    return this.time;
  }
  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + ms, callback, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((timer) => timer.id !== handle);
  }
  /** Runs every timer due within `ms`, in order, letting promises settle in between. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((timer) => timer.at <= until).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = until;
    await flush();
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: SocketLike['onopen'] = null;
  onmessage: SocketLike['onmessage'] = null;
  onclose: SocketLike['onclose'] = null;
  onerror: SocketLike['onerror'] = null;
  readonly sent: string[] = [];
  constructor(readonly url: string) {}
  send(data: string): void {
    this.sent.push(data);
  }
  close(code = 1000, reason = ''): void {
    this.drop(code, reason);
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  receive(data: string): void {
    this.onmessage?.({ data });
  }
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function harness({ tokens, maxConnectionMs, clock = new ManualClock() }: { tokens?: TokenSource; maxConnectionMs?: number; clock?: ManualClock } = {}) {
  const sockets: FakeSocket[] = [];
  const statuses: ConnectionStatus[] = [];
  const messages: unknown[] = [];
  const tokenRequests: boolean[] = [];
  const opens: number[] = [];
  let issued = 0;
  const connection = new LiveConnection({
    webSocketUrl: 'wss://example.test/live',
    tokens: tokens ?? {
      token: async ({ fresh }) => {
        tokenRequests.push(fresh);
        issued += 1;
        return `token-${issued}`;
      },
    },
    onStatus: (status) => statuses.push(status),
    onMessage: (data) => messages.push(data),
    onOpen: (at) => opens.push(at),
    maxConnectionMs,
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    clock,
    // The top of each jitter range, so delays are exact.
    random: () => 1,
  });
  return { clock, sockets, statuses, messages, tokenRequests, opens, connection, last: () => sockets.at(-1)! };
}

describe('backoffDelay', () => {
  it.each([
    { attempt: 1, low: 250, high: 500 },
    { attempt: 2, low: 500, high: 1000 },
    { attempt: 4, low: 2000, high: 4000 },
    { attempt: 10, low: 15_000, high: 30_000 },
    { attempt: 50, low: 15_000, high: 30_000 },
  ])('retry $attempt waits between $low and $high ms', ({ attempt, low, high }) => {
    expect(backoffDelay(attempt, undefined, () => 0)).toBe(low);
    expect(backoffDelay(attempt, undefined, () => 1)).toBe(high);
  });
});

describe('LiveConnection', () => {
  it('connects with the token in the query string and subscribes on open', async () => {
    const { connection, last, statuses, clock } = harness();

    connection.start();
    await clock.advance(0);
    last().open();

    expect(last().url).toBe('wss://example.test/live?token=token-1');
    expect(last().sent).toStrictEqual([JSON.stringify({ v: PROTOCOL_VERSION, type: 'subscribe' })]);
    expect(statuses.map((status) => status.phase)).toStrictEqual(['connecting', 'open']);
  });

  it('reconnects after a drop with growing delays, and starts over once a connection delivered a message', async () => {
    const { connection, last, sockets, statuses, clock, tokenRequests } = harness();
    connection.start();
    await clock.advance(0);
    last().open();
    last().receive('snapshot');

    last().drop(1006);
    const first = statuses.at(-1);
    await clock.advance(500);
    last().drop(1006); // refused before opening
    const second = statuses.at(-1);
    await clock.advance(1000);
    last().open();
    last().receive('snapshot');
    last().drop(1001);
    const third = statuses.at(-1);

    expect([first, second, third]).toStrictEqual([
      { phase: 'reconnecting', attempt: 1, retryAt: 1_000_500, reason: 'closed (1006)' },
      { phase: 'reconnecting', attempt: 2, retryAt: 1_001_500, reason: 'could not connect' },
      { phase: 'reconnecting', attempt: 1, retryAt: 1_002_000, reason: 'closed (1001)' },
    ]);
    expect(sockets).toHaveLength(3);
    // After the refused handshake the next token is fetched fresh.
    expect(tokenRequests).toStrictEqual([false, false, true]);
  });

  it('treats a policy-violation close as unauthorized and fetches a fresh token', async () => {
    const { connection, last, statuses, clock, tokenRequests } = harness();
    connection.start();
    await clock.advance(0);
    last().open();

    last().drop(1008, 'token expired');
    await clock.advance(500);

    expect(statuses.at(-2)).toStrictEqual({ phase: 'unauthorized', retryAt: 1_000_500, reason: 'refused (1008: token expired)' });
    expect(tokenRequests).toStrictEqual([false, true]);
  });

  it('reports unauthorized when the token source refuses, and keeps retrying', async () => {
    let calls = 0;
    const { connection, statuses, clock, sockets } = harness({
      tokens: {
        token: async () => {
          calls += 1;
          throw new UnauthorizedError('401');
        },
      },
    });

    connection.start();
    await clock.advance(0);
    await clock.advance(500);

    expect(statuses.filter((status) => status.phase === 'unauthorized')).toHaveLength(2);
    expect(calls).toBe(2);
    expect(sockets).toHaveLength(0);
  });

  it('gives up on a handshake that does not complete', async () => {
    const { connection, statuses, clock } = harness();
    connection.start();
    await clock.advance(10_000);

    expect(statuses.at(-1)).toMatchObject({ phase: 'reconnecting', reason: 'could not connect' });
  });

  it('pings while open and stops cleanly', async () => {
    const { connection, last, statuses, clock, sockets } = harness();
    connection.start();
    await clock.advance(0);
    last().open();
    await clock.advance(300_000);

    connection.stop();
    await clock.advance(60_000);

    expect(last().sent.map((data) => JSON.parse(data).type)).toStrictEqual(['subscribe', 'ping']);
    expect(statuses.at(-1)).toStrictEqual({ phase: 'stopped' });
    expect(sockets).toHaveLength(1);
  });
});

describe('withToken', () => {
  it('adds the token as a query parameter, encoded', () => {
    expect(withToken('wss://abc.execute-api.us-east-1.amazonaws.com/live', 'a.b+c/d')).toBe('wss://abc.execute-api.us-east-1.amazonaws.com/live?token=a.b%2Bc%2Fd');
  });
});

/** A JWT whose claims are all the connection reads (`iat`, `exp`), valid for `lifetimeMs` from `now`. */
function jwtFactory(now: number, lifetimeMs: number, id: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ id, iat: now / 1000, exp: (now + lifetimeMs) / 1000 })}.sig`;
}

/** A token source issuing `lifetimeMs` tokens; `fail` makes the next calls throw. */
function expiringTokens(clock: ManualClock, lifetimeMs: number) {
  const calls: { at: number; fresh: boolean }[] = [];
  const state = { fail: undefined as Error | undefined, issued: 0 };
  const source: TokenSource = {
    token: async ({ fresh }) => {
      calls.push({ at: clock.now(), fresh });
      if (state.fail !== undefined) throw state.fail;
      state.issued += 1;
      return jwtFactory(clock.now(), lifetimeMs, `t${state.issued}`);
    },
  };
  return { source, calls, state };
}

const tokenId = (url: string) => JSON.parse(Buffer.from(new URL(url).searchParams.get('token')!.split('.')[1]!, 'base64url').toString()).id as string;

describe('token renewal', () => {
  it('gets a new token EXPIRY_MARGIN_MS before the current one expires, again and again', async () => {
    const clock = new ManualClock();
    const tokens = expiringTokens(clock, 1_800_000);
    const { connection, last } = harness({ tokens: tokens.source, clock });
    connection.start();
    await clock.advance(0);
    last().open();

    await clock.advance(6_000_000);

    expect(tokens.calls.map((call) => call.at - 1_000_000)).toStrictEqual([0, 1_740_000, 3_480_000, 5_220_000]);
  });

  it('retries a failed renewal with backoff while the socket keeps delivering', async () => {
    const clock = new ManualClock();
    const tokens = expiringTokens(clock, 120_000);
    const { connection, last, messages, statuses } = harness({ tokens: tokens.source, clock });
    connection.start();
    await clock.advance(0);
    last().open();
    tokens.state.fail = new TokenRequestError('cannot reach the token endpoint');

    await clock.advance(60_000 + 500 + 1000);
    last().receive('update');
    tokens.state.fail = undefined;
    await clock.advance(2000);

    expect(tokens.calls.map((call) => call.at - 1_000_000)).toStrictEqual([0, 60_000, 60_500, 61_500, 63_500]);
    expect(messages).toStrictEqual(['update']);
    expect(statuses.map((status) => status.phase)).toStrictEqual(['connecting', 'open']);
  });
});

describe('handover before the connection limit', () => {
  it('starts HANDOVER_LEAD_MS before API Gateway\'s 2 hours, or at three quarters of a short limit', () => {
    expect(MAX_CONNECTION_MS).toBe(7_200_000);
    expect(handoverAfterMs(MAX_CONNECTION_MS)).toBe(7_200_000 - HANDOVER_LEAD_MS);
    expect(handoverAfterMs(8000)).toBe(6000);
  });

  it('opens a new socket with a new token, switches at its first message with no status change, then closes the old one', async () => {
    const clock = new ManualClock();
    const tokens = expiringTokens(clock, 4000);
    const { connection, sockets, messages, statuses, opens } = harness({ tokens: tokens.source, clock, maxConnectionMs: 8000 });
    connection.start();
    await clock.advance(0);
    const [old] = sockets;
    old!.open();
    old!.receive('snapshot-1');

    await clock.advance(6000);
    const successor = sockets[1]!;
    old!.receive('update-old');
    successor.open();
    successor.receive('snapshot-2');
    successor.receive('update-new');
    old!.receive('late-on-old');

    expect(sockets).toHaveLength(2);
    // The first token was renewed at 2 s and 4 s (half its 4 s life); the handover used a valid one.
    expect([tokenId(old!.url), tokenId(successor.url)]).toStrictEqual(['t1', 't4']);
    expect(successor.sent).toStrictEqual([JSON.stringify({ v: PROTOCOL_VERSION, type: 'subscribe' })]);
    expect(messages).toStrictEqual(['snapshot-1', 'update-old', 'snapshot-2', 'update-new']);
    expect(old!.readyState).toBe(3);
    expect(statuses.map((status) => status.phase)).toStrictEqual(['connecting', 'open', 'open']);
    expect(opens).toHaveLength(1);

    // The successor hands over in turn.
    await clock.advance(6000);
    expect(sockets).toHaveLength(3);
  });

  it('keeps the old socket when the new one fails, and tries again with backoff', async () => {
    const { connection, sockets, messages, clock } = harness({ maxConnectionMs: 8000 });
    connection.start();
    await clock.advance(0);
    sockets[0]!.open();

    await clock.advance(6000);
    sockets[1]!.drop(1006);
    sockets[0]!.receive('still-live');
    await clock.advance(500);
    sockets[2]!.open();
    sockets[2]!.receive('snapshot');

    expect(messages).toStrictEqual(['still-live', 'snapshot']);
    expect(sockets.map((socket) => socket.readyState)).toStrictEqual([3, 3, 1]);
  });

  it('gives up a successor that opens but does not answer its subscription in time', async () => {
    const { connection, sockets, clock } = harness({ maxConnectionMs: 60_000 });
    connection.start();
    await clock.advance(0);
    sockets[0]!.open();
    await clock.advance(45_000);
    sockets[1]!.open();

    await clock.advance(10_000);

    expect(sockets[1]!.readyState).toBe(3);
    expect(sockets[0]!.readyState).toBe(1);
    await clock.advance(500);
    expect(sockets).toHaveLength(3);
  });

  it('falls back to an ordinary reconnect when the limit ends the old socket first', async () => {
    const { connection, sockets, statuses, clock } = harness({ maxConnectionMs: 8000 });
    connection.start();
    await clock.advance(0);
    sockets[0]!.open();
    await clock.advance(6000);
    sockets[1]!.open();

    sockets[0]!.drop(1001, 'Going away');
    await clock.advance(500);

    expect(sockets[1]!.readyState).toBe(3);
    expect(sockets).toHaveLength(3);
    expect(statuses.map((status) => status.phase)).toStrictEqual(['connecting', 'open', 'reconnecting', 'connecting']);
  });
});

describe('reconnecting with Cognito after the ID token expired', () => {
  const COGNITO = { mode: 'cognito', domain: 'https://auth.example.test', clientId: 'client-1', redirectUri: 'https://dashboard.example.test/' } as const;

  it.each([
    { name: 'the connection aged out (1001)', code: 1001, reason: 'Going away' },
    { name: 'the server refused the expired token (4401)', code: 4401, reason: 'token expired' },
  ])('refreshes silently when $name', async ({ code, reason }) => {
    const clock = new ManualClock();
    const storage = new Map<string, string>([
      [STORAGE_KEYS.idToken, jwtFactory(clock.now(), 3_600_000, 'id-1')],
      [STORAGE_KEYS.refreshToken, 'refresh-1'],
    ]);
    const refreshes: string[] = [];
    const navigations: string[] = [];
    const deps: BrowserDeps = {
      fetch: (async (_url: string, init?: RequestInit) => {
        refreshes.push(new URLSearchParams(init?.body as string).get('refresh_token')!);
        // A stub rather than a Response, whose body stream settles outside the manual clock's flushes.
        const body = { id_token: jwtFactory(clock.now(), 3_600_000, `id-${refreshes.length + 1}`) };
        return { status: 200, json: async () => body } as Response;
      }) as typeof fetch,
      storage: { getItem: (key) => storage.get(key) ?? null, setItem: (key, value) => void storage.set(key, value), removeItem: (key) => void storage.delete(key) },
      currentUrl: () => COGNITO.redirectUri,
      replaceUrl: () => undefined,
      navigate: (url) => navigations.push(url),
      crypto: webcrypto as unknown as Crypto,
      now: () => clock.now(),
    };
    const { connection, sockets, statuses } = harness({ tokens: new CognitoTokenSource(COGNITO, deps), clock, maxConnectionMs: MAX_CONNECTION_MS });
    // No background renewal: the reconnect itself must refresh (as when the renewal could not).
    connection['scheduleRenewal'] = () => undefined;
    connection.start();
    await clock.advance(0);
    sockets[0]!.open();
    sockets[0]!.receive('snapshot');

    await clock.advance(3_600_000);
    sockets[0]!.drop(code, reason);
    await clock.advance(500);

    expect(navigations).toStrictEqual([]);
    expect(refreshes).toStrictEqual(['refresh-1']);
    expect(tokenId(sockets[1]!.url)).toBe('id-2');
    expect(statuses.some((status) => status.phase === 'signing-in')).toBe(false);
  });
});
