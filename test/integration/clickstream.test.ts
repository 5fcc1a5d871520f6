import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadLetterMessage, LateEventMessage } from '../../contracts/clickstream';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import { expectedWindowCounts, generateClicks, type GeneratedRecord } from '../../simulator/clicks';
import { putAll } from '../../simulator/producer';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { requireJava, titled } from '../support/requirements';
import { faultInjectingRoute } from '../support/faults';
import { drainQueue, eventually, startTestCloud, windowCounts } from '../support/local-cloud';

const AGGREGATOR = (cloud: LocalCloud) => cloud.stack.functions.find((fn) => fn.logicalId.includes('Aggregator'))!.functionName;

async function produce(cloud: LocalCloud, records: GeneratedRecord[]): Promise<void> {
  const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
  try {
    const stats = await putAll(kinesis, cloud.outputs.ClicksStreamName!, records, { rate: 20_000 });
    expect(stats.sent).toBe(records.length);
  } finally {
    kinesis.destroy();
  }
}

async function expectCountsToConverge(cloud: LocalCloud, expected: Map<string, number>): Promise<void> {
  const total = [...expected.values()].reduce((sum, count) => sum + count, 0);
  let actual = new Map<string, number>();
  await eventually(
    async () => {
      actual = await windowCounts(cloud);
      return [...actual.values()].reduce((sum, count) => sum + count, 0) >= total;
    },
    () => `counted ${[...actual.values()].reduce((sum, count) => sum + count, 0)} of ${total} clicks`,
    // Generous: on a machine shared by many CPU-bound jobs a 1,000-record batch has taken 10 s end to end.
    180_000,
  );
  // Let any over-count land before comparing: exactness means no more than expected, too.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(Object.fromEntries(await windowCounts(cloud))).toStrictEqual(Object.fromEntries(expected));
}

const java = await requireJava();

