import { DASHBOARD_HISTORY_MINUTES, PROTOCOL_VERSION } from '../../contracts/dashboard';
import { chartModel, type ChartModel } from './chart';
import type { ConnectionStatus } from './connection';
import {
  currentMinuteElapsed,
  currentMinuteTotals,
  eventsPerSecond,
  minuteSeries,
  totalSeries,
  topUrls,
  windowSummaries,
  type Alert,
  type DashboardState,
  type RankedUrl,
  type WindowSummary,
} from './state';

/**
 * Draws the state into the page. Every value is text in the DOM with a stable selector (no
 * canvas), so people with screen readers and tests read the same numbers:
 *   ranking rows      tr[data-url="/products/1"] > [data-testid="count"]
 *   events/s          [data-testid="events-per-second"] (role=status)
 *   connection        [data-testid="connection"][data-state="open"]
 *   windows           tr[data-window-start="<ISO>"] > [data-testid="window-status"][data-phase="final"]
 * Untrusted strings (URLs) only ever go through textContent and attributes, never HTML.
 */

const SVG = 'http://www.w3.org/2000/svg';
const RANKING_SIZE = 10;
const SERIES_SIZE = 5;

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const clockSeconds = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export const formatRate = (perSecond: number): string => (perSecond < 10 ? oneDecimal : integer).format(perSecond);
const formatMinute = (ms: number): string => clock.format(new Date(ms));

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, props: { className?: string; text?: string; attrs?: Record<string, string> } = {}): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className !== undefined) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  return node;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Sets text only when it changed, so unchanged cells cause no DOM mutation. */
function setText(node: Element, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node: Element, name: string, value: string): void {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

function required<T extends Element>(root: ParentNode, selector: string): T {
  const found = root.querySelector<T>(selector);
  if (found === null) throw new Error(`index.html has no ${selector}`);
  return found;
}

/**
 * Keyed list update: reuses the row of each key, creates missing ones, drops the rest, and only
 * moves nodes whose position changed.
 */
function syncRows<T>(parent: Element, items: readonly T[], key: (item: T) => string, create: (item: T) => HTMLElement, update: (row: HTMLElement, item: T) => void, rows: Map<string, HTMLElement>): void {
  const wanted = new Set(items.map(key));
  for (const [name, row] of rows) {
    if (wanted.has(name)) continue;
    row.remove();
    rows.delete(name);
  }
  let previous: Element | null = null;
  for (const item of items) {
    const name = key(item);
    let row = rows.get(name);
    if (row === undefined) {
      row = create(item);
      rows.set(name, row);
    }
    update(row, item);
    const expectedNext: Element | null = previous === null ? parent.firstElementChild : previous.nextElementSibling;
    if (expectedNext !== row) parent.insertBefore(row, expectedNext);
    previous = row;
  }
}

const CONNECTION_LABELS: Record<ConnectionStatus['phase'], string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting',
  unauthorized: 'Unauthorized',
  'signing-in': 'Signing in…',
  stopped: 'Disconnected',
};

export function connectionText(status: ConnectionStatus, now: number): string {
  const seconds = (retryAt: number) => Math.max(0, Math.ceil((retryAt - now) / 1000));
  switch (status.phase) {
    case 'reconnecting':
      return `Reconnecting in ${seconds(status.retryAt)} s`;
    case 'unauthorized':
      return status.retryAt === undefined ? 'Unauthorized' : `Unauthorized · retrying in ${seconds(status.retryAt)} s`;
    default:
      return CONNECTION_LABELS[status.phase];
  }
}

export class DashboardView {
  private readonly connection: HTMLElement;
  private readonly connectionLabel: HTMLElement;
  private readonly signInButton: HTMLButtonElement;
  private readonly banner: HTMLElement;
  private readonly rate: HTMLElement;
  private readonly minuteClicks: HTMLElement;
  private readonly minuteUrls: HTMLElement;
  private readonly openWindows: HTMLElement;
  private readonly currentMinute: HTMLElement;
  private readonly ranking: HTMLElement;
  private readonly rankingEmpty: HTMLElement;
  private readonly chart: SVGSVGElement;
  private readonly legend: HTMLElement;
  private readonly seriesTable: HTMLTableElement;
  private readonly seriesEmpty: HTMLElement;
  private readonly seriesNote: HTMLElement;
  private readonly windows: HTMLElement;
  private readonly windowsEmpty: HTMLElement;
  private readonly alerts: HTMLElement;
  private readonly alertsEmpty: HTMLElement;
  private readonly messages: HTMLElement;
  private readonly invalid: HTMLElement;
  private readonly health: HTMLElement;
  private readonly rateHint: HTMLElement;
  private readonly openWindowsHint: HTMLElement;
  private readonly stale: HTMLElement;
  private readonly lastUpdate: HTMLElement;
  private readonly seriesButtons: HTMLButtonElement[];
  private seriesMode: 'total' | 'top' = 'total';
  /** The connection is open: what the page shows is live. */
  private live = false;
  private lastState: { state: DashboardState; now: number } | undefined;
  private readonly rankingRows = new Map<string, HTMLElement>();
  private readonly windowRows = new Map<string, HTMLElement>();
  private chartKey = '';
  private alertsShown: readonly Alert[] | undefined;

