import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { SHARDS_PARTITION, ShardPartialItem, sumPartials } from '../../contracts/clickstream';
import { DEFAULT_COMMIT_LIMITS, planBatch, type PlanSettings, type ShardState } from '../../lambdas/clickstream/core/batch-plan';
import { FingerprintLedger, fingerprint } from '../../lambdas/clickstream/core/ledger';
import { planChunkWrites } from '../../lambdas/clickstream/core/partials';
import { ShardStore, type ShardRef } from '../../lambdas/clickstream/shard-store';
import { FakeDynamoDb, transactionConflict, type FakeRequest } from '../support/fake-dynamodb';
import { sequenceAt, shardRecordFactory, TEST_STREAM_ARN } from '../support/kinesis-records';

const T0 = Date.parse('2026-01-01T00:10:00Z');
const CONFIG = { windowTableName: 'click-windows', stateTableName: 'aggregator-state', dedupHorizonMs: 900_000, windowRetentionMs: 7 * 86_400_000 };
const SETTINGS: PlanSettings = { maxEventBytes: 4096, maxFutureSkewMs: 300_000, allowedLatenessMs: 60_000, ...DEFAULT_COMMIT_LIMITS };
const shardRef = (n: number): ShardRef => ({ streamArn: TEST_STREAM_ARN, shardId: `shardId-00000000000${n}` });
const SHARD = shardRef(0);
const click = (eventId: string, url: string, timestamp = T0 - 5000) => ({ eventId, url, userId: 'u1', timestamp });

/** Records at positions first..first+n-1, over a few hot urls, as one shard would receive them. */
const records = (first: number, n: number, urls = ['/hot', '/warm', '/cold']) =>
  Array.from({ length: n }, (_, index) => shardRecordFactory(first + index, click(`e${first + index}`, urls[index % urls.length]!), T0));

/** The window table's totals as `url|windowStart -> count`, what readers see. */
const totals = (fake: FakeDynamoDb) =>
  Object.fromEntries(
    sumPartials(fake.items(CONFIG.windowTableName).filter((item) => item.pk !== SHARDS_PARTITION).map((item) => ShardPartialItem.parse(item)))
      .map((total) => [`${total.url}|${total.windowStart}`, total.count]),
  );

/** Loads the shard, plans the records from what it loaded, and commits every step: one invocation. */
async function invoke(store: ShardStore, shard: ShardRef, batch: ReturnType<typeof records>) {
  const loaded = await store.load(shard, T0);
  const plan = planBatch(batch, loaded.state, SETTINGS, loaded.seenBefore);
  let state: ShardState = loaded.state;
  const outcomes = [];
  for (const commit of plan.commits) {
    const outcome = await store.commit(shard, state, commit);
    outcomes.push(outcome.status);
    state = outcome.state;
    if (outcome.status === 'superseded') break;
  }
  return { state, outcomes, plan };
}

