import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { SHARDS_PARTITION } from '../contracts/clickstream';
import { compareSequenceNumbers } from '../lambdas/clickstream/core/sequence';
import { localClientConfig } from '../local/clients';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import { generateClicks } from '../simulator/clicks';

export interface EndToEndResult {
  /** Put to counted for one warm-up batch, which pays the function's cold start; not in the percentiles. */
  coldStartMs: number;
  targetRate: number;
  sent: number;
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Events/s when the producer puts as fast as it can and the pipeline drains it. */
  drainRate: number;
  drainEvents: number;
}

interface Put {
  sequenceNumber: string;
  putAt: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/**
 * Puts clicks at `rate` through the edge and watches the shard's progress item in the window
 * table: the aggregator writes it after the step's partials, so an event is visible to readers
 * (a Query of its minute counts it) once the progress covers its sequence number. Latency runs
 * from the start of its PutRecords call.
 */
export async function benchEndToEnd({ rate = 1000, seconds = 30, drainEvents = 30_000, log = (_line: string): void => undefined } = {}): Promise<EndToEndResult> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-bench-'));
  let cloud: LocalCloud | undefined;
  const config = () => localClientConfig(cloud!.edgeUrl);
  try {
    cloud = await startLocalCloud({ edgePort: 0, stateDirectory: join(directory, 'state'), assemblyDirectory: join(directory, 'cdk.out') });
    const kinesis = new KinesisClient(config());
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient(config()));
    const stream = cloud.outputs.ClicksStreamName!;
    // The shard's progress item is written after the partials of a step, so once it covers a
    // record, every reader of the window table sees that record's click: put -> visible to readers.
    const progressKey = { pk: SHARDS_PARTITION, sk: 'shardId-000000000000' };
    const readCheckpoint = async () =>
      (await ddb.send(new GetCommand({ TableName: cloud!.outputs.ClickWindowsTableName, Key: progressKey, ConsistentRead: true }))).Item
        ?.sequenceNumber as string | undefined;

    const putAll = async (count: number, perSecond: number, seed: number, onPut: (put: Put) => void = () => undefined): Promise<Put[]> => {
      const puts: Put[] = [];
      const generated = generateClicks({ count, rate: Number.isFinite(perSecond) ? perSecond : 100_000, seed, startTime: Date.now() });
      const tickMs = 50;
      const perTick = Math.max(1, Math.round((perSecond * tickMs) / 1000));
      const started = performance.now();
      let batch: { Data: Uint8Array; PartitionKey: string }[] = [];
      let ticks = 0;
      for (const record of generated) {
        batch.push({ Data: record.data, PartitionKey: record.partitionKey });
        if (batch.length < Math.min(500, perTick)) continue;
        const putAt = Date.now();
        const result = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
        for (const entry of result.Records ?? []) {
          if (entry.SequenceNumber === undefined) continue;
          puts.push({ sequenceNumber: entry.SequenceNumber, putAt });
          onPut({ sequenceNumber: entry.SequenceNumber, putAt });
        }
        batch = [];
        ticks += 1;
        const due = started + ticks * tickMs * (perTick / Math.min(500, perTick));
        const wait = due - performance.now();
        if (wait > 0 && Number.isFinite(perSecond)) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      if (batch.length > 0) {
        const putAt = Date.now();
        const result = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
        for (const entry of result.Records ?? []) if (entry.SequenceNumber) puts.push({ sequenceNumber: entry.SequenceNumber, putAt });
      }
      return puts;
    };

    const untilCounted = async (sequenceNumber: string) => {
      for (;;) {
        const checkpoint = await readCheckpoint();
        if (checkpoint !== undefined && compareSequenceNumbers(sequenceNumber, checkpoint) <= 0) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    // Warm-up: the first batch starts the aggregator's execution environment, as on AWS; the
    // percentiles below describe the warm pipeline, and the cold start is reported on its own.
    const warmUpStarted = Date.now();
    const warmUp = await putAll(100, 1000, 3);
    await untilCounted(warmUp.at(-1)!.sequenceNumber);
    const coldStartMs = Date.now() - warmUpStarted;
    log(`e2e: warm-up batch counted after ${coldStartMs} ms (cold start)`);

    // Phase 1: steady rate, latency per event.
    const latencies: number[] = [];
    let pending: Put[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching || pending.length > 0) {
        const checkpoint = await readCheckpoint();
        const now = Date.now();
        if (checkpoint !== undefined) {
          let covered = 0;
          while (covered < pending.length && compareSequenceNumbers(pending[covered]!.sequenceNumber, checkpoint) <= 0) {
            latencies.push(now - pending[covered]!.putAt);
            covered += 1;
          }
          pending = pending.slice(covered);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    log(`e2e: putting ${rate} events/s for ${seconds} s`);
    const started = Date.now();
    // Puts reach the watcher as they are acknowledged, so latency is measured while traffic flows.
    await putAll(rate * seconds, rate, 1, (put) => pending.push(put));
    const elapsed = (Date.now() - started) / 1000;
    watching = false;
    await watcher;
    latencies.sort((a, b) => a - b);

    // Phase 2: as fast as possible, time to drain.
    log(`e2e: putting ${drainEvents} events as fast as possible`);
    const drainStarted = Date.now();
    const drainPuts = await putAll(drainEvents, Number.POSITIVE_INFINITY, 2);
    await untilCounted(drainPuts.at(-1)!.sequenceNumber);
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    kinesis.destroy();
    ddb.destroy();
    return {
      coldStartMs,
      targetRate: rate,
      sent: latencies.length,
      achievedRate: latencies.length / elapsed,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? 0,
      drainRate: drainEvents / drainSeconds,
      drainEvents,
    };
  } finally {
    await cloud?.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}