  private readonly root: Element;

  constructor(root: ParentNode, { onSignIn }: { onSignIn: () => void }) {
    this.root = root instanceof Document ? root.body : (root as Element);
    this.connection = required(root, '[data-testid="connection"]');
    this.connectionLabel = required(this.connection, '.label');
    this.signInButton = required(root, '[data-testid="sign-in"]');
    this.banner = required(root, '[data-testid="banner"]');
    this.rate = required(root, '[data-testid="events-per-second"]');
    this.minuteClicks = required(root, '[data-testid="clicks-this-minute"]');
    this.minuteUrls = required(root, '[data-testid="urls-this-minute"]');
    this.openWindows = required(root, '[data-testid="open-windows"]');
    this.currentMinute = required(root, '[data-testid="current-minute"]');
    this.ranking = required(root, '[data-testid="ranking"] tbody');
    this.rankingEmpty = required(root, '[data-testid="ranking-empty"]');
    this.chart = required(root, '[data-testid="series-chart"]');
    this.legend = required(root, '[data-testid="series-legend"]');
    this.seriesTable = required(root, '[data-testid="series-table"]');
    this.seriesEmpty = required(root, '[data-testid="series-empty"]');
    this.seriesNote = required(root, '[data-testid="series-table-note"]');
    this.windows = required(root, '[data-testid="windows"] tbody');
    this.windowsEmpty = required(root, '[data-testid="windows-empty"]');
    this.alerts = required(root, '[data-testid="alerts"]');
    this.alertsEmpty = required(root, '[data-testid="alerts-empty"]');
    this.messages = required(root, '[data-testid="messages"]');
    this.invalid = required(root, '[data-testid="invalid-messages"]');
    this.health = required(root, '[data-testid="health"]');
    this.rateHint = required(root, '[data-testid="rate-hint"]');
    this.openWindowsHint = required(root, '[data-testid="open-windows-hint"]');
    this.stale = required(root, '[data-testid="stale"]');
    this.lastUpdate = required(root, '[data-testid="last-update"]');
    this.seriesButtons = Array.from(root.querySelectorAll<HTMLButtonElement>('.series-mode button'));
    for (const button of this.seriesButtons) {
      button.addEventListener('click', () => {
        this.seriesMode = button.dataset.mode === 'top' ? 'top' : 'total';
        for (const other of this.seriesButtons) other.setAttribute('aria-pressed', String(other === button));
        this.chartKey = '';
        if (this.lastState !== undefined) this.render(this.lastState.state, this.lastState.now);
      });
    }
    this.signInButton.addEventListener('click', onSignIn);
    setText(required(root, '[data-testid="protocol"]'), `protocol v${PROTOCOL_VERSION}`);
  }

  renderConnection(status: ConnectionStatus, now: number): void {
    setAttr(this.connection, 'data-state', status.phase);
    this.live = status.phase === 'open';
    setText(this.connectionLabel, connectionText(status, now));
    setAttr(this.connection, 'title', 'reason' in status ? status.reason : '');
    this.signInButton.hidden = !(status.phase === 'unauthorized' && status.retryAt === undefined);
  }

  /** A problem that stops the dashboard (no config) or needs the user (newer protocol). */
  showBanner(message: string | undefined): void {
    this.banner.hidden = message === undefined;
    setText(this.banner, message ?? '');
  }

