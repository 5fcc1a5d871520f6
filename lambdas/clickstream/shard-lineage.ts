import { ListShardsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { ShardLineage, ShardRef } from './shard-store';

/**
 * A stream's shard lineage from Kinesis ListShards (ParentShardId, AdjacentParentShardId), read
 * once per container and again only when a shard it has not listed turns up (a reshard since).
 * The function's role has kinesis:ListShards on the stream from its event source mapping's grant.
 */
export class KinesisShardLineage implements ShardLineage {
  /** Parents by `streamArn#shardId`. */
  private readonly parents = new Map<string, readonly string[]>();

  constructor(private readonly kinesis: KinesisClient) {}

  async parentsOf(shard: ShardRef): Promise<readonly string[]> {
    const key = `${shard.streamArn}#${shard.shardId}`;
    if (!this.parents.has(key)) {
      await this.list(shard.streamArn);
      // A shard Kinesis does not list (it should) has no parents we can know of: ask once.
      if (!this.parents.has(key)) this.parents.set(key, []);
    }
    return this.parents.get(key)!;
  }

  private async list(streamArn: string): Promise<void> {
    // By name: StreamARN is not accepted by every Kinesis engine the local cloud can run.
    const streamName = streamArn.slice(streamArn.indexOf(':stream/') + ':stream/'.length);
    let nextToken: string | undefined;
    do {
      const page = await this.kinesis.send(new ListShardsCommand(nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken }));
      for (const shard of page.Shards ?? []) {
        const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((id): id is string => id !== undefined);
        this.parents.set(`${streamArn}#${shard.ShardId!}`, parents);
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
  }
}
