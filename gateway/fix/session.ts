import 'reflect-metadata';
import {
  AsciiSession,
  DITokens,
  EmptyLogFactory,
  MsgType,
  SessionContainer,
  SessionState,
  type FixEntity,
  type FixSession,
  type IJsFixConfig,
  type MsgView,
} from 'jspurefix';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GATEWAY_METRICS, type FixSessionConfig } from '../../contracts/market-data-gateway';
import type { MarketTickInput } from '../../contracts/market-data';
import { backoffDelayMs } from '../core/backoff';
import { ticksFromMarketData, type FixMarketDataMessage } from '../core/fix-ticks';
import { SequenceWatermark } from '../core/sequence-watermark';
import type { TickReject } from '../core/tick-checks';
import { fixSource } from '../core/tick-id';
import type { Gateway, GatewaySource } from '../gateway';
import { DynamoDbSessionTable } from './dynamodb-session-table';
import { GatewaySessionStore, SENDER_SEQ_NUM_MARGIN, type SessionTable } from './session-store';

const SESSION_MESSAGE_TYPES = new Set<string>([MsgType.Heartbeat, MsgType.TestRequest, MsgType.ResendRequest, MsgType.Reject, MsgType.SequenceReset, MsgType.Logout, MsgType.Logon]);

/** Where a session's ticks, dead letters and counters go: the gateway's sinks (tests pass recorders). */
export interface FixSessionOutputs {
  sink: { publish(ticks: readonly MarketTickInput[]): Promise<void> };
  deadLetters: { send(reject: TickReject, source: string, raw: string): Promise<void> };
  metrics: { count(metric: string, source: string, value?: number): void; sessionState(session: string, state: string): void };
  maxPrice: number;
}

export interface FixSessionDeps {
  outputs: FixSessionOutputs;
  /** Where sequence numbers survive restarts: the DynamoDB session table, or a MemorySessionTable in tests. */
  sessionTable: SessionTable;
  env: Record<string, string | undefined>;
  log: (message: string) => void;
}

/** The session's name in tickIds and metrics. */
export const fixSessionName = (config: FixSessionConfig): string => config.name ?? `${config.senderCompId}-${config.targetCompId}`;

/**
 * One FIX 4.4 market-data session as an initiator on jspurefix's session layer (logon, heartbeats,
 * test requests, resend requests and gap fills in both directions, PossDup handling). On logon it
 * sends a MarketDataRequest (snapshot + updates, bid/offer/trade) for the configured symbols; each
 * W/X becomes ticks (gateway/core/fix-ticks.ts). A message's sequence number becomes durable (the
 * DynamoDB store) only once its ticks are on the stream.
 */
class MarketDataInitiatorSession extends AsciiSession {
  private lastDecoded = '';

  constructor(config: IJsFixConfig, private readonly runner: FixSessionRunner) {
    super(config);
  }

  protected override onMsg(msgType: string, view: MsgView): void {
    const seq = view.getTyped('MsgSeqNum') as number | undefined;
    if (seq !== undefined && SESSION_MESSAGE_TYPES.has(msgType)) {
      if (msgType === String(MsgType.SequenceReset) && view.getTyped('GapFillFlag') === true) {
        this.runner.watermark.gapFilled(seq, view.getTyped('NewSeqNo') as number);
      } else {
        this.runner.watermark.receivedWithoutTicks(seq);
      }
    }
    super.onMsg(msgType, view);
  }

  /**
   * jspurefix ends the session when application data arrives while it answers the peer's
   * ResendRequest or waits for the Heartbeat answering its TestRequest. On a streaming feed both
   * happen (market data sent before the request was read), and ending the session there turns
   * every venue ResendRequest into a reconnect: market data is accepted in those states too.
   */
  protected override validStateApplicationMsg(): boolean {
    switch (this.getState()) {
      case SessionState.HandleResendRequest:
      case SessionState.AwaitingProcessingResponseToTestRequest:
      case SessionState.AwaitingProcessingResponseToResendRequest:
        return true;
      default:
        return super.validStateApplicationMsg();
    }
  }

