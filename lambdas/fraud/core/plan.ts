import type { DecisionItem, IpShardActivity, Order, OrderRejectionReason, ScoringConfig, UserProfile, Verdict } from '../../../contracts/fraud';
import type { ShardRecord } from '../../clickstream/core/batch-plan';
import { compareSequenceNumbers } from '../../clickstream/core/sequence';
import { decodeOrder } from './decode';
import { applyOrderToIp, applyOrderToUser, ipActivityKey, ipView } from './profiles';
import { computeFeatures, scoreFeatures } from './score';

/**
 * Scoring a shard's batch, as pure functions:
 *
 * 1. `decodeBatch`: skip records at or below the shard's checkpoint (already committed), decode and
 *    validate the rest (invalid ones become rejections for the dead-letter queue).
 * 2. The store loads what the valid orders need: their users' profiles, every shard's activity for
 *    their IPs, and which of their orderIds already have a decision (`loadKeys` says which).
 * 3. `planBatch`: in sequence order, drop orders already decided (producer re-sends), score the
 *    rest against the profiles as they were before each order, fold each order into its profiles,
 *    and group the results into commits of at most 100 items (one transaction each).
 */

/** The configurations in force: the active one decides; shadows are scored and recorded only. */
export interface ScoringConfigs {
  active: ScoringConfig;
  shadows: ScoringConfig[];
}

export interface PlanSettings {
  maxOrderBytes: number;
  /** `<stream ARN>#<shard id>`: names this shard's IP activity items. */
  shardKey: string;
  shardId: string;
  /** Wall clock at planning: the decisions' `decidedAt`. */
  nowMs: number;
}

export interface OrderRejection {
  recordIndex: number;
  record: ShardRecord;
  reason: OrderRejectionReason;
  detail: string;
}

type DecodedEntry =
  | { recordIndex: number; record: ShardRecord; kind: 'replayed' }
  | { recordIndex: number; record: ShardRecord; kind: 'invalid'; rejection: OrderRejection }
  | { recordIndex: number; record: ShardRecord; kind: 'order'; order: Order; amountBase: number };

export interface DecodedBatch {
  entries: DecodedEntry[];
}

export function decodeBatch(records: readonly ShardRecord[], checkpoint: string | undefined, settings: Pick<PlanSettings, 'maxOrderBytes'>, config: ScoringConfig): DecodedBatch {
  const entries = records.map((record, recordIndex): DecodedEntry => {
    if (checkpoint !== undefined && compareSequenceNumbers(record.sequenceNumber, checkpoint) <= 0) return { recordIndex, record, kind: 'replayed' };
    const decoded = decodeOrder(record.data, settings.maxOrderBytes, config);
    if (!decoded.ok) return { recordIndex, record, kind: 'invalid', rejection: { recordIndex, record, reason: decoded.reason, detail: decoded.detail } };
    return { recordIndex, record, kind: 'order', order: decoded.order, amountBase: decoded.amountBase };
  });
  return { entries };
}

/** What the store must read before planning. */
export function loadKeys(batch: DecodedBatch): { userIds: string[]; ipAddresses: string[]; orderIds: string[] } {
  const orders = batch.entries.flatMap((entry) => (entry.kind === 'order' ? [entry.order] : []));
  return {
    userIds: [...new Set(orders.map((order) => order.userId))],
    ipAddresses: [...new Set(orders.map((order) => order.ipAddress))],
    orderIds: [...new Set(orders.map((order) => order.orderId))],
  };
}

export interface LoadedProfiles {
  users: ReadonlyMap<string, UserProfile>;
  /** Every shard's activity item per IP, this shard's included. */
  ipActivities: ReadonlyMap<string, readonly IpShardActivity[]>;
  /** orderIds that already have a decision. */
  decided: ReadonlySet<string>;
}

/** One transaction: the checkpoint, the new decisions and the profiles as they stand after them. */
export interface ScoringCommit {
  lastSequenceNumber: string;
  decisions: DecisionItem[];
  users: UserProfile[];
  ipActivities: IpShardActivity[];
}

export type ScoringOutcome = 'replayed' | 'scored' | 'duplicate' | 'invalid';

export interface ScoringPlan {
  commits: ScoringCommit[];
  rejections: OrderRejection[];
  decisions: DecisionItem[];
  outcomes: Record<ScoringOutcome, number>;
}

/** DynamoDB's limit of items per TransactWriteItems. */
export const MAX_TRANSACTION_ITEMS = 100;
/**
 * Items of a commit that are not orders': the checkpoint, and on a shard's first commit the shard
 * registry's update (scorer-store.ts). Always reserved, so a first commit of a full batch fits too.
 */
