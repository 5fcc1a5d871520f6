import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiServiceException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient, ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { streamWatermark, sumPartials, type ShardPartialItem } from '../../contracts/clickstream';
import { MAX_MESSAGE_BYTES, ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { broadcastWindowChanges, type BroadcasterDependencies } from '../../lambdas/dashboard/broadcast';
import { ConnectionStore } from '../../lambdas/dashboard/connection-store';
import { postToConnection } from '../../lambdas/dashboard/management-api';
import type { BroadcasterSettings } from '../../lambdas/dashboard/settings';
import {
  CONTEXT,
  insert,
  metricTotals,
  modify,
  observability,
  sequenceOf,
  T0,
  partialItem,
  progressItem,
  windowItem,
  windowStreamRecord,
  windowTotal,
} from './dashboard-fixtures';

const SETTINGS: BroadcasterSettings = { connectionsTableName: 'connections', windowTableName: 'click-windows', allowedLatenessSeconds: 60, postConcurrency: 4 };
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

const ddbMock = mockClient(DynamoDBDocumentClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1', credentials }));
const api = new ApiGatewayManagementApiClient({ region: 'us-east-1', credentials, endpoint: 'https://example.com/live' });

/**
 * The window table as the broadcaster reads it after the batch: these partials (by default none
 * beyond what the test's records wrote, which `tableAfter` collects), and these shard watermarks.
 */
let table: { partials: ShardPartialItem[]; watermarks: number[] } = { partials: [], watermarks: [] };
const tableAfter = (event: { Records: DynamoDBRecord[] }) => {
  const latest = new Map<string, ShardPartialItem>();
  for (const record of event.Records) {
    const image = record.dynamodb?.NewImage;
    if (image === undefined) continue;
    const item = unmarshall(image as Parameters<typeof unmarshall>[0]) as ShardPartialItem;
    if (item.pk === 'shards' || typeof item.windowStart !== 'string') continue;
    // Each fixture partial holds one url: keep the latest image per (minute, url).
    latest.set(`${item.windowStart}|${Object.keys(item.counts).join()}`, item);
  }
  if (latest.size > 0) table = { ...table, partials: [...latest.values()] };
};

/** Broadcasts the event with the table as its records left it. */
const broadcastAfter: typeof broadcastWindowChanges = (event, context, deps) => {
  tableAfter(event);
  return broadcastWindowChanges(event, context, deps);
};

function dependencies() {
  const { logger, metrics, spies } = observability();
  const deps: BroadcasterDependencies = {
    connections: new ConnectionStore(ddb, SETTINGS.connectionsTableName),
    post: (connectionId, payload) => postToConnection(api, connectionId, payload),
    readMinutes: async (windowStarts) => ({
      windows: windowStarts.flatMap((windowStart) => sumPartials(table.partials.filter((item) => item.windowStart === windowStart))),
      invalid: 0,
    }),
    readStreamWatermark: async () => streamWatermark(table.watermarks.map((watermarkMs) => ({ watermarkMs }))),
    settings: SETTINGS,
    logger,
    metrics,
    now: () => T0,
  };
  return { deps, spies };
}

/** The connections table holds these ids, in pages of two (so pagination is exercised). */
function connectionsAre(ids: string[]) {
  const pages: string[][] = [];
  for (let i = 0; i < ids.length; i += 2) pages.push(ids.slice(i, i + 2));
  if (pages.length === 0) pages.push([]);
  pages.forEach((page, index) => {
    const start = index === 0 ? undefined : { connectionId: pages[index - 1]!.at(-1)! };
    const last = index === pages.length - 1 ? undefined : { connectionId: page.at(-1)! };
    ddbMock
      .on(ScanCommand, { TableName: SETTINGS.connectionsTableName, ExclusiveStartKey: start })
      .resolves({ Items: page.map((connectionId) => ({ connectionId })), LastEvaluatedKey: last });
  });
}

const gone = () => new GoneException({ message: 'Gone', $metadata: { httpStatusCode: 410 } });
const posts = () =>
  apiMock.commandCalls(PostToConnectionCommand).map((call) => ({
    connectionId: call.args[0].input.ConnectionId!,
    message: ServerMessage.parse(JSON.parse(Buffer.from(call.args[0].input.Data as Uint8Array).toString('utf8'))),
    bytes: (call.args[0].input.Data as Uint8Array).byteLength,
  }));
const deleted = () => ddbMock.commandCalls(DeleteCommand).map((call) => call.args[0].input.Key);
const windowsPostedTo = (connectionId: string): WindowCount[] =>
  posts()
    .filter((post) => post.connectionId === connectionId)
    .flatMap(({ message }) => (message.type === 'windows' ? message.windows : []));

beforeEach(() => {
  table = { partials: [], watermarks: [T0 - 30_000] };
  ddbMock.reset();
  apiMock.reset();
  ddbMock.on(DeleteCommand).resolves({});
  apiMock.on(PostToConnectionCommand).resolves({});
});

describe('a batch of window changes', () => {
  const a1 = windowItem('/a', 0, 1);
  const a3 = windowItem('/a', 0, 3);
  const b5 = windowItem('/b', 0, 5);
  const event = { Records: [insert(1, a1), modify(2, a1, a3), insert(3, b5)] };

  it('posts one coalesced windows message to every subscribed connection', async () => {
    // Prepare
    connectionsAre(['c1', 'c2', 'c3']);
    const { deps } = dependencies();

    // Act
    const response = await broadcastAfter(event, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(posts().map((post) => post.connectionId).sort()).toStrictEqual(['c1', 'c2', 'c3']);
    for (const { message } of posts()) {
      expect(message).toStrictEqual({
        v: 1,
        type: 'windows',
        sentAt: new Date(T0).toISOString(),
        windows: [
          { url: '/a', windowStart: a3.windowStart, windowEnd: a3.windowEnd, count: 3, lateCount: 0, delta: 3, final: false },
          { url: '/b', windowStart: b5.windowStart, windowEnd: b5.windowEnd, count: 5, lateCount: 0, delta: 5, final: false },
        ],
      });
    }
  });

  it('asks only for subscribed connections that have not expired', async () => {
    connectionsAre(['c1']);
    await broadcastAfter(event, CONTEXT, dependencies().deps);
    expect(ddbMock.commandCalls(ScanCommand)[0]!.args[0].input).toMatchObject({
      TableName: 'connections',
      FilterExpression: 'attribute_exists(subscribedAt) AND expiresAt > :now',
      ExpressionAttributeValues: { ':now': Math.floor(T0 / 1000) },
    });
  });

  it('records what it did as metrics', async () => {
    connectionsAre(['c1', 'c2']);
    const { deps, spies } = dependencies();
    await broadcastAfter(event, CONTEXT, deps);
    expect(metricTotals(spies.addMetric)).toMatchObject({ WindowsBroadcast: 2, MessagesPosted: 2, GoneConnections: 0, PostFailures: 0 });
    expect(spies.publishStoredMetrics).toHaveBeenCalledOnce();
  });

  it('posts nothing and reads no connections when nobody is subscribed', async () => {
    connectionsAre([]);
    expect(await broadcastAfter(event, CONTEXT, dependencies().deps)).toStrictEqual({ batchItemFailures: [] });
    expect(posts()).toStrictEqual([]);
  });
});

describe('gone and failing connections', () => {
  const event = { Records: [insert(1, windowItem('/a', 0, 1))] };

  it('deletes a connection that answers 410 Gone and still reaches the others', async () => {
    // Prepare
    connectionsAre(['c1', 'gone-1', 'c2']);
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'gone-1' }).rejects(gone());
    const { deps, spies } = dependencies();

    // Act
    const response = await broadcastAfter(event, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(deleted()).toStrictEqual([{ connectionId: 'gone-1' }]);
    expect(windowsPostedTo('c1')).toHaveLength(1);
    expect(windowsPostedTo('c2')).toHaveLength(1);
    expect(metricTotals(spies.addMetric)).toMatchObject({ MessagesPosted: 2, GoneConnections: 1, PostFailures: 0 });
  });

  it('treats a bare 410 without an error type as gone', async () => {
    connectionsAre(['bare-410']);
    apiMock
      .on(PostToConnectionCommand)
      .rejects(new ApiGatewayManagementApiServiceException({ name: 'Unknown', $fault: 'client', message: 'Gone', $metadata: { httpStatusCode: 410 } }));
    await broadcastAfter(event, CONTEXT, dependencies().deps);
    expect(deleted()).toStrictEqual([{ connectionId: 'bare-410' }]);
  });

  it.each([
    ['throttled', () => new LimitExceededException({ message: 'Slow down', $metadata: { httpStatusCode: 429 } })],
    ['timed out', () => Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })],
    ['forbidden', () => new ApiGatewayManagementApiServiceException({ name: 'ForbiddenException', $fault: 'client', message: 'Forbidden', $metadata: { httpStatusCode: 403 } })],
  ])('keeps a connection whose post %s, and does not fail the batch', async (_name, error) => {
    // Prepare
    connectionsAre(['c1', 'slow']);
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'slow' }).rejects(error());
    const { deps, spies } = dependencies();

    // Act
    const response = await broadcastAfter(event, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [] });
    expect(deleted()).toStrictEqual([]);
    expect(windowsPostedTo('c1')).toHaveLength(1);
    expect(metricTotals(spies.addMetric)).toMatchObject({ MessagesPosted: 1, GoneConnections: 0, PostFailures: 1 });
    expect(spies.warn).toHaveBeenCalledWith('Could not post to a connection; it is kept', expect.objectContaining({ connectionId: 'slow' }));
  });

  it('does not fail the batch when deleting a gone connection fails', async () => {
    connectionsAre(['gone-1']);
    apiMock.on(PostToConnectionCommand).rejects(gone());
    ddbMock.on(DeleteCommand).rejects(new ProvisionedThroughputExceededException({ message: 'busy', $metadata: {} }));
    const { deps, spies } = dependencies();
    expect(await broadcastAfter(event, CONTEXT, deps)).toStrictEqual({ batchItemFailures: [] });
    expect(spies.error).toHaveBeenCalledWith('Could not delete a gone connection', expect.anything());
  });

  it('fails the batch when the connections table cannot be read, so the update is retried', async () => {
    ddbMock.on(ScanCommand).rejects(new ProvisionedThroughputExceededException({ message: 'busy', $metadata: {} }));
    await expect(broadcastAfter(event, CONTEXT, dependencies().deps)).rejects.toThrow(ProvisionedThroughputExceededException);
    expect(posts()).toStrictEqual([]);
  });
});

