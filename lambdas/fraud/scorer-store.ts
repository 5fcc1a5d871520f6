import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { IpShardActivity, UserProfile } from '../../contracts/fraud';
import type { ShardRef } from '../clickstream/shard-store';
import { forEachWithConcurrency } from '../dashboard/core/concurrency';
import type { LoadedProfiles, ScoringCommit } from './core/plan';
import { DAY_MS } from './core/profiles';

export interface ScorerStoreConfig {
  decisionsTableName: string;
  profilesTableName: string;
  stateTableName: string;
}

/** Another invocation committed this shard (or one of these orders) first: reload and plan again. */
export class ScorerConflictError extends Error {
  override name = 'ScorerConflictError';
}

/** `<stream ARN>#<shard id>`: sequence numbers and IP activity items are per shard. */
export const shardKeyOf = (shard: ShardRef): string => `${shard.streamArn}#${shard.shardId}`;
const checkpointKey = (shard: ShardRef) => ({ pk: `checkpoint#${shardKeyOf(shard)}`, sk: 'checkpoint' });

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;
/** IP queries in flight while loading a batch. */
const IP_QUERY_CONCURRENCY = 16;
/** An IP item nobody wrote for this long is deleted by TTL; its hour of activity is long over. */
const IP_ACTIVITY_TTL_MS = 2 * DAY_MS;

/**
 * The scorer's DynamoDB state. Every commit is one transaction of the shard's checkpoint (guarded
 * by the checkpoint the batch started from), the new decisions (each guarded by not existing), and
 * the profiles they changed. Writes to a user or to this shard's IP items come only from this
 * shard, serialised by the checkpoint, so no two shards ever contend for an item.
 */
export class ScorerStore {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    private readonly config: ScorerStoreConfig,
  ) {}

  async loadCheckpoint(shard: ShardRef): Promise<string | undefined> {
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.config.stateTableName, Key: checkpointKey(shard), ConsistentRead: true }));
    return Item?.sequenceNumber as string | undefined;
  }

  async loadProfiles(keys: { userIds: string[]; ipAddresses: string[]; orderIds: string[] }): Promise<LoadedProfiles> {
    const [users, decided, ipActivities] = await Promise.all([
      this.batchGet(this.config.profilesTableName, 'userId', keys.userIds, 'userId, orderCount, totalAmount, meanAmount, m2, varianceAmount, maxAmount, firstSeen, lastSeen, recentIps, recent, spend10m, spend1h, spend1d, orders10m, orders1h, orders1d'),
      this.batchGet(this.config.decisionsTableName, 'orderId', keys.orderIds, 'orderId'),
      this.queryIps(keys.ipAddresses),
    ]);
    return {
      users: new Map(users.map((item) => [String(item.userId), UserProfile.parse(item)])),
      decided: new Set(decided.map((item) => String(item.orderId))),
      ipActivities,
    };
  }

  /** Commits one planned step; throws ScorerConflictError when another invocation got there first. */
  async commit(shard: ShardRef, from: string | undefined, commit: ScoringCommit, nowMs: number): Promise<void> {
    const { stateTableName, decisionsTableName, profilesTableName } = this.config;
    try {
      await this.ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: stateTableName,
                Item: { ...checkpointKey(shard), sequenceNumber: commit.lastSequenceNumber, updatedAt: new Date(nowMs).toISOString() },
                ...(from === undefined
                  ? { ConditionExpression: 'attribute_not_exists(pk)' }
                  : { ConditionExpression: 'sequenceNumber = :from', ExpressionAttributeValues: { ':from': from } }),
              },
            },
            ...commit.decisions.map((decision) => ({
              Put: { TableName: decisionsTableName, Item: decision, ConditionExpression: 'attribute_not_exists(orderId)' },
            })),
            ...commit.users.map((profile) => ({ Put: { TableName: profilesTableName, Item: profile } })),
            ...commit.ipActivities.map((activity) => ({
              Put: {
                TableName: stateTableName,
                Item: { ...activity, expiresAt: Math.floor(((activity.recent.at(-1)?.[0] ?? nowMs) + IP_ACTIVITY_TTL_MS) / 1000) },
              },
            })),
          ],
        }),
      );
    } catch (error) {
      if (error instanceof TransactionCanceledException || (error as Error).name === 'TransactionCanceledException') {
        const codes = ((error as TransactionCanceledException).CancellationReasons ?? []).map((reason) => reason.Code ?? 'None');
        if (codes.some((code) => code === 'ConditionalCheckFailed' || code === 'TransactionConflict')) {
          throw new ScorerConflictError(`commit up to ${commit.lastSequenceNumber} was cancelled (${codes.join(', ')})`, { cause: error });
        }
      }
      throw error;
    }
  }

  private async batchGet(tableName: string, key: string, ids: readonly string[], projection: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    for (let start = 0; start < ids.length; start += BATCH_GET_KEYS) {
      let request: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean; ProjectionExpression: string }> | undefined = {
        [tableName]: { Keys: ids.slice(start, start + BATCH_GET_KEYS).map((id) => ({ [key]: id })), ConsistentRead: true, ProjectionExpression: projection },
      };
      while (request !== undefined && Object.keys(request).length > 0) {
        const output = await this.ddb.send(new BatchGetCommand({ RequestItems: request }));
        items.push(...(output.Responses?.[tableName] ?? []));
        request = output.UnprocessedKeys as typeof request;
      }
    }
    return items;
  }

  private async queryIps(ipAddresses: readonly string[]): Promise<Map<string, IpShardActivity[]>> {
    const activities = new Map<string, IpShardActivity[]>();
    await forEachWithConcurrency(ipAddresses, IP_QUERY_CONCURRENCY, async (ipAddress) => {
      const found: IpShardActivity[] = [];
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await this.ddb.send(
          new QueryCommand({
            TableName: this.config.stateTableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': `ip#${ipAddress}` },
            ConsistentRead: true,
            ExclusiveStartKey: startKey,
          }),
        );
        found.push(...(page.Items ?? []).map((item) => IpShardActivity.parse(item)));
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      activities.set(ipAddress, found);
    });
    return activities;
  }
}
