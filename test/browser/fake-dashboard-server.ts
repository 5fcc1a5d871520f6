import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ClientMessage, PROTOCOL_VERSION, type DashboardConfig, type ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { messageText } from '../support/websocket';
import type { Browser, Page } from 'playwright-core';
import { closeServer, collectPageErrors, launchChromium, listen, serveDashboard, type DashboardSite } from './support';

/**
 * A stand-in for the dashboard's WebSocket API that speaks contracts/dashboard.ts: it issues dev
 * tokens, authorizes `?token=` at the upgrade (401 otherwise, and for an expired token, as API
 * Gateway's authorizer does), answers `subscribe` with a snapshot and pushes whatever a test
 * broadcasts. It can die (`kill`), come back on the same port (`restart`), or stay up and refuse
 * every handshake (`refuse`). It also plays Cognito's managed login (`cognitoConfig`): an
 * authorize endpoint that signs in at once and redirects back with a code, and a token endpoint
 * for the code and refresh_token grants. Tokens live `tokenLifetimeSeconds`, and connections
 * are closed after `maxConnectionMs` (1001 Going away, as API Gateway does at 2 hours).
 */

const MINUTE = 60_000;

function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

export interface FakeServerOptions {
  /** Life of every token issued (dev, code exchange, refresh). @default 3600 */
  readonly tokenLifetimeSeconds?: number;
  /** The server closes a connection this long after it opened. @default - never */
  readonly maxConnectionMs?: number;
  /** Server time (the messages' `sentAt`), e.g. fixed for a deterministic page. @default - the real clock, 5 s into a minute at start */
  readonly now?: () => number;
}

/** A request to the Cognito token endpoint, and the ID token it issued (undefined when refused). */
export interface TokenGrant {
  readonly at: number;
  readonly grantType: string;
  /** The refresh token the request presented. */
  readonly refreshToken: string | undefined;
  readonly idToken: string | undefined;
  /** The refresh token the answer carried (the code exchange's). */
  readonly issuedRefreshToken?: string;
}

/** A WebSocket connection the server accepted. */
export interface FakeConnection {
  readonly token: string;
  readonly openedAt: number;
  closedAt?: number;
  closeCode?: number;
  /** `server`: the connection limit (or kill/refuse) ended it; `client`: the page closed it. */
  closedBy?: 'client' | 'server';
}

export interface FakeDashboardServer {
  readonly port: number;
  /** Dev-token mode. */
  readonly config: DashboardConfig;
  /** Cognito mode: managed login and token endpoint on this server, redirecting back to `redirectUri`. */
  cognitoConfig(redirectUri: string, extra?: Partial<DashboardConfig>): DashboardConfig;
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
  /** Every connection accepted, in order. */
  readonly connections: readonly FakeConnection[];
  /** Dev tokens issued, in order. */
  readonly devTokens: readonly string[];
  /** Requests to the Cognito token endpoint, in order. */
  readonly grants: readonly TokenGrant[];
  /** Visits to the Cognito authorize endpoint (sign-ins). */
  readonly authorizations: number;
  /** The token endpoint answers 401 while this is set. */
  denyTokens: boolean;
  /** The Cognito token endpoint refuses refresh tokens (invalid_grant) while this is set. */
  refuseRefresh: boolean;
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

export async function startFakeDashboardServer({ tokenLifetimeSeconds = 3600, maxConnectionMs, now: clock }: FakeServerOptions = {}): Promise<FakeDashboardServer> {
  const issued = new Set<string>();
  const clients = new Set<WebSocket>();
  const attempts: number[] = [];
  const subscriptions: string[] = [];
  const connections: FakeConnection[] = [];
  const serverSide = new WeakMap<WebSocket, FakeConnection>();
  const devTokens: string[] = [];
  const grants: TokenGrant[] = [];
  const codes = new Set<string>();
  const refreshTokens = new Set<string>();
  let authorizations = 0;
  let refusing = false;
  const wss = new WebSocketServer({ noServer: true });
  const realStart = Date.now();
  const offset = 5_000 - (realStart % MINUTE);
  const now = clock ?? (() => Date.now() + offset);

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
    const token = issue();
    devTokens.push(token);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
  };

  const issue = (): string => {
    const iat = Math.floor(Date.now() / 1000);
    const token = fakeJwt({ sub: 'dev', iat, exp: iat + tokenLifetimeSeconds, jti: randomUUID() });
    issued.add(token);
    return token;
  };

  /** Managed login with a user already signed in: straight back to redirect_uri with a code. */
  const authorizeEndpoint = (req: IncomingMessage, res: ServerResponse) => {
    authorizations += 1;
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const back = new URL(query.get('redirect_uri') ?? '');
    const code = randomUUID();
    codes.add(code);
    back.searchParams.set('code', code);
    back.searchParams.set('state', query.get('state') ?? '');
    res.writeHead(302, { location: back.toString() }).end();
  };

