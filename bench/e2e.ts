import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { SHARDS_PARTITION } from '../contracts/clickstream';
import { compareSequenceNumbers } from '../lambdas/clickstream/core/sequence';
import { localClientConfig } from '../local/clients';
import { startLocalCloud, type LocalCloud } from '../local/cloud';
import { DescendantCpu } from '../local/process-cpu';
import { generateClicks } from '../simulator/clicks';

/** The aggregator's invocations in one phase of the benchmark, from the local runtime. */
export interface InvocationFigures {
  invocations: number;
  failed: number;
  records: number;
  /** Duration of one invocation (one batch), as the local runtime timed it. */
  durationP50Ms: number;
  durationP99Ms: number;
  /** Sum of the durations, each rounded up to 1 ms as Lambda bills them. */
  billedMs: number;
  meanRecordsPerBatch: number;
  /** GB-s per million events at the function's configured memory: billed seconds x memory / events. */
  gbSecondsPerMillionEvents: number;
}

export interface EndToEndResult {
  shards: number;
  /** The aggregator's MemorySize in the synthesized template. */
  memoryMb: number;
  /** Put to visible for one warm-up batch, which pays the function's cold start; not in the percentiles. */
  coldStartMs: number;
  /** Events/s asked for, over all shards (rate per shard x shards). */
  targetRate: number;
  /** Events/s the producer managed to put during the steady phase. */
  putRate: number;
  sent: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  steady: InvocationFigures;
  /** Events/s when the producer puts as fast as it can and the pipeline drains it (put + drain). */
  drainRate: number;
  drainEvents: number;
  drain: InvocationFigures;
  /**
   * Share of the drain's wall time each shard's invocations ran (sum of durations / (seconds x
   * shards)). Lambda runs one batch per shard at a time, so near 1 the function limits the drain;
   * the rest is the mapping reading the Kinesis engine (GetRecords) and the producer's puts.
   */
  drainFunctionBusyShare: number;
  /**
   * CPU used during the drain, in cores (the machine has os.availableParallelism()): the Kinesis
   * engine's process, DynamoDB Local's, and this process (edge, mappings, producer, and the
   * functions, which are its worker threads). Undefined where /proc is not available.
   */
  drainCpuCores: { kinesisEngine?: number; dynamodbLocal?: number; benchProcess: number };
}

interface Put {
  shardId: string;
  sequenceNumber: string;
  putAt: number;
}

interface Invocation {
  startedAt: number;
  durationMs: number;
  records: number;
  ok: boolean;
}

