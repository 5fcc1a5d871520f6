import {
  Agent,
  createServer as createHttp1Server,
  request as httpRequest,
  ServerResponse,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import {
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LogFn } from '../emulators/types';
import { signingService, targetService } from './routing';
import { AwsChunkedDecoder, isAwsChunked, unsignedPath, unsignHeaders } from './s3-compat';

export type EdgeRequest = IncomingMessage | Http2ServerRequest;
export type EdgeResponse = ServerResponse | Http2ServerResponse;
/**
 * An in-process service. It receives HTTP/1.1 requests and HTTP/2 requests (compatibility API)
 * alike, so it should use only what both offer: method, url, headers, the body stream,
 * writeHead/setHeader/end.
 */
export type EdgeHandler = (req: EdgeRequest, res: EdgeResponse) => void | Promise<void>;
/** An upstream base URL (`http://127.0.0.1:4567`) or an in-process handler. */
export type EdgeTarget = string | EdgeHandler;
/**
 * Takes over an HTTP/1.1 upgrade request (a WebSocket handshake): it owns the socket from then on,
 * and must either complete the handshake or answer and close it. `head` holds the first bytes
 * after the request head, if any arrived with it.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
/**
 * Looks at a request proxied to a service; returns a callback for its complete request and
 * answer bodies, or undefined to look away. Telemetry uses it (records put per Kinesis shard);
 * it never alters or delays the exchange.
 */
export type ExchangeObserver = (req: EdgeRequest) => ((requestBody: Buffer, status: number, responseBody: Buffer) => void) | undefined;

export interface EdgeOptions {
  /** @default 4566 (LocalStack's); 0 lets the OS pick */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Services to route from the start, by SigV4 signing name. */
  readonly targets?: Readonly<Record<string, EdgeTarget>>;
  /** Receives one line per upstream failure. @default - silent */
  readonly log?: LogFn;
  /** Most concurrent connections to one upstream. @default 128 */
  readonly maxSocketsPerUpstream?: number;
}

export interface Edge {
  /** `http://<host>:<port>` */
  readonly url: string;
  readonly port: number;
  /** Routes requests signed for `service` (a SigV4 signing name, e.g. `execute-api`) to `target`. */
  register(service: string, target: EdgeTarget): void;
  unregister(service: string): void;
  /**
   * Serves unsigned requests whose path starts with `prefix` (e.g. `/_watershed/`) with `handler`,
   * before they fall back to S3. Browsers and JWKS fetchers do not sign their requests; prefixes
   * are chosen so that they can never be a bucket name (`_`, upper case) or a queue path.
   */
  routePath(prefix: string, handler: EdgeHandler): void;
  unroutePath(prefix: string): void;
  /** Hands HTTP/1.1 upgrade requests (WebSocket handshakes) whose path starts with `prefix` to `handler`. */
  routeUpgrade(prefix: string, handler: UpgradeHandler): void;
  unrouteUpgrade(prefix: string): void;
  /** Shows the exchanges proxied to `service` to `observer` (one per service). */
  observe(service: string, observer: ExchangeObserver): void;
  /** Registered service names, sorted. */
  services(): string[];
  stop(): Promise<void>;
}

interface Route {
  readonly service: string;
  readonly handler?: EdgeHandler;
  readonly upstream?: Upstream;
}

interface Upstream {
  readonly url: string;
  readonly hostname: string;
  readonly port: number;
  readonly basePath: string;
  readonly agent: Agent;
}

/** Default service of unsigned requests: S3 (browsers, curl, presigned-URL-less clients). */
const UNSIGNED_SERVICE = 's3';
const HEALTH_PATHS = new Set(['/_localstack/health', '/health']);
const SERVICE_NAME = /^[a-z0-9][a-z0-9.-]*$/;
/** Connection-level headers that must not be forwarded (and are illegal in HTTP/2). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'expect',
]);
const STREAM_WINDOW_BYTES = 1024 * 1024;
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
/** How long a new connection may stay silent before its first bytes. */
const FIRST_BYTES_TIMEOUT_MS = 30_000;
/** First bytes of the HTTP/2 client connection preface, `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`. */
const H2_PREFACE_START = Buffer.from('PRI ');

/**
 * Starts the edge: one port that routes each request to its service by the SigV4 credential
 * scope, and accepts HTTP/1.1 and HTTP/2 with prior knowledge (h2c) alike. HTTP/2 requests are
 * proxied to HTTP/1.1 upstreams. `GET /_localstack/health` (or `/health`) lists the services.
 */
export async function startEdge(options: EdgeOptions = {}): Promise<Edge> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? ((): void => undefined);
  const maxSockets = options.maxSocketsPerUpstream ?? 128;
  const routes = new Map<string, Route>();
  const pathRoutes = new Map<string, EdgeHandler>();
  const upgradeRoutes = new Map<string, UpgradeHandler>();
  const observers = new Map<string, ExchangeObserver>();

  const register = (service: string, target: EdgeTarget): void => {
    if (!SERVICE_NAME.test(service)) {
      throw new Error(`The edge service name must be a SigV4 signing name such as 'kinesis'. Received ${JSON.stringify(service)}`);
    }
    const previous = routes.get(service);
    routes.set(
      service,
      typeof target === 'function' ? { service, handler: target } : { service, upstream: upstreamOf(service, target, maxSockets) },
    );
    previous?.upstream?.agent.destroy();
  };
  for (const [service, target] of Object.entries(options.targets ?? {})) register(service, target);

  const onRequest = (req: EdgeRequest, res: EdgeResponse): void => {
    const url = req.url ?? '/';
    const headers = req.headers;
    let service = signingService(headers, url);
    if (service === undefined) {
      if ((req.method === 'GET' || req.method === 'HEAD') && HEALTH_PATHS.has(url.split('?')[0] ?? '')) {
        sendJson(res, 200, { services: Object.fromEntries([...routes.keys()].sort().map((name) => [name, 'running'])) });
        return;
      }
      const pathHandler = byPrefix(pathRoutes, url);
      if (pathHandler !== undefined) {
        runHandler({ service: `path ${url.split('?')[0]}`, handler: pathHandler }, req, res, log);
        return;
      }
      service = targetService(headers) ?? UNSIGNED_SERVICE;
    }
    const route = routes.get(service);
    if (!route) {
      sendJson(res, 400, {
        __type: 'UnknownServiceException',
        message: `The local cloud has no service '${service}' (from the request's SigV4 credential scope). Registered services: ${[...routes.keys()].sort().join(', ') || 'none'}`,
        service,
      });
      return;
    }
    if (route.handler) {
      runHandler(route, req, res, log);
      return;
    }
    if (route.upstream) proxy(route.service, route.upstream, req, res, log, observers.get(route.service));
  };

  const http1 = createHttp1Server({ keepAliveTimeout: 60_000 }, onRequest);
  // With an 'upgrade' listener, Node hands every request carrying `Upgrade` here instead of to
  // onRequest. Those no route takes (e.g. curl's `Upgrade: h2c` offer) are served as plain
  // HTTP/1.1, as before: a server may ignore an upgrade offer (RFC 9110, 7.8).
  http1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const handler = byPrefix(upgradeRoutes, req.url ?? '/');
    if (handler !== undefined && String(req.headers.upgrade).toLowerCase() === 'websocket') {
      try {
        handler(req, socket, head);
      } catch (error) {
        log(`edge: the upgrade handler for ${req.url ?? ''} failed: ${(error as Error).message}`);
        rejectUpgrade(socket, 500, 'Internal Server Error');
      }
      return;
    }
    if (String(req.headers.upgrade).toLowerCase() === 'websocket') {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (head.length > 0) socket.unshift(head);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    onRequest(req, res);
  });
  // Larger flow-control windows than HTTP/2's 64 KiB default, so that 5 MiB PutRecords bodies
  // and large GetRecords answers do not stall on window updates.
  const http2 = createHttp2Server({ settings: { initialWindowSize: STREAM_WINDOW_BYTES } }, onRequest);
  http2.on('session', (session) => session.setLocalWindowSize(SESSION_WINDOW_BYTES));
  http2.on('sessionError', (error) => log(`edge: HTTP/2 session error: ${error.message}`));

  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    sniffProtocol(socket, (isHttp2) => (isHttp2 ? http2 : http1).emit('connection', socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`The edge cannot listen on ${host}:${options.port ?? 4566}: the port is in use (is LocalStack or another local cloud running?)`)
          : error,
      ),
    );
    server.listen(options.port ?? 4566, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  let stopped: Promise<void> | undefined;
  const stop = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    http1.closeAllConnections();
    for (const route of routes.values()) route.upstream?.agent.destroy();
    await closed;
  };

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    register,
    unregister: (service) => {
      routes.get(service)?.upstream?.agent.destroy();
      routes.delete(service);
    },
    routePath: (prefix, handler) => {
      if (!prefix.startsWith('/')) throw new Error(`An edge path prefix starts with '/'. Received ${JSON.stringify(prefix)}`);
      pathRoutes.set(prefix, handler);
    },
    unroutePath: (prefix) => pathRoutes.delete(prefix),
    routeUpgrade: (prefix, handler) => {
      if (!prefix.startsWith('/')) throw new Error(`An edge path prefix starts with '/'. Received ${JSON.stringify(prefix)}`);
      upgradeRoutes.set(prefix, handler);
    },
    unrouteUpgrade: (prefix) => upgradeRoutes.delete(prefix),
    observe: (service, observer) => observers.set(service, observer),
    services: () => [...routes.keys()].sort(),
    stop: () => (stopped ??= stop()),
  };
}

