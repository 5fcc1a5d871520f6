import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceNotFoundException as TableNotFound,
  UpdateTimeToLiveCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand, ResourceNotFoundException as StreamNotFound, type KinesisClient } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, HeadBucketCommand, NotFound, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Provisioning as a reconcile loop, one resource type at a time, as CloudFormation's resource
 * handlers do: read what exists; create what is missing; keep what matches; update what can be
 * updated in place; and report, without touching it, what differs and cannot change. With
 * `--persist` the second start finds everything the first created.
 */
export type ReconcileAction = 'created' | 'kept' | 'updated' | 'differs';

export interface ReconcileOutcome {
  action: ReconcileAction;
  /** What differs between the template and what exists, when anything does. */
  detail?: string;
}

/** Says what to do about a difference that cannot be changed in place. */
const START_OVER = 'kept as it is: start without --persist, or delete the persisted folder, to create it as declared';

export async function reconcileStream(kinesis: KinesisClient, name: string, shardCount: number, waitUntilActive: () => Promise<void>): Promise<ReconcileOutcome> {
  let existing;
  try {
    existing = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;
  } catch (error) {
    if (!(error instanceof StreamNotFound)) throw error;
  }
  if (existing === undefined) {
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
    await waitUntilActive();
    return { action: 'created' };
  }
  await waitUntilActive();
  const open = existing.OpenShardCount;
  if (open !== undefined && open !== shardCount) {
    return { action: 'differs', detail: `the template declares ${shardCount} shards, the stream has ${open} open (${START_OVER})` };
  }
  return { action: 'kept' };
}

export async function reconcileTable(
  dynamodb: DynamoDBClient,
  input: CreateTableCommandInput,
  ttl: { AttributeName: string; Enabled: boolean } | undefined,
): Promise<ReconcileOutcome & { table: TableDescription }> {
  const name = input.TableName!;
  let existing: TableDescription | undefined;
  try {
    existing = (await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table;
  } catch (error) {
    if (!(error instanceof TableNotFound)) throw error;
  }
  let action: ReconcileAction = 'kept';
  const differences: string[] = [];
  if (existing === undefined) {
    await dynamodb.send(new CreateTableCommand(input));
    action = 'created';
  } else {
    const keys = (schema: CreateTableCommandInput['KeySchema']) => JSON.stringify((schema ?? []).map((key) => [key.AttributeName, key.KeyType]));
    if (keys(existing.KeySchema) !== keys(input.KeySchema)) differences.push(`key schema ${keys(existing.KeySchema)}, declared ${keys(input.KeySchema)}`);
    const declaredStream = input.StreamSpecification?.StreamEnabled === true ? input.StreamSpecification.StreamViewType : 'none';
    const actualStream = existing.StreamSpecification?.StreamEnabled === true ? existing.StreamSpecification.StreamViewType : 'none';
    if (declaredStream !== actualStream) differences.push(`stream ${actualStream}, declared ${declaredStream}`);
    const indexes = (list: { IndexName?: string }[] | undefined) => (list ?? []).map((index) => index.IndexName).sort().join(',') || 'none';
    if (indexes(existing.GlobalSecondaryIndexes) !== indexes(input.GlobalSecondaryIndexes)) {
      differences.push(`global secondary indexes ${indexes(existing.GlobalSecondaryIndexes)}, declared ${indexes(input.GlobalSecondaryIndexes)}`);
    }
  }
  if (ttl?.Enabled) {
    const current = action === 'created' ? undefined : (await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: name }))).TimeToLiveDescription;
    const enabled = current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING';
    if (!enabled) {
      await dynamodb.send(new UpdateTimeToLiveCommand({ TableName: name, TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true } }));
      if (action === 'kept') action = 'updated';
    } else if (current?.AttributeName !== ttl.AttributeName) {
      differences.push(`TTL on ${String(current?.AttributeName)}, declared ${ttl.AttributeName}`);
    }
  }
  const table = (await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table!;
  if (differences.length > 0) return { action: 'differs', detail: `${differences.join('; ')} (${START_OVER})`, table };
  return { action, table };
}

export async function reconcileQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<ReconcileOutcome & { queueUrl: string }> {
  let queueUrl: string | undefined;
  try {
    queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (error) {
    if (!(error instanceof QueueDoesNotExist)) throw error;
  }
  if (queueUrl === undefined) {
    const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    return { action: 'created', queueUrl: created.QueueUrl! };
  }
  const current: Record<string, string | undefined> = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }))).Attributes ?? {};
  const changed = Object.keys(attributes).filter((key) => !sameAttribute(key, current[key], attributes[key]!));
  if (changed.length === 0) return { action: 'kept', queueUrl };
  // Queue attributes can all change in place, as CloudFormation updates them.
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queueUrl, Attributes: Object.fromEntries(changed.map((key) => [key, attributes[key]!])) }));
  return { action: 'updated', detail: `set ${changed.join(', ')} as declared`, queueUrl };
}

function sameAttribute(key: string, current: string | undefined, declared: string): boolean {
  if (current === declared) return true;
  if (key !== 'RedrivePolicy' || current === undefined) return false;
  try {
    const a = JSON.parse(current) as Record<string, unknown>;
    const b = JSON.parse(declared) as Record<string, unknown>;
    return a.deadLetterTargetArn === b.deadLetterTargetArn && Number(a.maxReceiveCount) === Number(b.maxReceiveCount);
  } catch {
    return false;
  }
}

export async function reconcileBucket(s3: S3Client, name: string): Promise<ReconcileOutcome> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: name }));
    return { action: 'kept' };
  } catch (error) {
    if (!(error instanceof NotFound) && (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw error;
  }
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return { action: 'created' };
}
