import type { Click, RejectionReason } from '../../../contracts/clickstream';
import { decodeClick, type DecodeLimits } from './decode';
import { FINGERPRINT_BYTES, fingerprint } from './ledger';
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
   * Bytes one commit's log entry may carry (window deltas plus 8-byte eventId fingerprints), far
   * below DynamoDB's 400 KB item limit; a batch that needs more is committed in several steps.
   */
  maxEntryBytes: number;
}

export const DEFAULT_COMMIT_LIMITS = { maxEntryBytes: 300_000 } as const;

/** What a window delta weighs in a log entry, generously: its url plus counts and punctuation. */
export const deltaBytes = (url: string): number => Buffer.byteLength(url) + 16;

export interface WindowDelta {
  url: string;
  windowStartMs: number;
  count: number;
  lateCount: number;
}

/** One atomic step: window deltas, ledger entries and the checkpoint that covers them. */
export interface Commit {
  /**
   * The step's first record. Between the checkpoint a step starts after and this record lie the
   * records the event source mapping gave up on (sent to its on-failure destination instead), if
   * any: the log keeps this so that a replay of them can tell they were never counted.
   */
  firstSequenceNumber: string;
  lastSequenceNumber: string;
  watermarkMs: number;
  /** Arrival time of the commit's last record: the ledger remembers its eventIds for the horizon from here. */
  lastArrivalMs: number;
  windows: WindowDelta[];
  /** Fingerprints of the eventIds counted or recorded late in this commit; a later copy is a producer re-send. */
  fingerprints: number[];
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

/**
 * What became of a record at or behind the checkpoint: `handled` by a committed step (counted,
 * deduplicated, dead-lettered: a retry re-delivers it), or `skipped` because the event source
 * mapping gave up on it and moved on. Only a replay of the failed batch brings a skipped record back
 * (`npm run ops -- replay`), and it is then counted by a recovery step.
 */
export type BehindCheckpoint = (sequenceNumber: string) => 'handled' | 'skipped';

/** Where the log has not been asked: a record behind the checkpoint is a retry of one handled. */
export const everyRecordHandled: BehindCheckpoint = () => 'handled';

export interface BatchPlan {
  commits: Commit[];
  /**
   * Steps that count skipped records behind the checkpoint. They do not move the checkpoint or the
   * watermark: each is committed on its own, keyed by its first record, so a second replay of the
   * same records finds it there.
   */
  recoveries: Commit[];
  rejections: Rejection[];
  lateEvents: LateEvent[];
  outcomes: Record<RecordOutcome, number>;
  /** The outcome of each record, by its index in the batch. */
  outcomeOf: RecordOutcome[];
}

interface OpenCommit {
  firstSequenceNumber?: string;
  lastSequenceNumber?: string;
  lastArrivalMs: number;
  /** Deltas by window start, then url: nested maps avoid building a key string per event. */
  windows: Map<number, Map<string, WindowDelta>>;
  entryBytes: number;
  fingerprints: number[];
}

const emptyCommit = (): OpenCommit => ({ windows: new Map(), entryBytes: 0, fingerprints: [], lastArrivalMs: Number.NEGATIVE_INFINITY });

/**
 * Plans how one shard's batch changes the window table, record by record, in sequence order.
 * Pure: it decides, the caller writes. Replaying the same records from the same state gives
 * the same plan, which is what makes retries, bisection and restarts exact.
 */
export class BatchPlanner {
  private readonly commits: Commit[] = [];
  private readonly recoveries: Commit[] = [];
  private readonly rejections: Rejection[] = [];
  private readonly lateEvents: LateEvent[] = [];
  private readonly outcomes: Record<RecordOutcome, number> = { replayed: 0, counted: 0, duplicate: 0, late: 0, invalid: 0 };
  private readonly outcomeOf: RecordOutcome[] = [];
  private readonly seenInBatch = new Set<number>();
  private open: OpenCommit = emptyCommit();
  private openRecovery: OpenCommit = emptyCommit();
  private watermarkMs: number;
  private recordIndex = 0;