describe('ShardStore.commit', () => {
  it('writes the log entry, then the shard\'s partials, then its progress, with no transaction and no request token', async () => {
    const fake = new FakeDynamoDb();
    const store = new ShardStore(fake.client(), CONFIG);

    const { outcomes } = await invoke(store, SHARD, records(1, 6));

    expect(outcomes).toStrictEqual(['committed']);
    const writes = fake.requests.filter((request) => request.kind === 'Put').map((request) => `${request.tableName} ${request.key!.pk}`);
    expect(writes).toStrictEqual([
      `aggregator-state log#${TEST_STREAM_ARN}#${SHARD.shardId}`,
      'click-windows minute#2026-01-01T00:09:00.000Z',
      'click-windows shards',
    ]);
    expect(totals(fake)).toStrictEqual({ '/hot|2026-01-01T00:09:00.000Z': 2, '/warm|2026-01-01T00:09:00.000Z': 2, '/cold|2026-01-01T00:09:00.000Z': 2 });
    expect(fake.items(CONFIG.windowTableName).find((item) => item.pk === SHARDS_PARTITION)).toStrictEqual({
      pk: SHARDS_PARTITION, sk: SHARD.shardId, streamArn: TEST_STREAM_ARN, sequenceNumber: sequenceAt(6), watermarkMs: T0 - 5000,
    });
    const partial = fake.items(CONFIG.windowTableName).find((item) => item.pk !== SHARDS_PARTITION)!;
    expect(partial.expiresAt).toBe((Date.parse('2026-01-01T00:10:00Z') + CONFIG.windowRetentionMs) / 1000);
  });

  it('sends identical write parameters when the same step is committed twice, whatever the clock (no IdempotentParameterMismatch)', async () => {
    // Reproduces the old belief: a token derived from (shard, last sequence number) over bodies that carried
    // wall-clock updatedAt/expiresAt, which DynamoDB answers with IdempotentParameterMismatch on reuse.
    const bodies = async (nowMs: number) => {
      const fake = new FakeDynamoDb();
      const store = new ShardStore(fake.client(), CONFIG);
      const loaded = await store.load(SHARD, nowMs);
      const plan = planBatch(records(1, 6), loaded.state, SETTINGS, loaded.seenBefore);
      await store.commit(SHARD, loaded.state, plan.commits[0]!);
      return fake.requests.filter((request) => request.kind === 'Put').map((request) => request.item);
    };
    expect(await bodies(T0 + 3_600_000)).toStrictEqual(await bodies(T0));
  });

  it('lets shards count the same hot url in the same minute without ever writing the same item', async () => {
    // DynamoDB cancels overlapping transactions on one item with TransactionConflict, and DynamoDB Local never
    // does: this fake does, for any item two shards write. The layout gives it nothing to cancel.
    const fake = new FakeDynamoDb();
    const writers = new Map<string, string>();
    fake.beforeRequest = (request: FakeRequest) => {
      if (request.kind !== 'Put') return;
      const key = `${request.tableName}|${request.key!.pk}|${request.key!.sk}`;
      const writer = typeof request.item!.shardId === 'string' ? request.item!.shardId : request.key!.pk;
      if (writers.has(key) && writers.get(key) !== writer) throw transactionConflict();
      writers.set(key, writer);
    };
    const containers = [0, 1, 2, 3].map(() => new ShardStore(fake.client(), CONFIG));

    const results = await Promise.all(containers.map((store, n) => invoke(store, shardRef(n), records(1, 9, ['/hot']))));

    expect(results.map((result) => result.outcomes)).toStrictEqual([['committed'], ['committed'], ['committed'], ['committed']]);
    expect(totals(fake)).toStrictEqual({ '/hot|2026-01-01T00:09:00.000Z': 36 });
  });

  it('lets the loser of two invocations racing on one shard stop without an error, and counts the winner\'s step once', async () => {
    // A timed-out invocation still running beside its retry: both load the same checkpoint and plan different batches.
    const fake = new FakeDynamoDb();
    const first = new ShardStore(fake.client(), CONFIG);
    const retry = new ShardStore(fake.client(), CONFIG);
    await invoke(first, SHARD, records(1, 3));
    const loadedByFirst = await first.load(SHARD, T0);
    const loadedByRetry = await retry.load(SHARD, T0);
    const planOf = (loaded: typeof loadedByFirst, batch: ReturnType<typeof records>) => planBatch(batch, loaded.state, SETTINGS, loaded.seenBefore).commits[0]!;

    const winner = await retry.commit(SHARD, loadedByRetry.state, planOf(loadedByRetry, records(4, 5)));
    const loser = await first.commit(SHARD, loadedByFirst.state, planOf(loadedByFirst, records(4, 10)));

    expect(winner).toStrictEqual({ status: 'committed', state: { checkpoint: sequenceAt(8), watermarkMs: T0 - 5000 } });
    expect(loser).toStrictEqual({ status: 'superseded', state: { checkpoint: sequenceAt(8), watermarkMs: T0 - 5000 } });
    expect(Object.values(totals(fake)).reduce((sum, count) => sum + count, 0)).toBe(8);
    // The loser's next attempt resumes after the winner's step and counts the rest exactly once.
    const { outcomes } = await invoke(first, SHARD, records(4, 10));
    expect(outcomes).toStrictEqual(['committed']);
    expect(Object.values(totals(fake)).reduce((sum, count) => sum + count, 0)).toBe(13);
  });

  it('treats a ConditionalCheckFailed on a partial as another writer (or its own lost response) and applies what is missing', async () => {
    const fake = new FakeDynamoDb();
    let lostOnce = false;
    // The write applies, but its response is lost; the SDK's retry then fails its condition, as on AWS.
    fake.afterWrite = (request) => {
      if (lostOnce || request.tableName !== CONFIG.windowTableName || request.key!.pk === SHARDS_PARTITION) return;
      lostOnce = true;
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    };
    const store = new ShardStore(fake.client(), CONFIG);

    const { outcomes } = await invoke(store, SHARD, records(1, 6));

    expect(lostOnce).toBe(true);
    expect(outcomes).toStrictEqual(['committed']);
    expect(totals(fake)).toStrictEqual({ '/hot|2026-01-01T00:09:00.000Z': 2, '/warm|2026-01-01T00:09:00.000Z': 2, '/cold|2026-01-01T00:09:00.000Z': 2 });
  });
});