  /** Cognito's /oauth2/token for a public client: the authorization_code and refresh_token grants. */
  const cognitoTokenEndpoint = async (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('access-control-allow-origin', '*');
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const form = new URLSearchParams(body);
    const grantType = form.get('grant_type') ?? '';
    const refreshToken = form.get('refresh_token') ?? undefined;
    const refuse = () => {
      grants.push({ at: Date.now(), grantType, refreshToken, idToken: undefined });
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant' }));
    };
    let answer: Record<string, string | number>;
    if (grantType === 'authorization_code' && codes.delete(form.get('code') ?? '')) {
      const newRefreshToken = randomUUID();
      refreshTokens.add(newRefreshToken);
      answer = { id_token: issue(), refresh_token: newRefreshToken };
    } else if (grantType === 'refresh_token' && refreshToken !== undefined && refreshTokens.has(refreshToken) && !fake.refuseRefresh) {
      // No rotation, as Cognito's default: the refresh token stays the same.
      answer = { id_token: issue() };
    } else {
      refuse();
      return;
    }
    grants.push({ at: Date.now(), grantType, refreshToken, idToken: answer.id_token as string, issuedRefreshToken: answer.refresh_token as string | undefined });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...answer, access_token: 'unused', expires_in: tokenLifetimeSeconds, token_type: 'Bearer' }));
  };

  const expired = (token: string): boolean => {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number };
    return claims.exp * 1000 <= Date.now();
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    attempts.push(Date.now());
    const token = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
    const refuseWith = refusing ? '503 Service Unavailable' : issued.has(token) && !expired(token) ? undefined : '401 Unauthorized';
    if (refuseWith !== undefined) {
      socket.end(`HTTP/1.1 ${refuseWith}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      const connection: FakeConnection = { token, openedAt: Date.now() };
      connections.push(connection);
      serverSide.set(ws, connection);
      const limit =
        maxConnectionMs === undefined
          ? undefined
          : setTimeout(() => {
              connection.closedBy ??= 'server';
              ws.close(1001, 'Going away');
            }, maxConnectionMs);
      ws.on('close', (code) => {
        clearTimeout(limit);
        clients.delete(ws);
        connection.closedAt = Date.now();
        connection.closeCode = code;
        connection.closedBy ??= 'client';
      });
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
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === '/dev-token') tokenEndpoint(req, res);
      else if (path === '/oauth2/authorize') authorizeEndpoint(req, res);
      else if (path === '/oauth2/token') void cognitoTokenEndpoint(req, res);
      else res.writeHead(404).end();
    });
    server.on('upgrade', upgrade);
    return server;
  };

  let server = createHttpServer();
  const port = await listen(server, 0);

  const dropClients = () => {
    for (const client of clients) {
      const connection = serverSide.get(client);
      if (connection !== undefined) connection.closedBy ??= 'server';
      client.terminate();
    }
    clients.clear();
  };

  const fake: FakeDashboardServer = {
    port,
    config: { webSocketUrl: `ws://127.0.0.1:${port}/live`, auth: { mode: 'dev', tokenUrl: `http://127.0.0.1:${port}/dev-token` }, allowedLatenessSeconds: 60 },
    cognitoConfig: (redirectUri, extra = {}) => ({
      webSocketUrl: `ws://127.0.0.1:${port}/live`,
      auth: { mode: 'cognito', domain: `http://127.0.0.1:${port}`, clientId: 'fake-client', redirectUri },
      allowedLatenessSeconds: 60,
      ...extra,
    }),
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
    connections,
    devTokens,
    grants,
    get authorizations() {
      return authorizations;
    },
    denyTokens: false,
    refuseRefresh: false,
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

/** A fake server, the page served against it, and one Chromium page on it: the browser tests' fixture. */
export interface FakeDashboardFixture {
  fake: FakeDashboardServer;
  site: DashboardSite;
  browser: Browser;
  page: Page;
  /** Uncaught errors of `page`, as they happen. */
  pageErrors: string[];
  close(): Promise<void>;
}

export async function openFakeDashboard(viewport: { width: number; height: number }): Promise<FakeDashboardFixture> {
  const fake = await startFakeDashboardServer();
  const site = await serveDashboard(() => fake.config);
  const browser = await launchChromium();
  const page = await browser.newPage({ viewport });
  return {
    fake,
    site,
    browser,
    page,
    pageErrors: collectPageErrors(page),
    close: async () => {
      await browser.close();
      await site.close();
      await fake.close();
    },
  };
}
