import type { AlertMessage, DecisionCountsMessage, ServerMessage } from '../../contracts/dashboard';
import { element } from './render';

/**
 * The fraud panel: recent REVIEW and BLOCK alerts with their reasons, and decision rates. Its own
 * module with its own state, fed the same server messages as the rest of the page (main.ts), so
 * the clickstream views and this panel can change independently.
 */

export type FraudAlert = AlertMessage['alert'];
export type DecisionCounts = DecisionCountsMessage['counts'];

export const MAX_FRAUD_ALERTS = 20;

export interface FraudPanelState {
  /** Newest first, one per orderId (a re-delivered alert replaces its earlier copy). */
  readonly alerts: readonly FraudAlert[];
  /** Decisions since the page loaded, by outcome. */
  readonly counts: DecisionCounts;
}

export const initialFraudState = (): FraudPanelState => ({ alerts: [], counts: { ALLOW: 0, REVIEW: 0, BLOCK: 0 } });

/** Pure: applies one server message; messages of other pipelines leave the state as it is. */
export function reduceFraud(state: FraudPanelState, message: ServerMessage): FraudPanelState {
  if (message.type === 'alert') {
    const others = state.alerts.filter((alert) => alert.orderId !== message.alert.orderId);
    return { ...state, alerts: [message.alert, ...others].slice(0, MAX_FRAUD_ALERTS) };
  }
  if (message.type === 'decisions') {
    const { ALLOW, REVIEW, BLOCK } = message.counts;
    return { ...state, counts: { ALLOW: state.counts.ALLOW + ALLOW, REVIEW: state.counts.REVIEW + REVIEW, BLOCK: state.counts.BLOCK + BLOCK } };
  }
  return state;
}

/** "ALLOW 97.0% · REVIEW 2.0% · BLOCK 1.0% of 100 decisions". */
export function decisionRates(counts: DecisionCounts): string {
  const total = counts.ALLOW + counts.REVIEW + counts.BLOCK;
  if (total === 0) return 'No decisions yet.';
  const share = (count: number) => `${((count * 100) / total).toFixed(1)}%`;
  return `ALLOW ${share(counts.ALLOW)} · REVIEW ${share(counts.REVIEW)} · BLOCK ${share(counts.BLOCK)} of ${total.toLocaleString('en-US')} decisions`;
}

/** The panel's DOM: a section appended to `main`, rendered from FraudPanelState. */
export class FraudPanelView {
  private readonly rates: HTMLElement;
  private readonly list: HTMLElement;
  private readonly empty: HTMLElement;
  private shown: FraudPanelState | undefined;

  constructor(root: Document) {
    const section = element('section', { className: 'panel fraud', attrs: { 'data-testid': 'fraud-panel', 'aria-labelledby': 'fraud-title' } });
    this.rates = element('p', { className: 'hint', attrs: { 'data-testid': 'fraud-rates', role: 'status' } });
    this.list = element('ul', { attrs: { 'data-testid': 'fraud-alerts', 'aria-live': 'polite' } });
    this.empty = element('p', { className: 'empty', text: 'No fraud alerts.', attrs: { 'data-testid': 'fraud-alerts-empty' } });
    section.append(element('h2', { text: 'Fraud alerts', attrs: { id: 'fraud-title' } }), this.rates, this.list, this.empty);
    (root.querySelector('main') ?? root.body).append(section);
  }

  render(state: FraudPanelState): void {
    if (state === this.shown) return;
    if (this.shown === undefined || state.counts !== this.shown.counts) this.rates.textContent = decisionRates(state.counts);
    if (this.shown === undefined || state.alerts !== this.shown.alerts) {
      this.empty.hidden = state.alerts.length > 0;
      this.list.replaceChildren(...state.alerts.map(alertItem));
    }
    this.shown = state;
  }
}

function alertItem(alert: FraudAlert): HTMLElement {
  const item = element('li', { attrs: { 'data-order-id': alert.orderId, 'data-decision': alert.decision ?? 'REVIEW' } });
  const amount = alert.amount === undefined ? '' : ` · ${alert.amount.toLocaleString('en-US', { maximumFractionDigits: 2 })} ${alert.currency ?? ''}`;
  item.append(
    element('strong', { className: 'decision', text: alert.decision ?? 'ALERT' }),
    element('span', { text: ` Order ${alert.orderId}` }),
    element('span', { className: 'muted', text: ` · user ${alert.userId}${amount} · score ${alert.score.toFixed(2)}${alert.modelVersion === undefined ? '' : ` · ${alert.modelVersion}`}` }),
  );
  const reasons = element('ul', { className: 'reasons' });
  reasons.append(...alert.reasons.map((reason) => element('li', { text: reason })));
  item.append(reasons);
  return item;
}
