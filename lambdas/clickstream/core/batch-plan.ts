import type { Click, RejectionReason } from '../../../contracts/clickstream';
import { decodeClick, type DecodeLimits } from './decode';
import { compareSequenceNumbers } from './sequence';
import { isWindowClosed, windowStartOf } from './windowing';

/** One Kinesis record as the aggregator sees it, whatever envelope delivered it. */
export interface ShardRecord {
  sequenceNumber: string;
  partitionKey: string;
  approximateArrivalMs: number;
  /** The record's data, base64 encoded as Lambda delivers it. */
  data: string;
}

/** What the aggregator has committed for a shard: everything up to `checkpoint` is counted. */
export interface ShardState {
  checkpoint?: string;
  /**
   * Highest event time committed for the shard, each event capped at its own arrival time (so no
   * producer clock can move it past the stream's clock); -Infinity before the first event.
   */
  watermarkMs: number;
}

export interface PlanSettings extends DecodeLimits {
  allowedLatenessMs: number;
  /**
   * Window deltas one commit may carry. A commit is one checkpoint; the store writes up to 98
   * pending items of 99 deltas with it (see shard-store.ts), so a whole batch pre-aggregates.
   */
  maxWindowsPerCommit: number;
  /** Bytes of eventIds one ledger item may hold; DynamoDB items stop at 400 KB. */
  maxLedgerBytesPerCommit: number;
  /** Bytes of window deltas one commit may carry: its first transaction must stay under 4 MB. */
  maxDeltaBytesPerCommit: number;
}

export const DEFAULT_COMMIT_LIMITS = { maxWindowsPerCommit: 98 * 99, maxLedgerBytesPerCommit: 300_000, maxDeltaBytesPerCommit: 3_000_000 } as const;

/** What a window delta weighs in a DynamoDB item: its url plus the key, counts and names around it. */
export const deltaBytes = (url: string): number => Buffer.byteLength(url) + 96;

export interface WindowDelta {
  url: string;
  windowStartMs: number;
  count: number;
  lateCount: number;
}

/** One atomic step: window deltas, ledger entries and the checkpoint that covers them. */
export interface Commit {
  lastSequenceNumber: string;
  watermarkMs: number;
  windows: WindowDelta[];
  /** eventIds counted or recorded late in this commit; a later copy of one is a producer re-send. */
  eventIds: string[];
}

export interface Rejection {
  recordIndex: number;
  record: ShardRecord;
  reason: RejectionReason;
  detail: string;
}

export interface LateEvent {
  recordIndex: number;
  record: ShardRecord;
  click: Click;
  windowStartMs: number;
  watermarkMs: number;
}

export type RecordOutcome = 'replayed' | 'counted' | 'duplicate' | 'late' | 'invalid';

export interface BatchPlan {
  commits: Commit[];
  rejections: Rejection[];
  lateEvents: LateEvent[];
  outcomes: Record<RecordOutcome, number>;
}

interface OpenCommit {
  lastSequenceNumber?: string;
  /** Deltas by window start, then url: nested maps avoid building a key string per event. */
  windows: Map<number, Map<string, WindowDelta>>;
  windowCount: number;
  deltaBytes: number;
  eventIds: string[];
  ledgerBytes: number;
}

const emptyCommit = (): OpenCommit => ({ windows: new Map(), windowCount: 0, deltaBytes: 0, eventIds: [], ledgerBytes: 0 });

/**
 * Plans how one shard's batch changes the window table, record by record, in sequence order.
 * Pure: it decides, the caller writes. Replaying the same records from the same state gives
 * the same plan, which is what makes retries, bisection and restarts exact.
 */
export class BatchPlanner {
  private readonly commits: Commit[] = [];
  private readonly rejections: Rejection[] = [];
  private readonly lateEvents: LateEvent[] = [];
  private readonly outcomes: Record<RecordOutcome, number> = { replayed: 0, counted: 0, duplicate: 0, late: 0, invalid: 0 };
  private readonly seenInBatch = new Set<string>();
  private open: OpenCommit = emptyCommit();
  private watermarkMs: number;
  private recordIndex = 0;

  constructor(
    private readonly state: ShardState,
    private readonly settings: PlanSettings,
    /** True when the ledger holds the eventId from an earlier commit within the horizon. */
    private readonly seenBefore: (eventId: string) => boolean,
  ) {
    this.watermarkMs = state.watermarkMs;
  }

