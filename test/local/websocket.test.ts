import { request as http1Request } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { fileURLToPath } from 'node:url';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { APIGatewayProxyWebsocketEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { NodeHttp2Handler } from '@smithy/node-http-handler';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { authorizerDecision, selectRoute, wildcardMatch } from '../../local/apigateway/websocket-events';
import { LocalWebSocketGateway } from '../../local/apigateway/websocket-gateway';
import { LOCAL_CREDENTIALS } from '../../local/clients';
import { provisionStack, type ProvisionedStack } from '../../local/cloudformation/provision';
import type { CfnTemplate } from '../../local/cloudformation/template';
import { startEdge, type Edge } from '../../local/edge';
import { edgeEndpoints, LocalLambdaRuntime, type InvokeResult } from '../../local/lambda/runtime';
import { connectWebSocket, openWebSocket, type Inbox } from '../support/websocket';
import type WebSocket from 'ws';

const FIXTURES = fileURLToPath(new URL('../fixtures/functions', import.meta.url));
const ACCOUNT = '000000000000';
const STAGE = 'test';
const USER_AGENT = 'watershed-websocket-test';
const GATEWAY_ID = /^[A-Za-z0-9_-]{15}=$/;
const CLF_TIME = /^\d\d\/[A-Z][a-z]{2}\/\d{4}:\d\d:\d\d:\d\d \+0000$/;

const lambdaArn = (logicalId: string) => ({ 'Fn::GetAtt': [logicalId, 'Arn'] });
const invocationUri = (logicalId: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':apigateway:', { Ref: 'AWS::Region' }, ':lambda:path/2015-03-31/functions/', lambdaArn(logicalId), '/invocations']],
});
const route = (routeKey: string, extra: Record<string, unknown> = {}) => ({
  Type: 'AWS::ApiGatewayV2::Route',
  Properties: {
    ApiId: { Ref: 'Api' },
    RouteKey: routeKey,
    AuthorizationType: 'NONE',
    Target: { 'Fn::Join': ['', ['integrations/', { Ref: 'Integration' }]] },
    ...extra,
  },
});

/**
 * A WebSocket API as CDK's apigatewayv2 module synthesizes one (see lib/live-dashboard.ts): an
 * authorized $connect, $disconnect, $default and a two-way `echo` route, all on one Lambda
 * integration; the routes function gets the stage's callback URL as its @connections endpoint.
 */
