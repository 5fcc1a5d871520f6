import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { BatchGetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DEFAULT_SCORING_CONFIG } from '../contracts/fraud';
import { qualityReport, replayOrders, type LabelledOrder, type QualityReport } from '../fraud/backtest';
import { localClientConfig } from '../local/clients';
import { startLocalCloud } from '../local/cloud';
import { generateOrders } from '../simulator/orders';
import { putAll } from '../simulator/producer';

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Labelled simulated orders with a fixed seed: the same workload for the quality and the throughput figures. */
export function labelledOrders(count: number, seed = 1): LabelledOrder[] {
  return [...generateOrders({ count, users: 5_000, rate: 1, seed, malformed: 0, startTime: Date.parse('2026-01-01T00:00:00Z') })].flatMap((record) =>
    record.truth.kind === 'malformed' ? [] : [{ order: JSON.parse(Buffer.from(record.data).toString('utf8')) as unknown, label: record.truth.label }],
  );
}

export interface FraudCoreResult {
  orders: number;
  jsonParsePerSecond: number;
  corePerSecond: number;
  ratio: number;
}

/**
 * Scorer core (base64 decode, JSON.parse, validate, currency, features from the profiles, logistic
 * score and rules, reasons, Welford and window folds, commit planning, an in-memory store) against
 * a bare JSON.parse loop over the same payloads; alternating rounds, medians compared.
 */
export function benchFraudCore({ count = 20_000, rounds = 7 } = {}): FraudCoreResult {
  const orders = labelledOrders(count, 7);
  const payloads = orders.map((entry) => JSON.stringify(entry.order));
  let sink = 0;
  const parseRates: number[] = [];
  const coreRates: number[] = [];
  for (let round = 0; round < rounds + 1; round++) {
    let started = performance.now();
    for (const payload of payloads) sink += (JSON.parse(payload) as { amount: number }).amount;
    const parseRate = orders.length / ((performance.now() - started) / 1000);
    started = performance.now();
    sink += replayOrders(orders, { active: DEFAULT_SCORING_CONFIG, shadows: [] }).decisions.length;
    const coreRate = orders.length / ((performance.now() - started) / 1000);
    if (round >= 1) {
      parseRates.push(parseRate);
      coreRates.push(coreRate);
    }
  }
  if (sink === 0) throw new Error('benchmark loops were optimised away');
  const jsonParsePerSecond = median(parseRates);
  const corePerSecond = median(coreRates);
  return { orders: orders.length, jsonParsePerSecond, corePerSecond, ratio: corePerSecond / jsonParsePerSecond };
}

/** Model quality at the default configuration on 50,000 labelled simulated orders (seed 1). */
export function benchFraudQuality(count = 50_000): QualityReport {
  return qualityReport(replayOrders(labelledOrders(count, 1), { active: DEFAULT_SCORING_CONFIG, shadows: [] }), DEFAULT_SCORING_CONFIG);
}

export interface FraudLatencyResult {
  targetRate: number;
  sent: number;
  decided: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Local cloud end to end: orders put at `rate` for `seconds`; a poller reads the decisions table
 * every 100 ms (BatchGetItem of the undecided orderIds) and records when each decision is first
 * readable. Latency = that moment minus the start of the PutRecords call that carried the order.
 */
export async function benchFraudLatency({ rate = 200, seconds = 30, log = (_line: string): void => undefined }: { rate?: number; seconds?: number; log?: (line: string) => void } = {}): Promise<FraudLatencyResult> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-bench-fraud-'));
  const cloud = await startLocalCloud({ edgePort: 0, dashboardPort: 0, stateDirectory: join(directory, 'state'), assemblyDirectory: join(directory, 'cdk.out'), log });
  const config = localClientConfig(cloud.edgeUrl);
  const kinesis = new KinesisClient(config);
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient(config));
  const table = cloud.outputs.DecisionsTableName!;
  const putAt = new Map<string, number>();
  const latencies: number[] = [];
  let producing = true;
  try {
    // Warm-up: cold starts are paid before measuring.
    const warmUp = [...generateOrders({ count: 50, rate, seed: 99, malformed: 0, duplicates: 0 })];
    await putAll(kinesis, cloud.outputs.OrdersStreamName!, warmUp, { rate });
    await waitUntil(async () => (await decided(ddb, table, warmUp.map((record) => record.truth.order!.orderId))).size === warmUp.length, 120_000);

    const poller = (async () => {
      while (producing || putAt.size > 0) {
        const pending = [...putAt.keys()].slice(0, 400);
        if (pending.length > 0) {
          const found = await decided(ddb, table, pending);
          const now = Date.now();
          for (const orderId of found) {
            latencies.push(now - putAt.get(orderId)!);
            putAt.delete(orderId);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const records = [...generateOrders({ count: Math.round(rate * seconds), rate, seed: 5, malformed: 0, duplicates: 0 })];
    let batchStart = Date.now();
    await putAll(kinesis, cloud.outputs.OrdersStreamName!, records, {
      rate,
      onProgress: () => {
        batchStart = Date.now();
      },
      onSent: (record) => {
        // onSent runs as the PutRecords answer is read: the batch started at the previous progress tick.
        putAt.set(record.truth.order!.orderId, batchStart);
      },
    });
    producing = false;
    await Promise.race([poller, new Promise((resolve) => setTimeout(resolve, 120_000))]);
    const sorted = [...latencies].sort((a, b) => a - b);
    return { targetRate: rate, sent: records.length, decided: latencies.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? 0 };
  } finally {
    producing = false;
    putAt.clear();
    kinesis.destroy();
    ddb.destroy();
    await cloud.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function decided(ddb: DynamoDBDocumentClient, table: string, orderIds: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let start = 0; start < orderIds.length; start += 100) {
    const { Responses } = await ddb.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: orderIds.slice(start, start + 100).map((orderId) => ({ orderId })), ProjectionExpression: 'orderId' } } }));
    for (const item of Responses?.[table] ?? []) found.add(String(item.orderId));
  }
  return found;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