describe('a step whose writer died after its log entry', () => {
  const crashAfterLogEntry = (fake: FakeDynamoDb) => {
    let crashed = false;
    fake.afterWrite = (request) => {
      if (crashed || request.tableName !== CONFIG.stateTableName) return;
      crashed = true;
      throw new Error('Runtime.ExitError: the execution environment died');
    };
  };

  it('is rolled forward by the next load of the same shard, before anything is counted on top', async () => {
    const fake = new FakeDynamoDb();
    crashAfterLogEntry(fake);
    await expect(invoke(new ShardStore(fake.client(), CONFIG), SHARD, records(1, 6))).rejects.toThrow('died');
    expect(totals(fake)).toStrictEqual({});

    const loaded = await new ShardStore(fake.client(), CONFIG).load(SHARD, T0);

    expect(loaded.state.checkpoint).toBe(sequenceAt(6));
    expect(Object.values(totals(fake)).reduce((sum, count) => sum + count, 0)).toBe(6);
    expect(loaded.seenBefore(fingerprint('e3'))).toBe(true);
  });

  it('is never stranded when its shard closes or the batch is given up: a cold start on any shard of the stream finishes it', async () => {
    const fake = new FakeDynamoDb();
    await invoke(new ShardStore(fake.client(), CONFIG), SHARD, records(1, 3));
    crashAfterLogEntry(fake);
    await expect(invoke(new ShardStore(fake.client(), CONFIG), SHARD, records(4, 6))).rejects.toThrow('died');
    expect(Object.values(totals(fake)).reduce((sum, count) => sum + count, 0)).toBe(3);

    // Shard 0 never runs again (closed by a split, or its batch went to the failed-batch queue); a child starts.
    await new ShardStore(fake.client(), CONFIG).load(shardRef(1), T0);

    expect(Object.values(totals(fake)).reduce((sum, count) => sum + count, 0)).toBe(9);
    const progress = fake.items(CONFIG.windowTableName).find((item) => item.pk === SHARDS_PARTITION && item.sk === SHARD.shardId);
    expect(progress?.sequenceNumber).toBe(sequenceAt(9));
  });
});