  add(record: ShardRecord): RecordOutcome {
    const recordIndex = this.recordIndex++;
    if (this.state.checkpoint !== undefined && compareSequenceNumbers(record.sequenceNumber, this.state.checkpoint) <= 0) {
      return this.tally('replayed');
    }
    const decoded = decodeClick(record.data, record.approximateArrivalMs, this.settings);
    if (!decoded.ok) {
      this.rejections.push({ recordIndex, record, reason: decoded.reason, detail: decoded.detail });
      this.advance(record);
      return this.tally('invalid');
    }
    const { click } = decoded;
    if (this.seenInBatch.has(click.eventId) || this.seenBefore(click.eventId)) {
      this.advance(record);
      return this.tally('duplicate');
    }
    const windowStartMs = windowStartOf(click.timestamp);
    const late = isWindowClosed(windowStartMs, this.watermarkMs, this.settings.allowedLatenessMs);
    const ledgerBytes = Buffer.byteLength(click.eventId) + 1;
    let delta = this.open.windows.get(windowStartMs)?.get(click.url);
    if (delta === undefined) {
      // A new window item or a full ledger item would push the open commit past a DynamoDB limit.
      const full =
        this.open.windowCount >= this.settings.maxWindowsPerCommit ||
        this.open.deltaBytes + deltaBytes(click.url) > this.settings.maxDeltaBytesPerCommit;
      if (full) this.closeOpenCommit();
      delta = this.newDelta(click.url, windowStartMs);
    }
    if (this.open.ledgerBytes + ledgerBytes > this.settings.maxLedgerBytesPerCommit) {
      this.closeOpenCommit();
      delta = this.newDelta(click.url, windowStartMs);
    }
    this.seenInBatch.add(click.eventId);
    this.open.eventIds.push(click.eventId);
    this.open.ledgerBytes += ledgerBytes;
    if (late) {
      delta.lateCount += 1;
      this.lateEvents.push({ recordIndex, record, click, windowStartMs, watermarkMs: this.watermarkMs });
    } else {
      delta.count += 1;
      // An event moves the watermark no further than its own arrival: a producer whose clock runs
      // ahead (up to maxFutureSkew) would otherwise close windows that on-time events still fill.
      const eventWatermarkMs = Math.min(click.timestamp, record.approximateArrivalMs);
      if (eventWatermarkMs > this.watermarkMs) this.watermarkMs = eventWatermarkMs;
    }
    this.advance(record);
    return this.tally(late ? 'late' : 'counted');
  }

  finish(): BatchPlan {
    this.closeOpenCommit();
    return { commits: this.commits, rejections: this.rejections, lateEvents: this.lateEvents, outcomes: { ...this.outcomes } };
  }

  private tally(outcome: RecordOutcome): RecordOutcome {
    this.outcomes[outcome] += 1;
    return outcome;
  }

  private advance(record: ShardRecord): void {
    this.open.lastSequenceNumber = record.sequenceNumber;
  }

  /** The delta for (url, window) in the open commit, created empty. */
  private newDelta(url: string, windowStartMs: number): WindowDelta {
    let byUrl = this.open.windows.get(windowStartMs);
    if (byUrl === undefined) {
      byUrl = new Map();
      this.open.windows.set(windowStartMs, byUrl);
    }
    let delta = byUrl.get(url);
    if (delta === undefined) {
      delta = { url, windowStartMs, count: 0, lateCount: 0 };
      byUrl.set(url, delta);
      this.open.windowCount += 1;
      this.open.deltaBytes += deltaBytes(url);
    }
    return delta;
  }

  private closeOpenCommit(): void {
    const { lastSequenceNumber, windows, eventIds } = this.open;
    if (lastSequenceNumber === undefined) return;
    const deltas = [...windows.values()].flatMap((byUrl) => [...byUrl.values()]);
    this.commits.push({ lastSequenceNumber, watermarkMs: this.watermarkMs, windows: deltas, eventIds });
    this.open = emptyCommit();
  }
}

/** Plans a whole batch; convenient where no per-record hook is needed (benchmarks, tests). */
export function planBatch(
  records: readonly ShardRecord[],
  state: ShardState,
  settings: PlanSettings,
  seenBefore: (eventId: string) => boolean = () => false,
): BatchPlan {
  const planner = new BatchPlanner(state, settings, seenBefore);
  for (const record of records) planner.add(record);
  return planner.finish();
}
