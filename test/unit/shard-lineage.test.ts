import { KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { KinesisShardLineage } from '../../lambdas/clickstream/shard-lineage';
import { TEST_STREAM_ARN } from '../support/kinesis-records';

const kinesisMock = mockClient(KinesisClient);
const kinesis = new KinesisClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
const shard = (shardId: string) => ({ streamArn: TEST_STREAM_ARN, shardId });
const listed = (ShardId: string, ParentShardId?: string, AdjacentParentShardId?: string) => ({
  ShardId,
  ParentShardId,
  AdjacentParentShardId,
  HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
  SequenceNumberRange: { StartingSequenceNumber: '1' },
});

describe('KinesisShardLineage', () => {
  beforeEach(() => kinesisMock.reset());

  it('gives a split child its parent and a merged shard both, from one paged ListShards by stream name', async () => {
    kinesisMock
      .on(ListShardsCommand, { StreamName: 'clicks' })
      .resolves({ Shards: [listed('shardId-000000000000'), listed('shardId-000000000001', 'shardId-000000000000')], NextToken: 'page-2' })
      .on(ListShardsCommand, { NextToken: 'page-2' })
      .resolves({ Shards: [listed('shardId-000000000002', 'shardId-000000000000'), listed('shardId-000000000003', 'shardId-000000000001', 'shardId-000000000002')] });
    const lineage = new KinesisShardLineage(kinesis);

    expect(await lineage.parentsOf(shard('shardId-000000000001'))).toStrictEqual(['shardId-000000000000']);
    expect(await lineage.parentsOf(shard('shardId-000000000003'))).toStrictEqual(['shardId-000000000001', 'shardId-000000000002']);
    expect(await lineage.parentsOf(shard('shardId-000000000000'))).toStrictEqual([]);
    expect(kinesisMock.commandCalls(ListShardsCommand)).toHaveLength(2);
  });

  it('lists again when a shard it has not seen turns up (a reshard since), and only then', async () => {
    kinesisMock.on(ListShardsCommand).resolvesOnce({ Shards: [listed('shardId-000000000000')] }).resolves({
      Shards: [listed('shardId-000000000000'), listed('shardId-000000000004', 'shardId-000000000000')],
    });
    const lineage = new KinesisShardLineage(kinesis);
    await lineage.parentsOf(shard('shardId-000000000000'));

    expect(await lineage.parentsOf(shard('shardId-000000000004'))).toStrictEqual(['shardId-000000000000']);
    await lineage.parentsOf(shard('shardId-000000000004'));
    expect(kinesisMock.commandCalls(ListShardsCommand)).toHaveLength(2);
  });
});
