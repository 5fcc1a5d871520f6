import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, ServerMessage, type AlertMessage } from '../../contracts/dashboard';
import { DEFAULT_SCORING_CONFIG, DecisionItem, Order, OrderDeadLetterMessage, ScoringConfig, UserProfile, type OrderInput } from '../../contracts/fraud';
import { FRAUD_DEFAULTS } from '../../contracts/fraud-settings';
import { activateConfig, putConfigVersion, ScoringConfigSource } from '../../lambdas/fraud/config-source';
import { scoreShardBatch } from '../../lambdas/fraud/score-orders';
import { ScorerStore } from '../../lambdas/fraud/scorer-store';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import { generateOrders, type GeneratedOrder } from '../../simulator/orders';
import { putAll } from '../../simulator/producer';
import { faultInjectingRoute } from '../support/faults';
import { kinesisRecordFactory } from '../support/kinesis-records';
import { drainQueue, eventually, scanAll, startTestCloud } from '../support/local-cloud';
import { expectedIpOrderCounts, expectedUserProfiles, orderFactory, profileFingerprint, uniqueValidOrders } from '../support/orders';
import { requireJava, titled } from '../support/requirements';
import { openWebSocket, type Inbox } from '../support/websocket';

const java = await requireJava();

const SCORER = (cloud: LocalCloud) => cloud.stack.functions.find((fn) => fn.logicalId.startsWith('FraudScorer'))!.functionName;

