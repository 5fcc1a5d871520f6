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

  it('stays exact when the function dies after committing part of a batch and the runner restarts from scratch', async () => {
    const before = await windowCounts(cloud);
    const records = [...generateClicks({ count: 4000, rate: 2000, seed: 11, duplicates: 0.02, startTime: Date.now() })];
    const expected = new Map(before);
    for (const [key, count] of expectedWindowCounts(records)) expected.set(key, (expected.get(key) ?? 0) + count);

    // Crash the function's environment right after DynamoDB commits its second transaction, before
    // the response reaches it: the worst moment, since the function cannot know the commit landed.
    const functionName = AGGREGATOR(cloud);
    let transactions = 0;
    let crashed = false;
    const dynamodb = cloud.services.services.dynamodb.endpoint;
    cloud.services.edge.register('dynamodb', faultInjectingRoute(dynamodb, async (target) => {
      if (crashed || target !== 'DynamoDB_20120810.TransactWriteItems') return 'pass';
      transactions += 1;
      if (transactions < 2) return 'pass';
      crashed = true;
      await cloud.runtime.crash(functionName);
      return 'drop';
    }));
    try {
      await produce(cloud, records);
      await eventually(async () => crashed, () => `only ${transactions} transactions were seen`);
      await cloud.restartFunctions({ forgetCheckpoints: true });
      await expectCountsToConverge(cloud, expected);
    } finally {
      cloud.services.edge.register('dynamodb', dynamodb);
    }
    expect(cloud.runtime.stats(functionName).coldStarts).toBeGreaterThanOrEqual(2);
  });
});
