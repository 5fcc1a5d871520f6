import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DASHBOARD_HISTORY_MINUTES, MAX_MESSAGE_BYTES, ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { handleRoute, type ConnectionRouteDependencies } from '../../lambdas/dashboard/connection-routes';
import { ConnectionStore } from '../../lambdas/dashboard/connection-store';
import { postToConnection } from '../../lambdas/dashboard/management-api';
import type { ConnectionsSettings } from '../../lambdas/dashboard/settings';
import { scanWindowsSince } from '../../lambdas/dashboard/window-reader';
import { metricTotals, observability, T0, windowItem } from './dashboard-fixtures';

const SETTINGS: ConnectionsSettings = {
  connectionsTableName: 'connections',
  windowTableName: 'click-windows',
  allowedLatenessSeconds: 60,
  connectionTtlSeconds: 7200,
};
const CONNECTION_ID = 'L0SM9cOFvHcCIhw=';
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }));
const api = new ApiGatewayManagementApiClient({ region: 'us-east-1', credentials, endpoint: 'https://example.com/live' });

function dependencies() {
  const { logger, metrics, spies } = observability();
  const deps: ConnectionRouteDependencies = {
    connections: new ConnectionStore(ddb, SETTINGS.connectionsTableName),
    readWindowsSince: (cutoff) => scanWindowsSince(ddb, SETTINGS.windowTableName, cutoff),
    post: (connectionId, payload) => postToConnection(api, connectionId, payload),
    settings: SETTINGS,
    logger,
    metrics,
    now: () => T0,
  };
  return { deps, spies };
}

/** An API Gateway WebSocket proxy event, as the $connect/$disconnect/$default integrations get it. */
function routeEvent(routeKey: string, { body, authorizer }: { body?: string | null; authorizer?: Record<string, string> } = {}) {
  return {
    requestContext: {
      routeKey,
      eventType: routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE',
      connectionId: CONNECTION_ID,
      requestId: 'req-1',
      apiId: 'abc123',
      stage: 'live',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      connectedAt: T0 - 1000,
      requestTimeEpoch: T0,
      ...(authorizer ? { authorizer } : {}),
    },
    isBase64Encoded: false,
    body: body ?? null,
  };
}

const posted = () =>
  apiMock.commandCalls(PostToConnectionCommand).map((call) => {
    const data = call.args[0].input.Data as Uint8Array;
    return { connectionId: call.args[0].input.ConnectionId, bytes: data.byteLength, message: ServerMessage.parse(JSON.parse(Buffer.from(data).toString('utf8'))) };
  });

beforeEach(() => {
  ddbMock.reset();
  apiMock.reset();
  ddbMock.on(PutCommand).resolves({});
  ddbMock.on(UpdateCommand).resolves({});
  ddbMock.on(DeleteCommand).resolves({});
  ddbMock.on(ScanCommand).resolves({ Items: [] });
  apiMock.on(PostToConnectionCommand).resolves({});
});

