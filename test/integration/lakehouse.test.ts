import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickEventInput } from '../../contracts/clickstream';
import type { MarketTickInput } from '../../contracts/market-data';
import { runLakeCli } from '../../bin/lake';
import { runQueryCli } from '../../bin/query';
import { IcebergTable } from '../../lakehouse/iceberg/table';
import { readLiveRows } from '../../lakehouse/iceberg/scan';
import { S3ObjectStore } from '../../lakehouse/s3-object-store';
import { SinkStoppedError } from '../../lakehouse/sink/iceberg-sink';
import { LAKEHOUSE_BUFFERING_CONTEXT } from '../../lib/watershed-stack';
import { localClientConfig } from '../../local/clients';
import type { LocalCloud } from '../../local/cloud';
import { readWithIcebird } from '../support/icebird';
import { eventually, startTestCloud } from '../support/local-cloud';
import { requireJava, titled } from '../support/requirements';

/**
 * The lakehouse end to end on the local cloud: clicks and market ticks go through the template's
 * delivery streams (the local Firehose stand-in) into Iceberg, and are read back by icebird, an
 * independent reader. Duplicate sources absorbed, each injected here: producer re-sends of a
 * click and gateway resends of a tick (same key, new sequence number), repeats inside one buffer,
 * and the sink killed between writing data files and committing, then restarted.
 * The market-data gateway has not landed yet, so ticks are put on the market-data stream directly.
 */

const java = await requireJava();
const DAY_MS = 86_400_000;
const BASE = Date.parse('2026-11-30T12:00:00.000Z');
const SYMBOLS = ['AAPL', 'MSFT', 'AMZN', 'NVDA'];

const click = (i: number): ClickEventInput => ({
  eventId: `click-${i}`,
  url: `/page/${i % 17}`,
  userId: `user-${i % 31}`,
  // Half as ISO-8601 text, half as epoch ms: the contract accepts both.
  timestamp: i % 2 === 0 ? new Date(BASE + i * 1000).toISOString() : BASE + i * 1000,
});

const tick = (i: number): MarketTickInput => ({
  tickId: i % 3 === 0 ? `rest:quotes:${i}` : `fix:VENUE1:${i}:0`,
  source: i % 3 === 0 ? 'rest:quotes' : 'fix:VENUE1',
  symbol: SYMBOLS[i % SYMBOLS.length]!,
  bidPrice: 100 + (i % 7),
  bidSize: 10,
  askPrice: 100.5 + (i % 7),
  askSize: i % 5 === 0 ? null : 12,
  lastPrice: 100.25 + (i % 7),
  lastSize: 3,
  // Two event days, so both day partitions are written.
  eventTime: BASE - (i % 2) * DAY_MS + i,
  ingestTime: BASE + i,
});

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, index) => from + index);

async function put(kinesis: KinesisClient, stream: string, records: { key: string; data: string }[]): Promise<void> {
  for (let start = 0; start < records.length; start += 500) {
    const chunk = records.slice(start, start + 500);
    const result = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: chunk.map((record) => ({ PartitionKey: record.key, Data: Buffer.from(record.data) })) }));
    expect(result.FailedRecordCount ?? 0).toBe(0);
  }
}

