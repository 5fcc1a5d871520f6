import { randomBytes } from 'node:crypto';

/**
 * The events API Gateway sends a WebSocket API's Lambda authorizer and AWS_PROXY integrations.
 * Shapes follow what API Gateway sends (and what Powertools' APIGatewayProxyWebsocketEventSchema
 * and @types/aws-lambda's APIGatewayProxyWebsocketEventV2 describe):
 * - the REQUEST authorizer and `$connect` get the handshake's headers and query string;
 * - `$disconnect` gets the few headers API Gateway adds itself;
 * - messages get only the body (and `messageId`), no headers.
 */

/** What stays the same for every event of one connection. */
export interface ConnectionContext {
  apiId: string;
  stage: string;
  connectionId: string;
  connectedAt: number;
  domainName: string;
  sourceIp: string;
  userAgent?: string;
}

/** The handshake request, as the authorizer and `$connect` see it. */
export interface HandshakeRequest {
  /** Header name (as the client wrote it) -> values, in order. */
  headers: [string, string][];
  /** Parameter -> values, in order. */
  query: [string, string][];
}

export interface WebSocketRequestContext {
  routeKey: string;
  authorizer?: Record<string, unknown>;
  messageId?: string;
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  extendedRequestId: string;
  requestTime: string;
  messageDirection: 'IN';
  disconnectStatusCode?: number;
  disconnectReason?: string;
  stage: string;
  connectedAt: number;
  requestTimeEpoch: number;
  identity: { sourceIp: string; userAgent?: string };
  requestId: string;
  domainName: string;
  connectionId: string;
  apiId: string;
}

