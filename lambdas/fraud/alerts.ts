import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBStreamRecord } from '@aws-lambda-powertools/parser/schemas/dynamodb';
import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { PROTOCOL_VERSION, type AlertMessage, type DecisionCountsMessage } from '../../contracts/dashboard';
import { DecisionItem, type DecisionOutcome } from '../../contracts/fraud';
import { postToSubscribers, type PostingDependencies } from '../dashboard/broadcast';
import { reasonLine } from './core/score';
import { decodeInOrder } from '../dashboard/decode-in-order';

/** The decision attributes an alert needs, validated with the decisions table's contract. */
const DecisionImage = DecisionItem.pick({
  orderId: true,
  userId: true,
  amount: true,
  currency: true,
  score: true,
  decision: true,
  reasons: true,
  modelVersion: true,
  decidedAt: true,
});
type DecisionImage = ReturnType<typeof DecisionImage.parse>;

/** A new decision, or undefined for a change that is not one (decisions are written once; anything else is ignored). */
function toNewDecision(record: DynamoDBRecord): DecisionImage | undefined {
  const { eventName, dynamodb } = DynamoDBStreamRecord.parse(record);
  if (eventName !== 'INSERT') return undefined;
  return DecisionImage.parse(dynamodb.NewImage);
}

/** The messages for a batch of new decisions: one `alert` per REVIEW or BLOCK, one `decisions` count. */
export function alertMessages(decisions: readonly DecisionImage[], sentAt: string): string[] {
  const counts: Record<DecisionOutcome, number> = { ALLOW: 0, REVIEW: 0, BLOCK: 0 };
  const messages: string[] = [];
  for (const decision of decisions) {
    counts[decision.decision]++;
    if (decision.decision === 'ALLOW') continue;
    const alert: AlertMessage = {
      v: PROTOCOL_VERSION,
      type: 'alert',
      sentAt,
      alert: {
        orderId: decision.orderId,
        userId: decision.userId,
        score: decision.score,
        reasons: decision.reasons.map(reasonLine),
        at: decision.decidedAt,
        decision: decision.decision,
        amount: decision.amount,
        currency: decision.currency,
        modelVersion: decision.modelVersion,
      },
    };
    messages.push(JSON.stringify(alert));
  }
  if (decisions.length === 0) return messages;
  const summary: DecisionCountsMessage = { v: PROTOCOL_VERSION, type: 'decisions', sentAt, counts };
  return [...messages, JSON.stringify(summary)];
}

/**
 * New fraud decisions -> the live dashboard, on the window broadcaster's pattern: decode each
 * record (the batch ends before one that cannot be read, which is retried and then dead-lettered),
 * then post the alerts and the decision counts to every subscribed connection. A failed post does
 * not fail the batch (a retry would re-send to every healthy client); clients key alerts by orderId.
 */
export async function broadcastDecisions(event: DynamoDBStreamEvent, context: Context, deps: PostingDependencies): Promise<DynamoDBBatchResponse> {
  const records = event.Records;
  const { decoded, batchItemFailures } = await decodeInOrder(records, toNewDecision, context, deps, 'decisions-table stream');
  const decisions = decoded.filter((decision): decision is DecisionImage => decision !== undefined);
  const nowMs = deps.now();
  const payloads = alertMessages(decisions, new Date(nowMs).toISOString());
  const tally = await postToSubscribers(payloads, nowMs, deps);
  deps.metrics.addMetric('AlertsBroadcast', MetricUnit.Count, decisions.filter((decision) => decision.decision !== 'ALLOW').length);
  deps.metrics.addMetric('MessagesPosted', MetricUnit.Count, tally.sent);
  deps.metrics.addMetric('GoneConnections', MetricUnit.Count, tally.gone);
  deps.metrics.addMetric('PostFailures', MetricUnit.Count, tally.failed);
  deps.metrics.publishStoredMetrics();
  deps.logger.info('Decisions broadcast', { records: records.length, decisions: decisions.length, ...tally });
  return { batchItemFailures };
}
