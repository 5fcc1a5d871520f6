import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { MemorySessionStore, type IFixMsgStoreRecord, type IFixSessionStore, type SessionId } from 'jspurefix';
import { GatewaySessionItem } from '../../contracts/market-data-gateway';
import type { SequenceWatermark } from '../core/sequence-watermark';

/**
 * jspurefix's session store (IFixSessionStore) on the gateway's DynamoDB session table, so a new
 * task (a restart, a redeployment) resumes the FIX sequence numbers. What it persists as the target
 * is not the engine's expected number but the watermark's safe one (see SequenceWatermark), so a
 * crash re-requests every message whose ticks were not yet on the stream. Writes are coalesced:
 * one PutItem in flight, carrying the latest numbers. Sent messages are kept in memory only: the
 * gateway sends just Logon, MarketDataRequest and session messages, which a gap fill replaces.
 */
export class DynamoDbSessionStore implements IFixSessionStore {
  private readonly messages: MemorySessionStore;
  senderSeqNum = 1;
  targetSeqNum = 1;
  private created = Date.now();
  private writing: Promise<void> | undefined;
  private dirty = false;
  watermark: SequenceWatermark | undefined;

  constructor(readonly sessionId: SessionId, private readonly dynamodb: DynamoDBClient, private readonly tableName: string) {
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
    const { Item } = await this.dynamodb.send(new GetItemCommand({ TableName: this.tableName, Key: { sessionId: { S: this.sessionId.toString() } }, ConsistentRead: true }));
    if (Item === undefined) {
      await this.persistNow();
      return;
    }
    const item = GatewaySessionItem.parse({
      sessionId: Item.sessionId?.S,
      senderSeqNum: Number(Item.senderSeqNum?.N),
      targetSeqNum: Number(Item.targetSeqNum?.N),
      createdAt: Number(Item.createdAt?.N),
      updatedAt: Number(Item.updatedAt?.N),
    });
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
    const now = Date.now();
    await this.dynamodb.send(new PutItemCommand({
      TableName: this.tableName,
      Item: {
        sessionId: { S: this.sessionId.toString() },
        senderSeqNum: { N: String(this.senderSeqNum) },
        targetSeqNum: { N: String(Math.max(1, target)) },
        createdAt: { N: String(this.created) },
        updatedAt: { N: String(now) },
      },
    }));
  }

  async flush(): Promise<void> {
    await this.persist();
  }

  async dispose(): Promise<void> {
    await this.persist();
  }
}