describe('large batches', () => {
  // 1,000 windows of ~700 bytes: several messages under the 120 KiB limit.
  const items = Array.from({ length: 1000 }, (_, i) => windowItem(`/page/${i}/${'p'.repeat(600)}`, i % 30, i + 1));
  const event = { Records: items.map((item, i) => insert(i + 1, item)) };

  it('splits the update into messages under MAX_MESSAGE_BYTES and delivers every window once, minute by minute', async () => {
    connectionsAre(['c1', 'c2']);
    await broadcastAfter(event, CONTEXT, dependencies().deps);
    expect(posts().length).toBeGreaterThan(2);
    for (const post of posts()) expect(post.bytes).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    for (const connectionId of ['c1', 'c2']) {
      const posted = windowsPostedTo(connectionId);
      expect(posted.map((window) => window.url).sort()).toStrictEqual(items.map((item) => Object.keys(item.counts)[0]).sort());
      expect(posted.map((window) => window.windowStart)).toStrictEqual(posted.map((window) => window.windowStart).sort());
    }
  });

  it('stops posting the remaining parts to a connection after one fails', async () => {
    connectionsAre(['c1', 'flaky']);
    apiMock.on(PostToConnectionCommand, { ConnectionId: 'flaky' }).rejects(new LimitExceededException({ message: 'no', $metadata: {} }));
    const { deps, spies } = dependencies();
    await broadcastAfter(event, CONTEXT, deps);
    // One attempt (the first part), none for the parts after it.
    expect(apiMock.commandCalls(PostToConnectionCommand).filter((call) => call.args[0].input.ConnectionId === 'flaky')).toHaveLength(1);
    expect(metricTotals(spies.addMetric).PostFailures).toBe(1);
  });
});

