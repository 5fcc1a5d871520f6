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
  constants as http2Constants,
  createServer as createHttp2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import { randomUUID } from 'node:crypto';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LogFn } from '../emulators/types';
import { clipClientInput } from '../../contracts/client-input';
import { dynamoDbBodyProblem, dynamoDbErrorBody, MAX_DYNAMODB_REQUEST_BYTES } from './dynamodb-guard';
import { signingService, targetService } from './routing';
import { AwsChunkedDecoder, isAwsChunked, unsignedPath, unsignHeaders } from './s3-compat';
import { s3ErrorXml, s3RequestProblem } from './s3-guard';

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

/**
 * What the edge tolerates from clients. Node's own HTTP timeouts never run on the edge's HTTP/1.1
 * server (it receives sockets from the protocol sniffer and never listens itself), so the edge
 * turns them on and adds its own for HTTP/2 streams and sessions.
 */
export interface EdgeLimits {
  /** A request's headers must have arrived this long after its first byte (or the connection), else 408 and close. @default 10000 */
  readonly headersTimeoutMs: number;
  /** A request, headers and body, must have arrived this long after its start, else 408 (HTTP/2: the stream is reset). @default 60000 */
  readonly requestTimeoutMs: number;
  /** A keep-alive connection or HTTP/2 session with nothing to do for this long is closed. @default 60000 */
  readonly idleTimeoutMs: number;
  /** Connections open at once; one more is answered 503 with Retry-After and closed. @default 2048 */
  readonly maxConnections: number;
  /** How long a request for a service that is starting or restarting waits for it before 503 with Retry-After. @default 3000 */
  readonly readinessWaitMs: number;
}

export const DEFAULT_EDGE_LIMITS: EdgeLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  maxConnections: 2048,
  readinessWaitMs: 3000,
};

/** A service's state as `/_localstack/health` reports it. */
export type ServiceStatus = 'running' | 'starting' | 'restarting' | 'error';

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
  /**
   * Services that are starting and will be registered soon: until then their requests wait (up to
   * `readinessWaitMs`), then get 503 with Retry-After, which SDKs retry, instead of a 400
   * UnknownServiceException, which they do not. @default - none
   */
  readonly pendingServices?: readonly string[];
  /** Timeouts and limits; each defaults as in {@link DEFAULT_EDGE_LIMITS}. */
  readonly limits?: Partial<EdgeLimits>;
}