/** The value registered under the longest prefix of the URL's path. */
function byPrefix<T>(table: ReadonlyMap<string, T>, url: string): T | undefined {
  if (table.size === 0) return undefined;
  const path = url.split('?')[0] ?? '/';
  let best: string | undefined;
  for (const prefix of table.keys()) if (path.startsWith(prefix) && (best === undefined || prefix.length > best.length)) best = prefix;
  return best === undefined ? undefined : table.get(best);
}

/** Refuses an upgrade with a plain HTTP/1.1 answer, then closes the socket. */
export function rejectUpgrade(socket: Duplex, status: number, reason: string, body = '', headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const lines = [
    `HTTP/1.1 ${status} ${reason}`,
    'Connection: close',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // A client that never reads its end keeps the socket half open; do not wait for it.
  setTimeout(() => socket.destroy(), 1000).unref();
}

function upstreamOf(service: string, target: string, maxSockets: number): Upstream {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol !== 'http:') {
    throw new Error(`The edge target of '${service}' must be an http:// URL or a request handler. Received ${JSON.stringify(target)}`);
  }
  return {
    url: url.origin,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || 80),
    basePath: url.pathname.replace(/\/$/, ''),
    agent: new Agent({ keepAlive: true, maxSockets, maxFreeSockets: Math.min(32, maxSockets), scheduling: 'lifo' }),
  };
}