const TEMPLATE: CfnTemplate = {
  Resources: {
    AuthorizerFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: { Handler: 'index.handler', Runtime: 'nodejs22.x', Timeout: 5 },
      Metadata: { 'aws:asset:path': 'ws-authorizer' },
    },
    RoutesFunction: {
      Type: 'AWS::Lambda::Function',
      Properties: {
        Handler: 'index.handler',
        Runtime: 'nodejs22.x',
        Timeout: 10,
        Environment: {
          Variables: {
            AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: {
              'Fn::Join': ['', ['https://', { Ref: 'Api' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: 'Stage' }]],
            },
          },
        },
      },
      Metadata: { 'aws:asset:path': 'ws-routes' },
    },
    Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'TestApi', ProtocolType: 'WEBSOCKET', RouteSelectionExpression: '$request.body.action' } },
    Integration: { Type: 'AWS::ApiGatewayV2::Integration', Properties: { ApiId: { Ref: 'Api' }, IntegrationType: 'AWS_PROXY', IntegrationUri: invocationUri('RoutesFunction') } },
    TokenAuthorizer: {
      Type: 'AWS::ApiGatewayV2::Authorizer',
      Properties: {
        ApiId: { Ref: 'Api' },
        AuthorizerType: 'REQUEST',
        AuthorizerUri: invocationUri('AuthorizerFunction'),
        IdentitySource: ['route.request.querystring.token'],
        Name: 'TokenAuthorizer',
      },
    },
    ConnectRoute: route('$connect', { AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: 'TokenAuthorizer' } }),
    DisconnectRoute: route('$disconnect'),
    DefaultRoute: route('$default'),
    EchoRoute: route('echo'),
    EchoRouteResponse: { Type: 'AWS::ApiGatewayV2::RouteResponse', Properties: { ApiId: { Ref: 'Api' }, RouteId: { Ref: 'EchoRoute' }, RouteResponseKey: '$default' } },
    Stage: { Type: 'AWS::ApiGatewayV2::Stage', Properties: { ApiId: { Ref: 'Api' }, StageName: STAGE, AutoDeploy: true } },
    Deployment: { Type: 'AWS::ApiGatewayV2::Deployment', Properties: { ApiId: { Ref: 'Api' } }, DependsOn: ['ConnectRoute', 'DefaultRoute'] },
  },
  Outputs: {
    WebSocketUrl: { Value: { 'Fn::Join': ['', ['wss://', { Ref: 'Api' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: 'Stage' }]] } },
    CallbackUrl: { Value: { 'Fn::Join': ['', ['https://', { Ref: 'Api' }, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', { Ref: 'Stage' }]] } },
  },
};

// What API Gateway sends each integration, derived from Powertools' schema (which describes the
// REQUEST authorizer's event): $connect lacks `type`/`methodArn`; messages carry no headers.
const AuthorizerEventSchema = APIGatewayProxyWebsocketEventSchema;
const ConnectEventSchema = APIGatewayProxyWebsocketEventSchema.omit({ type: true, methodArn: true });
const MessageEventSchema = APIGatewayProxyWebsocketEventSchema.pick({ requestContext: true, isBase64Encoded: true, body: true });
const DisconnectEventSchema = APIGatewayProxyWebsocketEventSchema.pick({ headers: true, multiValueHeaders: true, requestContext: true, isBase64Encoded: true });

interface Invocation {
  functionName: string;
  event: Record<string, unknown> & { requestContext: Record<string, unknown> };
  result: InvokeResult;
}

let edge: Edge;
let stack: ProvisionedStack;
let runtime: LocalLambdaRuntime;
let gateway: LocalWebSocketGateway;
let apiId: string;
let stageUrl: string;
const invocations: Invocation[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  edge = await startEdge({ port: 0 });
  stack = await provisionStack({ template: TEMPLATE, stackName: 'WsTest', assemblyDirectory: FIXTURES, edgeUrl: edge.url });
  runtime = new LocalLambdaRuntime(stack.functions, { edgeUrl: edge.url });
  gateway = new LocalWebSocketGateway({
    apis: stack.webSocketApis,
    invoke: async (functionName, event) => {
      const result = await runtime.invoke(functionName, event);
      invocations.push({ functionName, event: event as Invocation['event'], result });
      return result;
    },
  });
  gateway.attach(edge);
  apiId = stack.webSocketApis[0]!.apiId;
  stageUrl = `${edge.url.replace('http', 'ws')}/_ws/${apiId}/${STAGE}`;
});

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  // Let the $disconnect of the sockets just closed run before the next test counts invocations.
  await waitUntil(() => gateway.connections().length === 0, 'every connection to close');
  await gateway.settle();
  invocations.length = 0;
});

afterAll(async () => {
  await gateway?.stop();
  await runtime?.stop();
  await edge?.stop();
});

const functionName = (logicalId: string) => stack.functions.find((spec) => spec.logicalId === logicalId)!.functionName;

async function waitUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The first invocation of the routes function for `routeKey` from the `from`-th invocation on. */
async function invocationOf(routeKey: string, from = 0): Promise<Invocation> {
  const routes = functionName('RoutesFunction');
  const find = () => invocations.slice(from).find((call) => call.functionName === routes && call.event.requestContext.routeKey === routeKey);
  await waitUntil(() => find() !== undefined, `an invocation for ${routeKey}`);
  return find()!;
}

async function open(token = 'allow:alice', query = ''): Promise<{ ws: WebSocket; inbox: Inbox; connectionId: string }> {
  const before = invocations.length;
  const { ws, inbox } = await openWebSocket(`${stageUrl}?token=${encodeURIComponent(token)}${query}`, { headers: { 'User-Agent': USER_AGENT } });
  sockets.push(ws);
  const connect = await invocationOf('$connect', before);
  return { ws, inbox, connectionId: String(connect.event.requestContext.connectionId) };
}

