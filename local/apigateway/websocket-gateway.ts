import type { IncomingMessage } from 'node:http';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../clients';
import { WEBSOCKET_PATH_PREFIX, type WebSocketApiSpec, type WebSocketRouteSpec } from '../cloudformation/provision';
import { rejectUpgrade, type Edge, type EdgeHandler, type EdgeRequest, type EdgeResponse } from '../edge';
import type { LogFn } from '../emulators/types';
import { readBody, sendJson } from '../http';
import type { InvokeResult } from '../lambda/runtime';
import {
  authorizerDecision,
  authorizerEvent,
  connectEvent,
  disconnectEvent,
  gatewayId,
  messageEvent,
  methodArn,
  selectRoute,
  type ConnectionContext,
  type HandshakeRequest,
} from './websocket-events';

/** API Gateway's limits: a message (and a @connections POST) of at most 128 KiB. */
export const MAX_WEBSOCKET_MESSAGE_BYTES = 128 * 1024;
/** Routes API Gateway runs itself, on connecting and disconnecting; never for a client's message. */
const CONNECTION_ROUTES: ReadonlySet<string> = new Set(['$connect', '$disconnect']);
/** The SigV4 service of the @connections management API (ApiGatewayManagementApi). */
export const MANAGEMENT_SERVICE = 'execute-api';

export interface WebSocketGatewayOptions {
  apis: readonly WebSocketApiSpec[];
  /** Invokes a function of the template (the local Lambda runtime). */
  invoke: (functionName: string, event: unknown) => Promise<InvokeResult>;
  /** A connection with no message either way for this long is closed, as on AWS. @default 600000 (10 minutes) */
  idleTimeoutMs?: number;
  /** A connection is closed after this long, as on AWS. @default 7200000 (2 hours) */
  maxConnectionMs?: number;
  log?: LogFn;
}

/** A connection as GET @connections/{id} and status output describe it. */
export interface ConnectionInfo {
  connectionId: string;
  apiId: string;
  stage: string;
  connectedAt: Date;
  lastActiveAt: Date;
  sourceIp: string;
  userAgent?: string;
}

interface Connection {
  context: ConnectionContext;
  api: WebSocketApiSpec;
  socket: WebSocket;
  lastActiveAt: number;
  authorizer?: Record<string, unknown>;
  /** Set by DELETE @connections or a timeout, for the $disconnect event. */
  closeReason?: { statusCode: number; reason: string };
  idleTimer?: NodeJS.Timeout;
  maxTimer?: NodeJS.Timeout;
}

