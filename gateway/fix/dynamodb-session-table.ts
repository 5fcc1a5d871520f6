import { GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GatewaySessionItem } from '../../contracts/market-data-gateway';
import type { SessionTable } from './session-store';

/**
 * The gateway's DynamoDB session table (one item per FIX session), so a new task (a restart, a
 * redeployment) resumes the FIX sequence numbers. Reads are consistent: a restarted task must see
 * the last write of the task before it.
 */
export class DynamoDbSessionTable implements SessionTable {
  constructor(private readonly dynamodb: DynamoDBClient, private readonly tableName: string) {}

  async load(sessionId: string): Promise<GatewaySessionItem | undefined> {
    const { Item } = await this.dynamodb.send(new GetItemCommand({ TableName: this.tableName, Key: { sessionId: { S: sessionId } }, ConsistentRead: true }));
    if (Item === undefined) return undefined;
    return GatewaySessionItem.parse({
      sessionId: Item.sessionId?.S,
      senderSeqNum: Number(Item.senderSeqNum?.N),
      targetSeqNum: Number(Item.targetSeqNum?.N),
      createdAt: Number(Item.createdAt?.N),
      updatedAt: Number(Item.updatedAt?.N),
    });
  }

  async save(item: GatewaySessionItem): Promise<void> {
    await this.dynamodb.send(new PutItemCommand({
      TableName: this.tableName,
      Item: {
        sessionId: { S: item.sessionId },
        senderSeqNum: { N: String(item.senderSeqNum) },
        targetSeqNum: { N: String(item.targetSeqNum) },
        createdAt: { N: String(item.createdAt) },
        updatedAt: { N: String(item.updatedAt) },
      },
    }));
  }
}