/** A management client as a test (not a function) builds one: explicit endpoint, local credentials. */
function managementClient(endpoint = `${edge.url}/${STAGE}`, extra: Record<string, unknown> = {}): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({ endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS, maxAttempts: 1, ...extra });
}

// ---------------------------------------------------------------------------------------------

describe('provisioning a WebSocket API from the template', () => {
  it('joins routes, their integration, the authorizer and the stage into one API', () => {
    // Act
    const [api] = stack.webSocketApis;

    // Assess
    const routes = functionName('RoutesFunction');
    expect(stack.webSocketApis).toStrictEqual([
      {
        logicalId: 'Api',
        apiId: expect.stringMatching(/^[a-z0-9]{10}$/),
        name: 'TestApi',
        routeSelectionExpression: '$request.body.action',
        stages: [STAGE],
        routes: [
          {
            routeKey: '$connect',
            functionName: routes,
            authorizationType: 'CUSTOM',
            authorizer: {
              authorizerId: stack.resources.get('TokenAuthorizer')!.ref,
              name: 'TokenAuthorizer',
              functionName: functionName('AuthorizerFunction'),
              identitySource: ['route.request.querystring.token'],
            },
            returnsResponse: false,
          },
          { routeKey: '$disconnect', functionName: routes, authorizationType: 'NONE', returnsResponse: false },
          { routeKey: '$default', functionName: routes, authorizationType: 'NONE', returnsResponse: false },
          { routeKey: 'echo', functionName: routes, authorizationType: 'NONE', returnsResponse: true },
        ],
      },
    ]);
    expect(stack.resources.get('Api')).toStrictEqual({
      type: 'AWS::ApiGatewayV2::Api',
      ref: api!.apiId,
      attributes: { ApiId: api!.apiId, ApiEndpoint: `${edge.url.replace('http', 'ws')}/_ws/${api!.apiId}` },
      note: undefined,
    });
    expect(stack.resources.get('Stage')?.ref).toBe(STAGE);
  });

  it('turns the stage URLs of the outputs into their local form', () => {
    // Assess
    expect(stack.outputs).toStrictEqual({ WebSocketUrl: stageUrl, CallbackUrl: `${edge.url}/${STAGE}` });
  });

  it('points the function at the edge for @connections, keeping the stage path of its callback URL', () => {
    // Prepare
    const spec = stack.functions.find((candidate) => candidate.logicalId === 'RoutesFunction')!;

    // Act
    const endpoints = edgeEndpoints(spec.environment, 'http://127.0.0.1:4566');

    // Assess
    expect(spec.environment.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI).toBe(`https://${apiId}.execute-api.us-east-1.amazonaws.com/${STAGE}`);
    expect(endpoints).toStrictEqual({ AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: `http://127.0.0.1:4566/${STAGE}` });
    expect(edgeEndpoints({ AWS_ENDPOINT_URL_DYNAMODB: 'https://dynamodb.us-east-1.amazonaws.com', AWS_ENDPOINT_URL: 'not a url', OTHER: 'https://example.com/x' }, 'http://edge:1')).toStrictEqual({
      AWS_ENDPOINT_URL_DYNAMODB: 'http://edge:1',
      AWS_ENDPOINT_URL: 'http://edge:1',
    });
  });
});