  constructor(
    private readonly state: ShardState,
    private readonly settings: PlanSettings,
    /** True when the ledger holds the eventId's fingerprint from an earlier commit within the horizon. */
    private readonly seenBefore: (eventFingerprint: number) => boolean,
    private readonly behindCheckpoint: BehindCheckpoint = everyRecordHandled,
  ) {
    this.watermarkMs = state.watermarkMs;
  }

  add(record: ShardRecord): RecordOutcome {
    const recordIndex = this.recordIndex++;
    const isBehind = this.state.checkpoint !== undefined && compareSequenceNumbers(record.sequenceNumber, this.state.checkpoint) <= 0;
    if (isBehind && this.behindCheckpoint(record.sequenceNumber) === 'handled') return this.tally('replayed');
    // A skipped record goes into a recovery step, which leaves the checkpoint and the watermark
    // where they are: the shard has moved on past it.
    const step: StepKind = isBehind ? 'recovery' : 'checkpointed';
    const decoded = decodeClick(record.data, record.approximateArrivalMs, this.settings);
    if (!decoded.ok) {
      this.rejections.push({ recordIndex, record, reason: decoded.reason, detail: decoded.detail });
      this.advance(step, record);
      return this.tally('invalid');
    }
    const { click } = decoded;
    const eventFingerprint = fingerprint(click.eventId);
    if (this.seenInBatch.has(eventFingerprint) || this.seenBefore(eventFingerprint)) {
      this.advance(step, record);
      return this.tally('duplicate');
    }
    const windowStartMs = windowStartOf(click.timestamp);
    const late = isWindowClosed(windowStartMs, this.watermarkMs, this.settings.allowedLatenessMs);
    let delta = this.openOf(step).windows.get(windowStartMs)?.get(click.url);
    const bytes = FINGERPRINT_BYTES + (delta === undefined ? deltaBytes(click.url) : 0);
    if (this.openOf(step).entryBytes + bytes > this.settings.maxEntryBytes) {
      this.closeOpen(step);
      delta = undefined;
    }
    const open = this.openOf(step);
    delta ??= this.newDelta(open, click.url, windowStartMs);
    open.entryBytes += FINGERPRINT_BYTES;
    this.seenInBatch.add(eventFingerprint);
    open.fingerprints.push(eventFingerprint);
    if (late) {
      delta.lateCount += 1;
      this.lateEvents.push({ recordIndex, record, click, windowStartMs, watermarkMs: this.watermarkMs });
    } else {
      delta.count += 1;
      // An event moves the watermark no further than its own arrival: a producer whose clock runs
      // ahead (up to maxFutureSkew) would otherwise close windows that on-time events still fill.
      const eventWatermarkMs = Math.min(click.timestamp, record.approximateArrivalMs);
      if (step === 'checkpointed' && eventWatermarkMs > this.watermarkMs) this.watermarkMs = eventWatermarkMs;
    }
    this.advance(step, record);
    return this.tally(late ? 'late' : 'counted');
  }

  finish(): BatchPlan {
    this.closeOpen('recovery');
    this.closeOpen('checkpointed');
    return {
      commits: this.commits,
      recoveries: this.recoveries,
      rejections: this.rejections,
      lateEvents: this.lateEvents,
      outcomes: { ...this.outcomes },
      outcomeOf: [...this.outcomeOf],
    };
  }

  private openOf(step: StepKind): OpenCommit {
    return step === 'recovery' ? this.openRecovery : this.open;
  }

  private tally(outcome: RecordOutcome): RecordOutcome {
    this.outcomes[outcome] += 1;
    this.outcomeOf.push(outcome);
    return outcome;
  }