describe('records that cannot be decoded', () => {
  it('broadcasts the records before the first bad one and reports the bad one', async () => {
    // Prepare: record 2 breaks the window contract; 3 comes after it and will be delivered again.
    connectionsAre(['c1']);
    const bad = insert(2, { ...windowItem('/bad', 0, 1), windowEnd: 'not a date' });
    const event = { Records: [insert(1, windowItem('/a', 0, 1)), bad, insert(3, windowItem('/c', 0, 1))] };
    const { deps, spies } = dependencies();

    // Act
    const response = await broadcastAfter(event, CONTEXT, deps);

    // Assess
    expect(response).toStrictEqual({ batchItemFailures: [{ itemIdentifier: sequenceOf(2) }] });
    expect(windowsPostedTo('c1').map((window) => window.url)).toStrictEqual(['/a']);
    expect(metricTotals(spies.addMetric).UndecodableRecords).toBe(1);
  });

  it('reports the first of several bad records', async () => {
    connectionsAre(['c1']);
    const bad = (position: number) => windowStreamRecord(position, 'INSERT', { oldImage: windowItem('/x', 0, 1) });
    const event = { Records: [insert(1, windowItem('/a', 0, 1)), bad(2), bad(3)] };
    expect(await broadcastAfter(event, CONTEXT, dependencies().deps)).toStrictEqual({
      batchItemFailures: [{ itemIdentifier: sequenceOf(2) }],
    });
  });

  it('fails the whole batch when no record can be decoded', async () => {
    connectionsAre(['c1']);
    const event = { Records: [windowStreamRecord(1, 'INSERT', { oldImage: windowItem('/x', 0, 1) })] };
    await expect(broadcastAfter(event, CONTEXT, dependencies().deps)).rejects.toThrow(FullBatchFailureError);
    expect(posts()).toStrictEqual([]);
  });
});

