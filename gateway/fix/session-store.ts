import { MemorySessionStore, type IFixMsgStoreRecord, type IFixSessionStore, type SessionId } from 'jspurefix';
import type { GatewaySessionItem } from '../../contracts/market-data-gateway';
import type { SequenceWatermark } from '../core/sequence-watermark';

/**
 * Where a session's sequence numbers live between connections and between gateway processes: the
 * DynamoDB session table on AWS and in the local cloud (./dynamodb-session-table.ts), a Map in
 * tests (MemorySessionTable). One item per session, the GatewaySessionItem contract.
 */
export interface SessionTable {
  load(sessionId: string): Promise<GatewaySessionItem | undefined>;
  save(item: GatewaySessionItem): Promise<void>;
}

/**
 * How far a gateway starting from a persisted item jumps its outgoing MsgSeqNum past the number
 * saved. jspurefix numbers and writes a message before the store's save of the next number lands
 * (AsciiSession.txOnEncoded does not wait for it), so a gateway killed outright (SIGKILL) may have
 * sent more than its item says. Logging on with a number the venue already received would be
 * refused for good (FIX 4.4 Vol. 2: "MsgSeqNum too low" is answered with a Logout, and every new
 * Logon repeats it). A number too high is harmless: the venue sees a gap and sends a
 * ResendRequest, and since the gateway sends only session messages and MarketDataRequests, which
 * are never resent, one SequenceReset-GapFill answers it (FIX 4.4 Vol. 2, "Resend Request":
 * administrative messages are gap-filled). The jump is safe as long as fewer than this many
 * messages were sent after the last save that landed; the store ends the connection at half of
 * it (see onUnsafeLead) and a connection logs on only once its starting numbers are saved, so it
 * holds however long DynamoDB takes. (QuickFIX-style "adopt the number in the Logout text" is not
 * used: that text is not standard.)
 */
export const SENDER_SEQ_NUM_MARGIN = 100;

export interface GatewaySessionStoreOptions {
  /** The store of the connection before (same process): it may have sent past the saved item. */
  previous?: GatewaySessionStore;
  /** Called once when SENDER_SEQ_NUM_MARGIN / 2 messages were sent after the last save that landed. */
  onUnsafeLead?: () => void;
}

/**
 * jspurefix's session store (IFixSessionStore) on a SessionTable, so a new connection and a new
 * process resume the FIX sequence numbers. What it persists as the target is not the engine's
 * expected number but the watermark's safe one (see SequenceWatermark), so a crash re-requests
 * every message whose ticks were not yet on the stream. As the sender it starts from a persisted
 * item plus SENDER_SEQ_NUM_MARGIN, so a crash never logs on with a number already sent. Writes are
 * coalesced: one save in flight, carrying the latest numbers. Sent messages are kept in memory
 * only: the gateway sends just Logon, MarketDataRequest and session messages, which a gap fill
 * replaces.
 */
export class GatewaySessionStore implements IFixSessionStore {
  private readonly messages: MemorySessionStore;
  senderSeqNum = 1;
  targetSeqNum = 1;
  private created = Date.now();
  private writing: Promise<void> | undefined;
  private dirty = false;
  /** The sender number of the last save that landed. */
  private landedSenderSeqNum = 1;
  private leadReported = false;
  /** A later connection's store took over: this one writes no more (its numbers are older). */
  private retired = false;
  watermark: SequenceWatermark | undefined;

  constructor(readonly sessionId: SessionId, private readonly table: SessionTable, private readonly options: GatewaySessionStoreOptions = {}) {
    this.messages = new MemorySessionStore(sessionId);
  }

  get creationTime(): Date {
    return new Date(this.created);
  }

  /** The epoch (ms) tickIds of this session carry. */
  get epochMs(): number {
    return this.created;
  }

