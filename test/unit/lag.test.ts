import { describe, expect, it } from 'vitest';
import { compareSequenceNumbers, formatLag, lagReason, StreamLagTracker, type RecordPosition } from '../../local/lag';

/** Kinesis-like sequence numbers: long decimal strings that grow within a shard. */
const seq = (n: number): string => `4968${String(n).padStart(52, '0')}`;
const puts = (from: number, to: number, arrivalMs: (n: number) => number): RecordPosition[] =>
  Array.from({ length: to - from + 1 }, (_, index) => ({ sequenceNumber: seq(from + index), arrivalMs: arrivalMs(from + index) }));

describe('sequence numbers', () => {
  it('compare numerically, by length first', () => {
    expect(compareSequenceNumbers('9', '10')).toBeLessThan(0);
    expect(compareSequenceNumbers(seq(2), seq(10))).toBeLessThan(0);
    expect(compareSequenceNumbers(seq(7), seq(7))).toBe(0);
  });
});

describe('lag from the newest record put to the newest processed', () => {
  it('is the records put after the checkpoint and the arrival time between the newest put and the newest processed', () => {
    const tracker = new StreamLagTracker();
    // 1,000 records, one every 5 ms from t = 0; the consumer has processed the first 400.
    tracker.observePut('shardId-000000000000', puts(1, 1000, (n) => n * 5));
    tracker.observeProcessed('shardId-000000000000', seq(400));

    const report = tracker.report(10_000);

    expect(report.shards).toStrictEqual([{ shardId: 'shardId-000000000000', records: 600, ms: 5000 - 2000, atLeast: false }]);
    expect(report).toMatchObject({ records: 600, ms: 3000 });
  });

  it('is 0 when every record put is processed, also when the consumer got there before the tip follower', () => {
    const tracker = new StreamLagTracker();
    tracker.observeProcessed('s', seq(50));
    tracker.observePut('s', puts(1, 50, (n) => n));
    expect(tracker.report(1000)).toMatchObject({ records: 0, ms: 0, trend: 'caught-up' });
  });

  it('says "at least" when nothing was processed since tracking began', () => {
    const tracker = new StreamLagTracker();
    tracker.observePut('s', puts(1, 10, (n) => 1000 + n * 100));
    expect(tracker.report(5000).shards[0]).toStrictEqual({ shardId: 's', records: 10, ms: 900, atLeast: true });
  });

  it('takes the worst shard for time and the sum for records', () => {
    const tracker = new StreamLagTracker();
    tracker.observePut('a', puts(1, 10, (n) => n * 1000));
    tracker.observeProcessed('a', seq(8));
    tracker.observePut('b', puts(1, 5, (n) => n * 1000));
    tracker.observeProcessed('b', seq(1));
    expect(tracker.report(20_000)).toMatchObject({ records: 2 + 4, ms: 4000 });
  });
});

describe('falling behind', () => {
  it('is reported when the backlog grows past the tolerance with more put than processed, and catching up when it shrinks', () => {
    const tracker = new StreamLagTracker({ toleranceMs: 3000, trendWindowMs: 10_000 });
    // 200 records/s put, 80/s processed (kinesis-local at its limit in the issue).
    let put = 0;
    let processed = 0;
    let report = tracker.report(0);
    for (let second = 1; second <= 30; second++) {
      tracker.observePut('s', puts(put + 1, put + 200, (n) => (n / 200) * 1000));
      put += 200;
      processed += 80;
      tracker.observeProcessed('s', seq(processed));
      report = tracker.report(second * 1000);
    }
    expect(report.trend).toBe('falling-behind');
    expect(report.records).toBe(put - processed);
    expect(report.ms).toBe(Math.round((put / 200) * 1000 - (processed / 200) * 1000));
    expect(report.putPerSecond).toBeCloseTo(200, 0);
    expect(report.processedPerSecond).toBeCloseTo(80, 0);
    expect(formatLag(report, lagReason({ engine: { name: 'kinesis (kinesis-local)', cpu: 0.98 } }))).toBe(
      `lag ${(report.ms / 1000).toFixed(1)} s, ${report.records.toLocaleString('en-US')} records (falling behind: put 200/s, processed 80/s; kinesis (kinesis-local) at its CPU limit (98% of a core))`,
    );

    // Traffic stops; the consumer drains.
    for (let second = 31; second <= 38; second++) {
      processed += 300;
      tracker.observeProcessed('s', seq(Math.min(processed, put)));
      report = tracker.report(second * 1000);
    }
    expect(report.trend).toBe('catching-up');
  });

  it('is not reported while the lag stays within the tolerance (a batching window)', () => {
    const tracker = new StreamLagTracker({ toleranceMs: 3000 });
    let report = tracker.report(0);
    for (let second = 1; second <= 20; second++) {
      tracker.observePut('s', puts((second - 1) * 200 + 1, second * 200, (n) => (n / 200) * 1000));
      // One second behind, all the time: the batching window.
      if (second > 1) tracker.observeProcessed('s', seq((second - 1) * 200));
      report = tracker.report(second * 1000);
    }
    expect(report.trend).toBe('steady');
    expect(formatLag(report, undefined)).toBe('lag 1.0 s, 200 records');
  });
});

describe('reasons', () => {
  it('names an engine at its CPU limit first, then function errors, else nothing', () => {
    expect(lagReason({ engine: { name: 'kinesis (kinesalite)', cpu: 0.95 }, functionErrors: 3 })).toBe('kinesis (kinesalite) at its CPU limit (95% of a core)');
    expect(lagReason({ engine: { name: 'kinesis (kinesalite)', cpu: 0.4 }, functionErrors: 3 })).toBe('function errors, retried (3 since the last update)');
    expect(lagReason({ engine: { name: 'kinesis (kinesalite)', cpu: 0.4 } })).toBeUndefined();
  });
});