describe('finality', () => {
  it('marks a window final only when the slowest shard\'s watermark has passed its end by the lateness', async () => {
    // Prepare: minute 2 ago ended 60 s before T0 - 30 s; one shard is past it, the other is not.
    connectionsAre(['c1']);
    const event = { Records: [insert(1, windowItem('/a', 2, 4))] };
    table.watermarks = [T0, Date.parse(windowTotal('/', 2, 0).windowEnd) + 30_000];

    // Act
    await broadcastAfter(event, CONTEXT, dependencies().deps);

    // Assess
    expect(windowsPostedTo('c1')).toMatchObject([{ url: '/a', count: 4, final: false }]);
  });

  it('announces every window of a minute that became final when the slowest shard moved, with delta 0', async () => {
    // Prepare: shard 1 was the slowest at minute 3's end; its progress moves past minute 2's end + lateness.
    connectionsAre(['c1']);
    const minute3End = Date.parse(windowTotal('/', 3, 0).windowEnd);
    const minute2End = Date.parse(windowTotal('/', 2, 0).windowEnd);
    table.partials = [partialItem(2, { '/a': 4, '/b': 1 }), partialItem(3, { '/a': 9 })];
    table.watermarks = [T0, minute2End + 60_000];
    const event = { Records: [modify(1, progressItem('shardId-000000000001', minute3End + 60_000), progressItem('shardId-000000000001', minute2End + 60_000))] };

    // Act
    await broadcastAfter(event, CONTEXT, dependencies().deps);

    // Assess
    expect(windowsPostedTo('c1')).toStrictEqual([
      { ...windowTotal('/a', 2, 4), delta: 0, final: true },
      { ...windowTotal('/b', 2, 1), delta: 0, final: true },
    ]);
  });
});
