import { ApiGatewayManagementApiClient, GoneException, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DASHBOARD_HISTORY_MINUTES, MAX_MESSAGE_BYTES, ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { handleRoute, type ConnectionRouteDependencies } from '../../lambdas/dashboard/connection-routes';
import { ConnectionStore } from '../../lambdas/dashboard/connection-store';
import { postToConnection } from '../../lambdas/dashboard/management-api';
import type { ConnectionsSettings } from '../../lambdas/dashboard/settings';
import { readSnapshot } from '../../lambdas/dashboard/window-reader';
import { metricTotals, observability, progressItem, T0, windowItem, windowTotal } from './dashboard-fixtures';

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
    readSnapshot: (windowStarts) => readSnapshot(ddb, SETTINGS.windowTableName, windowStarts),
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
  ddbMock.on(QueryCommand).resolves({ Items: [] });
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

  /** The window table answers Queries by partition: these items, plus one shard's progress at T0. */
  const tableHolds = (items: Record<string, unknown>[], watermarkMs = T0) =>
    ddbMock.on(QueryCommand).callsFake((input: { ExpressionAttributeValues: Record<string, unknown> }) => {
      const pk = input.ExpressionAttributeValues[':pk'];
      return { Items: pk === 'shards' ? [progressItem('shardId-000000000000', watermarkMs)] : items.filter((item) => item.pk === pk) };
    });

  it('queries the 30 minute partitions of the last 30 minutes and the shards\' progress, strongly consistent, never a Scan', async () => {
    tableHolds([]);
    await handleRoute(subscribe(), dependencies().deps);
    const queries = ddbMock.commandCalls(QueryCommand).map((call) => call.args[0].input);
    expect(queries.map((input) => input.ExpressionAttributeValues?.[':pk']).sort()).toStrictEqual(
      [...Array.from({ length: DASHBOARD_HISTORY_MINUTES }, (_, minute) => `minute#${windowTotal('/', minute, 0).windowStart}`), 'shards'].sort(),
    );
    expect(queries.every((input) => input.ConsistentRead === true && input.TableName === 'click-windows')).toBe(true);
    expect(ddbMock.commandCalls(ScanCommand).filter((call) => call.args[0].input.TableName === 'click-windows')).toStrictEqual([]);
  });

  it('sends the windows as a snapshot, oldest first, with no deltas, final only where the slowest shard has passed them', async () => {
    // Prepare: minute 5 ago is closed on every shard (the only one is at T0); the current minute is not.
    const old = windowItem('/a', DASHBOARD_HISTORY_MINUTES, 50);
    const closed = windowItem('/b', 5, 7, 1);
    const current = windowItem('/a', 0, 3);
    tableHolds([current, old, closed]);

    // Act
    expect(await handleRoute(subscribe(), dependencies().deps)).toStrictEqual({ statusCode: 200 });

    // Assess
    expect(posted().map((post) => post.message.type)).toStrictEqual(['snapshot']);
    expect(snapshotWindows()).toStrictEqual([
      { url: '/b', windowStart: closed.windowStart, windowEnd: closed.windowEnd, count: 7, lateCount: 1, delta: 0, final: true },
      { url: '/a', windowStart: current.windowStart, windowEnd: current.windowEnd, count: 3, lateCount: 0, delta: 0, final: false },
    ]);
  });

  it('marks nothing final while a lagging shard can still change it, whatever the clock says', async () => {
    tableHolds([windowItem('/b', 5, 7)], Date.parse(windowTotal('/', 5, 0).windowEnd));
    await handleRoute(subscribe(), dependencies().deps);
    expect(snapshotWindows().map((window) => window.final)).toStrictEqual([false]);
  });

  it('sends an empty snapshot when there are no windows, so the client knows it is current', async () => {
    tableHolds([]);
    await handleRoute(subscribe(), dependencies().deps);
    expect(posted().map((post) => post.message)).toStrictEqual([{ v: 1, type: 'snapshot', sentAt: new Date(T0).toISOString(), windows: [] }]);
  });

  it('splits a large snapshot into parts under MAX_MESSAGE_BYTES, every window once', async () => {
    const items = Array.from({ length: 2000 }, (_, i) => windowItem(`/page/${i}/${'q'.repeat(300)}`, i % DASHBOARD_HISTORY_MINUTES, i + 1));
    tableHolds(items);
    await handleRoute(subscribe(), dependencies().deps);
    expect(posted().length).toBeGreaterThan(1);
    for (const post of posted()) expect(post.bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(snapshotWindows().map((w) => `${w.windowStart}|${w.url}`).sort()).toStrictEqual(items.map((w) => `${w.windowStart}|${Object.keys(w.counts)[0]}`).sort());
  });

  it('leaves out and reports items that break the window contract', async () => {
    const current = windowItem('/a', 0, 1);
    tableHolds([current, { pk: current.pk, sk: 'partial#x#000', windowStart: 'yesterday' }]);
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