describe('$connect and the REQUEST authorizer', () => {
  it('authorizes with the REQUEST event, then runs $connect with the policy context, then opens', async () => {
    // Act
    const { connectionId } = await open('allow:alice', '&lang=en&lang=fr');

    // Assess: the authorizer's event
    const authorizer = invocations.find((call) => call.functionName === functionName('AuthorizerFunction'))!;
    expect(AuthorizerEventSchema.safeParse(authorizer.event).error).toBeUndefined();
    const methodArn = `arn:aws:execute-api:us-east-1:${ACCOUNT}:${apiId}/${STAGE}/$connect`;
    expect(authorizer.event).toMatchObject({
      type: 'REQUEST',
      methodArn,
      queryStringParameters: { token: 'allow:alice', lang: 'fr' },
      multiValueQueryStringParameters: { token: ['allow:alice'], lang: ['en', 'fr'] },
      stageVariables: {},
      isBase64Encoded: false,
    });
    const headers = authorizer.event.headers as Record<string, string>;
    expect(headers).toMatchObject({
      Host: edge.url.replace('http://', ''),
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'User-Agent': USER_AGENT,
      'X-Forwarded-For': '127.0.0.1',
      'X-Forwarded-Port': String(edge.port),
      'X-Forwarded-Proto': 'http',
    });
    expect(headers['Sec-WebSocket-Key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(authorizer.event.requestContext).toStrictEqual({
      routeKey: '$connect',
      eventType: 'CONNECT',
      extendedRequestId: expect.stringMatching(GATEWAY_ID),
      requestTime: expect.stringMatching(CLF_TIME),
      messageDirection: 'IN',
      stage: STAGE,
      connectedAt: expect.any(Number),
      requestTimeEpoch: expect.any(Number),
      identity: { sourceIp: '127.0.0.1', userAgent: USER_AGENT },
      requestId: expect.stringMatching(GATEWAY_ID),
      domainName: edge.url.replace('http://', ''),
      connectionId,
      apiId,
    });

    // Assess: $connect's event carries the handshake and the authorizer's context
    const connect = await invocationOf('$connect');
    expect(connect.functionName).toBe(functionName('RoutesFunction'));
    expect(ConnectEventSchema.safeParse(connect.event).error).toBeUndefined();
    expect(Object.keys(connect.event).sort()).toStrictEqual(['headers', 'isBase64Encoded', 'multiValueHeaders', 'multiValueQueryStringParameters', 'queryStringParameters', 'requestContext']);
    expect(connect.event.queryStringParameters).toStrictEqual({ token: 'allow:alice', lang: 'fr' });
    expect(connect.event.requestContext).toStrictEqual({
      ...authorizer.event.requestContext,
      authorizer: { user: 'alice', tier: 'gold', score: 7, admin: false, principalId: 'alice', integrationLatency: expect.any(Number) },
      extendedRequestId: expect.stringMatching(GATEWAY_ID),
      requestId: expect.stringMatching(GATEWAY_ID),
      requestTime: expect.stringMatching(CLF_TIME),
      requestTimeEpoch: expect.any(Number),
    });
    expect(gateway.connections()).toStrictEqual([
      { connectionId, apiId, stage: STAGE, connectedAt: expect.any(Date), lastActiveAt: expect.any(Date), sourceIp: '127.0.0.1', userAgent: USER_AGENT },
    ]);
  });

  it('accepts a policy that allows the whole API with a wildcard', async () => {
    // Act
    const outcome = await connectWebSocket(`${stageUrl}?token=wildcard:bob`);

    // Assess
    expect(outcome.opened).toBe(true);
    if (outcome.opened) sockets.push(outcome.ws);
  });

  describe.each<[string, string, number, string, boolean]>([
    ['an explicit Deny', '?token=deny', 403, 'Forbidden', true],
    ['a policy for another API only (implicit deny)', '?token=elsewhere', 403, 'Forbidden', true],
    ["the authorizer's Unauthorized error", '?token=unauthorized', 401, 'Unauthorized', true],
    ['any other authorizer error', '?token=boom', 500, 'Internal server error', true],
    ['a context value that is an object', '?token=bad-context', 500, 'Internal server error', true],
    ['a missing identity source, without asking the authorizer', '', 401, 'Unauthorized', false],
    ['an empty identity source, without asking the authorizer', '?token=', 401, 'Unauthorized', false],
    ['a $connect integration answering 403', '?token=allow:carol&connectStatus=403', 403, 'Forbidden', true],
    ['a $connect integration answering 500', '?token=allow:carol&connectStatus=500', 500, 'Internal server error', true],
  ])('refuses %s', (_name, query, status, message, authorizerAsked) => {
    it(`with HTTP ${status}: the client never opens`, async () => {
      // Act
      const outcome = await connectWebSocket(`${stageUrl}${query}`);

      // Assess
      expect(outcome).toStrictEqual({ opened: false, status, body: JSON.stringify({ message }) });
      expect(invocations.some((call) => call.functionName === functionName('AuthorizerFunction'))).toBe(authorizerAsked);
      expect(gateway.connections()).toStrictEqual([]);
    });
  });

  it.each<[string, string, number]>([
    ['an unknown API', '/_ws/nosuchapi0/test', 404],
    ['an unknown stage', '/_ws/API/prod', 403],
  ])('refuses %s', async (_name, path, status) => {
    // Act
    const outcome = await connectWebSocket(`${edge.url.replace('http', 'ws')}${path.replace('API', apiId)}?token=allow:alice`);

    // Assess
    expect(outcome).toMatchObject({ opened: false, status });
    expect(invocations).toStrictEqual([]);
  });
});

