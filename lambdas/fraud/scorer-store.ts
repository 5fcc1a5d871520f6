import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  GetCommand,
  TransactWriteCommand,
  type BatchGetCommandInput,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { IpShardActivity, UserProfile } from '../../contracts/fraud';
import type { ShardRef } from '../clickstream/shard-store';
import type { LoadedProfiles, ScoringCommit } from './core/plan';
import { DAY_MS, ipActivityKey } from './core/profiles';

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
/**
 * Every shard of a stream that has committed: each shard adds itself with its first commit. Readers
 * get an IP's items from all shards with BatchGetItem by key, instead of one Query per IP.
 */
const shardRegistryKey = (streamArn: string) => ({ pk: `shards#${streamArn}`, sk: 'shards' });

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;
/** An IP item nobody wrote for this long is deleted by TTL; its hour of activity is long over. */
const IP_ACTIVITY_TTL_MS = 2 * DAY_MS;

/**
 * The scorer's DynamoDB state. Every commit is one transaction of the shard's checkpoint (guarded
 * by the checkpoint the batch started from), the new decisions (each guarded by not existing), and
 * the profiles they changed. Writes to a user or to this shard's IP items come only from this
 * shard, serialised by the checkpoint, so no two shards ever contend for an item (but for the shard
 * registry, which each shard updates once, with its first commit).
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

  async loadProfiles(shard: ShardRef, keys: { userIds: string[]; ipAddresses: string[]; orderIds: string[] }): Promise<LoadedProfiles> {
    const [users, decided, ipActivities] = await Promise.all([
      this.batchGet(this.config.profilesTableName, keys.userIds.map((userId) => ({ userId }))),
      this.batchGet(this.config.decisionsTableName, keys.orderIds.map((orderId) => ({ orderId })), 'orderId'),
      this.loadIpActivities(shard, keys.ipAddresses),
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
            // A shard's first commit registers it, so other shards read its IP items from then on.
            ...(from === undefined
              ? [{ Update: { TableName: stateTableName, Key: shardRegistryKey(shard.streamArn), UpdateExpression: 'ADD shardKeys :shard', ExpressionAttributeValues: { ':shard': new Set([shardKeyOf(shard)]) } } }]
              : []),
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

  /** BatchGetItem in chunks of 100 keys, in parallel, retrying unprocessed keys. */
  private async batchGet(tableName: string, keys: readonly Record<string, unknown>[], projection?: string): Promise<Record<string, unknown>[]> {
    const chunks: Record<string, unknown>[][] = [];
    for (let start = 0; start < keys.length; start += BATCH_GET_KEYS) chunks.push(keys.slice(start, start + BATCH_GET_KEYS));
    const pages = await Promise.all(
      chunks.map(async (chunk) => {
        const items: Record<string, unknown>[] = [];
        let request: BatchGetCommandInput['RequestItems'] = { [tableName]: { Keys: chunk, ConsistentRead: true, ...(projection === undefined ? {} : { ProjectionExpression: projection }) } };
        while (request !== undefined && Object.keys(request).length > 0) {
          const output: BatchGetCommandOutput = await this.ddb.send(new BatchGetCommand({ RequestItems: request }));
          items.push(...(output.Responses?.[tableName] ?? []));
          request = output.UnprocessedKeys;
        }
        return items;
      }),
    );
    return pages.flat();
  }

  /** Every registered shard's item for each IP (this shard's included, even before it registered). */
  private async loadIpActivities(shard: ShardRef, ipAddresses: readonly string[]): Promise<Map<string, IpShardActivity[]>> {
    const activities = new Map<string, IpShardActivity[]>(ipAddresses.map((ip) => [ip, []]));
    if (ipAddresses.length === 0) return activities;
    const { Item } = await this.ddb.send(new GetCommand({ TableName: this.config.stateTableName, Key: shardRegistryKey(shard.streamArn), ConsistentRead: true }));
    const shardKeys = new Set<string>((Item?.shardKeys as Set<string> | undefined) ?? []);
    shardKeys.add(shardKeyOf(shard));
    const keys = ipAddresses.flatMap((ip) => [...shardKeys].map((shardKey) => ipActivityKey(ip, shardKey)));
    for (const item of await this.batchGet(this.config.stateTableName, keys)) {
      const activity = IpShardActivity.parse(item);
      activities.get(activity.ipAddress)?.push(activity);
    }
    return activities;
  }
}