  render(state: DashboardState, now: number): void {
    const ranked = topUrls(state, now, RANKING_SIZE);
    const totals = currentMinuteTotals(state, now);
    const summaries = windowSummaries(state, now);

    this.lastState = { state, now };
    // Stale the moment the connection is not open: the numbers stay, marked as of the last update.
    const stale = !this.live && state.lastMessageAt !== undefined;
    setAttr(this.root, 'data-stale', String(stale));
    this.stale.hidden = !stale;
    const asOf = state.lastMessageAt === undefined ? '' : clockSeconds.format(new Date(state.lastMessageAt));
    setText(this.stale, stale ? `Not live: the numbers below are as of ${asOf} and are not updating.` : '');
    setText(this.lastUpdate, state.lastMessageAt === undefined ? 'no update yet' : `last update ${asOf}`);

    const rate = stale ? undefined : eventsPerSecond(state, now);
    setText(this.rate, rate === undefined ? '–' : formatRate(rate));
    setText(this.rateHint, stale ? 'not live' : rate === undefined ? 'measuring…' : 'clicks counted, last 10 s');
    setText(this.openWindowsHint, stale ? `as of ${asOf}` : 'still counting clicks');
    setText(this.minuteClicks, integer.format(totals.clicks));
    setText(this.minuteUrls, integer.format(totals.urls));
    setText(this.openWindows, integer.format(summaries.filter((summary) => summary.phase !== 'final').length));
    setText(this.currentMinute, formatMinute(totals.startMs));
    setAttr(this.currentMinute, 'datetime', new Date(totals.startMs).toISOString());

    this.renderRanking(ranked, totals.clicks);
    this.renderSeries(state, now);
    this.renderWindows(summaries);
    this.renderAlerts(state.alerts);

    setText(this.messages, `${integer.format(state.messages)} message${state.messages === 1 ? '' : 's'}`);
    setText(this.invalid, `${integer.format(state.invalidMessages)} invalid ignored`);
    this.invalid.classList.toggle('warn', state.invalidMessages > 0);
    // Only what the server said: no placeholder for a health report that never came.
    this.health.hidden = state.health === undefined;
    setText(this.health, state.health === undefined ? '' : `health: ${state.health.status}${state.health.detail ? ` (${state.health.detail})` : ''}`);
    setAttr(this.health, 'data-status', state.health?.status ?? 'unknown');
    if (state.newerProtocolSeen) this.showBanner('The server speaks a newer protocol than this page. Reload to update the dashboard.');
  }

  private renderRanking(ranked: readonly RankedUrl[], minuteClicks: number): void {
    this.rankingEmpty.hidden = ranked.length > 0;
    const top = ranked[0]?.count ?? 1;
    syncRows(
      this.ranking,
      ranked,
      (item) => item.url,
      (item) => {
        const row = element('tr', { attrs: { 'data-url': item.url } });
        const url = element('th', { className: 'url', attrs: { scope: 'row', title: item.url } });
        url.append(element('span', { text: item.url }));
        const share = element('td', { className: 'share', attrs: { 'aria-hidden': 'true' } });
        share.append(element('span', { className: 'bar' }));
        row.append(
          element('td', { className: 'rank', attrs: { 'data-testid': 'rank' } }),
          url,
          element('td', { className: 'num', attrs: { 'data-testid': 'count' } }),
          element('td', { className: 'num muted', attrs: { 'data-testid': 'previous' } }),
          share,
        );
        return row;
      },
      (row, item) => {
        const [rank, , count, previous, share] = Array.from(row.children);
        setText(rank!, String(item.rank));
        setText(count!, integer.format(item.count));
        setText(previous!, integer.format(item.previousCount));
        setAttr(row, 'data-count', String(item.count));
        (share!.firstElementChild as HTMLElement).style.setProperty('--share', String(item.count / top));
        setAttr(share!, 'title', `${Math.round((item.count / Math.max(1, minuteClicks)) * 100)}% of this minute`);
      },
      this.rankingRows,
    );
  }