export interface Edge {
  /** `http://<host>:<port>` */
  readonly url: string;
  readonly port: number;
  /** Routes requests signed for `service` (a SigV4 signing name, e.g. `execute-api`) to `target`. */
  register(service: string, target: EdgeTarget): void;
  unregister(service: string): void;
  /**
   * Takes a service out of rotation while it starts or restarts (or has failed): its requests wait
   * for it up to `readinessWaitMs`, then get 503 with Retry-After. `register` puts it back.
   */
  setUnavailable(service: string, status: Exclude<ServiceStatus, 'running'>, detail?: string): void;
  /** Every service the edge knows, with its status and, when not running, why. */
  health(): Record<string, { status: ServiceStatus; detail?: string }>;
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
  const limits = edgeLimits(options.limits);
  const routes = new Map<string, Route>();
  /** Services out of rotation (starting, restarting, failed), with why. */
  const unavailable = new Map<string, { status: Exclude<ServiceStatus, 'running'>; detail?: string }>();
  for (const service of options.pendingServices ?? []) unavailable.set(service, { status: 'starting' });
  /** Requests waiting for a service to come back, woken on register. */
  const waiters = new Set<() => void>();
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
    unavailable.delete(service);
    for (const wake of [...waiters]) wake();
  };

  const health = (): Record<string, { status: ServiceStatus; detail?: string }> => {
    const all: Record<string, { status: ServiceStatus; detail?: string }> = {};
    for (const name of [...new Set([...routes.keys(), ...unavailable.keys()])].sort()) {
      const down = unavailable.get(name);
      all[name] = down === undefined ? { status: 'running' } : { status: down.status, ...(down.detail === undefined ? {} : { detail: down.detail }) };
    }
    return all;
  };

  /** Waits until `service` is registered (true) or `readinessWaitMs` passed (false). */
  const waitForService = (service: string): Promise<boolean> =>
    new Promise((resolve) => {
      const done = (): void => {
        if (!routes.has(service) && !timedOut) return;
        clearTimeout(timer);
        waiters.delete(done);
        resolve(routes.has(service));
      };
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        done();
      }, limits.readinessWaitMs);
      waiters.add(done);
    });

  const dispatch = (route: Route, req: EdgeRequest, res: EdgeResponse): void => {
    if (route.handler) {
      runHandler(route, req, res, log);
      return;
    }
    if (route.upstream === undefined) return;
    if (route.service === 's3') {
      const refusal = s3RequestProblem(req.url ?? '/', req.headers);
      if (refusal !== undefined) {
        req.resume();
        sendText(res, refusal.status, s3ErrorXml(refusal, requestId()), 'application/xml');
        return;
      }
    }
    if (route.service === 'dynamodb') {
      void proxyCheckedDynamoDb(route.upstream, req, res, log);
      return;
    }
    proxy(route.service, route.upstream, req, res, log, { observer: observers.get(route.service) });
  };
  for (const [service, target] of Object.entries(options.targets ?? {})) register(service, target);

  const onRequest = (req: EdgeRequest, res: EdgeResponse): void => {
    const url = req.url ?? '/';
    const headers = req.headers;
    let service = signingService(headers, url);
    if (service === undefined) {
      if ((req.method === 'GET' || req.method === 'HEAD') && HEALTH_PATHS.has(url.split('?')[0] ?? '')) {
        const all = health();
        const details = Object.entries(all).filter(([, entry]) => entry.detail !== undefined);
        sendJson(res, 200, {
          services: Object.fromEntries(Object.entries(all).map(([name, entry]) => [name, entry.status])),
          ...(details.length === 0 ? {} : { details: Object.fromEntries(details.map(([name, entry]) => [name, entry.detail])) }),
        });
        return;
      }
      const pathHandler = byPrefix(pathRoutes, url);
      if (pathHandler !== undefined) {
        runHandler({ service: `path ${url.split('?')[0]}`, handler: pathHandler }, req, res, log);
        return;
      }
      service = targetService(headers) ?? UNSIGNED_SERVICE;
    }
    if ('stream' in req) limitHttp2Request(req, limits.requestTimeoutMs);
    const route = routes.get(service);
    if (route) {
      dispatch(route, req, res);
      return;
    }
    const down = unavailable.get(service);
    if (down !== undefined) {
      const wanted = service;
      void waitForService(wanted).then((available) => {
        const now = routes.get(wanted);
        if (available && now !== undefined) {
          dispatch(now, req, res);
          return;
        }
        req.resume();
        const state = unavailable.get(wanted) ?? down;
        sendJson(
          res,
          503,
          { __type: 'ServiceUnavailableException', message: `The local '${wanted}' service is ${state.status}${state.detail === undefined ? '' : `: ${state.detail}`}; retry shortly` },
          { 'retry-after': '1' },
        );
      });
      return;
    }
    req.resume();
    sendJson(res, 400, {
      __type: 'UnknownServiceException',
      message: `The local cloud has no service '${clipClientInput(service)}' (from the request's SigV4 credential scope). Registered services: ${[...routes.keys()].sort().join(', ') || 'none'}`,
      service: clipClientInput(service),
    });
  };

  const http1 = createHttp1Server(
    {
      keepAliveTimeout: limits.idleTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // How often Node looks for requests past their timeouts.
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    onRequest,
  );
  // Node enforces headersTimeout and requestTimeout only once the server is 'listening'. This one
  // never listens (it is handed sockets by the sniffer), so it is told to start tracking them.
  http1.emit('listening');
  // Malformed HTTP and timed-out requests: an AWS-shaped answer instead of Node's bare 400.
  http1.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, limits));
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
  http2.on('session', (session) => {
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    // An HTTP/2 session with nothing going on is closed (gracefully, with GOAWAY), as keep-alive is for HTTP/1.1.
    session.setTimeout(limits.idleTimeoutMs, () => session.close());
  });
  http2.on('sessionError', (error) => log(`edge: HTTP/2 session error: ${error.message}`));

  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    socket.on('error', () => undefined);
    if (sockets.size >= limits.maxConnections) {
      refuseConnection(socket, limits.maxConnections);
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    sniffProtocol(socket, limits.headersTimeoutMs, (isHttp2) => (isHttp2 ? http2 : http1).emit('connection', socket));
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
    // Stops Node's timeout checks (the server itself never listened, so close reports that; ignored).
    http1.close(() => undefined);
    for (const wake of [...waiters]) wake();
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
      unavailable.delete(service);
    },
    setUnavailable: (service, status, detail) => {
      const previous = routes.get(service);
      routes.delete(service);
      previous?.upstream?.agent.destroy();
      unavailable.set(service, { status, ...(detail === undefined ? {} : { detail }) });
    },
    health,
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
function sniffProtocol(socket: Socket, firstBytesTimeoutMs: number, handOver: (isHttp2: boolean) => void): void {
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
  socket.setTimeout(firstBytesTimeoutMs, onSilence);
}

function runHandler(route: Route, req: EdgeRequest, res: EdgeResponse, log: LogFn): void {
  const fail = (error: unknown): void => {
    log(`edge: the in-process service '${route.service}' failed: ${error instanceof Error ? error.message : String(error)}`);
    sendJson(res, 500, {
      __type: 'InternalFailure',
      message: `The local service '${route.service}' failed while handling ${req.method ?? '?'} ${clipClientInput(req.url ?? '', 200)}`,
    });
  };
  try {
    const result = route.handler?.(req, res);
    if (result instanceof Promise) result.catch(fail);
  } catch (error) {
    fail(error);
  }
}

