import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AGGREGATOR_DEFAULTS } from '../../contracts/aggregator-settings';
import { WINDOW_MS, type ClickEventInput } from '../../contracts/clickstream';
import { DashboardConfig, PROTOCOL_VERSION, ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import type { GeneratedRecord } from '../../simulator/clicks';
import { putAll } from '../../simulator/producer';
import { requireJava, titled } from '../support/requirements';
import { eventually, startTestCloud } from '../support/local-cloud';
import { connectWebSocket, messageText, openWebSocket, type Inbox } from '../support/websocket';
import type WebSocket from 'ws';

const java = await requireJava();

/** Clicks on fresh URLs (unique per run), all at `at`, so they land in one window. */
function clickRecords(counts: Record<string, number>, at: number): GeneratedRecord[] {
  return Object.entries(counts).flatMap(([url, count]) =>
    Array.from({ length: count }, (_, index) => {
      const userId = `dashboard-user-${index % 5}`;
      const event: ClickEventInput = { eventId: randomUUID(), url, userId, timestamp: at };
      return { partitionKey: userId, data: Buffer.from(JSON.stringify(event)), emittedAt: at, truth: { kind: 'valid', event } } satisfies GeneratedRecord;
    }),
  );
}

/** Waits for a new minute when this one has less than `needMs` left, so a test's clicks share one window. */
async function awaitRoomInMinute(needMs: number): Promise<void> {
  const left = WINDOW_MS - (Date.now() % WINDOW_MS);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 250));
}

/** The latest count per URL that `windows` messages announced, from the messages received so far. */
function latestCounts(messages: ServerMessage[], urls: string[]): Record<string, number> {
  const latest: Record<string, WindowCount> = {};
  for (const message of messages) {
    if (message.type !== 'windows') continue;
    for (const window of message.windows) {
      const seen = latest[window.url];
      if (urls.includes(window.url) && (seen === undefined || window.count >= seen.count)) latest[window.url] = window;
    }
  }
  return Object.fromEntries(Object.entries(latest).map(([url, window]) => [url, window.count]));
}

/** Whether every expected count has been reached. */
const reached = (counts: Record<string, number>, expected: Record<string, number>): boolean =>
  Object.entries(expected).every(([url, count]) => (counts[url] ?? 0) >= count);