  private renderSeries(state: DashboardState, now: number): void {
    const top = minuteSeries(state, now, SERIES_SIZE);
    const total = totalSeries(state, now);
    const set =
      this.seriesMode === 'top'
        ? top
        : { minutes: total.minutes, series: total.total > 0 ? [{ url: 'All URLs', points: total.points, total: total.total }] : [] };
    const elapsed = currentMinuteElapsed(state, now);
    // Drawn at the size it is shown, so labels are real pixels on a phone too.
    const width = Math.max(300, Math.min(960, Math.round(this.chart.clientWidth || 720)));
    const height = width < 500 ? 220 : 260;
    const key = JSON.stringify([this.seriesMode, width, set.minutes[0], set.series, Math.floor(elapsed * 12)]);
    if (key === this.chartKey) return;
    this.chartKey = key;
    this.seriesEmpty.hidden = set.series.length > 0;
    const model = chartModel(set, { width, height, partialLast: true, minutesPerTick: width < 500 ? 10 : 5 });
    this.drawChart(model, set.minutes.at(-1)!, elapsed);

    this.legend.replaceChildren(
      ...model.lines.map((line) => {
        const item = element('li', { attrs: { 'data-url': line.url } });
        const swatch = element('span', { className: 'swatch', attrs: { 'aria-hidden': 'true' } });
        swatch.style.setProperty('--color', line.color);
        item.append(swatch, element('span', { className: 'url', text: line.url, attrs: { title: line.url } }), element('span', { className: 'num muted', text: `${integer.format(line.total)} in ${DASHBOARD_HISTORY_MINUTES} min` }));
        return item;
      }),
    );

    // The numbers behind the chart, for screen readers and anyone who wants exact values: one row per
    // minute that had clicks (newest first), with its late clicks and its top URL.
    const head = element('tr');
    head.append(
      element('th', { text: 'Minute', attrs: { scope: 'col' } }),
      element('th', { text: 'Clicks', attrs: { scope: 'col', class: 'num' } }),
      element('th', { text: 'Late', attrs: { scope: 'col', class: 'num' } }),
      element('th', { text: 'Top URL', attrs: { scope: 'col' } }),
    );
    const summaries = new Map(windowSummaries(state, now).map((summary) => [summary.startMs, summary]));
    const body = total.minutes
      .map((minute, index) => ({ minute, clicks: total.points[index] ?? 0, late: total.late[index] ?? 0 }))
      .filter(({ clicks, late }) => clicks > 0 || late > 0)
      .reverse()
      .map(({ minute, clicks, late }) => {
        const partial = minute === total.minutes.at(-1);
        const topUrl = summaries.get(minute)?.topUrl;
        const row = element('tr', { attrs: { 'data-minute': new Date(minute).toISOString() } });
        row.append(
          element('th', { text: partial ? `${formatMinute(minute)} (so far)` : formatMinute(minute), attrs: { scope: 'row' } }),
          element('td', { className: 'num', text: integer.format(clicks) }),
          element('td', { className: 'num muted', text: integer.format(late) }),
          element('td', { className: 'url', text: topUrl === undefined ? '–' : `${topUrl.url} (${integer.format(topUrl.count)})`, attrs: { title: topUrl?.url ?? '' } }),
        );
        return row;
      });
    this.seriesTable.tHead!.replaceChildren(head);
    this.seriesTable.tBodies[0]!.replaceChildren(...body);
    // Totals over the rows, and what Late means, so the table reads on its own.
    const lateTotal = total.late.reduce((sum, late) => sum + late, 0);
    const totals = element('tr', { attrs: { 'data-testid': 'series-table-total' } });
    totals.append(
      element('th', { text: `Total, ${integer.format(body.length)} minute${body.length === 1 ? '' : 's'}`, attrs: { scope: 'row' } }),
      element('td', { className: 'num', text: integer.format(total.total) }),
      element('td', { className: 'num muted', text: integer.format(lateTotal) }),
      element('td', { text: '' }),
    );
    this.seriesTable.createTFoot().replaceChildren(...(body.length === 0 ? [] : [totals]));
    setText(this.seriesNote, lateTotal === 0 ? '' : 'Late: clicks that arrived after their minute had closed; they are not in Clicks (see Windows).');
    this.seriesNote.hidden = lateTotal === 0;
  }

