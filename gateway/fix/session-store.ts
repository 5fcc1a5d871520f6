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
 * jspurefix's session store (IFixSessionStore) on a SessionTable, so a new connection and a new
 * process resume the FIX sequence numbers. What it persists as the target is not the engine's
 * expected number but the watermark's safe one (see SequenceWatermark), so a crash re-requests
 * every message whose ticks were not yet on the stream. Writes are coalesced: one save in flight,
 * carrying the latest numbers. Sent messages are kept in memory only: the gateway sends just Logon,
 * MarketDataRequest and session messages, which a gap fill replaces.
 */
export class GatewaySessionStore implements IFixSessionStore {
  private readonly messages: MemorySessionStore;
  senderSeqNum = 1;
  targetSeqNum = 1;
  private created = Date.now();
  private writing: Promise<void> | undefined;
  private dirty = false;
  watermark: SequenceWatermark | undefined;

  constructor(readonly sessionId: SessionId, private readonly table: SessionTable) {
    this.messages = new MemorySessionStore(sessionId);
  }

  get creationTime(): Date {
    return new Date(this.created);
  }

  /** The epoch (ms) tickIds of this session carry. */
  get epochMs(): number {
    return this.created;
  }

  async initialize(): Promise<void> {
    const item = await this.table.load(this.sessionId.toString());
    if (item === undefined) {
      await this.persistNow();
      return;
    }
    this.senderSeqNum = item.senderSeqNum;
    this.targetSeqNum = item.targetSeqNum;
    this.created = item.createdAt;
  }

  async setSenderSeqNum(value: number): Promise<void> {
    this.senderSeqNum = value;
    await this.persist();
  }

  async setTargetSeqNum(value: number): Promise<void> {
    this.targetSeqNum = value;
    await this.persist();
  }

  async nextSenderSeqNum(): Promise<number> {
    this.senderSeqNum += 1;
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
    this.dirty = true;
    while (this.writing !== undefined) await this.writing;
    if (!this.dirty) return;
    this.writing = this.persistNow().finally(() => (this.writing = undefined));
    await this.writing;
  }

  private async persistNow(): Promise<void> {
    this.dirty = false;
    const target = Math.min(this.targetSeqNum, this.watermark?.safeNextExpected() ?? this.targetSeqNum);
    await this.table.save({
      sessionId: this.sessionId.toString(),
      senderSeqNum: this.senderSeqNum,
      targetSeqNum: Math.max(1, target),
      createdAt: this.created,
      updatedAt: Date.now(),
    });
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