/** Ids in API Gateway's style: 16 base64 characters, e.g. `L0SM9cOFvHcCIhw=`. */
export function gatewayId(): string {
  return randomBytes(11).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Common Log Format time, as `requestTime` holds it: `19/Jan/2023:21:13:26 +0000`. */
export function clfTime(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

export function requestContext(
  connection: ConnectionContext,
  routeKey: string,
  eventType: WebSocketRequestContext['eventType'],
  extra: Pick<WebSocketRequestContext, 'authorizer' | 'messageId' | 'disconnectStatusCode' | 'disconnectReason'> = {},
): WebSocketRequestContext {
  const now = Date.now();
  const requestId = gatewayId();
  return {
    routeKey,
    ...(extra.authorizer === undefined ? {} : { authorizer: extra.authorizer }),
    ...(extra.messageId === undefined ? {} : { messageId: extra.messageId }),
    eventType,
    extendedRequestId: requestId,
    requestTime: clfTime(now),
    messageDirection: 'IN',
    ...(extra.disconnectStatusCode === undefined ? {} : { disconnectStatusCode: extra.disconnectStatusCode }),
    ...(extra.disconnectReason === undefined ? {} : { disconnectReason: extra.disconnectReason }),
    stage: connection.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: now,
    identity: { sourceIp: connection.sourceIp, ...(connection.userAgent === undefined ? {} : { userAgent: connection.userAgent }) },
    requestId,
    domainName: connection.domainName,
    connectionId: connection.connectionId,
    apiId: connection.apiId,
  };
}

/** API Gateway's single-value view keeps the last value; the multi-value view keeps them all. */
function views(pairs: [string, string][]): { single: Record<string, string>; multi: Record<string, string[]> } {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of pairs) {
    single[name] = value;
    (multi[name] ??= []).push(value);
  }
  return { single, multi };
}

/** The headers API Gateway adds to the handshake it forwards. */
function forwardedHeaders(connection: ConnectionContext, headers: [string, string][]): [string, string][] {
  const port = connection.domainName.split(':')[1] ?? '80';
  return [
    ...headers,
    ['X-Amzn-Trace-Id', `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`],
    ['X-Forwarded-For', connection.sourceIp],
    ['X-Forwarded-Port', port],
    ['X-Forwarded-Proto', 'http'],
  ];
}

function handshakeViews(connection: ConnectionContext, request: HandshakeRequest) {
  const headers = views(forwardedHeaders(connection, request.headers));
  const query = views(request.query);
  return {
    headers: headers.single,
    multiValueHeaders: headers.multi,
    ...(request.query.length === 0 ? {} : { queryStringParameters: query.single, multiValueQueryStringParameters: query.multi }),
  };
}

export function methodArn(region: string, accountId: string, connection: ConnectionContext, routeKey: string): string {
  return `arn:aws:execute-api:${region}:${accountId}:${connection.apiId}/${connection.stage}/${routeKey}`;
}

/** The REQUEST authorizer's event for `$connect`. */
export function authorizerEvent(region: string, accountId: string, connection: ConnectionContext, request: HandshakeRequest) {
  const { queryStringParameters = null, multiValueQueryStringParameters = null, ...handshake } = handshakeViews(connection, request);
  return {
    type: 'REQUEST',
    methodArn: methodArn(region, accountId, connection, '$connect'),
    headers: handshake.headers,
    multiValueHeaders: handshake.multiValueHeaders,
    queryStringParameters,
    multiValueQueryStringParameters,
    stageVariables: {},
    requestContext: requestContext(connection, '$connect', 'CONNECT'),
    isBase64Encoded: false,
  };
}

export function connectEvent(connection: ConnectionContext, request: HandshakeRequest, authorizer?: Record<string, unknown>) {
  return {
    ...handshakeViews(connection, request),
    requestContext: requestContext(connection, '$connect', 'CONNECT', { authorizer }),
    isBase64Encoded: false,
  };
}

export function messageEvent(connection: ConnectionContext, routeKey: string, body: string, isBase64Encoded: boolean, authorizer?: Record<string, unknown>) {
  return {
    requestContext: requestContext(connection, routeKey, 'MESSAGE', { authorizer, messageId: gatewayId() }),
    body,
    isBase64Encoded,
  };
}

export function disconnectEvent(connection: ConnectionContext, statusCode: number, reason: string, authorizer?: Record<string, unknown>) {
  const { single, multi } = views([
    ['Host', connection.domainName],
    ['x-api-key', ''],
    ['X-Forwarded-For', ''],
    ['x-restapi', ''],
  ]);
  return {
    headers: single,
    multiValueHeaders: multi,
    requestContext: requestContext(connection, '$disconnect', 'DISCONNECT', { authorizer, disconnectStatusCode: statusCode, disconnectReason: reason }),
    isBase64Encoded: false,
  };
}

/**
 * The route key a message selects: the value at the selection expression's path in the JSON body
 * (`$request.body.action` -> `body.action`) when a route has that key, otherwise `$default`.
 */
export function selectRoute(expression: string, body: string, routeKeys: ReadonlySet<string>): string {
  const match = /^\$request\.body\.(.+)$/.exec(expression.trim());
  if (match !== null) {
    let value: unknown;
    try {
      value = JSON.parse(body) as unknown;
    } catch {
      value = undefined;
    }
    for (const part of match[1]!.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    if (typeof value === 'string' && routeKeys.has(value)) return value;
  }
  return '$default';
}

export type AuthorizerDecision =
  | { effect: 'Allow'; authorizer: Record<string, unknown> }
  | { effect: 'Deny' }
  | { effect: 'Invalid'; reason: string };

interface PolicyStatement {
  Effect?: unknown;
  Action?: unknown;
  Resource?: unknown;
}

/**
 * Reads a Lambda authorizer's answer as API Gateway does: the policy must allow
 * `execute-api:Invoke` on the method ARN, and an explicit Deny wins. Context values must be
 * strings, numbers or booleans; anything else is a configuration error (500 on AWS).
 */
export function authorizerDecision(payload: unknown, arn: string, integrationLatency: number): AuthorizerDecision {
  if (payload === null || typeof payload !== 'object') return { effect: 'Invalid', reason: 'the authorizer returned no policy' };
  const { principalId, policyDocument, context } = payload as { principalId?: unknown; policyDocument?: { Statement?: unknown }; context?: unknown };
  if (typeof principalId !== 'string' && typeof principalId !== 'number') return { effect: 'Invalid', reason: 'principalId is missing' };
  const statements = policyDocument?.Statement;
  if (!Array.isArray(statements)) return { effect: 'Invalid', reason: 'policyDocument.Statement is not a list' };
  if (context !== undefined && context !== null) {
    if (typeof context !== 'object' || Array.isArray(context)) return { effect: 'Invalid', reason: 'context is not an object' };
    for (const [key, value] of Object.entries(context)) {
      if (!['string', 'number', 'boolean'].includes(typeof value)) return { effect: 'Invalid', reason: `context.${key} is not a string, number or boolean` };
    }
  }
  const applies = (statement: PolicyStatement) =>
    [statement.Action].flat().some((action) => typeof action === 'string' && wildcardMatch(action, 'execute-api:Invoke', true)) &&
    [statement.Resource].flat().some((resource) => typeof resource === 'string' && wildcardMatch(resource, arn));
  const relevant = (statements as PolicyStatement[]).filter(applies);
  if (relevant.some((statement) => statement.Effect === 'Deny')) return { effect: 'Deny' };
  if (!relevant.some((statement) => statement.Effect === 'Allow')) return { effect: 'Deny' };
  return { effect: 'Allow', authorizer: { ...((context as Record<string, unknown> | undefined) ?? {}), principalId, integrationLatency } };
}

/** IAM-style matching: `*` any run of characters, `?` one character. Actions ignore case; ARNs do not. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const expression = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${expression}$`, ignoreCase ? 'is' : 's').test(value);
}