describe('$connect', () => {
  it('records the connection with the authorizer subject and a two-hour TTL', async () => {
    // Act
    const result = await handleRoute(routeEvent('$connect', { authorizer: { principalId: 'user-1', sub: 'user-1' } }), dependencies().deps);

    // Assess
    expect(result).toStrictEqual({ statusCode: 200 });
    expect(ddbMock.commandCalls(PutCommand).map((call) => call.args[0].input)).toStrictEqual([
      {
        TableName: 'connections',
        Item: {
          connectionId: CONNECTION_ID,
          sub: 'user-1',
          connectedAt: new Date(T0).toISOString(),
          expiresAt: Math.floor(T0 / 1000) + 7200,
        },
      },
    ]);
  });

  it('refuses a connection without the authorizer context', async () => {
    const { deps, spies } = dependencies();
    expect(await handleRoute(routeEvent('$connect'), deps)).toStrictEqual({ statusCode: 403 });
    expect(ddbMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(spies.error).toHaveBeenCalledOnce();
  });
});

describe('$disconnect', () => {
  it('deletes the connection', async () => {
    expect(await handleRoute(routeEvent('$disconnect'), dependencies().deps)).toStrictEqual({ statusCode: 200 });
    expect(ddbMock.commandCalls(DeleteCommand).map((call) => call.args[0].input)).toStrictEqual([
      { TableName: 'connections', Key: { connectionId: CONNECTION_ID } },
    ]);
  });
});

describe('$default: ping', () => {
  it('answers with an ok health message', async () => {
    expect(await handleRoute(routeEvent('$default', { body: '{"v":1,"type":"ping"}' }), dependencies().deps)).toStrictEqual({ statusCode: 200 });
    expect(posted()).toStrictEqual([
      { connectionId: CONNECTION_ID, bytes: expect.any(Number), message: { v: 1, type: 'health', sentAt: new Date(T0).toISOString(), status: 'ok' } },
    ]);
  });

  it('reads a binary (base64) frame too', async () => {
    const event = { ...routeEvent('$default', { body: Buffer.from('{"v":1,"type":"ping"}').toString('base64') }), isBase64Encoded: true };
    expect(await handleRoute(event, dependencies().deps)).toStrictEqual({ statusCode: 200 });
    expect(posted()[0]?.message).toMatchObject({ type: 'health', status: 'ok' });
  });
});

describe('$default: invalid messages', () => {
  it.each([
    ['not JSON', '{"v":1,"type":', 'Message is not JSON; expected {"v":1,"type":"subscribe"} or {"v":1,"type":"ping"}'],
    ['empty', '', 'Empty message; expected {"v":1,"type":"subscribe"} or {"v":1,"type":"ping"}'],
    ['an unknown type', '{"v":1,"type":"unsubscribe"}', 'Unknown message; expected {"v":1,"type":"subscribe"} or {"v":1,"type":"ping"}'],
    ['another protocol version', '{"v":2,"type":"subscribe"}', 'Unsupported protocol version 2; this server speaks version 1'],
    ['a JSON array', '[1,2]', 'Unknown message; expected {"v":1,"type":"subscribe"} or {"v":1,"type":"ping"}'],
    ['no version', '{"type":"subscribe"}', 'Missing protocol version "v"; expected {"v":1,"type":"subscribe"} or {"v":1,"type":"ping"}'],
    ['a 100 KB version', `{"v":"${'x'.repeat(100_000)}","type":"subscribe"}`, `Unsupported protocol version "${'x'.repeat(63)}... (100002 characters); this server speaks version 1`],
  ])('answers %s with a degraded health message that says what was expected', async (_name, body, detail) => {
    // Prepare
    const { deps, spies } = dependencies();

    // Act
    const result = await handleRoute(routeEvent('$default', { body }), deps);

    // Assess: a reply, not a crash, and nothing about the server's internals.
    expect(result).toStrictEqual({ statusCode: 400 });
    expect(posted().map((post) => post.message)).toStrictEqual([
      { v: 1, type: 'health', sentAt: new Date(T0).toISOString(), status: 'degraded', detail },
    ]);
    expect(JSON.stringify(posted())).not.toMatch(/at .*\.ts:\d+|SyntaxError|ZodError/);
    expect(metricTotals(spies.addMetric).InvalidClientMessages).toBe(1);
  });

  it('does not echo the client\'s frame back', async () => {
    await handleRoute(routeEvent('$default', { body: '<script>alert(1)</script>' }), dependencies().deps);
    expect(JSON.stringify(posted())).not.toContain('script');
  });
});

describe('$default: subscribe', () => {
  const subscribe = () => routeEvent('$default', { body: '{"v":1,"type":"subscribe"}' });
  const snapshotWindows = (): WindowCount[] =>
    posted().flatMap(({ message }) => (message.type === 'snapshot' ? message.windows : []));

  it('marks the connection subscribed, only if it still exists', async () => {
    await handleRoute(subscribe(), dependencies().deps);
    expect(ddbMock.commandCalls(UpdateCommand).map((call) => call.args[0].input)).toStrictEqual([
      {
        TableName: 'connections',
        Key: { connectionId: CONNECTION_ID },
        UpdateExpression: 'SET subscribedAt = :now',
        ConditionExpression: 'attribute_exists(connectionId)',
        ExpressionAttributeValues: { ':now': new Date(T0).toISOString() },
      },
    ]);
  });

  it('scans the window table for the last 30 minutes, the current one included', async () => {
    await handleRoute(subscribe(), dependencies().deps);
    expect(ddbMock.commandCalls(ScanCommand).map((call) => call.args[0].input)).toStrictEqual([
      expect.objectContaining({
        TableName: 'click-windows',
        FilterExpression: 'windowStart >= :cutoff',
        ExpressionAttributeValues: { ':cutoff': windowItem('/', DASHBOARD_HISTORY_MINUTES - 1, 0).windowStart },
      }),
    ]);
  });

  it('sends the windows as a snapshot, oldest first, with no deltas and final flags set', async () => {
    // Prepare: two pages of items, one of them from before the cutoff (a Scan filter is eventually applied client-side too).
    const old = windowItem('/a', DASHBOARD_HISTORY_MINUTES, 50);
    const closed = windowItem('/b', 5, 7, 1);
    const current = windowItem('/a', 0, 3);
    ddbMock
      .on(ScanCommand)
      .resolvesOnce({ Items: [current, old], LastEvaluatedKey: { url: '/a', windowStart: current.windowStart } })
      .resolvesOnce({ Items: [closed] });

    // Act
    expect(await handleRoute(subscribe(), dependencies().deps)).toStrictEqual({ statusCode: 200 });

    // Assess
    expect(posted().map((post) => post.message.type)).toStrictEqual(['snapshot']);
    expect(snapshotWindows()).toStrictEqual([
      { url: '/b', windowStart: closed.windowStart, windowEnd: closed.windowEnd, count: 7, lateCount: 1, delta: 0, final: true },
      { url: '/a', windowStart: current.windowStart, windowEnd: current.windowEnd, count: 3, lateCount: 0, delta: 0, final: false },
    ]);
  });

  it('sends an empty snapshot when there are no windows, so the client knows it is current', async () => {
    await handleRoute(subscribe(), dependencies().deps);
    expect(posted().map((post) => post.message)).toStrictEqual([{ v: 1, type: 'snapshot', sentAt: new Date(T0).toISOString(), windows: [] }]);
  });

  it('splits a large snapshot into parts under MAX_MESSAGE_BYTES, every window once', async () => {
    const items = Array.from({ length: 2000 }, (_, i) => windowItem(`/page/${i}/${'q'.repeat(300)}`, i % DASHBOARD_HISTORY_MINUTES, i));
    ddbMock.on(ScanCommand).resolves({ Items: items });
    await handleRoute(subscribe(), dependencies().deps);
    expect(posted().length).toBeGreaterThan(1);
    for (const post of posted()) expect(post.bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(snapshotWindows().map((w) => `${w.windowStart}|${w.url}`).sort()).toStrictEqual(items.map((w) => `${w.windowStart}|${w.url}`).sort());
  });

  it('leaves out and reports items that break the window contract', async () => {
    ddbMock.on(ScanCommand).resolves({ Items: [windowItem('/a', 0, 1), { url: '/b', windowStart: 'yesterday' }] });
    const { deps, spies } = dependencies();
    await handleRoute(subscribe(), deps);
    expect(snapshotWindows().map((w) => w.url)).toStrictEqual(['/a']);
    expect(metricTotals(spies.addMetric).InvalidWindowItems).toBe(1);
  });

  it('sends nothing to a connection that disconnected meanwhile', async () => {
    ddbMock.on(UpdateCommand).rejects(Object.assign(new Error('The conditional request failed'), { name: 'ConditionalCheckFailedException' }));
    expect(await handleRoute(subscribe(), dependencies().deps)).toStrictEqual({ statusCode: 410 });
    expect(posted()).toStrictEqual([]);
  });

  it('deletes the connection when the snapshot post answers 410', async () => {
    apiMock.on(PostToConnectionCommand).rejects(new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    expect(await handleRoute(subscribe(), dependencies().deps)).toStrictEqual({ statusCode: 410 });
    expect(ddbMock.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key)).toStrictEqual([{ connectionId: CONNECTION_ID }]);
  });
});

describe('events that are not WebSocket route events', () => {
  it.each([
    ['no request context', { body: '{}' }],
    ['an unknown route', routeEvent('sendMessage')],
  ])('are answered 400 without touching the tables: %s', async (_name, event) => {
    expect(await handleRoute(event, dependencies().deps)).toStrictEqual({ statusCode: 400 });
    expect(ddbMock.calls()).toHaveLength(0);
  });
});