/**
 * Waits for the first bytes of a connection and hands it over as HTTP/2 when they start the
 * HTTP/2 preface, else as HTTP/1.1. The bytes read are put back first.
 */
function sniffProtocol(socket: Socket, handOver: (isHttp2: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, H2_PREFACE_START.length);
    const matches = seen.subarray(0, compared).equals(H2_PREFACE_START.subarray(0, compared));
    if (matches && seen.length < H2_PREFACE_START.length) return;
    socket.removeListener('data', onData);
    socket.setTimeout(0);
    socket.removeListener('timeout', onSilence);
    socket.pause();
    socket.unshift(seen);
    handOver(matches);
    // The HTTP/2 session reads the bytes put back by itself; the HTTP/1.1 parser needs the
    // stream flowing again.
    if (!matches) socket.resume();
  };
  const onSilence = (): void => {
    socket.destroy();
  };
  socket.on('data', onData);
  socket.setTimeout(FIRST_BYTES_TIMEOUT_MS, onSilence);
}

function runHandler(route: Route, req: EdgeRequest, res: EdgeResponse, log: LogFn): void {
  const fail = (error: unknown): void => {
    log(`edge: the in-process service '${route.service}' failed: ${error instanceof Error ? error.message : String(error)}`);
    sendJson(res, 500, {
      __type: 'InternalFailure',
      message: `The local service '${route.service}' failed while handling ${req.method ?? '?'} ${req.url ?? ''}`,
    });
  };
  try {
    const result = route.handler?.(req, res);
    if (result instanceof Promise) result.catch(fail);
  } catch (error) {
    fail(error);
  }
}

