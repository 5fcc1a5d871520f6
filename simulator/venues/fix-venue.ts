import 'reflect-metadata';
import { createServer, type Server } from 'node:net';
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
// Not re-exported from the package root; the same module the engine's DI container registers.
import { TcpAcceptor } from 'jspurefix/dist/transport/tcp/tcp-acceptor';
import { RandomWalk } from './random-walk';

/**
 * A FIX 4.4 venue (acceptor) for the local cloud and the tests, on jspurefix: it answers a
 * MarketDataRequest with a snapshot (W) per symbol, then streams incremental refreshes (X, several
 * entries each) from a seeded random walk. Its sequence numbers and sent messages outlive a
 * connection (as a venue's do), so it answers ResendRequests with PossDup resends and gap fills.
 * Faults: `skip(n)` jumps n sequence numbers (the gateway sees a gap, asks, and gets a gap fill),
 * `loseNext(n)` keeps the next n market-data messages off the wire (stored, so a ResendRequest
 * gets them back with PossDupFlag=Y), `resend(n)` sends the last n market-data messages again with
 * PossDupFlag=Y unasked, `mute()` stops the feed and the heartbeats (the peer's TestRequest is still
 * answered), `testRequest(id)` sends a TestRequest, `resendRequest(begin, end)` a ResendRequest, `drop()` cuts the connection, `stop()` and
 * `start()` restart the acceptor. `received` and `transmitted` log every message, for tests. Like a
 * real acceptor it refuses a MsgSeqNum lower than expected (no PossDupFlag) with a Logout saying
 * "MsgSeqNum too low" and disconnects (`tooLow` logs each).
 */
export interface FixVenueOptions {
  symbols: readonly string[];
  senderCompId: string;
  targetCompId: string;
  port?: number;
  seed?: number;
  /** Incremental refreshes per second. @default 20 */
  rate?: number;
  /** HeartBtInt of the venue's Logon. @default 10 */
  heartbeatSeconds?: number;
}

/** A message as the venue received or transmitted it (session-level fields only). */
export interface VenueMessageLog {
  msgType: string;
  seqNum: number;
  possDup: boolean;
  /** ResendRequest (35=2): 7 and 16. */
  beginSeqNo?: number;
  endSeqNo?: number;
  /** TestRequest (35=1) or the Heartbeat (35=0) answering one: 112. */
  testReqId?: string;
  /** SequenceReset (35=4): 123 and 36. */
  gapFill?: boolean;
  newSeqNo?: number;
  /** The message as sent (transmitted messages only), `|` for SOH. */
  text?: string;
}

const MARKET_DATA_TYPES = new Set<string>([MsgType.MarketDataSnapshotFullRefresh, MsgType.MarketDataIncrementalRefresh]);

/** What the venue sent: MsgSeqNum -> [msgType, entries], for expected tickIds. */
export type SentMarketData = Map<number, { msgType: 'W' | 'X'; entries: number }>;

class VenueSession extends AsciiSession {
  private feedTimer: NodeJS.Timeout | undefined;
  /** Market-data messages still to keep off the wire (loseNext). */
  private toLose = 0;
  private wireTapped = false;

  constructor(config: IJsFixConfig, private readonly venue: FixVenue) {
    super(config);
    this.store = venue.messages(config);
    this.resender = new FixMsgAsciiStoreResend(this.store, config);
    venue.attach(this);
    // The engine's timer tick sends the heartbeats and test requests (a private method): a muted venue sends none.
    const engine = this as unknown as { tick: () => void };
    const tick = engine.tick.bind(this);
    engine.tick = () => {
      if (!venue.muted) tick();
    };
    // jspurefix only cuts the connection on a MsgSeqNum lower than expected (a private method);
    // a venue says why first, as FIX 4.4 (Vol. 2, "MsgSeqNum too low") and QuickFIX acceptors do.
    const checked = this as unknown as { checkSeqNo: (msgType: string, view: MsgView) => boolean };
    const checkSeqNo = checked.checkSeqNo.bind(this);
    checked.checkSeqNo = (msgType, view) => (this.rejectTooLow(msgType, view) ? false : checkSeqNo(msgType, view));
  }

