import { describe, expect, it } from 'vitest';
import { EmfMetrics } from '../../local/metrics';
import { parseEmfLine, prometheusMappingOf, snakeCase } from '../../local/telemetry/emf';
import { shardPutsOf } from '../../local/telemetry/kinesis-puts';
import { LocalCloudMetrics } from '../../local/telemetry/local-cloud-metrics';
import { shardSample, streamNameOfArn, type MappingView, type ShardCounters } from '../../local/telemetry/shards';

/** An EMF line as Powertools Metrics prints it. */
function emfLine(metrics: Record<string, [unit: string, value: number | number[]]>, dimensions: Record<string, string> = { service: 'clickstream-aggregator' }): string {
  return JSON.stringify({
    _aws: {
      Timestamp: 1_764_000_000_000,
      CloudWatchMetrics: [{ Namespace: 'Watershed', Dimensions: [Object.keys(dimensions)], Metrics: Object.entries(metrics).map(([Name, [Unit]]) => ({ Name, Unit })) }],
    },
    ...dimensions,
    ...Object.fromEntries(Object.entries(metrics).map(([name, [, value]]) => [name, value])),
  });
}

describe('EMF to Prometheus', () => {
  it('maps names, units and dimensions by rule', () => {
    expect(snakeCase('ClicksCounted')).toBe('clicks_counted');
    expect(snakeCase('p99LatencyMS')).toBe('p99_latency_ms');
    expect(snakeCase('Watershed/Fraud')).toBe('watershed_fraud');
    expect(prometheusMappingOf({ namespace: 'Watershed', name: 'ClicksCounted', unit: 'Count' })).toMatchObject({ name: 'watershed_clicks_counted_total', type: 'counter', scale: 1 });
    expect(prometheusMappingOf({ namespace: 'Watershed', name: 'CommitLatency', unit: 'Milliseconds' })).toMatchObject({ name: 'watershed_commit_latency_seconds_total', type: 'counter', scale: 1e-3 });
    expect(prometheusMappingOf({ namespace: 'Watershed', name: 'PayloadSize', unit: 'Kilobytes' })).toMatchObject({ name: 'watershed_payload_size_bytes_total', scale: 1e3 });
    expect(prometheusMappingOf({ namespace: 'Watershed', name: 'Throughput', unit: 'Count/Second' })).toMatchObject({ name: 'watershed_throughput', type: 'gauge' });
  });

  it('reads every metric of every directive, and nothing from other lines', () => {
    expect(parseEmfLine('plain log line')).toStrictEqual([]);
    expect(parseEmfLine('{"_aws": not json')).toStrictEqual([]);
    expect(parseEmfLine(emfLine({ ClicksCounted: ['Count', 5], LateClicks: ['Count', [1, 2]] }))).toStrictEqual([
      { namespace: 'Watershed', name: 'ClicksCounted', unit: 'Count', dimensions: { service: 'clickstream-aggregator' }, values: [5] },
      { namespace: 'Watershed', name: 'LateClicks', unit: 'Count', dimensions: { service: 'clickstream-aggregator' }, values: [1, 2] },
    ]);
  });

  it('sums per function and dimensions, for the status line and the endpoint alike', async () => {
    const emf = new EmfMetrics();
    emf.ingest('aggregator', emfLine({ ClicksCounted: ['Count', 5], CommitLatency: ['Milliseconds', 250] }));
    emf.ingest('aggregator', emfLine({ ClicksCounted: ['Count', 7], CommitLatency: ['Milliseconds', 750] }));
    emf.ingest('other', emfLine({ ClicksCounted: ['Count', 1] }, { service: 'other' }));
    expect(emf.sum('ClicksCounted')).toBe(13);
    expect(emf.total('aggregator', 'ClicksCounted')).toBe(12);

    const metrics = new LocalCloudMetrics({ emf, mappings: () => [], queues: () => [] });
    const text = await metrics.text();
    expect(text).toContain('# TYPE watershed_clicks_counted_total counter');
    expect(text).toContain('watershed_clicks_counted_total{function="aggregator",service="clickstream-aggregator"} 12');
    expect(text).toContain('watershed_clicks_counted_total{function="other",service="other"} 1');
    expect(text).toContain('watershed_commit_latency_seconds_total{function="aggregator",service="clickstream-aggregator"} 1');
  });
});

