import { DeleteCommand, paginateScan, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ConnectionItem } from '../../contracts/dashboard-connections';

/** The connections table: one item per open WebSocket connection. */
export class ConnectionStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async put(item: ConnectionItem): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  /**
   * Marks the connection subscribed. Conditional on the item existing, so a subscribe racing a
   * $disconnect cannot resurrect the connection as an item without `sub` or TTL.
   * Resolves false when the connection is gone.
   */
  async markSubscribed(connectionId: string, nowMs: number): Promise<boolean> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { connectionId },
          UpdateExpression: 'SET subscribedAt = :now',
          ConditionExpression: 'attribute_exists(connectionId)',
          ExpressionAttributeValues: { ':now': new Date(nowMs).toISOString() },
        }),
      );
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async delete(connectionId: string): Promise<void> {
    await this.ddb.send(new DeleteCommand({ TableName: this.tableName, Key: { connectionId } }));
  }

  /**
   * Ids of every subscribed connection, page by page (a Scan: every connection receives every
   * broadcast, so there is no narrower key to query by). Items past their TTL that DynamoDB has not
   * removed yet are skipped.
   */
  async subscribedConnectionIds(nowMs: number): Promise<string[]> {
    const ids: string[] = [];
    const pages = paginateScan(
      { client: this.ddb },
      {
        TableName: this.tableName,
        ProjectionExpression: 'connectionId',
        FilterExpression: 'attribute_exists(subscribedAt) AND expiresAt > :now',
        ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
        // Strongly consistent: a connection whose subscribe completed before this read must receive
        // the broadcast, since its snapshot may have been read before the change (no gap).
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (typeof item.connectionId === 'string') ids.push(item.connectionId);
      }
    }
    return ids;
  }
}
