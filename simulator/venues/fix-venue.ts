import 'reflect-metadata';
import { createServer } from 'node:net';
import {
  AsciiSession,
  DITokens,
  EmptyLogFactory,
  FixMsgAsciiStoreResend,
  FixMsgMemoryStore,
  FixMsgStoreRecord,
  MemorySessionStore,
  MsgType,
  SessionContainer,
  type FixEntity,
  type FixSession,
  type IFixSessionStore,
  type IJsFixConfig,
  type MsgView,
} from 'jspurefix';
import { RandomWalk } from './random-walk';

/**
 * A FIX 4.4 venue (acceptor) for the local cloud and the tests, on jspurefix: it answers a
 * MarketDataRequest with a snapshot (W) per symbol, then streams incremental refreshes (X, several
 * entries each) from a seeded random walk. Its sequence numbers and sent messages outlive a
 * connection (as a venue's do), so it answers ResendRequests with PossDup resends and gap fills.
 * Faults: `skip(n)` jumps n sequence numbers (the gateway sees a gap, asks, and gets a gap fill),
 * `drop()` cuts the connection, `resend(n)` sends the last n messages again with PossDupFlag=Y.
 */
export interface FixVenueOptions {
  symbols: readonly string[];
  senderCompId: string;
  targetCompId: string;
  port?: number;
  seed?: number;
  /** Incremental refreshes per second. @default 20 */
  rate?: number;
}

/** What the venue sent: MsgSeqNum -> [msgType, entries], for expected tickIds. */
export type SentMarketData = Map<number, { msgType: 'W' | 'X'; entries: number }>;

class VenueSession extends AsciiSession {
  private feedTimer: NodeJS.Timeout | undefined;

  constructor(config: IJsFixConfig, private readonly venue: FixVenue) {
    super(config);
    this.store = venue.messages(config);
    this.resender = new FixMsgAsciiStoreResend(this.store, config);
    venue.attach(this);
  }

  protected onApplicationMsg(msgType: string): void {
    if (msgType !== String(MsgType.MarketDataRequest)) return;
    for (const symbol of this.venue.walk.symbols) this.sendMarketData('W', [symbol]);
    this.feedTimer = setInterval(() => this.sendMarketData('X', this.venue.walk.symbols.slice(0, 2)), 1000 / this.venue.rate);
  }

  sendMarketData(msgType: 'W' | 'X', symbols: string[]): void {
    const now = new Date();
    if (msgType === 'W') {
      const quote = this.venue.walk.step(symbols[0]);
      this.send(MsgType.MarketDataSnapshotFullRefresh, {
        MDReqID: 'md', Instrument: { Symbol: quote.symbol },
        MDFullGrp: { NoMDEntries: [
          { MDEntryType: '0', MDEntryPx: quote.bid, MDEntrySize: quote.bidSize, MDEntryDate: now, MDEntryTime: now },
          { MDEntryType: '1', MDEntryPx: quote.ask, MDEntrySize: quote.askSize, MDEntryDate: now, MDEntryTime: now },
          { MDEntryType: '2', MDEntryPx: quote.last, MDEntrySize: quote.lastSize, MDEntryDate: now, MDEntryTime: now },
        ] },
      }, (error, result) => {
        if (error === null && result.header) this.venue.sent.set(result.header.MsgSeqNum as number, { msgType: 'W', entries: 3 });
      });
      return;
    }
    const entries = symbols.flatMap((symbol) => {
      const quote = this.venue.walk.step(symbol);
      return [
        { MDUpdateAction: '1', MDEntryType: '0', Instrument: { Symbol: symbol }, MDEntryPx: quote.bid, MDEntrySize: quote.bidSize },
        { MDUpdateAction: '1', MDEntryType: '1', Instrument: { Symbol: symbol }, MDEntryPx: quote.ask, MDEntrySize: quote.askSize },
      ];
    });
    this.send(MsgType.MarketDataIncrementalRefresh, { MDReqID: 'md', MDIncGrp: { NoMDEntries: entries } }, (error, result) => {
      if (error === null && result.header) this.venue.sent.set(result.header.MsgSeqNum as number, { msgType: 'X', entries: entries.length });
    });
  }

