import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LocalCloud } from '../../local/cloud';
import type { ShardProgress } from '../../local/lambda/kinesis-event-source';
import { StatusLine } from '../../local/status-line';
import { shardSample, type MappingView } from '../../local/telemetry/shards';

function shardFactory(index: number, overrides: Partial<ShardProgress> = {}): ShardProgress {
  return {
    shardId: `shardId-${String(index).padStart(12, '0')}`,
    millisBehindLatest: 0,
    recordsRead: 0,
    recordsDelivered: 0,
    invocations: 0,
    functionErrors: 0,
    partialFailures: 0,
    discardedBatches: 0,
    retries: 0,
    bisections: 0,
    recordsToDestination: 0,
    finished: false,
    ...overrides,
  };
}

/** Just what the status line reads of a running local cloud: telemetry samples over mappings' progress. */
function cloudFactory(shards: ShardProgress[], metrics: Record<string, number> = {}): LocalCloud {
  const mapping: MappingView = {
    kind: 'kinesis',
    spec: { logicalId: 'AggregatorMapping', functionName: 'Aggregator', eventSourceArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks' },
    progress: () => shards,
  };
  return {
    eventSources: [mapping],
    telemetry: { shards: (nowMs: number) => shards.map((shard) => shardSample(mapping, shard, nowMs)) },
    metrics: { sum: (name: string) => metrics[name] ?? 0 },
    services: { services: { kinesis: { name: 'kinesalite' } } },
    webSocket: { connections: () => [] },
  } as unknown as LocalCloud;
}

describe('npm start status line', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-30T12:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads events in from the same telemetry samples as the metrics endpoint, over every shard of the stream', () => {
    // Prepare: 4 shards, one of them closed by a resharding
    const shards = [shardFactory(0, { finished: true, recordsRead: 100 }), shardFactory(1), shardFactory(2), shardFactory(3)];
    const line = new StatusLine(cloudFactory(shards, { ClicksCounted: 380, DuplicateClicks: 12, LateClicks: 3, InvalidRecords: 5 }));
    line.render();

    // Act: 2 s later, 1,000 more records read across the open shards
    vi.advanceTimersByTime(2000);
    shards[1]!.recordsRead += 500;
    shards[2]!.recordsRead += 300;
    shards[3]!.recordsRead += 200;
    const text = line.render();

    // Assess
    expect(text).toMatch(/^in 500 ev\/s \| /);
    expect(text).toContain('| counted 380 | dup 12 | late 3 | invalid 5 | dashboard clients 0');
    // No tip follower started: the lag is unknown, and says so.
    expect(text).toContain('| lag n/a |');
  });
});
