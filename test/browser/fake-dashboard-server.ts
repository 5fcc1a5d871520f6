import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ClientMessage, PROTOCOL_VERSION, type DashboardConfig, type ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { messageText } from '../support/websocket';
import { closeServer, listen } from './support';

/**
 * A stand-in for the dashboard's WebSocket API that speaks contracts/dashboard.ts: it issues dev
 * tokens, authorizes `?token=` at the upgrade (401 otherwise, as API Gateway does), answers
 * `subscribe` with a snapshot and pushes whatever a test broadcasts. It can die (`kill`), come back
 * on the same port (`restart`), or stay up and refuse every handshake (`refuse`).
 */

const MINUTE = 60_000;

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

export interface FakeDashboardServer {
  readonly port: number;
  readonly config: DashboardConfig;
  /** Server time: a fixed offset from the real clock, chosen so the test starts 5 s into a minute. */
  now(): number;
  minute(offset?: number): number;
  windowCount(url: string, count: number, options?: { minuteOffset?: number; delta?: number; final?: boolean; lateCount?: number }): WindowCount;
  /** What the next subscription is answered with. */
  snapshot: WindowCount[];
  /** Upgrade attempts, ms since epoch, including refused ones. */
  readonly attempts: number[];
  /** Tokens of the subscriptions received, in order. */
  readonly subscriptions: string[];
  readonly clients: ReadonlySet<WebSocket>;
  /** The token endpoint answers 401 while this is set. */
  denyTokens: boolean;
  message(type: 'snapshot' | 'windows', windows: WindowCount[]): string;
  broadcast(data: string): void;
  /** Drops every connection and stops listening. */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  /** Stays up but answers every upgrade with 503 (connections drop). */
  refuse(): void;
  accept(): void;
  close(): Promise<void>;
}

export async function startFakeDashboardServer(): Promise<FakeDashboardServer> {
  const issued = new Set<string>();
  const clients = new Set<WebSocket>();
  const attempts: number[] = [];
  const subscriptions: string[] = [];
  let refusing = false;
  const wss = new WebSocketServer({ noServer: true });
  const realStart = Date.now();
  const offset = 5_000 - (realStart % MINUTE);
  const now = () => Date.now() + offset;

  const tokenEndpoint = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('access-control-allow-origin', '*');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { 'access-control-allow-methods': 'POST' }).end();
      return;
    }
    if (fake.denyTokens) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"message":"Unauthorized"}');
      return;
    }
    const token = fakeJwt({ sub: 'dev', exp: Math.floor(Date.now() / 1000) + 3600 });
    issued.add(token);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    attempts.push(Date.now());
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
    const refuseWith = refusing ? '503 Service Unavailable' : issued.has(token) ? undefined : '401 Unauthorized';
    if (refuseWith !== undefined) {
      socket.end(`HTTP/1.1 ${refuseWith}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('message', (raw) => {
        const parsed = ClientMessage.safeParse(JSON.parse(messageText(raw)));
        if (!parsed.success || parsed.data.type !== 'subscribe') return;
        subscriptions.push(token);
        ws.send(fake.message('snapshot', fake.snapshot));
      });
    });
  };

  const createHttpServer = (): Server => {
    const server = createServer((req, res) => {
      if (req.url === '/dev-token') tokenEndpoint(req, res);
      else res.writeHead(404).end();
    });
    server.on('upgrade', upgrade);
    return server;
  };

  let server = createHttpServer();
  const port = await listen(server, 0);

  const dropClients = () => {
    for (const client of clients) client.terminate();
    clients.clear();
  };

  const fake: FakeDashboardServer = {
    port,
    config: { webSocketUrl: `ws://127.0.0.1:${port}/live`, auth: { mode: 'dev', tokenUrl: `http://127.0.0.1:${port}/dev-token` }, allowedLatenessSeconds: 60 },
    now,
    minute: (minuteOffset = 0) => Math.floor(now() / MINUTE) * MINUTE + minuteOffset * MINUTE,
    windowCount: (url, count, { minuteOffset = 0, delta = 0, final = minuteOffset < -1, lateCount = 0 } = {}) => {
      const start = fake.minute(minuteOffset);
      return { url, windowStart: new Date(start).toISOString(), windowEnd: new Date(start + MINUTE).toISOString(), count, lateCount, delta, final };
    },
    snapshot: [],
    attempts,
    subscriptions,
    clients,
    denyTokens: false,
    message: (type, windows) => JSON.stringify({ v: PROTOCOL_VERSION, type, sentAt: new Date(now()).toISOString(), windows } satisfies ServerMessage),
    broadcast: (data) => {
      for (const client of clients) client.send(data);
    },
    kill: async () => {
      dropClients();
      await closeServer(server);
    },
    restart: async () => {
      server = createHttpServer();
      await listen(server, port);
    },
    refuse: () => {
      refusing = true;
      dropClients();
    },
    accept: () => {
      refusing = false;
    },
    close: async () => {
      dropClients();
      wss.close();
      if (server.listening) await closeServer(server);
    },
  };
  return fake;
}