  /**
   * A message numbered at or below the last one received, not marked PossDupFlag=Y, is a serious
   * error: Logout with Text "MsgSeqNum too low, expecting N but received M", then disconnect. On a
   * Logon it means the peer lost track of its numbers: it can only log on again with N or more.
   */
  private rejectTooLow(msgType: string, view: MsgView): boolean {
    if (msgType === String(MsgType.SequenceReset)) return false;
    if (msgType === String(MsgType.Logon) && view.getTyped('ResetSeqNumFlag') === true) return false;
    if (view.getTyped('PossDupFlag') === true) return false;
    const received = view.getTyped('MsgSeqNum') as number;
    const expected = this.sessionState.lastPeerMsgSeqNum + 1;
    if (received >= expected) return false;
    const text = `MsgSeqNum too low, expecting ${expected} but received ${received}`;
    this.venue.tooLow.push({ msgType, expected, received });
    this.sendLogout(text);
    // The Logout is encoded synchronously; end the connection once it is on the wire.
    setTimeout(() => this.stop(), 50);
    return true;
  }

  protected onApplicationMsg(msgType: string): void {
    if (msgType !== String(MsgType.MarketDataRequest)) return;
    for (const symbol of this.venue.walk.symbols) this.sendMarketData('W', [symbol]);
    this.feedTimer = setInterval(() => {
      if (!this.venue.muted) this.sendMarketData('X', this.venue.walk.symbols.slice(0, 2));
    }, 1000 / this.venue.rate);
  }

  protected override onMsg(msgType: string, view: MsgView): void {
    this.venue.received.push({
      msgType,
      seqNum: view.getTyped('MsgSeqNum') as number,
      possDup: view.getTyped('PossDupFlag') === true,
      ...(msgType === String(MsgType.ResendRequest) ? { beginSeqNo: view.getTyped('BeginSeqNo') as number, endSeqNo: view.getTyped('EndSeqNo') as number } : {}),
      ...(view.getString('TestReqID') == null ? {} : { testReqId: view.getString('TestReqID')! }),
      ...(msgType === String(MsgType.SequenceReset) ? { gapFill: view.getTyped('GapFillFlag') === true, newSeqNo: view.getTyped('NewSeqNo') as number } : {}),
    });
    super.onMsg(msgType, view);
  }


