import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../contracts/dashboard';
import { UnauthorizedError, type TokenSource } from '../../web/src/auth';
import { backoffDelay, LiveConnection, withToken, type Clock, type ConnectionStatus, type SocketLike } from '../../web/src/connection';

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

function harness({ tokens }: { tokens?: TokenSource } = {}) {
  const clock = new ManualClock();
  const sockets: FakeSocket[] = [];
  const statuses: ConnectionStatus[] = [];
  const messages: unknown[] = [];
  const tokenRequests: boolean[] = [];
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
    createSocket: (url) => {
      const socket = new FakeSocket(url);
      sockets.push(socket);
      return socket;
    },
    clock,
    // The top of each jitter range, so delays are exact.
    random: () => 1,
  });
  return { clock, sockets, statuses, messages, tokenRequests, connection, last: () => sockets.at(-1)! };
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
