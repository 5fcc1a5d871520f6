import './zod-setup';
import { DashboardConfig } from '../../contracts/dashboard';
import { browserDeps, CognitoTokenSource, devTokenSource, type TokenSource } from './auth';
import { LiveConnection, type ConnectionStatus } from './connection';
import { DashboardView } from './render';
import { decodeServerMessage, initialState, reduce, type DashboardAction, type DashboardState } from './state';
import { FraudPanelView, initialFraudState, reduceFraud } from './fraud-panel';

/** Wires config, auth, the connection, the state and the view together. The only module with side effects at load. */

class ConfigError extends Error {
  override name = 'ConfigError';
}

async function loadConfig(): Promise<DashboardConfig> {
  let response: Response;
  try {
    response = await fetch('./config.json', { cache: 'no-store' });
  } catch (error) {
    throw new ConfigError(`Cannot load config.json (${(error as Error).message}).`);
  }
  if (!response.ok) throw new ConfigError(`Cannot load config.json: the server answered ${response.status}.`);
  const parsed = DashboardConfig.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) throw new ConfigError(`config.json is not a valid dashboard configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

async function main(): Promise<void> {
  let state: DashboardState = initialState();
  let status: ConnectionStatus = { phase: 'connecting', attempt: 1 };
  let connection: LiveConnection | undefined;
  const view = new DashboardView(document, { onSignIn: () => connection?.start() });
  const fraudPanel = new FraudPanelView(document);
  let fraud = initialFraudState();

  let frame: number | undefined;
  const draw = () => {
    frame = undefined;
    const now = Date.now();
    view.renderConnection(status, now);
    view.render(state, now);
    fraudPanel.render(fraud);
  };
  const scheduleDraw = () => {
    if (frame !== undefined) return;
    // Hidden tabs get no animation frames; they catch up on visibilitychange.
    frame = requestAnimationFrame(draw);
  };
  const dispatch = (action: DashboardAction) => {
    state = reduce(state, action);
    scheduleDraw();
  };
  draw();

  let config: DashboardConfig;
  try {
    config = await loadConfig();
  } catch (error) {
    view.showBanner((error as Error).message);
    status = { phase: 'stopped' };
    draw();
    return;
  }

  state = initialState({ allowedLatenessMs: config.allowedLatenessSeconds * 1000 });
  let tokens: TokenSource;
  if (config.auth.mode === 'dev') {
    tokens = devTokenSource(config.auth.tokenUrl);
  } else {
    const cognito = new CognitoTokenSource(config.auth, browserDeps());
    tokens = cognito;
    try {
      await cognito.completeSignIn();
    } catch (error) {
      status = { phase: 'unauthorized', retryAt: undefined, reason: (error as Error).message };
      view.showBanner(`Sign-in failed: ${(error as Error).message}`);
      draw();
    }
  }

  connection = new LiveConnection({
    webSocketUrl: config.webSocketUrl,
    tokens,
    onStatus: (next) => {
      status = next;
      if (next.phase === 'open') view.showBanner(undefined);
      scheduleDraw();
    },
    onOpen: (at) => dispatch({ type: 'connected', at }),
    maxConnectionMs: config.maxConnectionSeconds === undefined ? undefined : config.maxConnectionSeconds * 1000,
    onMessage: (data, at) => {
      const message = decodeServerMessage(data);
      if (message !== undefined) fraud = reduceFraud(fraud, message);
      dispatch({ type: 'received', data, at });
    },
  });
  if (status.phase !== 'unauthorized') connection.start();

  // Once a second: the events/s window slides, countdowns tick, minutes roll over.
  setInterval(() => dispatch({ type: 'tick', at: Date.now() }), 1000);
  window.addEventListener('online', () => connection?.retryNow());
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) draw();
  });
}

void main();