describe('messages', () => {
  it('routes a message to $default with the MESSAGE event, keeping the connection authorizer context', async () => {
    // Prepare
    const { ws, connectionId } = await open('allow:dave');

    // Act
    ws.send(JSON.stringify({ v: 1, type: 'subscribe' }));
    const message = await invocationOf('$default');

    // Assess
    expect(MessageEventSchema.safeParse(message.event).error).toBeUndefined();
    expect(message.event).toStrictEqual({
      requestContext: {
        routeKey: '$default',
        authorizer: { user: 'dave', tier: 'gold', score: 7, admin: false, principalId: 'dave', integrationLatency: expect.any(Number) },
        messageId: expect.stringMatching(GATEWAY_ID),
        eventType: 'MESSAGE',
        extendedRequestId: expect.stringMatching(GATEWAY_ID),
        requestTime: expect.stringMatching(CLF_TIME),
        messageDirection: 'IN',
        stage: STAGE,
        connectedAt: expect.any(Number),
        requestTimeEpoch: expect.any(Number),
        identity: { sourceIp: '127.0.0.1', userAgent: USER_AGENT },
        requestId: expect.stringMatching(GATEWAY_ID),
        domainName: edge.url.replace('http://', ''),
        connectionId,
        apiId,
      },
      body: '{"v":1,"type":"subscribe"}',
      isBase64Encoded: false,
    });
  });

  it.each<[string, string | Buffer, string, boolean]>([
    ['an action naming a route', JSON.stringify({ action: 'echo', text: 'hi' }), 'echo', false],
    ['an action naming no route', JSON.stringify({ action: 'nope' }), '$default', false],
    ['a body that is not JSON', 'hello', '$default', false],
    ['a binary frame', Buffer.from([0, 159, 146, 150]), '$default', true],
  ])('selects the route of %s', async (_name, body, routeKey, isBase64Encoded) => {
    // Prepare
    const { ws } = await open();

    // Act
    ws.send(body);
    const message = await invocationOf(routeKey);

    // Assess
    expect(message.event.body).toBe(typeof body === 'string' ? body : body.toString('base64'));
    expect(message.event.isBase64Encoded).toBe(isBase64Encoded);
  });

  it.each(['$disconnect', '$connect'])('routes a client frame naming %s to $default, never to the connection route itself', async (action) => {
    // Prepare
    const { ws, connectionId } = await open();
    const before = invocations.length;

    // Act
    ws.send(JSON.stringify({ action }));
    const message = await invocationOf('$default', before);
    await gateway.settle();

    // Assess: only $default ran, and the connection is still open and known
    expect(message.event.body).toBe(JSON.stringify({ action }));
    expect(invocations.slice(before).map((call) => call.event.requestContext.routeKey)).toStrictEqual(['$default']);
    expect(ws.readyState).toBe(ws.OPEN);
    expect(gateway.connections().map((connection) => connection.connectionId)).toContain(connectionId);
  });

  it("sends a two-way route's response body back, and drops the body of a route without a route response", async () => {
    // Prepare
    const { ws, inbox } = await open();

    // Act
    ws.send(JSON.stringify({ cmd: 'nothing' }));
    await invocationOf('$default');
    ws.send(JSON.stringify({ action: 'echo', text: 'ping' }));

    // Assess
    expect(await inbox.nextJson()).toStrictEqual({ echoed: 'ping' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(inbox.received).toHaveLength(1);
  });

  it('answers a failing integration with an Internal server error message and keeps the connection', async () => {
    // Prepare
    const { ws, inbox, connectionId } = await open();

    // Act
    ws.send(JSON.stringify({ cmd: 'throw' }));

    // Assess
    expect(await inbox.nextJson()).toStrictEqual({ message: 'Internal server error', connectionId, requestId: expect.stringMatching(GATEWAY_ID) });
    expect(ws.readyState).toBe(ws.OPEN);
  });

  it('runs $disconnect with the close code and reason when the client closes', async () => {
    // Prepare
    const { ws, connectionId } = await open('allow:erin');

    // Act
    ws.close(4000, 'bye');
    const disconnect = await invocationOf('$disconnect');

    // Assess
    expect(DisconnectEventSchema.safeParse(disconnect.event).error).toBeUndefined();
    expect(disconnect.event).toStrictEqual({
      headers: { Host: edge.url.replace('http://', ''), 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' },
      multiValueHeaders: { Host: [edge.url.replace('http://', '')], 'x-api-key': [''], 'X-Forwarded-For': [''], 'x-restapi': [''] },
      requestContext: expect.objectContaining({
        routeKey: '$disconnect',
        eventType: 'DISCONNECT',
        disconnectStatusCode: 4000,
        disconnectReason: 'bye',
        connectionId,
        authorizer: expect.objectContaining({ principalId: 'erin' }),
      }),
      isBase64Encoded: false,
    });
    expect(gateway.connections()).toStrictEqual([]);
  });

  it('runs $disconnect with 1006 when the client drops without a close frame', async () => {
    // Prepare
    const { ws } = await open();

    // Act
    ws.terminate();
    const disconnect = await invocationOf('$disconnect');

    // Assess
    expect(disconnect.event.requestContext).toMatchObject({ disconnectStatusCode: 1006, disconnectReason: 'Connection closed abnormally' });
  });
});

describe('the @connections API', () => {
  it('reaches a function configured by the environment alone: it posts to its own connection', async () => {
    // Prepare
    const { ws, inbox } = await open();

    // Act
    ws.send(JSON.stringify({ cmd: 'post', text: 'from the function' }));

    // Assess
    expect(await inbox.next()).toStrictEqual({ data: JSON.stringify({ posted: 'from the function' }), isBinary: false });
  });

  it('gives a function configured by the environment alone GoneException (410) for a connection that is gone', async () => {
    // Prepare: a connection that existed and closed
    const gone = await open();
    gone.ws.close();
    await invocationOf('$disconnect');
    const { ws, inbox } = await open();

    // Act
    ws.send(JSON.stringify({ cmd: 'post', to: gone.connectionId, text: 'too late' }));

    // Assess
    expect(await inbox.nextJson()).toStrictEqual({ error: 'GoneException', isGone: true, status: 410, endpoint: `${edge.url}/${STAGE}` });
  });

  it.each<[string, () => string]>([
    ['with the stage in the endpoint', () => `${edge.url}/${STAGE}`],
    ['at the edge root', () => edge.url],
  ])('POST delivers, GET describes and DELETE closes %s', async (_name, endpoint) => {
    // Prepare
    const { inbox, connectionId } = await open();
    const client = managementClient(endpoint());
    try {
      // Act
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('{"type":"hello"}') }));
      const received = await inbox.next();
      const info = await client.send(new GetConnectionCommand({ ConnectionId: connectionId }));
      await client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
      const closed = await inbox.closing();
      const disconnect = await invocationOf('$disconnect');
      const afterDelete = client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from('x') }));

      // Assess
      expect(received).toStrictEqual({ data: '{"type":"hello"}', isBinary: false });
      expect({ ConnectedAt: info.ConnectedAt, LastActiveAt: info.LastActiveAt, Identity: info.Identity }).toStrictEqual({
        ConnectedAt: expect.any(Date),
        LastActiveAt: expect.any(Date),
        Identity: { SourceIp: '127.0.0.1', UserAgent: USER_AGENT },
      });
      expect(info.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt!.getTime());
      expect(closed.code).toBe(1000);
      expect(disconnect.event.requestContext).toMatchObject({ connectionId, disconnectStatusCode: 1000, disconnectReason: 'Connection deleted through the @connections API' });
      await expect(afterDelete).rejects.toBeInstanceOf(GoneException);
      await expect(afterDelete).rejects.toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
    } finally {
      client.destroy();
    }
  });

  it('answers GoneException to GET and DELETE of a connection that never existed', async () => {
    // Prepare
    const client = managementClient();
    try {
      // Act
      const get = client.send(new GetConnectionCommand({ ConnectionId: 'Z2hvc3QxMjM0NTY=' }));
      const remove = client.send(new DeleteConnectionCommand({ ConnectionId: 'Z2hvc3QxMjM0NTY=' }));

      // Assess
      await expect(get).rejects.toBeInstanceOf(GoneException);
      await expect(remove).rejects.toBeInstanceOf(GoneException);
    } finally {
      client.destroy();
    }
  });

  it('refuses a message over 128 KiB with PayloadTooLargeException and delivers one at the limit', async () => {
    // Prepare
    const { inbox, connectionId } = await open();
    const client = managementClient();
    try {
      // Act
      const tooLarge = client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.alloc(128 * 1024 + 1, 'a') }));
      await expect(tooLarge).rejects.toBeInstanceOf(PayloadTooLargeException);
      await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.alloc(128 * 1024, 'b') }));

      // Assess
      expect((await inbox.next()).data).toHaveLength(128 * 1024);
    } finally {
      client.destroy();
    }
  });

  it('answers over HTTP/2 (h2c), as SDK clients left at their defaults speak', async () => {
    // Prepare
    const { connectionId } = await open();
    const client = managementClient(`${edge.url}/${STAGE}`, { requestHandler: new NodeHttp2Handler() });
    try {
      // Act
      const info = await client.send(new GetConnectionCommand({ ConnectionId: connectionId }));

      // Assess
      expect(info.Identity).toStrictEqual({ SourceIp: '127.0.0.1', UserAgent: USER_AGENT });
    } finally {
      client.destroy();
    }
  });
});