describe.skipIf(!java.available)(titled('lakehouse: Kinesis -> local Firehose -> Iceberg, exactly once', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let kinesis: KinesisClient;
  let store: S3ObjectStore;
  let ticksLocation: string;
  let clicksLocation: string;
  const firstSnapshot: Record<string, number> = {};

  const liveCount = async (location: string) => (await readLiveRows(await IcebergTable.load(store, location))).rows.length;
  const cli = async (run: (argv: string[], io: { stdout: (t: string) => void; stderr: (t: string) => void }) => Promise<number>, argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await run([...argv, '--state-dir', cloud.stateDirectory], { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
    return { code, stdout, stderr };
  };

  beforeAll(async () => {
    ({ cloud, dispose } = await startTestCloud({ context: { [LAKEHOUSE_BUFFERING_CONTEXT]: 1 } }));
    kinesis = new KinesisClient(localClientConfig(cloud.edgeUrl));
    store = new S3ObjectStore(localClientConfig(cloud.edgeUrl));
    expect(cloud.outputs.LakehouseBucketName).toBeTruthy();
    const warehouse = cloud.outputs.LakehouseWarehousePath!;
    expect(warehouse).toBe(`s3://${cloud.outputs.LakehouseBucketName}/warehouse`);
    ticksLocation = `${warehouse}/market_ticks`;
    clicksLocation = `${warehouse}/user_activity`;
    // Synthesis bundles every function: minutes on a loaded two-core machine.
  }, 300_000);

  afterAll(async () => {
    kinesis?.destroy();
    store?.destroy();
    await dispose?.();
  }, 60_000);

  it('provisions the Iceberg tables and delivery streams from the template', () => {
    expect(cloud.stack.icebergTables.map((table) => table.name).sort()).toEqual(['market_ticks', 'user_activity']);
    const streams = cloud.stack.deliveryStreams.map((stream) => [stream.table, stream.uniqueKeys.join(), stream.bufferIntervalMs, stream.errorPrefix]).sort();
    expect(streams).toEqual([
      ['market_ticks', 'tickId', 1000, 'errors/market_ticks/'],
      ['user_activity', 'eventId', 1000, 'errors/user_activity/'],
    ]);
    expect(cloud.deliveryStreams).toHaveLength(2);
  });

  it('delivers the first batch, resends within it counted once', async () => {
    await put(kinesis, cloud.outputs.ClicksStreamName!, [...range(0, 400), ...range(0, 20)].map((i) => ({ key: `click-${i}`, data: JSON.stringify(click(i)) })));
    await put(kinesis, cloud.outputs.MarketDataStreamName!, [...range(0, 400), ...range(380, 400)].map((i) => ({ key: SYMBOLS[i % 4]!, data: JSON.stringify(tick(i)) })));
    await eventually(async () => (await liveCount(ticksLocation)) === 400 && (await liveCount(clicksLocation)) === 400, async () => `rows: ${await liveCount(ticksLocation)} ticks, ${await liveCount(clicksLocation)} clicks`);
    firstSnapshot.market_ticks = (await IcebergTable.load(store, ticksLocation)).metadata['current-snapshot-id'];
    firstSnapshot.user_activity = (await IcebergTable.load(store, clicksLocation)).metadata['current-snapshot-id'];
  });

  it('a sink killed between writing data files and committing leaves the tables as they were', async () => {
    const killed = new Set<string>();
    await cloud.restartDeliveryStreams({
      beforeCommit: async (name) => {
        killed.add(name);
        throw new SinkStoppedError('simulated kill between writing data files and committing');
      },
    });
    const versions = { ticks: (await IcebergTable.load(store, ticksLocation)).version, clicks: (await IcebergTable.load(store, clicksLocation)).version };
    const bad = [
      { key: 'bad-1', data: 'not json {' },
      { key: 'bad-2', data: JSON.stringify({ eventId: 'click-bad-2', url: '/x', timestamp: BASE }) },
      { key: 'bad-3', data: JSON.stringify({ eventId: 'click-bad-3', url: '/x', userId: 'u', timestamp: 'yesterday' }) },
    ];
    // Second batch: new events, producer re-sends / gateway resends of first-batch keys, bad records.
    await put(kinesis, cloud.outputs.ClicksStreamName!, [...range(400, 800), ...range(0, 80)].map((i) => ({ key: `click-${i}`, data: JSON.stringify(click(i)) })).concat(bad));
    await put(kinesis, cloud.outputs.MarketDataStreamName!, [...range(400, 800), ...range(0, 80)].map((i) => ({ key: SYMBOLS[i % 4]!, data: JSON.stringify(tick(i)) })));
    await eventually(async () => killed.size === 2, () => `killed: ${[...killed].join(', ')}`);
    expect((await IcebergTable.load(store, ticksLocation)).version).toBe(versions.ticks);
    expect((await IcebergTable.load(store, clicksLocation)).version).toBe(versions.clicks);
    // The killed attempt did write data files; no snapshot references them.
    const table = await IcebergTable.load(store, ticksLocation);
    const referenced = new Set([...((await table.files())?.dataFiles ?? []), ...((await table.files())?.deleteFiles ?? [])].map((entry) => entry.dataFile.filePath));
    const written = (await store.list(`${ticksLocation}/data/`)).filter((uri) => uri.endsWith('.parquet'));
    expect(written.filter((uri) => !referenced.has(uri)).length).toBeGreaterThan(0);
    expect(await liveCount(ticksLocation)).toBe(400);
  });

  it('after the restart every click and every tick is present exactly once (icebird)', async () => {
    await cloud.restartDeliveryStreams();
    await eventually(async () => (await liveCount(ticksLocation)) === 800 && (await liveCount(clicksLocation)) === 800, async () => `rows: ${await liveCount(ticksLocation)} ticks, ${await liveCount(clicksLocation)} clicks`);
    const ticks = await readWithIcebird(store, ticksLocation);
    const clicks = await readWithIcebird(store, clicksLocation);
    expect(ticks).toHaveLength(800);
    expect(clicks).toHaveLength(800);
    expect(new Set(ticks.map((row) => row.tickId))).toEqual(new Set(range(0, 800).map((i) => tick(i).tickId)));
    expect(new Set(clicks.map((row) => row.eventId))).toEqual(new Set(range(0, 800).map((i) => `click-${i}`)));
    const sample = ticks.find((row) => row.tickId === tick(5).tickId)!;
    expect({ ...sample, eventTime: (sample.eventTime as Date).getTime(), ingestTime: (sample.ingestTime as Date).getTime() }).toEqual(tick(5));
    const clickSample = clicks.find((row) => row.eventId === 'click-4')!;
    expect((clickSample.timestamp as Date).getTime()).toBe(BASE + 4000);
  });

  it('sends each unmappable record to the error prefix once, with the reason', async () => {
    const errors = (await store.list(`s3://${cloud.outputs.LakehouseBucketName}/errors/user_activity/`)).filter((uri) => uri.endsWith('.json'));
    expect(errors).toHaveLength(3);
    const bodies = await Promise.all(errors.map(async (uri) => JSON.parse(new TextDecoder().decode(await store.get(uri))) as { errorCode: string; errorMessage: string; rawData: string }));
    expect(bodies.map((body) => body.errorCode).sort()).toEqual(['Iceberg.InvalidJson', 'Iceberg.SchemaMismatch', 'Iceberg.SchemaMismatch']);
    expect(bodies.map((body) => body.errorMessage).join('\n')).toMatch(/userId \(string\) is required/);
    expect(bodies.map((body) => body.errorMessage).join('\n')).toMatch(/timestamp is timestamptz/);
    expect(bodies.map((body) => Buffer.from(body.rawData, 'base64').toString())).toContain('not json {');
  });

  it('npm run query counts, --as-of the first snapshot gives its counts, errors are clear', async () => {
    const now = await cli(runQueryCli, ['SELECT symbol, count(*) AS n FROM market_ticks GROUP BY symbol ORDER BY symbol', '--json']);
    expect(now.code).toBe(0);
    expect(JSON.parse(now.stdout)).toEqual(SYMBOLS.slice().sort().map((symbol) => ({ symbol, n: 200 })));
    const before = await cli(runQueryCli, ['SELECT count(*) AS n FROM market_ticks', '--json', '--as-of', String(firstSnapshot.market_ticks)]);
    expect(JSON.parse(before.stdout)).toEqual([{ n: 400 }]);
    const clicks = await cli(runQueryCli, ['SELECT count(*) AS n, count(DISTINCT eventId) AS ids FROM user_activity', '--csv']);
    expect(clicks.stdout).toBe('n,ids\n800,800\n');
    const table = await cli(runQueryCli, ['SELECT count(*) AS n FROM user_activity']);
    expect(table.stdout).toMatch(/^\s*n\n-+\n800\n\(1 row\)\n$/);
    const wrong = await cli(runQueryCli, ['SELECT nope FROM market_ticks']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/SQL error: .*nope/);
    const usage = await cli(runQueryCli, ['SELECT 1', '--format', 'xml']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--format "xml"/);
  });

  it('compaction keeps the rows identical, and the history lists it', async () => {
    const before = (await readWithIcebird(store, ticksLocation)).map((row) => JSON.stringify(row)).sort();
    const compact = await cli(runLakeCli, ['compact', 'market_ticks']);
    expect(compact.code).toBe(0);
    expect(compact.stdout).toMatch(/-> 2 data file\(s\), 800 rows/);
    expect((await readWithIcebird(store, ticksLocation)).map((row) => JSON.stringify(row)).sort()).toEqual(before);
    const history = await cli(runLakeCli, ['snapshots', 'market_ticks', '--json']);
    const snapshots = JSON.parse(history.stdout) as { operation: string; current: boolean; checkpoints: string }[];
    expect(snapshots.at(-1)).toMatchObject({ operation: 'replace', current: true });
    expect(snapshots.at(-1)!.checkpoints).toMatch(/shardId-000000000000/);
  });
});
