import { planBatch } from '../lambdas/clickstream/core/batch-plan';
import { DEFAULT_PLAN_SETTINGS, zipfShardRecords } from './workload';

export interface CoreResult {
  records: number;
  jsonParsePerSecond: number;
  /** base64 decode + JSON.parse: the least any Kinesis consumer does with a record. */
  decodeAndParsePerSecond: number;
  corePerSecond: number;
  ratio: number;
  ratioToDecodeAndParse: number;
  rounds: number;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * Aggregator core (decode base64, JSON.parse, validate, window, lateness, de-dup, pre-aggregate,
 * plan commits) against a bare JSON.parse loop over the same payloads. Rounds alternate between
 * the two so that a noisy neighbour slows both, and the medians are compared.
 */
export function benchCore({ records: count = 100_000, batchSize = 1000, rounds = 9 } = {}): CoreResult {
  const records = zipfShardRecords(count);
  const payloads = records.map((record) => Buffer.from(record.data, 'base64').toString('utf8'));
  const batches: (typeof records)[] = [];
  for (let start = 0; start < records.length; start += batchSize) batches.push(records.slice(start, start + batchSize));

  let sink = 0;
  const parseRates: number[] = [];
  const decodeRates: number[] = [];
  const coreRates: number[] = [];
  for (let round = 0; round < rounds + 2; round++) {
    let started = performance.now();
    for (const payload of payloads) sink += (JSON.parse(payload) as { url: string }).url.length;
    const parseRate = count / ((performance.now() - started) / 1000);

    started = performance.now();
    for (const record of records) sink += (JSON.parse(Buffer.from(record.data, 'base64').toString('utf8')) as { url: string }).url.length;
    const decodeRate = count / ((performance.now() - started) / 1000);

    started = performance.now();
    for (const batch of batches) sink += planBatch(batch, { watermarkMs: Number.NEGATIVE_INFINITY }, DEFAULT_PLAN_SETTINGS).commits.length;
    const coreRate = count / ((performance.now() - started) / 1000);
    if (round >= 2) {
      // The first two rounds warm the JIT for both loops.
      parseRates.push(parseRate);
      decodeRates.push(decodeRate);
      coreRates.push(coreRate);
    }
  }
  if (sink === 0) throw new Error('benchmark loops were optimised away');
  const jsonParsePerSecond = median(parseRates);
  const decodeAndParsePerSecond = median(decodeRates);
  const corePerSecond = median(coreRates);
  return {
    records: count,
    jsonParsePerSecond,
    decodeAndParsePerSecond,
    corePerSecond,
    ratio: corePerSecond / jsonParsePerSecond,
    ratioToDecodeAndParse: corePerSecond / decodeAndParsePerSecond,
    rounds,
  };
}