  sendMarketData(msgType: 'W' | 'X', symbols: string[]): void {
    const now = new Date();
    if (msgType === 'W') {
      const quote = this.venue.walk.step(symbols[0]);
      const snapshot = {
        MDReqID: 'md', Instrument: { Symbol: quote.symbol },
        MDFullGrp: { NoMDEntries: [
          { MDEntryType: '0', MDEntryPx: quote.bid, MDEntrySize: quote.bidSize, MDEntryDate: now, MDEntryTime: now },
          { MDEntryType: '1', MDEntryPx: quote.ask, MDEntrySize: quote.askSize, MDEntryDate: now, MDEntryTime: now },
          { MDEntryType: '2', MDEntryPx: quote.last, MDEntrySize: quote.lastSize, MDEntryDate: now, MDEntryTime: now },
        ] },
      };
      this.send(MsgType.MarketDataSnapshotFullRefresh, snapshot, (error, result) => {
        if (error === null && result.header) this.sent('W', result.header.MsgSeqNum as number, snapshot, 3);
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
    const refresh = { MDReqID: 'md', MDIncGrp: { NoMDEntries: entries } };
    this.send(MsgType.MarketDataIncrementalRefresh, refresh, (error, result) => {
      if (error === null && result.header) this.sent('X', result.header.MsgSeqNum as number, refresh, entries.length);
    });
  }

  /**
   * Keeps a sent message for resends, as its body object: jspurefix's resender gives a record with
   * no object an empty one before it would parse the stored text, so a text-only record is resent
   * with an empty body (jspurefix 5.11, FixMsgAsciiStoreResend.prepareRecordForRetransmission).
   */
  private sent(msgType: 'W' | 'X', seq: number, body: object, entries: number): void {
    this.venue.sent.set(seq, { msgType, entries });
    void this.store?.put(new FixMsgStoreRecord(msgType, new Date(), seq, body));
  }

  protected override txOnEncoded(msgType: string, data: string, hdr: Record<string, unknown>): void {
    super.txOnEncoded(msgType, data, hdr);
    const seq = hdr?.MsgSeqNum as number | undefined;
    if (seq !== undefined) this.venue.transmitted.push(transmittedLog(msgType, seq, data));
  }

  /** The next `count` market-data messages are encoded and stored, but never written to the socket. */
  loseNext(count: number): void {
    const encoder = (this.transport?.transmitter as unknown as { encodeStream?: { push: (chunk: unknown) => boolean } } | undefined)?.encodeStream;
    if (encoder === undefined) throw new Error('loseNext: no connection');
    if (!this.wireTapped) {
      const push = encoder.push.bind(encoder);
      encoder.push = (chunk: unknown) => {
        const text = Buffer.isBuffer(chunk) ? chunk.toString('latin1') : '';
        if (this.toLose > 0 && (text.includes('\x0135=W\x01') || text.includes('\x0135=X\x01'))) {
          this.toLose -= 1;
          return true;
        }
        return push(chunk);
      };
      this.wireTapped = true;
    }
    this.toLose += count;
  }

  /** Sends the last `count` market-data messages again, PossDupFlag=Y with OrigSendingTime, as a resend does. */
  async resendLast(count: number): Promise<number[]> {
    const seqs = [...this.venue.sent.keys()].sort((a, b) => a - b).slice(-count);
    if (seqs.length === 0) return [];
    const records = await this.resender.getResendRequest(seqs[0]!, seqs.at(-1)!);
    const resent: number[] = [];
    for (const record of records) {
      // Gap fills for the session messages in between would move the peer's expected number back.
      if (record.obj == null || !MARKET_DATA_TYPES.has(record.msgType)) continue;
      this.send(record.msgType, record.obj);
      resent.push(record.seqNum);
    }
    return resent;
  }

  testRequest(id: string): void {
    this.send(MsgType.TestRequest, { TestReqID: id });
  }

  resendRequest(beginSeqNo: number, endSeqNo: number): void {
    this.send(MsgType.ResendRequest, { BeginSeqNo: beginSeqNo, EndSeqNo: endSeqNo });
  }

  /** Jumps the outgoing sequence number: the numbers skipped were never sent. */
  skip(count: number): void {
    const transmitter = this.transport?.transmitter as unknown as { msgSeqNum: number } | undefined;
    if (transmitter !== undefined) transmitter.msgSeqNum += count;
  }

  /**
   * Cuts the connection and stops the feed at once: the engine notices the closed socket later (or,
   * after the acceptor closed, not at all), and a feed still running would encode messages with
   * this connection's sequence numbers beside the next connection's.
   */
  drop(): void {
    if (this.feedTimer !== undefined) clearInterval(this.feedTimer);
    this.feedTimer = undefined;
    this.venue.detach(this);
    this.transport?.duplex.destroy();
    // And the engine's heartbeat timer, which would otherwise tick on for a dead connection.
    this.stop();
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

/**
 * jspurefix's TCP acceptor listens on every interface (`server.listen(port)`); the venue is for the
 * local cloud and tests, so it listens on the configured host (127.0.0.1) only.
 */
class HostBoundTcpAcceptor extends TcpAcceptor {
  override listen(): void {
    const tcp = this.config.description.application?.tcp;
    (this as unknown as { server: Server }).server.listen(tcp?.port, tcp?.host ?? '127.0.0.1');
  }
}

export class FixVenue {
  readonly walk: RandomWalk;
  readonly rate: number;
  readonly sent: SentMarketData = new Map();
  readonly received: VenueMessageLog[] = [];
  readonly transmitted: VenueMessageLog[] = [];
  /** Messages refused with Logout "MsgSeqNum too low" (see VenueSession.rejectTooLow). */
  readonly tooLow: { msgType: string; expected: number; received: number }[] = [];
  /** No feed and no heartbeats while set (see mute()). */
  muted = false;
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

  /** One gateway connection at a time: a new one replaces (and cuts) the one before. */
  attach(session: VenueSession): void {
    if (this.session !== undefined && this.session !== session) this.session.drop();
    this.session = session;
  }

  detach(session: VenueSession): void {
    if (this.session === session) this.session = undefined;
  }

  get connected(): boolean {
    return this.session !== undefined;
  }

  async start(): Promise<number> {
    // A restart listens on the same port again, so the gateway's reconnects find it.
    this.port = this.options.port ?? (this.port === 0 ? await freePort() : this.port);
    const description = {
      application: { type: 'acceptor', name: 'venue', protocol: 'ascii', dictionary: 'qf44', tcp: { host: '127.0.0.1', port: this.port } },
      EncryptMethod: 0, ResetSeqNumFlag: false, HeartBtInt: this.options.heartbeatSeconds ?? 10,
      SenderCompId: this.options.senderCompId, TargetCompID: this.options.targetCompId, BeginString: 'FIX.4.4',
    };
    const container = new SessionContainer();
    container.registerGlobal(new EmptyLogFactory());
    const system = await container.makeSystem(description as never);
    system.register(TcpAcceptor, { useFactory: (scope) => new HostBoundTcpAcceptor(scope.resolve<IJsFixConfig>(DITokens.IJsFixConfig)) });
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

  loseNext(count: number): void {
    this.requireSession('loseNext').loseNext(count);
  }

  /** @returns the MsgSeqNums resent */
  resend(count: number): Promise<number[]> {
    return this.requireSession('resend').resendLast(count);
  }

  testRequest(id: string): void {
    this.requireSession('testRequest').testRequest(id);
  }

  /**
   * Asks the gateway to resend its messages beginSeqNo..endSeqNo (0: up to its last); with
   * `thenMarketData`, an X follows at once (in the same write, as on a busy feed).
   */
  resendRequest(beginSeqNo: number, endSeqNo: number, { thenMarketData = false } = {}): void {
    const session = this.requireSession('resendRequest');
    session.resendRequest(beginSeqNo, endSeqNo);
    if (thenMarketData) session.sendMarketData('X', this.walk.symbols.slice(0, 2));
  }

  /** Silence: no market data and no heartbeats until unmute(); TestRequests are still answered. */
  mute(): void {
    this.muted = true;
  }

  unmute(): void {
    this.muted = false;
  }

  private requireSession(what: string): VenueSession {
    if (this.session === undefined) throw new Error(`${what}: no gateway is connected to the venue`);
    return this.session;
  }
}

function transmittedLog(msgType: string, seqNum: number, data: string): VenueMessageLog {
  const text = data.replaceAll('\x01', '|');
  const tag = (name: number) => new RegExp(`\\|${name}=([^|]*)\\|`).exec(`|${text}`)?.[1];
  const testReqId = tag(112);
  return {
    msgType,
    seqNum,
    possDup: tag(43) === 'Y',
    ...(testReqId === undefined ? {} : { testReqId }),
    ...(msgType === String(MsgType.SequenceReset) ? { gapFill: tag(123) === 'Y', newSeqNo: Number(tag(36)) } : {}),
    text,
  };
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