  private drawChart(model: ChartModel, currentMinuteMs: number, elapsed: number): void {
    const { plot } = model;
    this.chart.setAttribute('viewBox', `0 0 ${model.width} ${model.height}`);
    const grid = svg('g', { class: 'grid' });
    for (const tick of model.yTicks) {
      grid.append(svg('line', { x1: plot.left, x2: plot.right, y1: tick.y, y2: tick.y }));
      grid.append(svg('text', { x: plot.left - 6, y: tick.y, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, integer.format(tick.value)));
    }
    for (const tick of model.xTicks) {
      grid.append(svg('text', { x: tick.x, y: plot.bottom + 18, 'text-anchor': tick.anchor }, formatMinute(tick.ms)));
    }
    // The current minute is still being counted: a shaded band and a dashed segment, not a drop.
    const step = model.lines[0]?.partial === undefined ? 0 : model.lines[0].partial.x2 - model.lines[0].partial.x1;
    const partial = svg('g', {
      class: 'partial',
      'data-testid': 'partial-minute',
      'data-minute': new Date(currentMinuteMs).toISOString(),
      'data-elapsed': elapsed.toFixed(2),
    });
    if (step > 0) partial.append(svg('rect', { x: plot.right - step / 2, y: plot.top, width: step / 2, height: plot.bottom - plot.top }));
    partial.append(svg('title', {}, `${formatMinute(currentMinuteMs)}: this minute so far (${Math.round(elapsed * 60)} s of 60), still counting`));
    const lines = svg('g', { class: 'lines' });
    for (const line of model.lines) {
      const polyline = svg('polyline', { points: line.points, stroke: line.color, fill: 'none', 'stroke-width': 2, 'stroke-linejoin': 'round', 'data-url': line.url });
      polyline.append(svg('title', {}, `${line.url}: ${integer.format(line.total)} clicks in ${DASHBOARD_HISTORY_MINUTES} minutes`));
      lines.append(polyline);
      if (line.partial !== undefined) {
        lines.append(svg('line', { ...line.partial, stroke: line.color, 'stroke-width': 2, 'stroke-dasharray': '4 4', class: 'partial-segment', 'data-url': line.url }));
      }
      lines.append(svg('circle', { cx: line.last.x, cy: line.last.y, r: 3.5, fill: 'var(--panel)', stroke: line.color, 'stroke-width': 2, class: 'partial-point' }));
    }
    const label =
      model.lines.length === 0
        ? 'No clicks in the last 30 minutes'
        : `Clicks per minute over the last ${DASHBOARD_HISTORY_MINUTES} minutes for ${model.lines.map((line) => line.url).join(', ')}; the current minute is partial`;
    this.chart.setAttribute('aria-label', label);
    this.chart.replaceChildren(grid, partial, lines);
  }

  private renderWindows(summaries: readonly WindowSummary[]): void {
    this.windowsEmpty.hidden = summaries.length > 0;
    syncRows(
      this.windows,
      summaries,
      (summary) => String(summary.startMs),
      (summary) => {
        const row = element('tr', { attrs: { 'data-window-start': new Date(summary.startMs).toISOString() } });
        const status = element('td');
        status.append(element('span', { className: 'badge', attrs: { 'data-testid': 'window-status' } }));
        row.append(
          element('th', { attrs: { scope: 'row', title: `${formatMinute(summary.startMs)}–${formatMinute(summary.endMs)}` }, text: formatMinute(summary.startMs) }),
          element('td', { className: 'num', attrs: { 'data-testid': 'window-clicks' } }),
          element('td', { className: 'num', attrs: { 'data-testid': 'window-urls' } }),
          element('td', { className: 'num muted', attrs: { 'data-testid': 'window-late' } }),
          status,
        );
        return row;
      },
      (row, summary) => {
        const [, clicks, urls, late, status] = Array.from(row.children);
        setText(clicks!, integer.format(summary.clicks));
        setText(urls!, integer.format(summary.urls));
        setText(late!, integer.format(summary.lateClicks));
        const badge = status!.firstElementChild!;
        setAttr(badge, 'data-phase', summary.phase);
        setAttr(badge, 'data-late-only', String(summary.lateOnly));
        const phase = summary.phase === 'open' ? 'open' : summary.phase === 'closing' ? 'closing' : 'final';
        setText(badge, summary.lateOnly ? `${phase} · late only` : phase);
        setAttr(badge, 'title', summary.lateOnly ? 'No on-time clicks: only late events fell into this minute; they are not counted in Clicks.' : summary.phase === 'closing' ? 'Ended; delayed clicks are still counted until the allowed lateness has passed.' : '');
      },
      this.windowRows,
    );
  }

  private renderAlerts(alerts: readonly Alert[]): void {
    if (alerts === this.alertsShown) return;
    this.alertsShown = alerts;
    this.alertsEmpty.hidden = alerts.length > 0;
    this.alerts.replaceChildren(
      ...alerts.map((alert) => {
        const item = element('li', { attrs: { 'data-order-id': alert.orderId } });
        item.append(
          element('strong', { text: `Order ${alert.orderId}` }),
          element('span', { className: 'muted', text: ` · user ${alert.userId} · score ${alert.score.toFixed(2)} · ${formatMinute(Date.parse(alert.at))}` }),
          element('span', { className: 'reasons', text: alert.reasons.join(', ') }),
        );
        return item;
      }),
    );
  }
}
