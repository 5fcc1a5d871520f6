import { GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { MarketTick } from '../../contracts/market-data';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';

/** Every record on the market-data stream so far, parsed with the tick contract (a bad record fails the test). */
export async function readMarketData(cloud: LocalCloud): Promise<MarketTick[]> {
  const kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
  const streamName = cloud.outputs.MarketDataStreamName!;
  const ticks: MarketTick[] = [];
  try {
    const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
    for (const shard of Shards) {
      let { ShardIterator: iterator } = await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shard.ShardId!, ShardIteratorType: 'TRIM_HORIZON' }));
      while (iterator !== undefined) {
        const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const record of page.Records ?? []) ticks.push(MarketTick.parse(JSON.parse(Buffer.from(record.Data!).toString('utf8'))));
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
  } finally {
    kinesis.destroy();
  }
  return ticks;
}