class HandshakeRefusal extends Error {
  override name = 'HandshakeRefusal';
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal Server Error', 502: 'Bad Gateway' };
/** The JSON body API Gateway answers a refused handshake with: `{"message": ...}`. */
const REFUSAL_MESSAGE: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Internal server error' };

/**
 * A local stand-in for API Gateway WebSocket APIs, driven by the template's AWS::ApiGatewayV2
 * resources: clients connect at `ws://<edge>/_ws/<apiId>/<stage>`; `$connect` runs the REQUEST
 * authorizer and then its integration before the handshake completes (a refusal is an HTTP
 * answer, as on AWS); messages are routed by the route selection expression; a close runs
 * `$disconnect`. Backends reach clients through the `@connections` management API behind the
 * edge (service `execute-api`): POST sends, GET describes, DELETE closes, and a connection that
 * is not open answers 410 GoneException.
 */
export class LocalWebSocketGateway {
  private readonly apis = new Map<string, WebSocketApiSpec>();
  private readonly live = new Map<string, Connection>();
  private readonly server = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_WEBSOCKET_MESSAGE_BYTES,
    // The client gets a subprotocol only when $connect answered with one, as on AWS.
    handleProtocols: (_protocols, request) => (request as IncomingMessage & { selectedProtocol?: string }).selectedProtocol ?? false,
  });
  private readonly log: LogFn;
  private readonly pending = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(private readonly options: WebSocketGatewayOptions) {
    for (const api of options.apis) this.apis.set(api.apiId, api);
    this.log = options.log ?? (() => undefined);
  }

  /** Serves the APIs on the edge: WebSocket handshakes under /_ws/ and the @connections API. */
  attach(edge: Edge): void {
    edge.routeUpgrade(WEBSOCKET_PATH_PREFIX, (req, socket, head) => this.handleUpgrade(req, socket, head));
    edge.register(MANAGEMENT_SERVICE, this.management);
  }

  connections(): ConnectionInfo[] {
    return [...this.live.values()].map((connection) => this.info(connection));
  }

  /** Resolves once every handshake, message and $disconnect under way has finished. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Closes every connection (1001 Going Away) without running $disconnect: the functions are stopping too. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const connection of this.live.values()) {
      clearTimeout(connection.idleTimer);
      clearTimeout(connection.maxTimer);
      connection.socket.terminate();
    }
    this.live.clear();
    await this.settle();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // -------------------------------------------------------------------------------------------
  // Connecting
  // -------------------------------------------------------------------------------------------

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const task = this.connect(req, socket, head).catch((error: unknown) => {
      if (error instanceof HandshakeRefusal) {
        this.log(`websocket: refused ${req.url?.split('?')[0] ?? ''} with ${error.status}: ${error.message}`);
        rejectUpgrade(socket, error.status, error.reason, JSON.stringify({ message: REFUSAL_MESSAGE[error.status] ?? error.reason }));
        return;
      }
      this.log(`websocket: the handshake failed: ${(error as Error).message}`);
      rejectUpgrade(socket, 500, 'Internal Server Error', JSON.stringify({ message: 'Internal server error' }));
    });
    this.track(task);
  }

  private async connect(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.stopped) throw new HandshakeRefusal(502, 'Bad Gateway', 'the local cloud is stopping');
    const url = new URL(req.url ?? '/', 'http://edge');
    let parts: string[];
    try {
      parts = url.pathname.slice(WEBSOCKET_PATH_PREFIX.length).split('/').map(decodeURIComponent);
    } catch {
      throw new HandshakeRefusal(400, 'Bad Request', 'the path has a malformed percent-encoding');
    }
    const [apiId = '', stage = '', ...rest] = parts;
    const api = this.apis.get(apiId);
    if (api === undefined || rest.some((part) => part !== '')) {
      throw new HandshakeRefusal(404, 'Not Found', `no WebSocket API at ${url.pathname}; known: ${[...this.apis.keys()].map((id) => `${WEBSOCKET_PATH_PREFIX}${id}/<stage>`).join(', ') || 'none'}`);
    }
    if (!api.stages.includes(stage)) throw new HandshakeRefusal(403, 'Forbidden', `API ${apiId} has no stage '${stage}'; its stages: ${api.stages.join(', ')}`);
    // A malformed handshake never reaches the authorizer (ws would refuse it only after $connect ran).
    if (req.method !== 'GET' || !/^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '') || req.headers['sec-websocket-version'] !== '13') {
      throw new HandshakeRefusal(400, 'Bad Request', 'not a WebSocket version 13 handshake');
    }

    const connectedAt = Date.now();
    const userAgent = req.headers['user-agent'];
    const context: ConnectionContext = {
      apiId,
      stage,
      connectionId: gatewayId(),
      connectedAt,
      domainName: req.headers.host ?? 'localhost',
      sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      ...(userAgent === undefined ? {} : { userAgent }),
    };
    const handshake: HandshakeRequest = {
      headers: pairs(req.rawHeaders),
      query: [...url.searchParams.entries()],
    };

    const route = api.routes.find((candidate) => candidate.routeKey === '$connect');
    let authorizer: Record<string, unknown> | undefined;
    if (route?.authorizationType === 'CUSTOM' && route.authorizer !== undefined) {
      authorizer = await this.authorize(route, context, handshake);
    } else if (route?.authorizationType === 'AWS_IAM') {
      this.log(`websocket: ${apiId} $connect uses AWS_IAM authorization, which is not checked locally`);
    }

    let selectedProtocol: string | undefined;
    if (route !== undefined) {
      const result = await this.options.invoke(route.functionName, connectEvent(context, handshake, authorizer));
      if (!result.ok) throw new HandshakeRefusal(500, 'Internal Server Error', `$connect failed: ${result.errorType}: ${result.errorMessage}`);
      const response = (result.payload ?? {}) as { statusCode?: unknown; headers?: Record<string, unknown> };
      const status = response.statusCode === undefined ? 200 : Number(response.statusCode);
      if (!(status >= 200 && status < 300)) {
        throw new HandshakeRefusal(status >= 400 && status < 600 ? status : 502, STATUS_TEXT[status] ?? 'Refused', `$connect answered ${String(response.statusCode)}`);
      }
      const protocolHeader = Object.entries(response.headers ?? {}).find(([name]) => name.toLowerCase() === 'sec-websocket-protocol')?.[1];
      if (typeof protocolHeader === 'string') selectedProtocol = protocolHeader;
    }

    if (socket.destroyed || this.stopped) {
      // The client gave up while $connect ran: it was connected as far as the backend knows.
      this.track(this.runDisconnect(api, context, authorizer, 1006, 'Client disconnected before the handshake completed'));
      return;
    }
    (req as IncomingMessage & { selectedProtocol?: string }).selectedProtocol = selectedProtocol;
    this.server.handleUpgrade(req, socket, head, (ws) => this.opened(api, context, ws, authorizer));
  }

  /** Runs the REQUEST authorizer; resolves with the context for the integrations, or refuses. */
  private async authorize(route: WebSocketRouteSpec, context: ConnectionContext, handshake: HandshakeRequest): Promise<Record<string, unknown>> {
    const authorizer = route.authorizer!;
    // As on AWS: a request lacking an identity source is refused without calling the authorizer.
    const missing = authorizer.identitySource.filter((source) => !hasIdentitySource(source, handshake));
    if (missing.length > 0) throw new HandshakeRefusal(401, 'Unauthorized', `identity source ${missing.join(', ')} is missing`);
    const started = Date.now();
    const result = await this.options.invoke(authorizer.functionName, authorizerEvent(LOCAL_REGION, LOCAL_ACCOUNT_ID, context, handshake));
    if (!result.ok) {
      // `throw new Error('Unauthorized')` is how a Lambda authorizer answers 401; any other error is a 500.
      if (result.errorMessage === 'Unauthorized') throw new HandshakeRefusal(401, 'Unauthorized', 'the authorizer answered Unauthorized');
      throw new HandshakeRefusal(500, 'Internal Server Error', `the authorizer failed: ${result.errorType}: ${result.errorMessage}`);
    }
    const decision = authorizerDecision(result.payload, methodArn(LOCAL_REGION, LOCAL_ACCOUNT_ID, context, '$connect'), Date.now() - started);
    if (decision.effect === 'Invalid') throw new HandshakeRefusal(500, 'Internal Server Error', `the authorizer's answer is invalid: ${decision.reason}`);
    if (decision.effect === 'Deny') throw new HandshakeRefusal(403, 'Forbidden', 'the authorizer denied the connection');
    return decision.authorizer;
  }

  private opened(api: WebSocketApiSpec, context: ConnectionContext, socket: WebSocket, authorizer?: Record<string, unknown>): void {
    const connection: Connection = { context, api, socket, lastActiveAt: Date.now(), authorizer };
    this.live.set(context.connectionId, connection);
    this.touch(connection);
    connection.maxTimer = setTimeout(
      () => this.close(connection, 1001, 'Going away', 'Connection exceeded the maximum duration'),
      this.options.maxConnectionMs ?? 7_200_000,
    ).unref();

    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
      this.touch(connection);
      this.track(this.onMessage(connection, bytes, isBinary));
    });
    socket.on('close', (code: number, reason: Buffer) => {
      clearTimeout(connection.idleTimer);
      clearTimeout(connection.maxTimer);
      this.live.delete(context.connectionId);
      if (this.stopped) return;
      const closed = connection.closeReason ?? { statusCode: code, reason: reason.toString() || defaultCloseReason(code) };
      this.track(this.runDisconnect(api, context, authorizer, closed.statusCode, closed.reason));
    });
    socket.on('error', (error) => this.log(`websocket ${context.connectionId}: ${error.message}`));
  }

  // -------------------------------------------------------------------------------------------
  // Messages and disconnects
  // -------------------------------------------------------------------------------------------

  private async onMessage(connection: Connection, bytes: Buffer, isBinary: boolean): Promise<void> {
    const { api, context } = connection;
    const body = isBinary ? bytes.toString('base64') : bytes.toString('utf8');
    // API Gateway routes client messages only to custom routes or $default: a frame naming
    // `$connect` or `$disconnect` must not run them (it would delete a live connection's item).
    const routeKeys = new Set(api.routes.map((route) => route.routeKey).filter((key) => !CONNECTION_ROUTES.has(key)));
    const routeKey = isBinary ? '$default' : selectRoute(api.routeSelectionExpression, body, routeKeys);
    const route = api.routes.find((candidate) => candidate.routeKey === routeKey);
    const requestId = gatewayId();
    if (route === undefined) {
      this.send(connection, JSON.stringify({ message: 'Forbidden', connectionId: context.connectionId, requestId }));
      return;
    }
    const result = await this.options.invoke(route.functionName, messageEvent(context, routeKey, body, isBinary, connection.authorizer));
    if (!result.ok) {
      this.log(`websocket ${context.connectionId}: ${routeKey} failed: ${result.errorType}: ${result.errorMessage}`);
      this.send(connection, JSON.stringify({ message: 'Internal server error', connectionId: context.connectionId, requestId }));
      return;
    }
    // A two-way route (with a route response) sends the integration's body back to the client.
    const responseBody = (result.payload as { body?: unknown } | null)?.body;
    if (route.returnsResponse && typeof responseBody === 'string' && responseBody !== '') this.send(connection, responseBody);
  }

  private async runDisconnect(api: WebSocketApiSpec, context: ConnectionContext, authorizer: Record<string, unknown> | undefined, statusCode: number, reason: string): Promise<void> {
    const route = api.routes.find((candidate) => candidate.routeKey === '$disconnect');
    if (route === undefined || this.stopped) return;
    const result = await this.options.invoke(route.functionName, disconnectEvent(context, statusCode, reason, authorizer));
    if (!result.ok) this.log(`websocket ${context.connectionId}: $disconnect failed: ${result.errorType}: ${result.errorMessage}`);
  }

  private close(connection: Connection, statusCode: number, reason: string, disconnectReason: string): void {
    if (this.live.get(connection.context.connectionId) !== connection) return;
    connection.closeReason = { statusCode, reason: disconnectReason };
    this.live.delete(connection.context.connectionId);
    connection.socket.close(statusCode, reason);
    // A client that does not answer the close frame is cut off, as API Gateway does.
    const timer = setTimeout(() => connection.socket.terminate(), 2000);
    timer.unref();
  }

  private send(connection: Connection, data: string | Buffer): void {
    const binary = typeof data !== 'string' && !isUtf8(data);
    connection.socket.send(data, { binary });
    this.touch(connection);
  }

  /** Any message, either way, restarts the idle timeout. */
  private touch(connection: Connection): void {
    connection.lastActiveAt = Date.now();
    if (connection.idleTimer !== undefined) {
      connection.idleTimer.refresh();
      return;
    }
    connection.idleTimer = setTimeout(
      () => this.close(connection, 1001, 'Going away', 'Connection idle timeout'),
      this.options.idleTimeoutMs ?? 600_000,
    ).unref();
  }

  private track(task: Promise<unknown>): void {
    const settled = task.catch((error: unknown) => this.log(`websocket: ${(error as Error).message}`)).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  private info(connection: Connection): ConnectionInfo {
    const { context } = connection;
    return {
      connectionId: context.connectionId,
      apiId: context.apiId,
      stage: context.stage,
      connectedAt: new Date(context.connectedAt),
      lastActiveAt: new Date(connection.lastActiveAt),
      sourceIp: context.sourceIp,
      ...(context.userAgent === undefined ? {} : { userAgent: context.userAgent }),
    };
  }

  // -------------------------------------------------------------------------------------------
  // The @connections management API
  // -------------------------------------------------------------------------------------------

  /**
   * `POST|GET|DELETE [/<stage>]/@connections/<connectionId>`, as ApiGatewayManagementApiClient
   * sends them (restJson1; errors named by `x-amzn-errortype`, which the SDK maps to GoneException,
   * PayloadTooLargeException, ...).
   */
  readonly management: EdgeHandler = async (req: EdgeRequest, res: EdgeResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const match = /^(?:\/[^/@]+)?\/@connections\/([^/]+)\/?$/.exec(path);
    if (match === null) {
      managementError(res, 404, 'NotFoundException', `No @connections operation at ${req.method ?? '?'} ${path}`);
      return;
    }
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(match[1]!);
    } catch {
      managementError(res, 400, 'BadRequestException', `Invalid connection id ${match[1]!}`);
      return;
    }
    const method = req.method ?? 'GET';
    const body = method === 'POST' ? await readBody(req, MAX_WEBSOCKET_MESSAGE_BYTES) : Buffer.alloc(0);
    const connection = this.live.get(connectionId);
    if (body === undefined) {
      managementError(res, 413, 'PayloadTooLargeException', `Message too long: the limit is ${MAX_WEBSOCKET_MESSAGE_BYTES} bytes`);
      return;
    }
    if (!['POST', 'GET', 'DELETE'].includes(method)) {
      managementError(res, 404, 'NotFoundException', `No @connections operation at ${method} ${path}`);
      return;
    }
    if (connection === undefined || connection.socket.readyState !== connection.socket.OPEN) {
      managementError(res, 410, 'GoneException', `Connection ${connectionId} is gone`);
      return;
    }
    switch (method) {
      case 'POST':
        this.send(connection, body);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 0 });
        res.end();
        return;
      case 'GET': {
        const info = this.info(connection);
        sendJson(res, 200, {
          connectedAt: info.connectedAt.toISOString(),
          identity: { sourceIp: info.sourceIp, ...(info.userAgent === undefined ? {} : { userAgent: info.userAgent }) },
          lastActiveAt: info.lastActiveAt.toISOString(),
        });
        return;
      }
      case 'DELETE':
        this.close(connection, 1000, '', 'Connection deleted through the @connections API');
        res.writeHead(204);
        res.end();
        return;
    }
  };
}