describe('ledger memory', () => {
  it('holds 8 bytes per remembered event and drops whole minutes as they expire', () => {
    const ledger = new FingerprintLedger();
    const perSecond = 100;
    for (let second = 0; second < 900; second++) {
      const fingerprints = Array.from({ length: perSecond }, (_, n) => fingerprint(`e-${second}-${n}`));
      ledger.add(fingerprints, T0 + second * 1000 + 900_000);
    }
    // 100 events/s x 15 minutes x 8 bytes (7.2 MB at the default 1,000 events/s).
    expect(ledger.bytes).toBe(720_000);
    expect(ledger.has(fingerprint('e-10-5'), T0)).toBe(true);
    expect(ledger.has(fingerprint('never-sent'), T0)).toBe(false);

    ledger.evictExpired(T0 + 900_000 + 450_000);
    expect(ledger.bytes).toBeLessThanOrEqual(720_000 / 2 + 60 * perSecond * 8);
    expect(ledger.has(fingerprint('e-10-5'), T0 + 900_000 + 450_000)).toBe(false);
  });

  it('keeps at most maxCachedShards shards per container, however many it has served', async () => {
    // Reproduces the unbounded cache: the old store kept a ledger for every shard a container had ever seen.
    const fake = new FakeDynamoDb();
    const store = new ShardStore(fake.client(), { ...CONFIG, maxCachedShards: 2 });
    for (const n of [0, 1, 2, 3, 4, 5]) await invoke(store, shardRef(n), records(1, 4));

    expect(store.cacheStats()).toStrictEqual({ shards: 2, ledgerBytes: 2 * 4 * 8 });
  });

  it('reads only the log entries committed since its cache on a warm load, and only unexpired ones on a cold one', async () => {
    const fake = new FakeDynamoDb();
    const warm = new ShardStore(fake.client(), CONFIG);
    await invoke(warm, SHARD, records(1, 4));
    await invoke(new ShardStore(fake.client(), CONFIG), SHARD, records(5, 4)); // committed by another container
    fake.requests.length = 0;

    await warm.load(SHARD, T0);

    const ledgerQueries = fake.requests.filter((request) => request.kind === 'Query' && request.tableName === CONFIG.stateTableName);
    expect(ledgerQueries).toHaveLength(1);
    const cold = new ShardStore(fake.client(), CONFIG);
    const loaded = await cold.load(SHARD, T0 + 901_000);
    expect(loaded.seenBefore(fingerprint('e2'))).toBe(false);
    expect(cold.cacheStats().ledgerBytes).toBe(0);
  });
});

describe('cold-start reads', () => {
  it('read the log newest first and stop past the horizon, though entries are kept a day longer', async () => {
    // Reproduces the old read: every log entry of the shard, up to a day past its horizon, filtered
    // after reading (a FilterExpression does not reduce what a Query reads).
    const fake = new FakeDynamoDb();
    const writer = new ShardStore(fake.client(), CONFIG);
    const nowMs = T0 + 3 * 3_600_000;
    // 40 one-click steps a minute apart (e0..e39): e25..e39 are within the 15-minute horizon of nowMs.
    for (let step = 0; step < 40; step++) {
      const arrivalMs = nowMs - (39 - step) * 60_000 - 30_000;
      const record = shardRecordFactory(step + 1, click(`e${step}`, '/a', arrivalMs - 1000), arrivalMs);
      const loaded = await writer.load(SHARD, arrivalMs);
      const plan = planBatch([record], loaded.state, SETTINGS, loaded.seenBefore);
      await writer.commit(SHARD, loaded.state, plan.commits[0]!);
    }
    const cold = new ShardStore(fake.client(), { ...CONFIG, ledgerPageEntries: 10 });
    fake.requests.length = 0;

    const loaded = await cold.load(SHARD, nowMs);

    const ledgerPages = fake.requests.filter((request) => request.kind === 'Query' && request.tableName === CONFIG.stateTableName);
    // Pages of 10, newest first: e39..e30, then e29..e25 (live), e24 (expired under a minute ago,
    // skipped) and e23 (expired over a minute ago: the read stops). 2 pages, not the 4 of all 40.
    expect(ledgerPages).toHaveLength(2);
    expect(cold.cacheStats().ledgerBytes).toBe(15 * 8);
    expect(loaded.seenBefore(fingerprint('e39'))).toBe(true);
    expect(loaded.seenBefore(fingerprint('e25'))).toBe(true);
    expect(loaded.seenBefore(fingerprint('e20'))).toBe(false);
  });
});

