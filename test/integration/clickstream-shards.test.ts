import { createHash } from 'node:crypto';
import {
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import { expectedWindowCounts, generateClicks, type GeneratedRecord } from '../../simulator/clicks';
import { putAll } from '../../simulator/producer';
import { faultInjectingRoute, interceptingRoute } from '../support/faults';
import { eventually, startTestCloud, windowCounts } from '../support/local-cloud';
import { requireJava, titled } from '../support/requirements';

// The clickstream on a 4-shard stream, as on AWS: the shards' aggregator invocations run in
// parallel, hot URLs are written from every shard, and the counts must still be exactly those
// computed offline when one shard's invocation crashes mid-commit, when two invocations race on
// one shard, and when the stream is split and merged while clicks flow.

const SHARDS = 4;
/** A test's own limit: it waits up to 90 s for counts, on a machine that may be busy. */
const TEST_TIMEOUT_MS = 150_000;
/** Starting a local cloud takes about 12 s on a quiet machine, minutes on a crowded one. */
const STARTUP_TIMEOUT_MS = 300_000;
/** DynamoDB operations that write. */
const WRITES = /\.(TransactWriteItems|BatchWriteItem|PutItem|UpdateItem|DeleteItem)$/;

const java = await requireJava();

const aggregatorOf = (cloud: LocalCloud) => cloud.stack.functions.find((fn) => fn.logicalId.includes('Aggregator'))!.functionName;
const clicksMapping = (cloud: LocalCloud) => cloud.eventSources.find((source) => source.kind === 'kinesis')!;
const shardOfEvent = (event: unknown) => (event as KinesisStreamEvent).Records?.[0]?.eventID.split(':')[0];
const total = (counts: Map<string, number>) => [...counts.values()].reduce((sum, count) => sum + count, 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The shard Kinesis puts a partition key on: MD5 of the key as a 128-bit number, within a shard's range. */
function shardFor(partitionKey: string, shards: readonly Shard[]): string {
  const hash = BigInt(`0x${createHash('md5').update(partitionKey).digest('hex')}`);
  return shards.find((shard) => BigInt(shard.HashKeyRange!.StartingHashKey!) <= hash && hash <= BigInt(shard.HashKeyRange!.EndingHashKey!))!.ShardId!;
}

describe.skipIf(!java.available)(titled('clickstream pipeline on 4 shards on the local cloud', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let kinesis: KinesisClient;
  let streamName: string;

  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud({ clicksShards: SHARDS }));
    kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
    streamName = cloud.outputs.ClicksStreamName!;
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => {
    kinesis?.destroy();
    await dispose?.();
  });

  async function openShards(): Promise<Shard[]> {
    const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
    return Shards.filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined);
  }

  async function produce(records: GeneratedRecord[], rate = 20_000): Promise<void> {
    const stats = await putAll(kinesis, streamName, records, { rate });
    expect(stats.sent).toBe(records.length);
  }

  /** Clicks generated from now on, and what the window table must hold after them (on top of what it holds). */
  async function clicksFactory(options: Parameters<typeof generateClicks>[0]) {
    const before = await windowCounts(cloud);
    const records = [...generateClicks({ startTime: Date.now(), ...options })];
    const expected = new Map(before);
    for (const [key, count] of expectedWindowCounts(records)) expected.set(key, (expected.get(key) ?? 0) + count);
    return { records, expected };
  }

  async function expectCountsToConverge(expected: Map<string, number>): Promise<void> {
    let actual = new Map<string, number>();
    await eventually(
      async () => {
        actual = await windowCounts(cloud);
        return total(actual) >= total(expected);
      },
      () => `counted ${total(actual)} of ${total(expected)} clicks`,
      90_000,
    );
    // Let any over-count land before comparing: exactness means no more than expected, too.
    await sleep(1500);
    expect(Object.fromEntries(await windowCounts(cloud))).toStrictEqual(Object.fromEntries(expected));
  }

  async function waitForActive(): Promise<void> {
    await eventually(
      async () => (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE',
      () => `${streamName} is not ACTIVE`,
      10_000,
    );
  }

  it('counts clicks from 4 shards in parallel, hot URLs on every shard, with re-sends, disorder, late and malformed records and a producer 4 minutes fast, exactly as computed offline', async () => {
    // Prepare
    const shards = await openShards();
    expect(shards).toHaveLength(SHARDS);
    const { records, expected } = await clicksFactory({ count: 4000, rate: 2000, seed: 21, duplicates: 0.05, late: 0.01, malformed: 0.01 });
    // One producer's clock runs 4 minutes fast (under maxFutureSkew): its clicks count in their own
    // minutes, on every shard, and must not close the windows the other producers are still filling.
    const fastClock = [...generateClicks({ count: 200, rate: 100, seed: 23, startTime: Date.now() + 240_000 })]
      .map((record) => ({ ...record, partitionKey: `fast-${record.partitionKey}` }));
    for (const [key, count] of expectedWindowCounts(fastClock)) expected.set(key, (expected.get(key) ?? 0) + count);
    const mixed = records.flatMap((record, index) => (index % 20 === 0 && fastClock[index / 20] ? [fastClock[index / 20]!, record] : [record]));
    // The hottest URLs must really be written from every shard, or this would not test cross-shard updates.
    const shardsByUrl = new Map<string, Set<string>>();
    for (const record of records) {
      if (record.truth.event === undefined) continue;
      const url = String(record.truth.event.url);
      shardsByUrl.set(url, (shardsByUrl.get(url) ?? new Set()).add(shardFor(record.partitionKey, shards)));
    }
    const hottest = [...shardsByUrl.entries()].sort((a, b) => b[1].size - a[1].size).slice(0, 3);
    for (const [url, on] of hottest) expect(on.size, `${url} is written from every shard`).toBe(SHARDS);

    // Act
    await produce(mixed);

    // Assess
    await expectCountsToConverge(expected);
    expect(new Set(fastClock.map((record) => shardFor(record.partitionKey, shards))).size, 'the fast producer writes to every shard').toBe(SHARDS);
    const progress = clicksMapping(cloud).progress();
    expect(progress.map((shard) => shard.shardId).sort()).toStrictEqual(shards.map((shard) => shard.ShardId).sort());
    for (const shard of progress) expect(shard.recordsDelivered, shard.shardId).toBeGreaterThan(0);
    expect(cloud.runtime.stats(aggregatorOf(cloud)).peakConcurrency, 'the shards were processed in parallel').toBeGreaterThanOrEqual(2);
  }, TEST_TIMEOUT_MS);

  it("stays exact when one shard's invocation crashes mid-commit while the other shards carry on, without a restart", async () => {
    // Prepare: crash the environment running shard 1's batch right after DynamoDB applied its
    // second write, before the response reaches it: the worst moment, since it cannot know.
    const victim = 'shardId-000000000001';
    const { records, expected } = await clicksFactory({ count: 3000, rate: 1500, seed: 22, duplicates: 0.03 });
    const functionName = aggregatorOf(cloud);
    const mapping = clicksMapping(cloud);
    const errorsBefore = new Map(mapping.progress().map((shard) => [shard.shardId, shard.functionErrors]));
    let writes = 0;
    let crashed = 0;
    let othersDeliveredAtCrash = 0;
    const othersDelivered = () => mapping.progress().filter((shard) => shard.shardId !== victim).reduce((sum, shard) => sum + shard.recordsDelivered, 0);
    const dynamodb = cloud.services.services.dynamodb.endpoint;
    cloud.services.edge.register(
      'dynamodb',
      faultInjectingRoute(dynamodb, async (target, body) => {
        if (crashed > 0 || !WRITES.test(target) || !body.includes(victim)) return 'pass';
        writes += 1;
        if (writes < 2) return 'pass';
        othersDeliveredAtCrash = othersDelivered();
        crashed = await cloud.runtime.crash(functionName, (event) => shardOfEvent(event) === victim);
        return 'drop';
      }),
    );

    // Act
    try {
      await produce(records, 1500);
      await eventually(async () => crashed > 0, () => `only ${writes} writes of ${victim} were seen`);
      await expectCountsToConverge(expected);
    } finally {
      cloud.services.edge.register('dynamodb', dynamodb);
    }

    // Assess: one environment crashed, only the victim's invocation failed, and the others went on
    expect(crashed).toBe(1);
    for (const shard of mapping.progress()) {
      const errors = shard.functionErrors - (errorsBefore.get(shard.shardId) ?? 0);
      if (shard.shardId === victim) expect(errors, shard.shardId).toBeGreaterThanOrEqual(1);
      else expect(errors, shard.shardId).toBe(0);
    }
    expect(othersDelivered()).toBeGreaterThan(othersDeliveredAtCrash);
  }, TEST_TIMEOUT_MS);

  it('stays exact when two invocations race on one shard, the first committing after its retry', async () => {
    // Prepare: shard 2's next batch runs twice at once, as a timed-out invocation and its retry.
    // The first one's commit is held back at the edge until the retry's first write has landed.
    const victim = 'shardId-000000000002';
    const { records, expected } = await clicksFactory({ count: 3000, rate: 1500, seed: 23, duplicates: 0.03 });
    let releaseHeld: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      releaseHeld = resolve;
    });
    let heldArrived: () => void = () => undefined;
    const firstWriteHeld = new Promise<void>((resolve) => {
      heldArrived = resolve;
    });
    let state: 'armed' | 'holding' | 'released' = 'armed';
    const ofVictim = ({ target, body }: { target: string; body: string }) => WRITES.test(target) && body.includes(victim);
    const dynamodb = cloud.services.services.dynamodb.endpoint;
    cloud.services.edge.register(
      'dynamodb',
      interceptingRoute(dynamodb, {
        beforeRequest: async (call) => {
          if (state !== 'armed' || !ofVictim(call)) return;
          state = 'holding';
          heldArrived();
          await released;
        },
        afterResponse: async (call) => {
          if (state === 'holding' && ofVictim(call)) {
            state = 'released';
            releaseHeld();
          }
          return 'pass';
        },
      }),
    );
    const race = clicksMapping(cloud).raceNextBatch(victim, firstWriteHeld);

    // Act
    try {
      await produce(records, 1500);
      const { first, retry } = await race;
      await expectCountsToConverge(expected);

      // Assess: they overlapped, and the mapping went on with the retry's result
      expect(state).toBe('released');
      expect(retry.ok).toBe(true);
      expect(retry.startedAt).toBeLessThan(first.endedAt);
      expect(first.startedAt).toBeLessThan(retry.startedAt);
    } finally {
      releaseHeld();
      cloud.services.edge.register('dynamodb', dynamodb);
    }
  }, TEST_TIMEOUT_MS);

  it('stays exact through a split, a merge and an update-shard-count while clicks flow, and absorbs re-sends that cross them', async () => {
    // Prepare: two phases of clicks, each with re-sends of its own
    const shards = (await openShards()).sort((a, b) => (BigInt(a.HashKeyRange!.StartingHashKey!) < BigInt(b.HashKeyRange!.StartingHashKey!) ? -1 : 1));
    const phase1 = await clicksFactory({ count: 2000, rate: 1000, seed: 24, duplicates: 0.05 });

    // Act 1: split the first shard and merge the last two while phase 1 flows
    const flowing1 = produce(phase1.records, 1000);
    await sleep(500);
    const [first, , third, fourth] = shards;
    const middle = (BigInt(first!.HashKeyRange!.StartingHashKey!) + BigInt(first!.HashKeyRange!.EndingHashKey!) + 1n) / 2n;
    await kinesis.send(new SplitShardCommand({ StreamName: streamName, ShardToSplit: first!.ShardId!, NewStartingHashKey: middle.toString() }));
    await waitForActive();
    await kinesis.send(new MergeShardsCommand({ StreamName: streamName, ShardToMerge: third!.ShardId!, AdjacentShardToMerge: fourth!.ShardId! }));
    await waitForActive();
    await flowing1;
    await expectCountsToConverge(phase1.expected);

    // Act 2: rescale to 6 uniform shards while phase 2 flows
    const phase2 = await clicksFactory({ count: 2000, rate: 1000, seed: 25, duplicates: 0.05 });
    const flowing2 = produce(phase2.records, 1000);
    await sleep(500);
    const rescaled = await kinesis.send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: 6, ScalingType: 'UNIFORM_SCALING' }));
    await flowing2;
    await expectCountsToConverge(phase2.expected);

    // Act 3: the producer re-sends phase 1's clicks, counted before two reshards, now landing on
    // the 6 new shards (grandchildren of some of the shards that counted them); then fresh clicks,
    // which each shard counts only after the re-sends ahead of them
    const lateBefore = await windowCounts(cloud, 'lateCount');
    const resent = phase1.records.filter((record) => record.truth.kind === 'valid');
    await produce(resent, 2000);
    const phase3 = await clicksFactory({ count: 600, rate: 1000, seed: 26 });
    await produce(phase3.records, 1000);
    await expectCountsToConverge(phase3.expected);
    expect(Object.fromEntries(await windowCounts(cloud, 'lateCount')), 're-sends are not counted late either').toStrictEqual(Object.fromEntries(lateBefore));

    // Assess: the mapping followed every new shard and drained every closed one
    expect(rescaled).toMatchObject({ CurrentShardCount: 4, TargetShardCount: 6 });
    const open = await openShards();
    expect(open).toHaveLength(6);
    const { Shards: all = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
    const expectedStates = Object.fromEntries(all.map((shard) => [shard.ShardId!, shard.SequenceNumberRange?.EndingSequenceNumber === undefined ? 'reading' : 'finished']));
    const states = () =>
      Object.fromEntries(clicksMapping(cloud).progress().map((shard) => [shard.shardId, shard.finished ? 'finished' : 'reading']));
    await eventually(
      async () => {
        const now = states();
        return Object.keys(now).length === all.length && Object.entries(expectedStates).every(([shardId, state]) => now[shardId] === state);
      },
      () => `mapping ${JSON.stringify(states())}, stream ${JSON.stringify(expectedStates)}`,
      10_000,
    );
    expect(states()).toStrictEqual(expectedStates);
  }, TEST_TIMEOUT_MS);
});