function edgeLimits(overrides: Partial<EdgeLimits> = {}): EdgeLimits {
  const limits = { ...DEFAULT_EDGE_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`Edge limit ${name} must be a positive integer. Received ${String(value)}`);
  }
  // Node refuses a headers timeout longer than the request timeout.
  return { ...limits, headersTimeoutMs: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) };
}

function requestId(): string {
  return randomUUID();
}

/**
 * Answers what Node's HTTP/1.1 parser rejects (malformed requests, oversized headers, requests
 * past their timeouts) in the shape AWS JSON clients read, and closes the connection.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex, limits: EdgeLimits): void {
  const inResponse = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
  if (error.code === 'ECONNRESET' || !socket.writable || inResponse) {
    socket.destroy();
    return;
  }
  const [status, reason, type, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'RequestTimeoutException', `The request was not received in time: headers within ${limits.headersTimeoutMs} ms, the whole request within ${limits.requestTimeoutMs} ms`]
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'RequestHeaderFieldsTooLarge', 'The request headers are too large']
        : [400, 'Bad Request', 'BadRequestException', `The request is not valid HTTP/1.1 (${error.code ?? 'parse error'})`];
  const body = JSON.stringify({ __type: type, message });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nx-amzn-ErrorType: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Answers a connection over the limit with 503 and Retry-After, then closes it. */
function refuseConnection(socket: Socket, maxConnections: number): void {
  const body = JSON.stringify({ __type: 'ServiceUnavailableException', message: `The edge has ${maxConnections} connections open, its limit; retry shortly` });
  socket.end(
    `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Resets an HTTP/2 stream whose request body has not fully arrived within `timeoutMs`. */
function limitHttp2Request(req: Http2ServerRequest, timeoutMs: number): void {
  const { stream } = req;
  if (stream.readableEnded || stream.destroyed) return;
  const timer = setTimeout(() => {
    if (!req.complete && !stream.destroyed) stream.close(http2Constants.NGHTTP2_CANCEL);
  }, timeoutMs);
  timer.unref();
  const clear = (): void => clearTimeout(timer);
  req.once('end', clear);
  stream.once('close', clear);
}

/**
 * DynamoDB requests are read whole and checked before DynamoDB Local sees them: it answers
 * invalid JSON with a 500 and stores lone surrogates as `?` (see dynamodb-guard.ts).
 */
async function proxyCheckedDynamoDb(upstream: Upstream, req: EdgeRequest, res: EdgeResponse, log: LogFn): Promise<void> {
  let body: Buffer | undefined;
  try {
    body = await readAll(req, MAX_DYNAMODB_REQUEST_BYTES);
  } catch {
    res.destroy();
    return;
  }
  if (body === undefined) {
    sendJson(res, 413, { __type: 'com.amazon.coral.service#RequestEntityTooLarge', message: `Request bodies are limited to ${MAX_DYNAMODB_REQUEST_BYTES} bytes` });
    return;
  }
  const refusal = dynamoDbBodyProblem(body);
  if (refusal !== undefined) {
    sendText(res, refusal.status, dynamoDbErrorBody(refusal), 'application/x-amz-json-1.0', { 'x-amzn-requestid': requestId() });
    return;
  }
  proxy('dynamodb', upstream, req, res, log, { body });
}

/** The whole body, or undefined past `limit` bytes (the rest is read and dropped). */
async function readAll(req: EdgeRequest, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length <= limit) chunks.push(chunk);
  }
  return length > limit ? undefined : Buffer.concat(chunks);
}

/**
 * Forwards one request (HTTP/1.1 or HTTP/2) to an HTTP/1.1 upstream and streams the answer back.
 * `body`, when given, is the request body already read (the request stream is then spent).
 */
function proxy(service: string, upstream: Upstream, req: EdgeRequest, res: EdgeResponse, log: LogFn, options: { body?: Buffer; observer?: ExchangeObserver } = {}): void {
  const { body, observer } = options;
  const isS3 = service === 's3';
  const headers = requestHeaders(req.headers);
  if (body !== undefined) headers['content-length'] = String(body.length);
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
  const observed = observeExchange(observer, req, log, body);
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

  if (body !== undefined) {
    outgoing.end(body);
  } else if (chunked) {
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
function observeExchange(observer: ExchangeObserver | undefined, req: EdgeRequest, log: LogFn, body?: Buffer): ((incoming: IncomingMessage) => void) | undefined {
  const onExchange = observer?.(req);
  if (onExchange === undefined) return undefined;
  // A body read before proxying (DynamoDB's checks) has left the request stream spent.
  const requestChunks: Buffer[] = body === undefined ? [] : [body];
  if (body === undefined) req.on('data', (chunk: Buffer) => requestChunks.push(chunk));
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

function sendJson(res: EdgeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), 'application/json', headers);
}

function sendText(res: EdgeResponse, status: number, payload: string, contentType: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}