  /**
   * Loads the session's item and saves the numbers this connection starts from before jspurefix
   * sends the Logon (it awaits initialize): a connection never sends past a save that has not
   * landed by more than it may.
   */
  async initialize(): Promise<void> {
    const { previous } = this.options;
    // The connection before may still be writing older numbers; they must not land after these.
    await previous?.idle();
    const item = await this.table.load(this.sessionId.toString());
    // The connection before in this process knows what it sent; the item may be behind it.
    this.senderSeqNum = previous?.senderSeqNum ?? 1;
    if (item !== undefined) {
      this.senderSeqNum = Math.max(this.senderSeqNum, item.senderSeqNum + SENDER_SEQ_NUM_MARGIN);
      this.targetSeqNum = item.targetSeqNum;
      this.created = item.createdAt;
    }
    // Through `writing`, so the next connection's store waits for this save too (idle()).
    this.writing = this.persistNow().finally(() => (this.writing = undefined));
    await this.writing;
  }

  /** Ends this store's writes: a later connection's store carries the session on. */
  retire(): void {
    this.retired = true;
  }

  /** Resolves once no save is in flight (whether it landed or failed). */
  async idle(): Promise<void> {
    while (this.writing !== undefined) await this.writing.catch(() => undefined);
  }

  /**
   * jspurefix calls this after every message it writes with that message's number + 1, a resent
   * one too: a SequenceReset-GapFill answering a ResendRequest from 2 would set it back to 3 while
   * the next new message is numbered far above. The number only grows (reset() starts it over).
   */
  async setSenderSeqNum(value: number): Promise<void> {
    this.senderSeqNum = Math.max(this.senderSeqNum, value);
    this.checkLead();
    await this.persist();
  }

  async setTargetSeqNum(value: number): Promise<void> {
    this.targetSeqNum = value;
    await this.persist();
  }

  async nextSenderSeqNum(): Promise<number> {
    this.senderSeqNum += 1;
    this.checkLead();
    await this.persist();
    return this.senderSeqNum;
  }

  async nextTargetSeqNum(): Promise<number> {
    this.targetSeqNum += 1;
    await this.persist();
    return this.targetSeqNum;
  }

  async reset(): Promise<void> {
    this.senderSeqNum = 1;
    this.landedSenderSeqNum = 1;
    this.targetSeqNum = 1;
    this.created = Date.now();
    await this.messages.reset();
    await this.persist();
  }

  put = (record: IFixMsgStoreRecord): Promise<void> => this.messages.put(record);
  get = (seqNum: number): Promise<IFixMsgStoreRecord | null> => this.messages.get(seqNum);
  getRange = (from: number, to: number): Promise<IFixMsgStoreRecord[]> => this.messages.getRange(from, to);

  /** Persists now (the sink acknowledged ticks: the watermark may have moved). */
  async persist(): Promise<void> {
    if (this.retired) return;
    this.dirty = true;
    while (this.writing !== undefined) await this.writing;
    if (!this.dirty) return;
    this.writing = this.persistNow().finally(() => (this.writing = undefined));
    await this.writing;
  }

  /** Half the margin sent past the last landed save: the connection must end before the margin is used up. */
  private checkLead(): void {
    if (this.leadReported || this.senderSeqNum - this.landedSenderSeqNum < SENDER_SEQ_NUM_MARGIN / 2) return;
    this.leadReported = true;
    this.options.onUnsafeLead?.();
  }

  private async persistNow(): Promise<void> {
    this.dirty = false;
    const senderSeqNum = this.senderSeqNum;
    const target = Math.min(this.targetSeqNum, this.watermark?.safeNextExpected() ?? this.targetSeqNum);
    await this.table.save({
      sessionId: this.sessionId.toString(),
      senderSeqNum,
      targetSeqNum: Math.max(1, target),
      createdAt: this.created,
      updatedAt: Date.now(),
    });
    this.landedSenderSeqNum = senderSeqNum;
  }

  async flush(): Promise<void> {
    await this.persist();
  }

  async dispose(): Promise<void> {
    await this.persist();
  }
}

/** A SessionTable in memory, for tests: it outlives the runners given it, as the DynamoDB table does. */
export class MemorySessionTable implements SessionTable {
  readonly items = new Map<string, GatewaySessionItem>();

  async load(sessionId: string): Promise<GatewaySessionItem | undefined> {
    const item = this.items.get(sessionId);
    return item === undefined ? undefined : { ...item };
  }

  async save(item: GatewaySessionItem): Promise<void> {
    this.items.set(item.sessionId, { ...item });
  }
}
