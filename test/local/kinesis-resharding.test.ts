import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  SplitShardCommand,
  UpdateShardCountCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import { startEdge, type Edge } from '../../local/edge';
import { startKinesis, type RunningService } from '../../local/emulators';

// Resharding the default engine (kinesalite) through the edge, with the SDK as the AWS CLI would:
// SplitShard and MergeShards are kinesalite's own; UpdateShardCount is added on top of them
// (local/emulators/kinesalite-update-shard-count.cjs).

const HASH_SPACE = 2n ** 128n;

let kinesisService: RunningService;
let edge: Edge;
let kinesis: KinesisClient;

beforeAll(async () => {
  kinesisService = await startKinesis({});
  edge = await startEdge({ port: 0, targets: { kinesis: kinesisService.endpoint } });
  kinesis = new KinesisClient(localClientConfig(edge.url));
});

afterAll(async () => {
  kinesis?.destroy();
  await Promise.allSettled([edge?.stop(), kinesisService?.stop()]);
});

let streams = 0;
async function streamFactory(shardCount: number): Promise<string> {
  streams += 1;
  const name = `reshard-${streams}-${Date.now()}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  await waitForActive(name);
  return name;
}

async function waitForActive(streamName: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${streamName} did not become ACTIVE`);
}

async function allShards(streamName: string): Promise<Shard[]> {
  return (await kinesis.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];
}

/** The open shards' hash key ranges, in order. */
async function openRanges(streamName: string): Promise<[string, string][]> {
  return (await allShards(streamName))
    .filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined)
    .map((shard): [string, string] => [shard.HashKeyRange!.StartingHashKey!, shard.HashKeyRange!.EndingHashKey!])
    .sort((a, b) => (BigInt(a[0]) < BigInt(b[0]) ? -1 : 1));
}

/** The ranges CreateStream gives a stream of `count` shards. */
function uniformRanges(count: number): [string, string][] {
  const width = HASH_SPACE / BigInt(count);
  return Array.from({ length: count }, (_, index) => [
    (width * BigInt(index)).toString(),
    (index === count - 1 ? HASH_SPACE - 1n : width * BigInt(index + 1) - 1n).toString(),
  ]);
}

/**
 * The ranges cover the hash key space without gaps or overlaps, and each starts where CreateStream
 * would start it, give or take the rounding of the uniform boundaries (far below one in 2^90).
 */
function expectUniform(ranges: [string, string][], count: number): void {
  expect(ranges).toHaveLength(count);
  expect(ranges[0]![0]).toBe('0');
  expect(ranges.at(-1)![1]).toBe((HASH_SPACE - 1n).toString());
  for (let index = 1; index < ranges.length; index += 1) expect(BigInt(ranges[index]![0])).toBe(BigInt(ranges[index - 1]![1]) + 1n);
  const uniform = uniformRanges(count);
  for (const [index, [start]] of ranges.entries()) {
    const offset = BigInt(start) - BigInt(uniform[index]![0]);
    expect(offset < 0n ? -offset : offset, `shard ${index} of ${count} starts ${offset} keys away from uniform`).toBeLessThanOrEqual(2n ** 32n);
  }
}

describe('resharding kinesalite through the edge', () => {
  it('UpdateShardCount rescales uniformly, up and down, to the ranges CreateStream would give', async () => {
    // Prepare
    const streamName = await streamFactory(2);

    // Act and assess, step by step: up to double, down to half, and to counts that are not multiples
    for (const [current, target] of [[2, 4], [4, 3], [3, 6], [6, 3], [3, 2], [2, 1]] as const) {
      const response = await kinesis.send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: target, ScalingType: 'UNIFORM_SCALING' }));
      expect(response).toMatchObject({ StreamName: streamName, CurrentShardCount: current, TargetShardCount: target });
      await waitForActive(streamName);
      expectUniform(await openRanges(streamName), target);
    }
  });

  it('UpdateShardCount leaves every closed shard with the lineage a mapping needs: each open shard descends from the original shards', async () => {
    // Prepare
    const streamName = await streamFactory(1);
    const [original] = await allShards(streamName);

    // Act
    await kinesis.send(new UpdateShardCountCommand({ StreamARN: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`, TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' }));
    await kinesis.send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: 3, ScalingType: 'UNIFORM_SCALING' }));

    // Assess: walking parents (and adjacent parents) up from every open shard reaches the original
    const shards = new Map((await allShards(streamName)).map((shard) => [shard.ShardId!, shard]));
    const ancestors = (shardId: string): string[] => {
      const shard = shards.get(shardId)!;
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((parent): parent is string => parent !== undefined);
      return parents.length === 0 ? [shardId] : parents.flatMap(ancestors);
    };
    const open = [...shards.values()].filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined);
    expect(open).toHaveLength(3);
    for (const shard of open) expect(new Set(ancestors(shard.ShardId!))).toStrictEqual(new Set([original!.ShardId]));
  });

  it('SplitShard and MergeShards work as on AWS', async () => {
    // Prepare
    const streamName = await streamFactory(1);
    const [parent] = await allShards(streamName);

    // Act
    await kinesis.send(new SplitShardCommand({ StreamName: streamName, ShardToSplit: parent!.ShardId!, NewStartingHashKey: (HASH_SPACE / 2n).toString() }));
    await waitForActive(streamName);
    const children = (await allShards(streamName)).filter((shard) => shard.ParentShardId === parent!.ShardId);
    await kinesis.send(new MergeShardsCommand({ StreamName: streamName, ShardToMerge: children[0]!.ShardId!, AdjacentShardToMerge: children[1]!.ShardId! }));
    await waitForActive(streamName);

    // Assess
    expect(children).toHaveLength(2);
    const merged = (await allShards(streamName)).filter((shard) => shard.SequenceNumberRange?.EndingSequenceNumber === undefined);
    expect(merged.map((shard) => [shard.ParentShardId, shard.AdjacentParentShardId])).toStrictEqual([[children[0]!.ShardId, children[1]!.ShardId]]);
    expect(await openRanges(streamName)).toStrictEqual(uniformRanges(1));
  });

  it.each<[string, number, string | undefined, string, string]>([
    ['more than double', 5, 'UNIFORM_SCALING', 'LimitExceededException', 'cannot scale reshard-.* up to more than double its current shard count \\(2\\)\\. Received TargetShardCount 5'],
    ['below half', 1, 'UNIFORM_SCALING', 'LimitExceededException', 'cannot scale reshard-.* down below half its current shard count \\(4\\)\\. Received TargetShardCount 1'],
    ['without a scaling type', 3, undefined, 'ValidationException', 'ScalingType must be UNIFORM_SCALING\\. Received undefined'],
    ['to zero shards', 0, 'UNIFORM_SCALING', 'ValidationException', 'TargetShardCount must be an integer between 1 and 10000\\. Received 0'],
  ])('UpdateShardCount %s is refused with a message that names the value', async (_name, target, scalingType, errorName, message) => {
    // Prepare
    const streamName = await streamFactory(target === 1 ? 4 : 2);
    const before = await openRanges(streamName);

    // Act
    const act = kinesis.send(new UpdateShardCountCommand({ StreamName: streamName, TargetShardCount: target, ScalingType: scalingType as 'UNIFORM_SCALING' }));

    // Assess
    await expect(act).rejects.toMatchObject({ name: errorName, message: expect.stringMatching(new RegExp(message)) });
    expect(await openRanges(streamName)).toStrictEqual(before);
  });
});