/** Forwards one request (HTTP/1.1 or HTTP/2) to an HTTP/1.1 upstream and streams the answer back. */
function proxy(service: string, upstream: Upstream, req: EdgeRequest, res: EdgeResponse, log: LogFn, observer?: ExchangeObserver): void {
  const isS3 = service === 's3';
  const headers = requestHeaders(req.headers);
  const chunked = isS3 && isAwsChunked(headers);
  if (isS3) unsignHeaders(headers);
  const path = upstream.basePath + (isS3 ? unsignedPath(req.url ?? '/') : (req.url ?? '/'));

  const outgoing = httpRequest({
    agent: upstream.agent,
    hostname: upstream.hostname,
    port: upstream.port,
    method: req.method,
    path,
    headers,
    setHost: false,
  });
  const observed = observeExchange(observer, req, log);
  outgoing.on('response', (incoming) => {
    res.writeHead(incoming.statusCode ?? 502, responseHeaders(incoming.headers));
    incoming.pipe(res as NodeJS.WritableStream);
    observed?.(incoming);
    incoming.on('error', () => res.destroy());
  });
  outgoing.on('error', (error) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    log(`edge: ${service} upstream ${upstream.url} failed: ${error.message}`);
    sendJson(res, 502, {
      __type: 'ServiceUnavailableException',
      message: `The local '${service}' service at ${upstream.url} did not answer: ${error.message}`,
    });
  });
  res.on('close', () => {
    if (!res.writableFinished) outgoing.destroy();
  });

  if (chunked) {
    const decoder = new AwsChunkedDecoder();
    decoder.on('error', (error) => outgoing.destroy(error));
    req.pipe(decoder).pipe(outgoing);
  } else {
    req.pipe(outgoing);
  }
}

/**
 * Copies the request's and the answer's bytes for an observer that asked for them, beside the
 * pipes that carry them; an observer that throws is logged, and the exchange goes on.
 */
function observeExchange(observer: ExchangeObserver | undefined, req: EdgeRequest, log: LogFn): ((incoming: IncomingMessage) => void) | undefined {
  const onExchange = observer?.(req);
  if (onExchange === undefined) return undefined;
  const requestChunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => requestChunks.push(chunk));
  return (incoming) => {
    const responseChunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => responseChunks.push(chunk));
    incoming.on('end', () => {
      try {
        onExchange(Buffer.concat(requestChunks), incoming.statusCode ?? 0, Buffer.concat(responseChunks));
      } catch (error) {
        log(`edge: an exchange observer failed: ${(error as Error).message}`);
      }
    });
  };
}

/** Request headers for an HTTP/1.1 upstream: no HTTP/2 pseudo-headers, no hop-by-hop headers. */
function requestHeaders(incoming: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  const headers: Record<string, string | string[] | undefined> = {};
  for (const name in incoming) {
    if (name.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(name)) continue;
    headers[name] = incoming[name];
  }
  if (headers.host === undefined) {
    const authority = (incoming as Record<string, string | string[] | undefined>)[':authority'];
    if (typeof authority === 'string') headers.host = authority;
  }
  return headers;
}

function responseHeaders(incoming: IncomingHttpHeaders): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

function sendJson(res: EdgeResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}
