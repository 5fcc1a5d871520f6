import { describe, expect, it } from 'vitest';
import { StatusLine } from '../../local/cli';
import type { LocalCloud } from '../../local/cloud';
import type { ShardProgress } from '../../local/lambda/kinesis-event-source';

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
    finished: false,
    ...overrides,
  };
}

/** Just what the status line reads of a running local cloud. */
function cloudFactory(shards: ShardProgress[], health: Record<string, { status: string; detail?: string }> = { kinesis: { status: 'running' } }): LocalCloud {
  return {
    services: { edge: { health: () => health } },
    eventSources: [{ kind: 'kinesis', progress: () => shards }],
    metrics: { sum: () => 0 },
    webSocket: { connections: () => [] },
  } as unknown as LocalCloud;
}

describe('npm start status line', () => {
  it('shows the lag of every open shard, and leaves out shards closed and drained by a resharding', () => {
    // Prepare: shard 0 was split into 4 and 5; shards 1 to 3 still open
    const shards = [
      shardFactory(0, { finished: true, recordsRead: 100, recordsDelivered: 100 }),
      shardFactory(1, { millisBehindLatest: 10, recordsRead: 50, recordsDelivered: 40 }),
      shardFactory(2),
      shardFactory(3),
      shardFactory(4, { recordsRead: 7, recordsDelivered: 7 }),
      shardFactory(5),
    ];

    // Act
    const line = new StatusLine(cloudFactory(shards)).render();

    // Assess
    expect(line).toContain('lag shard 1 10 ms, 10 queued; shard 2 0 ms, 0 queued; shard 3 0 ms, 0 queued; shard 4 0 ms, 0 queued; shard 5 0 ms, 0 queued |');
    expect(line).not.toContain('shard 0 ');
  });

  it('starts with every service that is not running, and why', () => {
    // Prepare: DynamoDB Local was killed and is restarting; Kinesis runs
    const health = {
      dynamodb: { status: 'restarting', detail: 'dynamodb (DynamoDB Local) died (signal SIGKILL); restarting in 500 ms' },
      kinesis: { status: 'running' },
    };

    // Act
    const line = new StatusLine(cloudFactory([shardFactory(0)], health)).render();

    // Assess
    expect(line.startsWith('! dynamodb RESTARTING (dynamodb (DynamoDB Local) died (signal SIGKILL); restarting in 500 ms), pipelines paused | in ')).toBe(true);
    expect(line).not.toContain('kinesis');
  });

  it('says nothing about services while all run', () => {
    expect(new StatusLine(cloudFactory([shardFactory(0)])).render()).toMatch(/^in \d+ ev\/s \| lag /);
  });
});