describe('a producer re-send crossing a reshard', () => {
  // Shard 0 is split into 1 and 2, which are then merged into 3. Kinesis puts a re-sent click on
  // whichever open shard covers its partition key now: a child, whose own log never saw its eventId.
  const [parent, left, right, merged] = [0, 1, 2, 3].map(shardRef) as [ShardRef, ShardRef, ShardRef, ShardRef];
  const parentsOf: Record<string, string[]> = { [left.shardId]: [parent.shardId], [right.shardId]: [parent.shardId], [merged.shardId]: [left.shardId, right.shardId] };
  const lineage = { parentsOf: async (shard: ShardRef) => parentsOf[shard.shardId] ?? [] };
  const resent = (shard: ShardRef, eventIds: number[], first = 1) =>
    eventIds.map((n, index) => shardRecordFactory(first + index, click(`e${n}`, '/hot'), T0));

  it('is a duplicate on the child: its ledger is seeded from its parents\' ledgers within the horizon', async () => {
    const fake = new FakeDynamoDb();
    const store = new ShardStore(fake.client(), { ...CONFIG, lineage });
    await invoke(store, parent, records(1, 6));
    const before = totals(fake);

    const { plan } = await invoke(store, left, resent(left, [1, 2, 3]));

    expect(plan.outcomes).toMatchObject({ counted: 0, duplicate: 3 });
    expect(totals(fake)).toStrictEqual(before);
  });

  it('is a duplicate after a cold start too, and across two reshards (a grandparent\'s click re-sent to the merged shard)', async () => {
    const fake = new FakeDynamoDb();
    await invoke(new ShardStore(fake.client(), { ...CONFIG, lineage }), parent, records(1, 6));
    await invoke(new ShardStore(fake.client(), { ...CONFIG, lineage }), left, records(101, 2));
    await invoke(new ShardStore(fake.client(), { ...CONFIG, lineage }), right, records(201, 2));
    const before = totals(fake);

    const cold = new ShardStore(fake.client(), { ...CONFIG, lineage });
    const { plan } = await invoke(cold, merged, resent(merged, [4, 101, 201]));

    expect(plan.outcomes).toMatchObject({ counted: 0, duplicate: 3 });
    expect(totals(fake)).toStrictEqual(before);
  });

  it('is counted once more past the horizon, as any re-send that late is', async () => {
    const fake = new FakeDynamoDb();
    await invoke(new ShardStore(fake.client(), { ...CONFIG, lineage }), parent, records(1, 6));
    const late = new ShardStore(fake.client(), { ...CONFIG, lineage });

    const loaded = await late.load(left, T0 + CONFIG.dedupHorizonMs + 120_000);

    expect(loaded.seenBefore(fingerprint('e1'))).toBe(false);
  });
});

describe('planChunkWrites', () => {
  it('puts new urls in the last chunk until it is full, then opens the next', () => {
    const deltas = ['/a', '/b', '/c'].map((url) => ({ url, windowStartMs: T0, count: 1, lateCount: 0 }));
    const { writes } = planChunkWrites({ windowStartMs: T0, chunks: [] }, deltas, 'seq-1', 12);
    expect(writes.map((chunk) => [chunk.chunk, [...chunk.counts.keys()]])).toStrictEqual([[0, ['/a', '/b']], [1, ['/c']]]);
  });

  it('skips chunks that already carry this step, and places no new url in them', () => {
    const applied = { chunk: 0, counts: new Map([['/a', 1]]), lateCounts: new Map(), seq: 'seq-2', bytes: 6 };
    const deltas = [{ url: '/a', windowStartMs: T0, count: 1, lateCount: 0 }, { url: '/b', windowStartMs: T0, count: 1, lateCount: 0 }];
    const { writes, previousSeq } = planChunkWrites({ windowStartMs: T0, chunks: [applied] }, deltas, 'seq-2');
    expect(writes.map((chunk) => [chunk.chunk, Object.fromEntries(chunk.counts)])).toStrictEqual([[1, { '/b': 1 }]]);
    expect(previousSeq.get(1)).toBeUndefined();
  });
});