  /**
   * Once the session stops (a reconnect, or the store's onUnsafeLead), jspurefix takes its 'error'
   * listeners off the connection it is closing; a venue resetting that connection (ECONNRESET)
   * would then be an uncaught exception that ends the gateway. The session is over: log it.
   */
  protected override unsubscribe(): void {
    const receiver = this.transport?.receiver;
    super.unsubscribe();
    if (receiver !== undefined && receiver.listenerCount('error') === 0) receiver.on('error', (error: Error) => this.runner.onClosedConnectionError(error));
  }

  protected onApplicationMsg(msgType: string, view: MsgView): void {
    this.runner.onApplicationMessage(msgType, view, this.lastDecoded);
  }

  protected onReady(): void {
    this.runner.onReady((msgType, body) => this.send(msgType, body));
  }

  protected onStopped(error?: Error): void {
    this.runner.onStopped(error);
  }

  protected onLogon(): boolean {
    return true;
  }

  protected onDecoded(_msgType: string, text: string): void {
    this.lastDecoded = text;
  }

  protected onEncoded(): void {
    // Sent messages are kept by the session store for resends.
  }

  /** The engine's state name, for metrics. */
  stateName(): string {
    return String(this.getState());
  }
}

/**
 * Runs one configured session: connects, and after every disconnect reconnects with exponential
 * backoff and jitter. Each connection resumes from the sequence numbers in the session table.
 */
export class FixSessionRunner implements GatewaySource {
  readonly name: string;
  readonly source: string;
  watermark = new SequenceWatermark(1);
  store: GatewaySessionStore | undefined;
  private stopped = false;
  private attempt = 0;
  private entity: FixEntity | undefined;
  private session: FixSession | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  state = 'Idle';

  constructor(private readonly config: FixSessionConfig, private readonly deps: FixSessionDeps) {
    this.name = fixSessionName(config);
    this.source = fixSource(this.name);
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // Log out (the venue confirms), or end the session if it does not within 2 s.
    const session = this.session;
    session?.done();
    const forced = setTimeout(() => session?.requestStop('gateway stopping'), 2_000);
    await this.loop;
    clearTimeout(forced);
    await this.store?.persist();
  }

