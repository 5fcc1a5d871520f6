import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ReceiveMessageCommand, DeleteMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { PARTIAL_SORT_KEY_PREFIX, ShardPartialItem, SHARDS_PARTITION, ShardProgressItem, sumPartials } from '../../contracts/clickstream';
import { localClientConfig } from '../../local/clients';
import { startLocalCloud, type LocalCloud, type LocalCloudOptions } from '../../local/cloud';

/**
 * A local cloud in a temporary directory on OS-picked ports, for one test file. With `persist`,
 * its data folder (`--persist`) is in that directory too.
 */
export async function startTestCloud(
  options: { clicksShards?: number; context?: Record<string, unknown>; persist?: boolean; log?: (line: string) => void } & Pick<LocalCloudOptions, 'serviceEnvironment'> = {},
): Promise<{ cloud: LocalCloud; dispose: () => Promise<void> }> {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-test-'));
  const { persist, ...rest } = options;
  const cloud = await startLocalCloud({
    ...options,
    edgePort: 0,
    dashboardPort: 0,
    stateDirectory: join(directory, 'state'),
    assemblyDirectory: join(directory, 'cdk.out'),
    ...(persist === true ? { persistDirectory: join(directory, 'data') } : {}),
    ...rest,
  });
  return {
    cloud,
    dispose: async () => {
      await cloud.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/**
 * The window table as `url|windowStart -> count` (or lateCount): the shards' partials summed per
 * (url, window). The single reader of counts for tests; every item must have a documented shape
 * (README, "The window table").
 */
export async function windowCounts(cloud: LocalCloud, attribute: 'count' | 'lateCount' = 'count'): Promise<Map<string, number>> {
  const tableName = cloud.outputs.ClickWindowsTableName;
  if (tableName === undefined) throw new Error('the template has no ClickWindowsTableName output');
  return windowCountsAt(cloud.edgeUrl, tableName, attribute);
}

/** {@link windowCounts} for a local cloud this process did not start (the CLI in a child process). */
export async function windowCountsAt(edgeUrl: string, tableName: string, attribute: 'count' | 'lateCount' = 'count'): Promise<Map<string, number>> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(edgeUrl)));
  const partials: ShardPartialItem[] = [];
  try {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey, ConsistentRead: true }));
      for (const raw of page.Items ?? []) {
        if (raw.pk === SHARDS_PARTITION) ShardProgressItem.parse(raw);
        else if (String(raw.sk).startsWith(PARTIAL_SORT_KEY_PREFIX)) partials.push(ShardPartialItem.parse(raw));
        else throw new Error(`undocumented item in the window table: ${JSON.stringify(raw).slice(0, 200)}`);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  } finally {
    client.destroy();
  }
  const counts = new Map<string, number>();
  for (const total of sumPartials(partials)) {
    const value = total[attribute];
    if (value > 0) counts.set(`${total.url}|${total.windowStart}`, value);
  }
  return counts;
}

/** Drains a queue and returns the parsed message bodies. */
export async function drainQueue(cloud: LocalCloud, queueUrl: string): Promise<unknown[]> {
  const client = new SQSClient(localClientConfig(cloud.edgeUrl));
  const bodies: unknown[] = [];
  try {
    for (;;) {
      const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
      if (Messages.length === 0) return bodies;
      bodies.push(...Messages.map((message) => JSON.parse(message.Body ?? 'null') as unknown));
      await client.send(new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle! })),
      }));
    }
  } finally {
    client.destroy();
  }
}

/** Polls until `check` returns true, or fails with `describe()` after the timeout. */
export async function eventually(check: () => Promise<boolean>, describe: () => Promise<string> | string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`condition not met within ${timeoutMs} ms: ${await describe()}`);
}

/** Every item of a table (consistent reads). */
export async function scanAll(cloud: LocalCloud, tableName: string): Promise<Record<string, unknown>[]> {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(cloud.edgeUrl)));
  const items: Record<string, unknown>[] = [];
  try {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey, ConsistentRead: true }));
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  } finally {
    client.destroy();
  }
  return items;
}