describe('the edge with WebSocket upgrades', () => {
  const http1 = (path: string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http1Request(`${edge.url}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end();
    });

  it('still serves HTTP/1.1, also when a client offers an upgrade to h2c (as curl --http2 does)', async () => {
    // Act
    const plain = await http1('/_localstack/health');
    const offered = await http1('/_localstack/health', { Connection: 'Upgrade, HTTP2-Settings', Upgrade: 'h2c', 'HTTP2-Settings': 'AAMAAABkAARAAAAAAAIAAAAA' });

    // Assess
    const expected = { status: 200, body: JSON.stringify({ services: { 'execute-api': 'running' } }) };
    expect(plain).toStrictEqual(expected);
    expect(offered).toStrictEqual(expected);
  });

  it('still serves HTTP/2 with prior knowledge', async () => {
    // Act
    const session = http2Connect(edge.url);
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':method': 'GET', ':path': '/_localstack/health' });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => resolve({ status, body: Buffer.concat(chunks).toString() }));
      stream.on('error', reject);
      stream.end();
    });
    session.close();

    // Assess
    expect(response).toStrictEqual({ status: 200, body: JSON.stringify({ services: { 'execute-api': 'running' } }) });
  });

  it('refuses a malformed handshake with 400 before asking the authorizer', async () => {
    // Act: version 8 is a draft of the protocol, not RFC 6455
    const response = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http1Request(`${edge.url}/_ws/${apiId}/${STAGE}?token=allow:x`, {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '8' },
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.end();
    });

    // Assess
    expect(response).toStrictEqual({ status: 400, body: JSON.stringify({ message: 'Bad Request' }) });
    expect(invocations).toStrictEqual([]);
  });

  it('refuses a WebSocket upgrade on a path no API serves with 404', async () => {
    // Act
    const outcome = await connectWebSocket(`${edge.url.replace('http', 'ws')}/elsewhere`);

    // Assess
    expect(outcome).toMatchObject({ opened: false, status: 404 });
  });
});

describe('timeouts', () => {
  it('closes an idle connection with 1001 and runs $disconnect, as API Gateway does after 10 minutes', async () => {
    // Prepare: a second gateway on its own edge, with a short idle timeout
    const idleEdge = await startEdge({ port: 0 });
    const seen: Invocation[] = [];
    const idleGateway = new LocalWebSocketGateway({
      apis: stack.webSocketApis,
      idleTimeoutMs: 300,
      invoke: async (name, event) => {
        const result = await runtime.invoke(name, event);
        seen.push({ functionName: name, event: event as Invocation['event'], result });
        return result;
      },
    });
    idleGateway.attach(idleEdge);
    try {
      const { inbox } = await openWebSocket(`${idleEdge.url.replace('http', 'ws')}/_ws/${apiId}/${STAGE}?token=allow:idle`);

      // Act
      const closed = await inbox.closing(3_000);
      await waitUntil(() => seen.some((call) => call.event.requestContext.routeKey === '$disconnect'), '$disconnect');

      // Assess
      expect(closed).toStrictEqual({ code: 1001, reason: 'Going away' });
      expect(seen.find((call) => call.event.requestContext.routeKey === '$disconnect')!.event.requestContext).toMatchObject({
        disconnectStatusCode: 1001,
        disconnectReason: 'Connection idle timeout',
      });
    } finally {
      await idleGateway.stop();
      await idleEdge.stop();
    }
  });
});

describe('pure parts', () => {
  it.each<[string, string, string]>([
    ['{"action":"echo"}', '$request.body.action', 'echo'],
    ['{"action":"missing"}', '$request.body.action', '$default'],
    ['{"action":7}', '$request.body.action', '$default'],
    ['{"meta":{"route":"echo"}}', '$request.body.meta.route', 'echo'],
    ['[1,2]', '$request.body.action', '$default'],
    ['null', '$request.body.action', '$default'],
  ])('selectRoute(%s, %s) is %s', (body, expression, expected) => {
    expect(selectRoute(expression, body, new Set(['$default', 'echo']))).toBe(expected);
  });

  const arn = 'arn:aws:execute-api:us-east-1:000000000000:abc/live/$connect';
  const allow = (resource: unknown, action: unknown = 'execute-api:Invoke') => ({ Effect: 'Allow', Action: action, Resource: resource });
  it.each<[string, unknown, string]>([
    ['Allow on the method ARN', { principalId: 'p', policyDocument: { Statement: [allow(arn)] } }, 'Allow'],
    ['Allow with wildcards and a list of actions', { principalId: 'p', policyDocument: { Statement: [allow(['arn:aws:execute-api:*:*:abc/*'], ['s3:GetObject', 'EXECUTE-API:*'])] } }, 'Allow'],
    ['Deny wins over Allow', { principalId: 'p', policyDocument: { Statement: [allow(arn), { Effect: 'Deny', Action: '*', Resource: '*' }] } }, 'Deny'],
    ['Allow on another resource only', { principalId: 'p', policyDocument: { Statement: [allow('arn:aws:execute-api:us-east-1:000000000000:other/*')] } }, 'Deny'],
    ['resource ARNs are case-sensitive', { principalId: 'p', policyDocument: { Statement: [allow(arn.toUpperCase())] } }, 'Deny'],
    ['no principalId', { policyDocument: { Statement: [allow(arn)] } }, 'Invalid'],
    ['no statements', { principalId: 'p', policyDocument: {} }, 'Invalid'],
    ['a list in the context', { principalId: 'p', policyDocument: { Statement: [allow(arn)] }, context: { roles: ['a'] } }, 'Invalid'],
    ['nothing at all', null, 'Invalid'],
  ])('authorizerDecision: %s', (_name, payload, effect) => {
    expect(authorizerDecision(payload, arn, 5).effect).toBe(effect);
  });

  it('wildcardMatch treats only * and ? as wildcards', () => {
    expect([wildcardMatch('a.b*', 'a.bc'), wildcardMatch('a.b*', 'axbc'), wildcardMatch('a?c', 'abc'), wildcardMatch('(a)', '(a)')]).toStrictEqual([true, false, true, true]);
  });
});