  private advance(step: StepKind, record: ShardRecord): void {
    const open = this.openOf(step);
    open.firstSequenceNumber ??= record.sequenceNumber;
    open.lastSequenceNumber = record.sequenceNumber;
    open.lastArrivalMs = record.approximateArrivalMs;
  }

  /** The delta for (url, window) in an open commit, created empty. */
  private newDelta(open: OpenCommit, url: string, windowStartMs: number): WindowDelta {
    let byUrl = open.windows.get(windowStartMs);
    if (byUrl === undefined) {
      byUrl = new Map();
      open.windows.set(windowStartMs, byUrl);
    }
    let delta = byUrl.get(url);
    if (delta === undefined) {
      delta = { url, windowStartMs, count: 0, lateCount: 0 };
      byUrl.set(url, delta);
      open.entryBytes += deltaBytes(url);
    }
    return delta;
  }

  private closeOpen(step: StepKind): void {
    const { firstSequenceNumber, lastSequenceNumber, lastArrivalMs, windows, fingerprints } = this.openOf(step);
    if (firstSequenceNumber === undefined || lastSequenceNumber === undefined) return;
    const deltas = [...windows.values()].flatMap((byUrl) => [...byUrl.values()]);
    // A recovery step leaves the watermark where the shard had it.
    const watermarkMs = step === 'recovery' ? this.state.watermarkMs : this.watermarkMs;
    const commit = { firstSequenceNumber, lastSequenceNumber, watermarkMs, lastArrivalMs, windows: deltas, fingerprints };
    if (step === 'recovery') {
      this.recoveries.push(commit);
      this.openRecovery = emptyCommit();
    } else {
      this.commits.push(commit);
      this.open = emptyCommit();
    }
  }
}

type StepKind = 'checkpointed' | 'recovery';

/** Plans a whole batch; convenient where no per-record hook is needed (benchmarks, tests). */
export function planBatch(
  records: readonly ShardRecord[],
  state: ShardState,
  settings: PlanSettings,
  seenBefore: (eventFingerprint: number) => boolean = () => false,
  behindCheckpoint: BehindCheckpoint = everyRecordHandled,
): BatchPlan {
  const planner = new BatchPlanner(state, settings, seenBefore, behindCheckpoint);
  for (const record of records) planner.add(record);
  return planner.finish();
}

/** The outcomes of the records before `end`: what a batch that ends there has done. */
export function outcomesBefore(plan: BatchPlan, end: number): Record<RecordOutcome, number> {
  const outcomes: Record<RecordOutcome, number> = { replayed: 0, counted: 0, duplicate: 0, late: 0, invalid: 0 };
  for (const outcome of plan.outcomeOf.slice(0, end)) outcomes[outcome] += 1;
  return outcomes;
}

/**
 * The index of the first record a committed checkpoint does not cover: where the event source
 * mapping must resume. `records.length` when it covers them all.
 */
export function firstUncovered(sequenceNumbers: readonly string[], checkpoint: string | undefined): number {
  if (checkpoint === undefined) return 0;
  const index = sequenceNumbers.findIndex((sequenceNumber) => compareSequenceNumbers(sequenceNumber, checkpoint) > 0);
  return index === -1 ? sequenceNumbers.length : index;
}

/**
 * The records of one step planned again one counted or late click per step, for isolating a click
 * DynamoDB refuses: each step can then be written, or dead-lettered, on its own.
 */
export function planOnePerStep(
  records: readonly ShardRecord[],
  state: ShardState,
  settings: PlanSettings,
  seenBefore: (eventFingerprint: number) => boolean,
  behindCheckpoint: BehindCheckpoint = everyRecordHandled,
): BatchPlan {
  // A limit below one fingerprint closes the open step before every click.
  return planBatch(records, state, { ...settings, maxEntryBytes: 1 }, seenBefore, behindCheckpoint);
}

/** A validation error is final: the same request fails the same way on every retry. */
export const isValidationError = (error: unknown): boolean => (error as Error | undefined)?.name === 'ValidationException';