const percentile = (sorted: readonly number[], p: number) => (sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

function invocationFigures(invocations: readonly Invocation[], memoryMb: number): InvocationFigures {
  const durations = invocations.map((invocation) => invocation.durationMs).sort((a, b) => a - b);
  const records = invocations.reduce((sum, invocation) => sum + invocation.records, 0);
  const billedMs = invocations.reduce((sum, invocation) => sum + Math.max(1, Math.ceil(invocation.durationMs)), 0);
  return {
    invocations: invocations.length,
    failed: invocations.filter((invocation) => !invocation.ok).length,
    records,
    durationP50Ms: percentile(durations, 50),
    durationP99Ms: percentile(durations, 99),
    billedMs,
    meanRecordsPerBatch: invocations.length === 0 ? Number.NaN : records / invocations.length,
    gbSecondsPerMillionEvents: records === 0 ? Number.NaN : ((billedMs / 1000) * (memoryMb / 1024) * 1_000_000) / records,
  };
}

/**
 * Puts clicks at `rate` events/s per shard (partition keys: 5,000 simulated users, so every shard
 * gets traffic) through the edge and watches the shards' progress items in the window table: the
 * aggregator writes a shard's progress after the step's partials, so an event is visible to readers
 * (a Query of its minute counts it) once its shard's progress covers its sequence number. Latency
 * runs from the start of its PutRecords call. The aggregator's invocations are observed in the local
 * runtime, for durations, batch sizes and GB-s.
 */
export async function benchEndToEnd({
  rate = 1000,
  seconds = 30,
  shards = 1,
  drainEvents = 30_000,
  log = (_line: string): void => undefined,
} = {}): Promise<EndToEndResult> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-bench-'));
  let cloud: LocalCloud | undefined;
  const config = () => localClientConfig(cloud!.edgeUrl);
  let stopObserving = () => undefined as unknown;
  try {
    cloud = await startLocalCloud({ edgePort: 0, dashboardPort: 0, clicksShards: shards, stateDirectory: join(directory, 'state'), assemblyDirectory: join(directory, 'cdk.out') });
    const kinesis = new KinesisClient(config());
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient(config()));
    const stream = cloud.outputs.ClicksStreamName!;
    const mapping = cloud.stack.eventSourceMappings.find((candidate) => candidate.eventSourceArn.endsWith(`:stream/${stream}`));
    if (mapping === undefined) throw new Error(`No event source mapping reads the clicks stream ${stream}`);
    const aggregator = cloud.stack.functions.find((fn) => fn.functionName === mapping.functionName)!;
    const memoryMb = aggregator.memorySize;
    const invocations: Invocation[] = [];
    stopObserving = cloud.runtime.observeInvocations((functionName, event, result) => {
      if (functionName !== aggregator.functionName) return;
      const records = (event as { Records?: unknown[] }).Records?.length ?? 0;
      invocations.push({ startedAt: Date.now() - result.durationMs, durationMs: result.durationMs, records, ok: result.ok });
    });

    // A shard's progress item is written after the partials of a step, so once it covers a
    // record, every reader of the window table sees that record's click: put -> visible to readers.
    const readProgress = async (): Promise<Map<string, string>> => {
      const { Items } = await ddb.send(
        new QueryCommand({ TableName: cloud!.outputs.ClickWindowsTableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': SHARDS_PARTITION }, ConsistentRead: true }),
      );
      return new Map((Items ?? []).map((item) => [item.sk as string, item.sequenceNumber as string]));
    };
    const covers = (progress: Map<string, string>, put: Put) => {
      const committed = progress.get(put.shardId);
      return committed !== undefined && compareSequenceNumbers(put.sequenceNumber, committed) <= 0;
    };

    const putAll = async (count: number, perSecond: number, seed: number, onPut: (put: Put) => void = () => undefined): Promise<Put[]> => {
      const puts: Put[] = [];
      const generated = generateClicks({ count, rate: Number.isFinite(perSecond) ? perSecond : 100_000, seed, startTime: Date.now() });
      const tickMs = 50;
      const perTick = Math.max(1, Math.round((perSecond * tickMs) / 1000));
      const perCall = Math.min(500, perTick);
      const started = performance.now();
      let batch: { Data: Uint8Array; PartitionKey: string }[] = [];
      let calls = 0;
      const send = async () => {
        const putAt = Date.now();
        const result = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: batch }));
        for (const entry of result.Records ?? []) {
          if (entry.SequenceNumber === undefined || entry.ShardId === undefined) continue;
          const put = { shardId: entry.ShardId, sequenceNumber: entry.SequenceNumber, putAt };
          puts.push(put);
          onPut(put);
        }
        batch = [];
      };
      for (const record of generated) {
        batch.push({ Data: record.data, PartitionKey: record.partitionKey });
        if (batch.length < perCall) continue;
        await send();
        calls += 1;
        const wait = started + (calls * tickMs * perCall) / perTick - performance.now();
        if (wait > 0 && Number.isFinite(perSecond)) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      if (batch.length > 0) await send();
      return puts;
    };

    /** Resolves once every put is visible (the last put of each shard is covered). */
    const untilVisible = async (puts: readonly Put[]) => {
      const lastPerShard = new Map<string, Put>();
      for (const put of puts) lastPerShard.set(put.shardId, put);
      for (;;) {
        const progress = await readProgress();
        if ([...lastPerShard.values()].every((put) => covers(progress, put))) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    // Warm-up: the first batches start the aggregator's execution environments (one per shard),
    // as on AWS; the percentiles below describe the warm pipeline, and the cold start is on its own.
    const warmUpStarted = Date.now();
    await untilVisible(await putAll(100 * shards, 1000, 3));
    const coldStartMs = Date.now() - warmUpStarted;
    log(`e2e: ${shards} shard(s): warm-up batch visible after ${coldStartMs} ms (cold start)`);

    // Phase 1: steady rate, latency per event.
    const latencies: number[] = [];
    const pending = new Map<string, Put[]>();
    let watching = true;
    const watcher = (async () => {
      while (watching || [...pending.values()].some((puts) => puts.length > 0)) {
        const progress = await readProgress();
        const now = Date.now();
        for (const [shardId, puts] of pending) {
          let covered = 0;
          while (covered < puts.length && covers(progress, puts[covered]!)) {
            latencies.push(now - puts[covered]!.putAt);
            covered += 1;
          }
          pending.set(shardId, puts.slice(covered));
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const targetRate = rate * shards;
    log(`e2e: ${shards} shard(s): putting ${targetRate} events/s for ${seconds} s`);
    const steadyStarted = Date.now();
    // Puts reach the watcher as they are acknowledged, so latency is measured while traffic flows.
    const steadyPuts = await putAll(targetRate * seconds, targetRate, 1, (put) => {
      const puts = pending.get(put.shardId) ?? [];
      puts.push(put);
      pending.set(put.shardId, puts);
    });
    const putSeconds = (Date.now() - steadyStarted) / 1000;
    watching = false;
    await watcher;
    latencies.sort((a, b) => a - b);

    // Phase 2: as fast as possible, time to drain.
    log(`e2e: ${shards} shard(s): putting ${drainEvents} events as fast as possible`);
    const kinesisEngineCpu = new DescendantCpu(/kinesalite|kinesis-mock|kinesis-local/);
    const dynamodbLocalCpu = new DescendantCpu(/DynamoDBLocal/);
    kinesisEngineCpu.sample();
    dynamodbLocalCpu.sample();
    const ownCpuBefore = process.cpuUsage();
    const drainStarted = Date.now();
    await untilVisible(await putAll(drainEvents, Number.POSITIVE_INFINITY, 2));
    const drainEnded = Date.now();
    const drainSeconds = (drainEnded - drainStarted) / 1000;
    const ownCpu = process.cpuUsage(ownCpuBefore);
    const drainCpuCores = {
      kinesisEngine: kinesisEngineCpu.sample(),
      dynamodbLocal: dynamodbLocalCpu.sample(),
      benchProcess: (ownCpu.user + ownCpu.system) / 1e6 / drainSeconds,
    };
    stopObserving();
    kinesis.destroy();
    ddb.destroy();

    const during = (from: number, to: number) => invocations.filter((invocation) => invocation.startedAt >= from && invocation.startedAt < to);
    const drainInvocations = during(drainStarted, drainEnded + 1);
    const drainBusyMs = drainInvocations.reduce((sum, invocation) => sum + invocation.durationMs, 0);
    return {
      shards,
      memoryMb,
      coldStartMs,
      targetRate,
      putRate: steadyPuts.length / putSeconds,
      sent: latencies.length,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies.at(-1) ?? 0,
      steady: invocationFigures(during(steadyStarted, drainStarted), memoryMb),
      drainRate: drainEvents / drainSeconds,
      drainEvents,
      drain: invocationFigures(drainInvocations, memoryMb),
      drainFunctionBusyShare: drainBusyMs / (drainSeconds * 1000 * shards),
      drainCpuCores,
    };
  } finally {
    stopObserving();
    await cloud?.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}