describe('records put per shard, from the exchanges at the edge', () => {
  const request = (body: unknown) => Buffer.from(JSON.stringify(body));

  it('counts stored PutRecords entries by shard and skips failed ones', () => {
    const puts = shardPutsOf(
      'Kinesis_20131202.PutRecords',
      request({ Records: [{ Data: 'eyJ9', PartitionKey: '"StreamName":"evil"' }], StreamName: 'clicks' }),
      200,
      request({
        FailedRecordCount: 1,
        Records: [
          { SequenceNumber: '1', ShardId: 'shardId-000000000000' },
          { SequenceNumber: '2', ShardId: 'shardId-000000000001' },
          { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' },
          { SequenceNumber: '3', ShardId: 'shardId-000000000000' },
        ],
      }),
    );
    expect(puts?.stream).toBe('clicks');
    expect(Object.fromEntries(puts!.records)).toStrictEqual({ 'shardId-000000000000': 2, 'shardId-000000000001': 1 });
  });

  it('reads a PutRecord by stream ARN, and ignores failures and other calls', () => {
    const arnPut = shardPutsOf('Kinesis_20131202.PutRecord', request({ StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks', Data: 'e30=' }), 200, request({ ShardId: 'shardId-000000000002', SequenceNumber: '9' }));
    expect(arnPut?.stream).toBe('clicks');
    expect(Object.fromEntries(arnPut!.records)).toStrictEqual({ 'shardId-000000000002': 1 });
    expect(shardPutsOf('Kinesis_20131202.PutRecord', request({ StreamName: 'clicks' }), 400, request({ __type: 'ResourceNotFoundException' }))).toBeUndefined();
    expect(shardPutsOf('Kinesis_20131202.GetRecords', request({ StreamName: 'clicks' }), 200, request({ Records: [] }))).toBeUndefined();
  });
});

describe('shard samples', () => {
  const counters = (overrides: Partial<ShardCounters> = {}): ShardCounters => ({
    shardId: 'shardId-000000000000',
    millisBehindLatest: 40,
    recordsRead: 10,
    recordsDelivered: 7,
    invocations: 2,
    functionErrors: 1,
    partialFailures: 0,
    discardedBatches: 0,
    retries: 1,
    bisections: 0,
    recordsToDestination: 0,
    ...overrides,
  });
  const mapping = (shards: ShardCounters[]): MappingView => ({
    kind: 'kinesis',
    spec: { logicalId: 'AggregatorMapping', functionName: 'aggregator', eventSourceArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks' },
    progress: () => shards,
  });

  it('ages a shard by its batch in flight, so the age grows while the function fails', () => {
    expect(shardSample(mapping([]), counters(), 1_000).iteratorAgeMs).toBe(40);
    expect(shardSample(mapping([]), counters({ inFlightSinceMs: 1_000 }), 31_000)).toMatchObject({ iteratorAgeMs: 30_000, queuedRecords: 3, stream: 'clicks' });
    expect(streamNameOfArn('arn:aws:dynamodb:us-east-1:000000000000:table/windows/stream/2026-11-30T00:00:00.000')).toBe('windows');
  });

  it('carries counters across a restart of the mappings', async () => {
    let running = [mapping([counters({ retries: 2, recordsRead: 10 })])];
    const metrics = new LocalCloudMetrics({ emf: new EmfMetrics(), mappings: () => running, queues: () => [{ queue: 'dlq', visible: 3, inFlight: 1, delayed: 0 }] });
    metrics.retire(running);
    running = [mapping([counters({ retries: 1, recordsRead: 5 })])];
    expect(metrics.shards()[0]).toMatchObject({ retries: 3, recordsRead: 15 });
    const text = await metrics.text();
    expect(text).toContain('watershed_event_source_retries_total{mapping="AggregatorMapping",function="aggregator",stream="clicks"} 3');
    expect(text).toContain('watershed_stream_read_records_total{stream="clicks",shard="shardId-000000000000",function="aggregator"} 15');
    expect(text).toContain('watershed_queue_messages{queue="dlq",state="visible"} 3');
  });

  it('observes invocations: count, errors by type, duration and batch size', async () => {
    const metrics = new LocalCloudMetrics({ emf: new EmfMetrics(), mappings: () => [], queues: () => [] });
    metrics.recordInvocation('aggregator', { Records: [1, 2, 3] }, { ok: true, payload: {}, durationMs: 120 });
    metrics.recordInvocation('aggregator', { Records: [1] }, { ok: false, errorType: 'Sandbox.Timedout', errorMessage: 'late', durationMs: 3000 });
    const text = await metrics.text();
    expect(text).toContain('watershed_function_invocations_total{function="aggregator"} 2');
    expect(text).toContain('watershed_function_errors_total{function="aggregator"} 1');
    expect(text).toContain('watershed_function_duration_seconds_count{function="aggregator"} 2');
    expect(text).toContain('watershed_function_duration_seconds_sum{function="aggregator"} 3.12');
    expect(text).toContain('watershed_function_batch_size_records_bucket{le="5",function="aggregator"} 2');
  });
});