export const TRANSACTION_OVERHEAD_ITEMS = 2;

export function planBatch(batch: DecodedBatch, loaded: LoadedProfiles, configs: ScoringConfigs, settings: PlanSettings): ScoringPlan {
  const users = new Map(loaded.users);
  const ownKey = (ip: string) => ipActivityKey(ip, settings.shardKey).sk;
  const own = new Map<string, IpShardActivity>();
  const others = new Map<string, IpShardActivity[]>();
  for (const [ip, activities] of loaded.ipActivities) {
    for (const activity of activities) {
      if (activity.sk === ownKey(ip)) own.set(ip, activity);
      else others.set(ip, [...(others.get(ip) ?? []), activity]);
    }
  }
  const seen = new Set(loaded.decided);
  const outcomes: Record<ScoringOutcome, number> = { replayed: 0, scored: 0, duplicate: 0, invalid: 0 };
  const rejections: OrderRejection[] = [];
  const decisions: DecisionItem[] = [];
  const commits: ScoringCommit[] = [];

  let open: { lastSequenceNumber?: string; decisions: DecisionItem[]; users: Set<string>; ips: Set<string> } = { decisions: [], users: new Set(), ips: new Set() };
  const close = () => {
    if (open.lastSequenceNumber === undefined) return;
    commits.push({
      lastSequenceNumber: open.lastSequenceNumber,
      decisions: open.decisions,
      users: [...open.users].map((userId) => users.get(userId)!),
      ipActivities: [...open.ips].map((ip) => own.get(ip)!),
    });
    open = { decisions: [], users: new Set(), ips: new Set() };
  };

  for (const entry of batch.entries) {
    if (entry.kind === 'replayed') {
      outcomes.replayed++;
      continue;
    }
    if (entry.kind === 'invalid') {
      outcomes.invalid++;
      rejections.push(entry.rejection);
    } else if (seen.has(entry.order.orderId)) {
      outcomes.duplicate++;
    } else {
      const { order, amountBase } = entry;
      const itemsNeeded = 1 + Number(!open.users.has(order.userId)) + Number(!open.ips.has(order.ipAddress));
      if (TRANSACTION_OVERHEAD_ITEMS + open.decisions.length + open.users.size + open.ips.size + itemsNeeded > MAX_TRANSACTION_ITEMS) close();
      seen.add(order.orderId);
      const user = users.get(order.userId);
      const activities = [...(others.get(order.ipAddress) ?? []), ...(own.has(order.ipAddress) ? [own.get(order.ipAddress)!] : [])];
      const view = ipView(activities, order.timestamp);
      const verdict = scoreFeatures(computeFeatures(order, amountBase, user, view, configs.active), configs.active);
      const decision: DecisionItem = {
        orderId: order.orderId,
        userId: order.userId,
        amount: order.amount,
        currency: order.currency,
        amountBase: Number(amountBase.toFixed(6)),
        baseCurrency: configs.active.baseCurrency,
        ipAddress: order.ipAddress,
        orderTimestamp: order.timestamp,
        decidedAt: new Date(settings.nowMs).toISOString(),
        latencyMs: Math.max(0, settings.nowMs - entry.record.approximateArrivalMs),
        ...verdict,
        shadow: shadowVerdicts(order, user, view, configs.shadows),
        origin: {
          shardId: settings.shardId,
          sequenceNumber: entry.record.sequenceNumber,
          partitionKey: entry.record.partitionKey,
          approximateArrivalTimestamp: entry.record.approximateArrivalMs,
        },
      };
      const facts = { userId: order.userId, orderId: order.orderId, ipAddress: order.ipAddress, at: order.timestamp, amountBase };
      users.set(order.userId, applyOrderToUser(user, facts));
      own.set(order.ipAddress, applyOrderToIp(own.get(order.ipAddress), facts, settings.shardKey));
      open.decisions.push(decision);
      open.users.add(order.userId);
      open.ips.add(order.ipAddress);
      decisions.push(decision);
      outcomes.scored++;
    }
    open.lastSequenceNumber = entry.record.sequenceNumber;
  }
  close();
  return { commits, rejections, decisions, outcomes };
}

/** Shadow configurations see the same profiles; one that cannot price the currency gives no verdict. */
function shadowVerdicts(order: Order, user: UserProfile | undefined, view: ReturnType<typeof ipView>, shadows: readonly ScoringConfig[]): Verdict[] {
  return shadows.flatMap((config) => {
    const rate = config.rates[order.currency];
    if (rate === undefined) return [];
    return [scoreFeatures(computeFeatures(order, order.amount * rate, user, view, config), config)];
  });
}