  protected override txOnEncoded(msgType: string, data: string, hdr: Record<string, unknown>): void {
    super.txOnEncoded(msgType, data, hdr);
    const seq = hdr?.MsgSeqNum as number | undefined;
    if (seq !== undefined && hdr.PossDupFlag !== true) void this.store?.put(new FixMsgStoreRecord(msgType, new Date(), seq, undefined, data));
  }

  /** Jumps the outgoing sequence number: the numbers skipped were never sent. */
  skip(count: number): void {
    const transmitter = this.transport?.transmitter as unknown as { msgSeqNum: number } | undefined;
    if (transmitter !== undefined) transmitter.msgSeqNum += count;
  }

  drop(): void {
    this.transport?.duplex.destroy();
  }

  protected onReady(): void {}
  protected onStopped(): void {
    if (this.feedTimer !== undefined) clearInterval(this.feedTimer);
    this.venue.detach(this);
  }
  protected onLogon(): boolean {
    return true;
  }
  protected onDecoded(): void {}
  protected onEncoded(): void {}
}

export class FixVenue {
  readonly walk: RandomWalk;
  readonly rate: number;
  readonly sent: SentMarketData = new Map();
  private readonly stores = new Map<string, IFixSessionStore>();
  private messageStore: FixMsgMemoryStore | undefined;
  private session: VenueSession | undefined;
  private entity: FixEntity | undefined;
  port = 0;

  constructor(private readonly options: FixVenueOptions) {
    this.walk = new RandomWalk(options.symbols, options.seed ?? 3);
    this.rate = options.rate ?? 20;
  }

  messages(config: IJsFixConfig): FixMsgMemoryStore {
    this.messageStore ??= new FixMsgMemoryStore(this.options.senderCompId, config);
    return this.messageStore;
  }

  attach(session: VenueSession): void {
    this.session = session;
  }

  detach(session: VenueSession): void {
    if (this.session === session) this.session = undefined;
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  async start(): Promise<number> {
    this.port = this.options.port ?? (await freePort());
    const description = {
      application: { type: 'acceptor', name: 'venue', protocol: 'ascii', dictionary: 'qf44', tcp: { host: '127.0.0.1', port: this.port } },
      EncryptMethod: 0, ResetSeqNumFlag: false, HeartBtInt: 10,
      SenderCompId: this.options.senderCompId, TargetCompID: this.options.targetCompId, BeginString: 'FIX.4.4',
    };
    const container = new SessionContainer();
    container.registerGlobal(new EmptyLogFactory());
    const system = await container.makeSystem(description as never);
    system.register<FixSession>(DITokens.FixSession, {
      useFactory: (scope: { resolve: <T>(token: string) => T }) => {
        const config = scope.resolve<IJsFixConfig>(DITokens.IJsFixConfig);
        // Sequence numbers survive a reconnect, as at a real venue.
        config.sessionStoreFactory = { create: (sessionId) => {
          const key = sessionId.toString();
          if (!this.stores.has(key)) this.stores.set(key, new MemorySessionStore(sessionId));
          return this.stores.get(key)!;
        } };
        return new VenueSession(config, this);
      },
    });
    this.entity = system.resolve<FixEntity>(DITokens.FixEntity);
    void this.entity.start();
    return this.port;
  }

  /** Closes the listener and every connection; start() again resumes the same sequence numbers. */
  async stop(): Promise<void> {
    (this.entity as unknown as { stop?: () => void } | undefined)?.stop?.();
    this.session?.drop();
    this.entity = undefined;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  skip(count: number): void {
    this.session?.skip(count);
  }

  drop(): void {
    this.session?.drop();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export type { MsgView };