describe.skipIf(!java.available)(titled('live dashboard on the local cloud', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let config: DashboardConfig;
  let connections: DynamoDBDocumentClient;
  const sockets: WebSocket[] = [];

  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud());
    // As the web app does: everything it needs comes from config.json next to it.
    config = DashboardConfig.parse(await (await fetch(new URL('config.json', cloud.dashboardUrl))).json());
    connections = DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(cloud.edgeUrl)));
  });
  afterEach(() => {
    for (const ws of sockets.splice(0)) ws.terminate();
  });
  afterAll(async () => {
    connections?.destroy();
    await dispose?.();
  });

  async function devToken(sub?: string): Promise<string> {
    if (config.auth.mode !== 'dev') throw new Error(`expected the dev issuer in config.json, got ${config.auth.mode}`);
    const response = await fetch(config.auth.tokenUrl, { method: 'POST', body: sub === undefined ? undefined : JSON.stringify({ sub }) });
    expect(response.status).toBe(200);
    return String(((await response.json()) as { token: string }).token);
  }

  async function subscribedClient(sub?: string): Promise<{ ws: WebSocket; inbox: Inbox; messages: ServerMessage[] }> {
    const { ws, inbox } = await openWebSocket(`${config.webSocketUrl}?token=${await devToken(sub)}`);
    sockets.push(ws);
    const messages: ServerMessage[] = [];
    ws.on('message', (data) => messages.push(ServerMessage.parse(JSON.parse(messageText(data)))));
    ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'subscribe' }));
    await eventually(async () => messages.some((message) => message.type === 'snapshot'), () => `no snapshot; received ${JSON.stringify(inbox.received)}`, 15_000);
    return { ws, inbox, messages };
  }

  async function produce(counts: Record<string, number>): Promise<void> {
    const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
    try {
      const records = clickRecords(counts, Date.now());
      expect((await putAll(kinesis, cloud.outputs.ClicksStreamName!, records, { rate: 5000 })).sent).toBe(records.length);
    } finally {
      kinesis.destroy();
    }
  }

  const connectionItem = async (connectionId: string) =>
    (await connections.send(new GetCommand({ TableName: cloud.outputs.ConnectionsTableName, Key: { connectionId }, ConsistentRead: true }))).Item;

  it('serves the dashboard with a config.json naming the local stage and the development issuer', async () => {
    // Act
    const index = await fetch(cloud.dashboardUrl);
    const written = JSON.parse(readFileSync(join(cloud.stateDirectory, 'outputs.json'), 'utf8')) as unknown;

    // Assess
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(config).toStrictEqual({
      webSocketUrl: cloud.webSocketUrl,
      auth: { mode: 'dev', tokenUrl: `${cloud.edgeUrl}/_watershed/dev-token` },
      allowedLatenessSeconds: AGGREGATOR_DEFAULTS.allowedLatenessSeconds,
    });
    expect(cloud.webSocketUrl).toMatch(new RegExp(`^${cloud.edgeUrl.replace('http', 'ws')}/_ws/[a-z0-9]{10}/live$`));
    // CloudFront's domain means nothing locally: DashboardUrl names the local dashboard.
    expect(cloud.outputs).toMatchObject({
      DashboardUrl: cloud.dashboardUrl,
      WebSocketUrl: cloud.webSocketUrl,
      UserPoolId: cloud.devIssuer.userPools()[0]!.userPoolId,
      UserPoolClientId: cloud.devIssuer.userPools()[0]!.clientIds[0],
    });
    expect(cloud.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(written).toStrictEqual({ Watershed: cloud.outputs });
  });

  it('connects with a development token, sends the snapshot on subscribe, then pushes the exact counts of new clicks', async () => {
    // Prepare
    const run = randomUUID().slice(0, 8);
    const expected = { [`/live/${run}/home`]: 7, [`/live/${run}/cart`]: 3, [`/live/${run}/faq`]: 1 };
    const urls = Object.keys(expected);
    const { messages } = await subscribedClient('alice');
    await awaitRoomInMinute(20_000);

    // Act
    const putAt = Date.now();
    await produce(expected);
    await eventually(async () => reached(latestCounts(messages, urls), expected), () => `counts so far ${JSON.stringify(latestCounts(messages, urls))}`, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 1500));

    // Assess
    const [snapshot] = messages;
    expect(snapshot).toMatchObject({ v: 1, type: 'snapshot' });
    expect(latestCounts(messages, urls)).toStrictEqual(expected);
    const ours = messages.filter((message) => message.type === 'windows').flatMap((message) => message.windows).filter((window) => urls.includes(window.url));
    // Deltas add up to the counts: nothing counted twice on the way to the client.
    const deltas: Record<string, number> = {};
    for (const window of ours) deltas[window.url] = (deltas[window.url] ?? 0) + window.delta;
    expect(deltas).toStrictEqual(expected);
    const windowStart = new Date(Math.floor(putAt / WINDOW_MS) * WINDOW_MS).toISOString();
    expect(new Set(ours.map((window) => window.windowStart))).toStrictEqual(new Set([windowStart]));
  });

  it('gives a client that subscribes later the current counts in its snapshot', async () => {
    // Prepare
    const run = randomUUID().slice(0, 8);
    const expected = { [`/later/${run}/a`]: 4, [`/later/${run}/b`]: 2 };
    const first = await subscribedClient();
    await awaitRoomInMinute(20_000);
    await produce(expected);
    await eventually(async () => reached(latestCounts(first.messages, Object.keys(expected)), expected), () => 'the first client saw no update', 20_000);

    // Act
    const { messages } = await subscribedClient('bob');

    // Assess
    const snapshot = messages[0]!;
    expect(snapshot.type).toBe('snapshot');
    const shown = snapshot.type === 'snapshot' ? snapshot.windows.filter((window) => window.url in expected) : [];
    expect(Object.fromEntries(shown.map((window) => [window.url, window.count]))).toStrictEqual(expected);
    expect(shown.every((window) => window.delta === 0)).toBe(true);
  });

  describe('refuses a connection at $connect', () => {
    const forged = () => {
      const token = cloud.devIssuer.mintIdToken();
      const [header, payload] = token.split('.');
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return `${header}.${payload}.${sign('sha256', Buffer.from(`${header}.${payload}`), privateKey).toString('base64url')}`;
    };

    it.each<[string, () => string | undefined, number, string]>([
      // API Gateway itself answers 401 when the identity source is missing: the authorizer is not asked.
      ['without a token', () => undefined, 401, 'Unauthorized'],
      // The authorizer denies everything else; API Gateway answers a Deny with 403.
      ['with a token that is no JWT', () => 'not-a-jwt', 403, 'Forbidden'],
      ['with an expired token', () => cloud.devIssuer.mintIdToken({ expiresInSeconds: -60 }), 403, 'Forbidden'],
      ['with a forged token (signed by another key)', forged, 403, 'Forbidden'],
      ['with a token for another app client', () => cloud.devIssuer.mintIdToken({ clientId: 'anotherappclient0000000000' }), 403, 'Forbidden'],
      ['with an access token instead of an ID token', () => cloud.devIssuer.mintIdToken({ claims: { token_use: 'access' } }), 403, 'Forbidden'],
    ])('%s', async (_name, token, status, message) => {
      // Act
      const value = token();
      const outcome = await connectWebSocket(value === undefined ? config.webSocketUrl : `${config.webSocketUrl}?token=${encodeURIComponent(value)}`);

      // Assess
      expect(outcome).toStrictEqual({ opened: false, status, body: JSON.stringify({ message }) });
    });
  });

  it('cleans up a client that drops: $disconnect deletes its connection item', async () => {
    // Prepare
    const sub = `carol-${randomUUID().slice(0, 8)}`;
    const { ws } = await subscribedClient(sub);
    const { Items = [] } = await connections.send(new ScanCommand({ TableName: cloud.outputs.ConnectionsTableName, ConsistentRead: true }));
    const connectionId = String(Items.find((item) => item.sub === sub)?.connectionId);
    expect(await connectionItem(connectionId)).toMatchObject({ connectionId, sub, subscribedAt: expect.any(String) });
    expect(cloud.webSocket.connections().map((candidate) => candidate.connectionId)).toContain(connectionId);

    // Act: gone without a close frame, as when a laptop lid closes
    ws.terminate();

    // Assess
    await eventually(async () => (await connectionItem(connectionId)) === undefined, () => `the item of ${connectionId} is still there`, 15_000);
    expect(cloud.webSocket.connections().map((candidate) => candidate.connectionId)).not.toContain(connectionId);
  });

  it('deletes a connection whose $disconnect never ran once the broadcaster gets 410 Gone', async () => {
    // Prepare: an item left behind (say $disconnect failed), and a live client that must not suffer for it
    const staleId = 'c3RhbGUtY29ubmVjdA=';
    const now = new Date();
    await connections.send(new PutCommand({
      TableName: cloud.outputs.ConnectionsTableName,
      Item: { connectionId: staleId, sub: 'ghost', connectedAt: now.toISOString(), subscribedAt: now.toISOString(), expiresAt: Math.floor(now.getTime() / 1000) + 3600 },
    }));
    const live = await subscribedClient();
    const url = `/stale/${randomUUID().slice(0, 8)}`;

    // Act
    await produce({ [url]: 2 });

    // Assess
    await eventually(async () => (await connectionItem(staleId)) === undefined, () => 'the stale item is still there', 20_000);
    await eventually(async () => latestCounts(live.messages, [url])[url] === 2, () => `the live client saw ${JSON.stringify(latestCounts(live.messages, [url]))}`, 20_000);
  });
});