describe.skipIf(!java.available)(titled('fraud scoring on the local cloud', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let ddb: DynamoDBDocumentClient;
  let kinesis: KinesisClient;
  let dashboard: { inbox: Inbox; close: () => void };
  /** Every simulated order put so far, in put order: the offline truth for the profiles. */
  const produced: GeneratedOrder[] = [];

  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud());
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(cloud.edgeUrl)));
    kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
    const { token } = (await (await fetch(cloud.devIssuer.tokenUrl, { method: 'POST' })).json()) as { token: string };
    const { ws, inbox } = await openWebSocket(`${cloud.webSocketUrl}?token=${token}`);
    ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'subscribe' }));
    dashboard = { inbox, close: () => ws.terminate() };
    // Synthesis bundles every function; on a loaded machine that alone can take minutes.
  }, 300_000);
  afterAll(async () => {
    dashboard?.close();
    ddb?.destroy();
    kinesis?.destroy();
    await dispose?.();
  });

  async function put(records: GeneratedOrder[]): Promise<void> {
    const stats = await putAll(kinesis, cloud.outputs.OrdersStreamName!, records, { rate: 5_000 });
    expect(stats.sent).toBe(records.length);
    produced.push(...records.filter((record) => record.truth.kind !== 'malformed'));
  }

  const crafted = (order: OrderInput): GeneratedOrder => ({
    partitionKey: order.userId,
    data: Buffer.from(JSON.stringify(order)),
    emittedAt: Date.now(),
    truth: { kind: 'valid', label: 'legit', order },
  });

  async function decisionsFor(orderIds: readonly string[]): Promise<Map<string, DecisionItem>> {
    const found = new Map<string, DecisionItem>();
    for (let start = 0; start < orderIds.length; start += 100) {
      const { Responses } = await ddb.send(
        new BatchGetCommand({ RequestItems: { [cloud.outputs.DecisionsTableName!]: { Keys: orderIds.slice(start, start + 100).map((orderId) => ({ orderId })), ConsistentRead: true } } }),
      );
      for (const item of Responses?.[cloud.outputs.DecisionsTableName!] ?? []) {
        const decision = DecisionItem.parse(item);
        found.set(decision.orderId, decision);
      }
    }
    return found;
  }

  async function awaitDecisions(orderIds: readonly string[], timeoutMs = 180_000): Promise<Map<string, DecisionItem>> {
    let found = new Map<string, DecisionItem>();
    await eventually(
      async () => (found = await decisionsFor(orderIds)).size === orderIds.length,
      () => `${found.size} of ${orderIds.length} orders decided`,
      timeoutMs,
    );
    return found;
  }

  /** The profiles table and the per-shard IP items must equal what the orders put so far give offline. */
  async function expectProfilesExact(): Promise<void> {
    const orders = uniqueValidOrders(produced);
    await awaitDecisions(orders.map((order) => order.orderId));
    // Let any double count land before comparing: exactness means no more than expected, too.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const expected = expectedUserProfiles(orders);
    const actual = new Map((await scanAll(cloud, cloud.outputs.ProfilesTableName!)).map((item) => UserProfile.parse(item)).map((profile) => [profile.userId, profile]));
    const fingerprints = (profiles: Map<string, UserProfile>) => Object.fromEntries([...profiles].filter(([userId]) => expected.has(userId)).map(([userId, profile]) => [userId, profileFingerprint(profile)]));
    expect(fingerprints(actual)).toStrictEqual(fingerprints(expected));

    const expectedIps = expectedIpOrderCounts(orders);
    const actualIps = new Map<string, number>();
    const shardsPerIp = new Map<string, Set<string>>();
    for (const item of await scanAll(cloud, cloud.outputs.ScorerStateTableName!)) {
      if (!String(item.pk).startsWith('ip#')) continue;
      const ip = String(item.ipAddress);
      actualIps.set(ip, (actualIps.get(ip) ?? 0) + Number(item.orderCount));
      shardsPerIp.set(ip, (shardsPerIp.get(ip) ?? new Set()).add(String(item.sk)));
    }
    expect(Object.fromEntries([...actualIps].filter(([ip]) => expectedIps.has(ip)))).toStrictEqual(Object.fromEntries(expectedIps));
    // Orders are partitioned by user, so an IP's orders were counted from more than one shard.
    expect([...shardsPerIp.values()].some((shards) => shards.size > 1)).toBe(true);
  }

  it('decides crafted orders: history, takeover, card testing and a first-time user, with reasons and alerts', async () => {
    const now = Date.now();
    const run = randomUUID().slice(0, 8);
    const regular = `regular-${run}`;
    const history = [40, 30, 20, 10].map((minutesAgo, index) =>
      orderFactory({ orderId: `${regular}-${index}`, userId: regular, ipAddress: '192.0.2.10', timestamp: now - minutesAgo * 60_000, items: [{ sku: 'book', quantity: 1, unitPrice: 45 + index * 5 }] }));
    const takeover = orderFactory({ orderId: `${regular}-takeover`, userId: regular, ipAddress: '2001:db8::bad', timestamp: now, items: [{ sku: 'laptop', quantity: 1, unitPrice: 2400 }] });
    const cardTester = `card-${run}`;
    const burst = [0, 1, 2, 3].map((index) =>
      orderFactory({ orderId: `${cardTester}-${index}`, userId: cardTester, ipAddress: '198.51.100.77', timestamp: now + index * 2000, items: [{ sku: 'gift-card', quantity: 1, unitPrice: 2 }] }));
    const newcomer = orderFactory({ orderId: `newcomer-${run}`, userId: `newcomer-${run}`, ipAddress: '203.0.113.99', timestamp: now, currency: 'EUR', items: [{ sku: 'mug', quantity: 2, unitPrice: 12.5 }] });

    await put([...history, takeover, ...burst, newcomer].map(crafted));
    const decisions = await awaitDecisions([...history, takeover, ...burst, newcomer].map((order) => order.orderId));

    expect(history.map((order) => decisions.get(order.orderId)!.decision)).toStrictEqual(['ALLOW', 'ALLOW', 'ALLOW', 'ALLOW']);
    const takeoverDecision = decisions.get(takeover.orderId)!;
    expect(takeoverDecision).toMatchObject({ decision: 'BLOCK', modelVersion: DEFAULT_SCORING_CONFIG.modelVersion, userId: regular, amount: 2400 });
    expect(takeoverDecision.reasons.map((reason) => reason.feature)).toEqual(expect.arrayContaining(['amountZScore', 'newIpForUser']));
    expect(decisions.get(burst[3]!.orderId)).toMatchObject({ decision: 'BLOCK' });
    expect(decisions.get(burst[3]!.orderId)!.reasons[0]).toMatchObject({ feature: 'userVelocity10m', value: 3, rule: 'card-testing-burst' });
    expect(decisions.get(newcomer.orderId)).toMatchObject({ decision: 'ALLOW', reasons: [], amountBase: 27, currency: 'EUR', baseCurrency: 'USD' });
    for (const decision of decisions.values()) {
      if (decision.decision !== 'ALLOW') expect(decision.reasons.length).toBeGreaterThan(0);
    }

    // The dashboard client hears about the takeover, with its reasons, and gets decision counts.
    const alert = await dashboard.inbox.nextMatching((message) => {
      const parsed = ServerMessage.safeParse(JSON.parse(message.data));
      return parsed.success && parsed.data.type === 'alert' && parsed.data.alert.orderId === takeover.orderId;
    }, 20_000);
    const { alert: shown } = JSON.parse(alert.data) as AlertMessage;
    expect(shown).toMatchObject({ decision: 'BLOCK', userId: regular, amount: 2400, currency: 'USD', modelVersion: DEFAULT_SCORING_CONFIG.modelVersion });
    expect(shown.reasons.some((line) => line.includes('standard deviations above'))).toBe(true);
    // The decision counts follow the alerts of the same batch.
    const counts = await dashboard.inbox.nextMatching((message) => (JSON.parse(message.data) as { type?: string }).type === 'decisions', 10_000);
    expect(JSON.parse(counts.data)).toMatchObject({ type: 'decisions', counts: { ALLOW: expect.any(Number), REVIEW: expect.any(Number), BLOCK: expect.any(Number) } });
  }, 420_000);

  it('dead-letters invalid orders with their reason and scores the rest of the batch exactly once, across shards', async () => {
    const records = [...generateOrders({ count: 800, rate: 1000, users: 150, seed: 21, fraud: 0.05, duplicates: 0.05, malformed: 0.03, startTime: Date.now() })];
    await put(records);
    await expectProfilesExact();

    const malformed = records.filter((record) => record.truth.kind === 'malformed');
    expect(malformed.length).toBeGreaterThan(10);
    // Sinks are at least once: a retried batch sends its dead letters again, and consumers
    // deduplicate on the record's origin (README). Each malformed order must be there once by origin.
    const byOrigin = new Map<string, OrderDeadLetterMessage>();
    await eventually(
      async () => {
        for (const raw of (await drainQueue(cloud, cloud.outputs.OrdersDeadLetterQueueUrl!))) {
          const message = OrderDeadLetterMessage.parse(raw);
          byOrigin.set(`${message.origin.shardId}/${message.origin.sequenceNumber}`, message);
        }
        return byOrigin.size >= malformed.length;
      },
      () => `${byOrigin.size} of ${malformed.length} dead letters`,
    );
    const deadLetters = [...byOrigin.values()];
    expect(deadLetters.map((message) => message.reason).sort()).toStrictEqual(malformed.map((record) => (record.truth.kind === 'malformed' ? record.truth.reason : '')).sort());
    for (const message of deadLetters) expect(message.detail.length).toBeGreaterThan(0);
    const resends = records.filter((record) => record.truth.kind === 'resend');
    expect(resends.length).toBeGreaterThan(10);
  }, 420_000);

  it('keeps profiles exact and decisions stable when the scorer dies right after a partial write and every mapping restarts from the start of the stream', async () => {
    const before = await decisionsFor(uniqueValidOrders(produced).map((order) => order.orderId));
    const records = [...generateOrders({ count: 600, rate: 1000, users: 120, seed: 22, duplicates: 0.03, malformed: 0, startTime: Date.now() })];

    const functionName = SCORER(cloud);
    let transactions = 0;
    let crashed = false;
    const dynamodb = cloud.services.services.dynamodb.endpoint;
    cloud.services.edge.register('dynamodb', faultInjectingRoute(dynamodb, async (target) => {
      if (crashed || target !== 'DynamoDB_20120810.TransactWriteItems') return 'pass';
      transactions += 1;
      if (transactions < 3) return 'pass';
      crashed = true;
      await cloud.runtime.crash(functionName);
      return 'drop';
    }));
    try {
      await put(records);
      await eventually(async () => crashed, () => `only ${transactions} transactions were seen`);
      await cloud.restartFunctions({ forgetCheckpoints: true });
      await expectProfilesExact();
    } finally {
      cloud.services.edge.register('dynamodb', dynamodb);
    }
    expect(cloud.runtime.stats(functionName).coldStarts).toBeGreaterThanOrEqual(2);
    // Decisions made before the crash were neither made again nor changed.
    const after = await decisionsFor([...before.keys()]);
    expect(Object.fromEntries(after)).toStrictEqual(Object.fromEntries(before));
  }, 420_000);

  it('keeps profiles exact through failed commits, SDK retries of applied commits, and bisected retries', async () => {
    const records = [...generateOrders({ count: 600, rate: 1000, users: 120, seed: 23, duplicates: 0.03, malformed: 0.01, startTime: Date.now() })];
    const mapping = cloud.eventSources.find((source) => source.kind === 'kinesis' && source.spec.functionName === SCORER(cloud))!;
    const errorsBefore = mapping.progress().reduce((sum, shard) => sum + shard.functionErrors, 0);

    // The first transactions fail without effect often enough to exhaust the SDK's retries (the
    // invocation fails, so the mapping retries and bisects); later ones are applied but their
    // answers lost (the SDK retries an applied commit, which the checkpoint must refuse).
    let seen = 0;
    const dynamodb = cloud.services.services.dynamodb.endpoint;
    const transactWrite = 'DynamoDB_20120810.TransactWriteItems';
    cloud.services.edge.register('dynamodb', faultInjectingRoute(
      dynamodb,
      async (target) => (target === transactWrite && seen > 12 && seen <= 16 ? 'drop' : 'pass'),
      (target) => {
        if (target !== transactWrite) return 'forward';
        seen += 1;
        return seen <= 12 ? 'fail' : 'forward';
      },
    ));
    try {
      await put(records);
      await expectProfilesExact();
    } finally {
      cloud.services.edge.register('dynamodb', dynamodb);
    }
    expect(mapping.progress().reduce((sum, shard) => sum + shard.functionErrors, 0)).toBeGreaterThan(errorsBefore);
  }, 420_000);

  it('stays exact when two invocations score overlapping batches of one shard at the same time', async () => {
    // The handler's core against the real tables, twice at once, on a shard of its own (a stream ARN
    // no mapping reads): whichever commits second must find its orders already counted.
    const config = localClientConfig(cloud.edgeUrl);
    const client = DynamoDBDocumentClient.from(new DynamoDBClient(config), { marshallOptions: { removeUndefinedValues: true } });
    const sqs = new SQSClient(config);
    const settings = {
      decisionsTableName: cloud.outputs.DecisionsTableName!,
      profilesTableName: cloud.outputs.ProfilesTableName!,
      stateTableName: cloud.outputs.ScorerStateTableName!,
      configTableName: cloud.outputs.FraudConfigTableName!,
      deadLetterQueueUrl: cloud.outputs.OrdersDeadLetterQueueUrl!,
      maxOrderBytes: FRAUD_DEFAULTS.maxOrderBytes,
      configMaxAgeSeconds: 0,
    };
    const deps = () => ({
      store: new ScorerStore(client, settings),
      configs: new ScoringConfigSource(client, settings.configTableName, 0),
      sqs,
      settings,
      logger: new Logger({ logLevel: 'ERROR' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'test' }),
      now: Date.now,
    });
    const run = randomUUID().slice(0, 8);
    const orders = Array.from({ length: 80 }, (_, index) =>
      orderFactory({ orderId: `race-${run}-${index}`, userId: `race-${run}-${index % 7}`, ipAddress: `198.51.100.${index % 5}`, timestamp: Date.now() + index }));
    const streamArn = `arn:aws:kinesis:us-east-1:000000000000:stream/race-${run}`;
    const event = (count: number): KinesisStreamEvent => ({
      Records: orders.slice(0, count).map((order, index) => ({ ...kinesisRecordFactory(index + 1, JSON.stringify(order), { arrivalMs: Date.now() }), eventSourceARN: streamArn })),
    });
    const context = { functionName: 'race', awsRequestId: run } as Context;
    try {
      const responses = await Promise.all([scoreShardBatch(event(50).Records, context, deps()), scoreShardBatch(event(80).Records, context, deps()), scoreShardBatch(event(80).Records, context, deps())]);
      // Each either committed its batch or handed the rest back for a retry; retry what was handed back.
      for (const response of responses) {
        for (const failure of response.batchItemFailures) {
          const from = event(80).Records.findIndex((record) => record.kinesis.sequenceNumber === failure.itemIdentifier);
          expect((await scoreShardBatch(event(80).Records.slice(from), context, deps())).batchItemFailures).toStrictEqual([]);
        }
      }
      const expected = expectedUserProfiles(orders.map((order) => Order.parse(order)));
      const actual = await client.send(new BatchGetCommand({ RequestItems: { [settings.profilesTableName]: { Keys: [...expected.keys()].map((userId) => ({ userId })), ConsistentRead: true } } }));
      const found = Object.fromEntries((actual.Responses?.[settings.profilesTableName] ?? []).map((item) => UserProfile.parse(item)).map((profile) => [profile.userId, profileFingerprint(profile)]));
      expect(found).toStrictEqual(Object.fromEntries([...expected].map(([userId, profile]) => [userId, profileFingerprint(profile)])));
      expect((await decisionsFor(orders.map((order) => order.orderId))).size).toBe(80);
    } finally {
      client.destroy();
      sqs.destroy();
    }
  }, 420_000);

  it('takes a new configuration version, and a shadow, without a restart', async () => {
    const table = cloud.outputs.FraudConfigTableName!;
    const strict = ScoringConfig.parse({
      ...DEFAULT_SCORING_CONFIG,
      modelVersion: `strict-${randomUUID().slice(0, 6)}`,
      rules: [...DEFAULT_SCORING_CONFIG.rules, { name: 'no-new-users', feature: 'largeFirstOrder', atLeast: 0, decision: 'REVIEW' }],
    });
    expect(await putConfigVersion(ddb, table, strict)).toBe('created');
    expect(await putConfigVersion(ddb, table, strict)).toBe('unchanged');
    await activateConfig(ddb, table, { active: strict.modelVersion, shadows: [DEFAULT_SCORING_CONFIG.modelVersion] });
    const coldStarts = cloud.runtime.stats(SCORER(cloud)).coldStarts;
    try {
      let decision: DecisionItem | undefined;
      await eventually(
        async () => {
          // Its own IP address: an address other tests' users shared would add a reason of its own.
          const ipAddress = `2001:db8:c0f::${randomUUID().slice(0, 4)}`;
          const order = orderFactory({ orderId: `config-${randomUUID()}`, userId: `config-${randomUUID()}`, ipAddress, timestamp: Date.now() });
          await put([crafted(order)]);
          decision = (await awaitDecisions([order.orderId])).get(order.orderId);
          return decision?.modelVersion === strict.modelVersion;
        },
        () => `the last decision used ${decision?.modelVersion}`,
        (FRAUD_DEFAULTS.configMaxAgeSeconds + 20) * 1000,
      );
      expect(decision).toMatchObject({ decision: 'REVIEW', reasons: [{ rule: 'no-new-users' }] });
      expect(decision!.shadow).toMatchObject([{ modelVersion: DEFAULT_SCORING_CONFIG.modelVersion, decision: 'ALLOW' }]);
      expect(cloud.runtime.stats(SCORER(cloud)).coldStarts).toBe(coldStarts);
    } finally {
      await activateConfig(ddb, table, { active: DEFAULT_SCORING_CONFIG.modelVersion, shadows: [] });
    }
  }, 420_000);
});