describe.skipIf(!java.available)(titled('clickstream pipeline on the local cloud', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud());
  });
  afterAll(async () => {
    await dispose?.();
  });

  it('counts thousands of clicks with re-sends, disorder, late and malformed records exactly as computed offline', async () => {
    const records = [...generateClicks({ count: 6000, rate: 1000, seed: 7, duplicates: 0.05, late: 0.02, malformed: 0.02, startTime: Date.now() })];
    const expected = expectedWindowCounts(records);

    await produce(cloud, records);

    await expectCountsToConverge(cloud, expected);
    const malformed = records.filter((record) => record.truth.kind === 'malformed');
    const late = records.filter((record) => record.truth.kind === 'late');
    const deadLetters = (await drainQueue(cloud, cloud.outputs.DeadLetterQueueUrl!)) as DeadLetterMessage[];
    expect(deadLetters).toHaveLength(malformed.length);
    expect(deadLetters.map((message) => message.reason).sort()).toStrictEqual(
      malformed.map((record) => (record.truth.kind === 'malformed' ? record.truth.reason : '')).sort(),
    );
    const lateEvents = (await drainQueue(cloud, cloud.outputs.LateEventsQueueUrl!)) as LateEventMessage[];
    expect(lateEvents.map((message) => message.event.eventId).sort()).toStrictEqual(
      late.map((record) => String(record.truth.event?.eventId)).sort(),
    );
    const lateCounts = await windowCounts(cloud, 'lateCount');
    expect([...lateCounts.values()].reduce((sum, count) => sum + count, 0)).toBe(late.length);
  });

  it('stays exact with one producer whose clock runs 4 minutes fast, and dead-letters a 2,230-byte URL in a large and a small batch', async () => {
    // The fast producer's clicks are valid (under maxFutureSkew) and counted in their own minutes; they must
    // not close the windows the on-time producers are still filling (this gave counted 1, late 5 before).
    const before = await windowCounts(cloud);
    const now = Date.now();
    const onTime = [...generateClicks({ count: 3000, rate: 1000, seed: 21, duplicates: 0.02, startTime: now })];
    const fastClock = [...generateClicks({ count: 300, rate: 100, seed: 22, startTime: now + 240_000 })]
      .map((record) => ({ ...record, partitionKey: `fast-${record.partitionKey}` }));
    const mixed = onTime.flatMap((record, index) => (index % 10 === 0 && fastClock[index / 10] ? [fastClock[index / 10]!, record] : [record]));
    // A URL under the 2,048-character limit but 2,230 UTF-8 bytes: once in the large batch, once alone later.
    const unwritable = (eventId: string): GeneratedRecord => {
      const body = { eventId, url: `/p/${'é'.repeat(1100)}/x/${'y'.repeat(24)}`, userId: 'user-x', timestamp: Date.now() };
      return { ...onTime[0]!, data: Buffer.from(JSON.stringify(body)), partitionKey: 'user-x', truth: { kind: 'malformed', reason: 'schema' } };
    };
    mixed.splice(1500, 0, unwritable('unwritable-large'));
    const expected = new Map(before);
    for (const [key, count] of expectedWindowCounts([...onTime, ...fastClock])) expected.set(key, (expected.get(key) ?? 0) + count);
    await drainQueue(cloud, cloud.outputs.DeadLetterQueueUrl!);
    await drainQueue(cloud, cloud.outputs.LateEventsQueueUrl!);

    await produce(cloud, mixed);
    await expectCountsToConverge(cloud, expected);
    await produce(cloud, [unwritable('unwritable-small')]);

    let deadLetters: DeadLetterMessage[] = [];
    await eventually(
      async () => {
        deadLetters.push(...((await drainQueue(cloud, cloud.outputs.DeadLetterQueueUrl!)) as DeadLetterMessage[]));
        return deadLetters.length >= 2;
      },
      () => `dead letters: ${JSON.stringify(deadLetters.map((message) => message.detail))}`,
    );
    deadLetters = deadLetters.filter((message, index) => deadLetters.findIndex((other) => other.origin.sequenceNumber === message.origin.sequenceNumber) === index);
    expect(deadLetters.map((message) => [message.reason, message.detail])).toStrictEqual([
      ['schema', 'url: 2230 UTF-8 bytes; at most 2048 can be stored'],
      ['schema', 'url: 2230 UTF-8 bytes; at most 2048 can be stored'],
    ]);
    expect(await drainQueue(cloud, cloud.outputs.LateEventsQueueUrl!)).toStrictEqual([]);
    expect(Object.fromEntries(await windowCounts(cloud))).toStrictEqual(Object.fromEntries(expected));
  });

  it('stays exact when the function dies after committing part of a batch and the runner restarts from scratch', async () => {
    const before = await windowCounts(cloud);
    const records = [...generateClicks({ count: 4000, rate: 2000, seed: 11, duplicates: 0.02, startTime: Date.now() })];
    const expected = new Map(before);
    for (const [key, count] of expectedWindowCounts(records)) expected.set(key, (expected.get(key) ?? 0) + count);

    // Crash the function's environment right after DynamoDB applies its second write of a step (the log
    // entry, then a partial: the progress is not written yet), before the response reaches it: the worst
    // moment, since the function cannot know the write landed.
    const functionName = AGGREGATOR(cloud);
    let writes = 0;
    let crashed = false;
    const dynamodb = cloud.services.services.dynamodb.endpoint;
    cloud.services.edge.register('dynamodb', faultInjectingRoute(dynamodb, async (target) => {
      if (crashed || target !== 'DynamoDB_20120810.PutItem') return 'pass';
      writes += 1;
      if (writes < 2) return 'pass';
      crashed = true;
      await cloud.runtime.crash(functionName);
      return 'drop';
    }));
    try {
      await produce(cloud, records);
      await eventually(async () => crashed, () => `only ${writes} writes were seen`);
      await cloud.restartFunctions({ forgetCheckpoints: true });
      await expectCountsToConverge(cloud, expected);
    } finally {
      cloud.services.edge.register('dynamodb', dynamodb);
    }
    expect(cloud.runtime.stats(functionName).coldStarts).toBeGreaterThanOrEqual(2);
  });
});
