import type { DecisionItem, IpShardActivity, ScoringConfig, UserProfile, Verdict } from '../contracts/fraud';
import type { ShardRecord } from '../lambdas/clickstream/core/batch-plan';
import { decodeBatch, loadKeys, planBatch, type ScoringConfigs } from '../lambdas/fraud/core/plan';
import type { FraudPattern, OrderLabel } from '../simulator/orders';

/**
 * Backtesting: labelled orders replayed through the scorer's own pure core (decode, plan, fold),
 * with an in-memory store in place of DynamoDB, as one shard in order. Nothing here is a copy of
 * the scoring logic, so a configuration behaves in the backtest as it will in the scorer.
 */

export interface LabelledOrder {
  /** The order as a producer would send it (parsed JSON). */
  readonly order: unknown;
  /** Ground truth; undefined when unknown. */
  readonly label?: OrderLabel;
}

export interface ReplayedDecision {
  readonly decision: DecisionItem;
  readonly label?: OrderLabel;
}

export interface ReplayResult {
  readonly decisions: ReplayedDecision[];
  readonly invalid: number;
  readonly duplicates: number;
}

const SHARD_KEY = 'backtest#shard-0';
const BATCH = 100;

export function replayOrders(orders: Iterable<LabelledOrder>, configs: ScoringConfigs): ReplayResult {
  const users = new Map<string, UserProfile>();
  const ips = new Map<string, IpShardActivity>();
  const decided = new Set<string>();
  const labels = new Map<string, OrderLabel | undefined>();
  const decisions: ReplayedDecision[] = [];
  let invalid = 0;
  let duplicates = 0;
  let sequence = 0n;
  let chunk: ShardRecord[] = [];

  const flush = () => {
    if (chunk.length === 0) return;
    const batch = decodeBatch(chunk, undefined, { maxOrderBytes: 1024 * 1024 }, configs.active);
    const keys = loadKeys(batch);
    const loaded = {
      users: new Map(keys.userIds.flatMap((id) => (users.has(id) ? [[id, users.get(id)!] as const] : []))),
      ipActivities: new Map(keys.ipAddresses.map((ip) => [ip, ips.has(ip) ? [ips.get(ip)!] : []] as const)),
      decided: new Set(keys.orderIds.filter((id) => decided.has(id))),
    };
    const last = chunk.at(-1)!;
    const plan = planBatch(batch, loaded, configs, { maxOrderBytes: 1024 * 1024, shardKey: SHARD_KEY, shardId: 'shard-0', nowMs: last.approximateArrivalMs });
    for (const commit of plan.commits) {
      for (const profile of commit.users) users.set(profile.userId, profile);
      for (const activity of commit.ipActivities) ips.set(activity.ipAddress, activity);
      for (const decision of commit.decisions) {
        decided.add(decision.orderId);
        decisions.push({ decision, label: labels.get(decision.orderId) });
      }
    }
    invalid += plan.outcomes.invalid;
    duplicates += plan.outcomes.duplicate;
    chunk = [];
  };

  for (const { order, label } of orders) {
    const orderId = (order as { orderId?: unknown } | null)?.orderId;
    if (typeof orderId === 'string' && !labels.has(orderId)) labels.set(orderId, label);
    const timestamp = (order as { timestamp?: unknown } | null)?.timestamp;
    const at = typeof timestamp === 'number' ? timestamp : typeof timestamp === 'string' ? Date.parse(timestamp) : 0;
    sequence += 1n;
    chunk.push({ sequenceNumber: sequence.toString(), partitionKey: 'backtest', approximateArrivalMs: Number.isFinite(at) ? at : 0, data: Buffer.from(JSON.stringify(order)).toString('base64') });
    if (chunk.length === BATCH) flush();
  }
  flush();
  return { decisions, invalid, duplicates };
}

export interface Confusion {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly trueNegatives: number;
  readonly falseNegatives: number;
  readonly precision: number;
  readonly recall: number;
  readonly falsePositiveRate: number;
}

export function confusion(outcomes: Iterable<{ fraud: boolean; flagged: boolean }>): Confusion {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (const { fraud, flagged } of outcomes) {
    if (fraud && flagged) tp++;
    else if (fraud) fn++;
    else if (flagged) fp++;
    else tn++;
  }
  return {
    truePositives: tp,
    falsePositives: fp,
    trueNegatives: tn,
    falseNegatives: fn,
    precision: tp + fp === 0 ? 0 : tp / (tp + fp),
    recall: tp + fn === 0 ? 0 : tp / (tp + fn),
    falsePositiveRate: fp + tn === 0 ? 0 : fp / (fp + tn),
  };
}

export interface QualityReport {
  readonly modelVersion: string;
  readonly orders: { legit: number; fraud: number; byPattern: Record<FraudPattern, number>; invalid: number; duplicates: number };
  /** Flagged = score at or above the threshold. */
  readonly byThreshold: { threshold: number; confusion: Confusion }[];
  /** Flagged = REVIEW or BLOCK, the configuration's own decision (thresholds and rules). */
  readonly flagged: Confusion;
  /** Flagged = BLOCK only: its false-positive rate is the share of legitimate orders wrongly blocked. */
  readonly blocked: Confusion;
  /** Per pattern: that pattern's orders against the legitimate ones, at the configuration's decisions. */
  readonly byPattern: Record<FraudPattern, { flagged: Confusion; blocked: Confusion }>;
}

export const THRESHOLDS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const PATTERNS: readonly FraudPattern[] = ['account-takeover', 'card-testing', 'shared-ip'];

/** Quality of one configuration's verdicts (the active one, or a shadow's by modelVersion) on labelled decisions. */
export function qualityReport(result: ReplayResult, config: ScoringConfig): QualityReport {
  const labelled = result.decisions.filter((entry) => entry.label !== undefined);
  const verdictOf = (decision: DecisionItem): Verdict | undefined =>
    decision.modelVersion === config.modelVersion ? decision : decision.shadow.find((shadow) => shadow.modelVersion === config.modelVersion);
  const rows = labelled.flatMap((entry) => {
    const verdict = verdictOf(entry.decision);
    return verdict === undefined ? [] : [{ label: entry.label!, fraud: entry.label !== 'legit', verdict }];
  });
  const byPatternCount = Object.fromEntries(PATTERNS.map((pattern) => [pattern, rows.filter((row) => row.label === pattern).length])) as Record<FraudPattern, number>;
  const at = (subset: typeof rows, flagged: (verdict: Verdict) => boolean) => confusion(subset.map((row) => ({ fraud: row.fraud, flagged: flagged(row.verdict) })));
  const isFlagged = (verdict: Verdict) => verdict.decision !== 'ALLOW';
  const isBlocked = (verdict: Verdict) => verdict.decision === 'BLOCK';
  return {
    modelVersion: config.modelVersion,
    orders: { legit: rows.filter((row) => !row.fraud).length, fraud: rows.filter((row) => row.fraud).length, byPattern: byPatternCount, invalid: result.invalid, duplicates: result.duplicates },
    byThreshold: THRESHOLDS.map((threshold) => ({ threshold, confusion: at(rows, (verdict) => verdict.score >= threshold) })),
    flagged: at(rows, isFlagged),
    blocked: at(rows, isBlocked),
    byPattern: Object.fromEntries(
      PATTERNS.map((pattern) => {
        const subset = rows.filter((row) => row.label === 'legit' || row.label === pattern);
        return [pattern, { flagged: at(subset, isFlagged), blocked: at(subset, isBlocked) }];
      }),
    ) as QualityReport['byPattern'],
  };
}