function managementError(res: EdgeResponse, status: number, errorType: string, message: string): void {
  sendJson(res, status, { message }, { 'x-amzn-errortype': errorType });
}

/** `rawHeaders` ([name, value, name, value, ...]) as pairs, with names as the client wrote them. */
function pairs(raw: string[]): [string, string][] {
  const result: [string, string][] = [];
  for (let index = 0; index + 1 < raw.length; index += 2) result.push([raw[index]!, raw[index + 1]!]);
  return result;
}

/** Whether the handshake carries an identity source such as `route.request.querystring.token`. */
function hasIdentitySource(source: string, handshake: HandshakeRequest): boolean {
  const query = /^route\.request\.querystring\.(.+)$/.exec(source);
  if (query !== null) return handshake.query.some(([name, value]) => name === query[1] && value !== '');
  const header = /^route\.request\.header\.(.+)$/.exec(source);
  if (header !== null) return handshake.headers.some(([name, value]) => name.toLowerCase() === header[1]!.toLowerCase() && value !== '');
  // Stage variables and context sources are always present locally.
  return true;
}

function defaultCloseReason(code: number): string {
  if (code === 1005) return 'Client-side close frame status not set';
  if (code === 1006) return 'Connection closed abnormally';
  if (code === 1001) return 'Going away';
  return '';
}