  private setState(state: string): void {
    this.state = state;
    this.deps.outputs.metrics.sessionState(this.name, state);
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        this.setState('Connecting');
        await this.connectOnce();
        this.attempt = 0;
      } catch (error) {
        this.deps.log(`fix ${this.name}: ${(error as Error).message}`);
      }
      if (this.stopped) break;
      this.setState('Disconnected');
      const delay = this.config.reconnect.initialMs + backoffDelayMs(this.attempt, this.config.reconnect);
      this.attempt += 1;
      this.deps.log(`fix ${this.name}: disconnected; reconnecting in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.setState('Stopped');
  }

  private async connectOnce(): Promise<void> {
    const { config } = this;
    const description = {
      application: { type: 'initiator', name: this.name, protocol: 'ascii', dictionary: 'qf44', reconnectSeconds: 1, connectTimeoutSeconds: 5, tcp: { host: config.host, port: config.port } },
      EncryptMethod: 0,
      ResetSeqNumFlag: false,
      HeartBtInt: config.heartbeatSeconds,
      SenderCompId: config.senderCompId,
      TargetCompID: config.targetCompId,
      BeginString: 'FIX.4.4',
      ...(config.passwordEnv === undefined ? {} : { Username: config.senderCompId, Password: this.deps.env[config.passwordEnv] ?? '' }),
    };
    const container = new SessionContainer();
    container.registerGlobal(new EmptyLogFactory());
    const system = await container.makeSystem(description as never);
    system.register<FixSession>(DITokens.FixSession, {
      useFactory: (scope) => {
        const sessionConfig = scope.resolve<IJsFixConfig>(DITokens.IJsFixConfig);
        sessionConfig.sessionStoreFactory = {
          create: (sessionId) => {
            const previous = this.store;
            previous?.retire();
            this.store = new GatewaySessionStore(sessionId, this.deps.sessionTable, {
              previous,
              // Saves are not landing: log on again only once they do (initialize waits for one).
              onUnsafeLead: () => {
                this.deps.log(`fix ${this.name}: ${SENDER_SEQ_NUM_MARGIN / 2} messages sent since the last saved sequence number; reconnecting`);
                this.session?.requestStop('sequence numbers not saved');
              },
            });
            // A new connection starts from what the table says is safe.
            const store = this.store;
            const initialize = store.initialize.bind(store);
            store.initialize = async () => {
              await initialize();
              this.watermark = new SequenceWatermark(store.targetSeqNum);
              store.watermark = this.watermark;
            };
            return store;
          },
        };
        this.session = new MarketDataInitiatorSession(sessionConfig, this);
        return this.session;
      },
    });
    this.entity = system.resolve<FixEntity>(DITokens.FixEntity);
    await this.entity.start();
  }

  onReady(send: (msgType: string, body: object) => void): void {
    this.attempt = 0;
    this.setState('ActiveNormalSession');
    send(MsgType.MarketDataRequest, {
      MDReqID: `${this.name}-${Date.now()}`,
      SubscriptionRequestType: '1',
      MarketDepth: 1,
      MDUpdateType: 1,
      MDReqGrp: { NoMDEntryTypes: [{ MDEntryType: '0' }, { MDEntryType: '1' }, { MDEntryType: '2' }] },
      InstrmtMDReqGrp: { NoRelatedSym: this.config.symbols.map((symbol) => ({ Instrument: { Symbol: symbol } })) },
    });
  }

  onClosedConnectionError(error: Error): void {
    this.deps.log(`fix ${this.name}: closed connection: ${error.message}`);
  }

  onStopped(error?: Error): void {
    this.setState(error === undefined ? 'Disconnected' : 'Failed');
  }

  onApplicationMessage(msgType: string, view: MsgView, raw: string): void {
    const { outputs } = this.deps;
    const seq = view.getTyped('MsgSeqNum') as number;
    if (view.getTyped('PossDupFlag') === true) {
      outputs.metrics.count(GATEWAY_METRICS.possDupMessages, this.source);
      // A resend of a message this session already has (its ticks are on the stream or on their
      // way): the same tickIds again would only be duplicates on the stream. A resend of a
      // message inside a gap, or from before a restart's safe watermark, is new and goes on.
      if (this.watermark.seen(seq)) return;
    }
    if (msgType !== String(MsgType.MarketDataSnapshotFullRefresh) && msgType !== String(MsgType.MarketDataIncrementalRefresh)) {
      this.watermark.receivedWithoutTicks(seq);
      void outputs.deadLetters.send({ reason: 'unknown-message', detail: `MsgType ${msgType} is not market data (W or X)`, position: String(seq) }, this.source, raw);
      return;
    }
    this.watermark.received(seq);
    const message = view.toObject() as FixMarketDataMessage;
    const store = this.store;
    const { ticks, rejects } = ticksFromMarketData(msgType as 'W' | 'X', message, {
      session: this.name,
      epochMs: store?.epochMs ?? 0,
      ingestTime: Date.now(),
      maxPrice: outputs.maxPrice,
    }, { declaredEntries: view.getTyped('NoMDEntries') as number | undefined, invalidTags: view.invalid() });
    const letters = rejects.map((reject) => outputs.deadLetters.send(reject, this.source, raw));
    void Promise.all([outputs.sink.publish(ticks), ...letters]).then(
      async () => {
        this.watermark.acknowledged(seq);
        await store?.persist();
      },
      (error: Error) => this.deps.log(`fix ${this.name}: ticks of MsgSeqNum ${seq} not published (${error.message}); a restart resends them`),
    );
  }
}

/** The gateway's FIX sessions, one runner per configured session. */
export function fixSessionRunners(gateway: Gateway, dynamodb: DynamoDBClient, env: Record<string, string | undefined>, log: (message: string) => void): FixSessionRunner[] {
  const outputs: FixSessionOutputs = { sink: gateway.sink, deadLetters: gateway.deadLetters, metrics: gateway.metrics, maxPrice: gateway.settings.config.maxPrice };
  const sessionTable = new DynamoDbSessionTable(dynamodb, gateway.settings.sessionTableName);
  return gateway.settings.config.fixSessions.map((config) => new FixSessionRunner(config, { outputs, sessionTable, env, log }));
}
