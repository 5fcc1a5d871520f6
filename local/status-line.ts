import { KinesisClient } from '@aws-sdk/client-kinesis';
import { localClientConfig } from './clients';
import type { LocalCloud } from './cloud';
import { formatLag, lagReason, StreamLagTracker } from './lag';
import { DescendantCpu } from './process-cpu';
import { StreamTipFollower } from './stream-tip';

/** Kinesis engines' command lines: kinesalite's launcher, kinesis-mock (kinesis-local). */
const KINESIS_ENGINE_COMMAND = /kinesalite|kinesis-mock|kinesis-local/;

/**
 * One line: traffic in, the real lag (newest record put to newest processed, in time and records,
 * and whether and why it is falling behind), and what the aggregator did, per second.
 */
export class StatusLine {
  private last = { at: Date.now(), read: 0, windows: 0, functionErrors: 0 };
  private readonly trackers = new Map<string, StreamLagTracker>();
  private readonly followers: StreamTipFollower[] = [];
  private readonly engineCpu = new DescendantCpu(KINESIS_ENGINE_COMMAND);
  private kinesis: KinesisClient | undefined;

  constructor(private readonly cloud: LocalCloud) {}

  /** Starts following the tip of every stream a Kinesis mapping reads. */
  async start(): Promise<void> {
    this.kinesis = new KinesisClient(localClientConfig(this.cloud.edgeUrl));
    const streams = new Set(this.kinesisSources().map((source) => source.spec.eventSourceArn.split('/').at(-1)!));
    for (const streamName of streams) {
      // Keeping up = within the batching window plus an invocation or two.
      const tracker = new StreamLagTracker({ toleranceMs: 3000, trendWindowMs: 10_000 });
      this.trackers.set(streamName, tracker);
      const follower = new StreamTipFollower({ kinesis: this.kinesis, streamName, onPut: (shardId, records) => tracker.observePut(shardId, records) });
      await follower.start();
      this.followers.push(follower);
    }
    this.engineCpu.sample();
  }

  async stop(): Promise<void> {
    await Promise.all(this.followers.map((follower) => follower.stop()));
    this.kinesis?.destroy();
  }

  render(): string {
    const now = Date.now();
    const sources = this.kinesisSources();
    // Events in: the Kinesis mappings; the DynamoDB Streams mappings carry window changes to the dashboard.
    // Counters come from the samples GET <edge>/_watershed/metrics serves (local/telemetry): one source.
    const shards = this.cloud.telemetry.shards(now).filter((shard) => shard.source === 'kinesis');
    const read = shards.reduce((sum, shard) => sum + shard.recordsRead, 0);
    const functionErrors = shards.reduce((sum, shard) => sum + shard.functionErrors, 0);
    const windows = this.cloud.metrics.sum('WindowWrites');
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    const eventsPerSecond = (read - this.last.read) / seconds;
    const windowsPerSecond = (windows - this.last.windows) / seconds;
    const newErrors = functionErrors - this.last.functionErrors;
    this.last = { at: now, read, windows, functionErrors };

    for (const source of sources) {
      const tracker = this.trackers.get(source.spec.eventSourceArn.split('/').at(-1)!);
      for (const shard of source.progress()) tracker?.observeProcessed(shard.shardId, shard.checkpoint);
    }
    const cpu = this.engineCpu.sample(now);
    const engine = cpu === undefined ? undefined : { name: this.cloud.services.services.kinesis.name, cpu };
    const lags = [...this.trackers].map(([streamName, tracker]) => {
      const report = tracker.report(now);
      const text = formatLag(report, report.trend === 'falling-behind' ? lagReason({ engine, functionErrors: newErrors }) : undefined);
      return this.trackers.size > 1 ? `${streamName}: ${text}` : text;
    });
    const m = this.cloud.metrics;
    return [
      `in ${eventsPerSecond.toFixed(0)} ev/s`,
      lags.length > 0 ? lags.join('; ') : 'lag n/a',
      `windows ${windowsPerSecond.toFixed(0)}/s`,
      `counted ${m.sum('ClicksCounted')}`,
      `dup ${m.sum('DuplicateClicks')}`,
      `late ${m.sum('LateClicks')}`,
      `invalid ${m.sum('InvalidRecords')}`,
      `dashboard clients ${this.cloud.webSocket.connections().length}`,
    ].join(' | ');
  }

  private kinesisSources() {
    return this.cloud.eventSources.filter((source) => source.kind === 'kinesis');
  }
}
