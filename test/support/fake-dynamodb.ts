import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

type Item = Record<string, unknown>;

/** What a test's fault hook sees of each request before the fake applies it. */
export interface FakeRequest {
  kind: 'Get' | 'Put' | 'Query';
  tableName: string;
  key?: { pk: string; sk: string };
  item?: Item;
}

/**
 * An in-memory stand-in for the few DynamoDB calls the shard store makes (GetItem, conditional
 * PutItem, Query by partition with begins_with / >= / <= on the sort key, a numeric filter, either
 * direction and pages of `Limit` items), with a
 * hook to fail a request the way AWS does. For unit tests of error paths and races, which DynamoDB
 * Local cannot produce (it never raises TransactionConflict); the integration tests use the real one.
 */
export class FakeDynamoDb {
  readonly tables = new Map<string, Map<string, Item>>();
  readonly requests: FakeRequest[] = [];
  /** Throw from here to fail a request before it applies; resolve to let it through. */
  beforeRequest: (request: FakeRequest) => Promise<void> | void = () => undefined;
  /** Called after a write applied and before its response returns: throw to lose the response. */
  afterWrite: (request: FakeRequest) => Promise<void> | void = () => undefined;

  client(): DynamoDBDocumentClient {
    return { send: (command: unknown) => this.send(command) } as unknown as DynamoDBDocumentClient;
  }

  table(name: string): Map<string, Item> {
    let table = this.tables.get(name);
    if (table === undefined) {
      table = new Map();
      this.tables.set(name, table);
    }
    return table;
  }

  items(tableName: string): Item[] {
    return [...this.table(tableName).values()].map((item) => structuredClone(item));
  }

  private async send(command: unknown): Promise<unknown> {
    if (command instanceof GetCommand) {
      const key = command.input.Key as { pk: string; sk: string };
      const request: FakeRequest = { kind: 'Get', tableName: command.input.TableName!, key };
      this.requests.push(request);
      await this.beforeRequest(request);
      const item = this.table(request.tableName).get(keyOf(key));
      return { Item: item === undefined ? undefined : structuredClone(item) };
    }
    if (command instanceof PutCommand) {
      const item = structuredClone(command.input.Item as Item);
      const request: FakeRequest = { kind: 'Put', tableName: command.input.TableName!, key: { pk: item.pk as string, sk: item.sk as string }, item };
      this.requests.push(request);
      await this.beforeRequest(request);
      const table = this.table(request.tableName);
      const existing = table.get(keyOf(request.key!));
      const condition = command.input.ConditionExpression;
      if (condition !== undefined && !satisfies(existing, condition, command.input.ExpressionAttributeValues ?? {})) {
        throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
      }
      table.set(keyOf(request.key!), item);
      await this.afterWrite(request);
      return { ConsumedCapacity: { TableName: request.tableName, CapacityUnits: Math.max(1, Math.ceil(sizeOf(item) / 1024)) } };
    }
    if (command instanceof QueryCommand) {
      const input = command.input;
      const request: FakeRequest = { kind: 'Query', tableName: input.TableName! };
      this.requests.push(request);
      await this.beforeRequest(request);
      const values = input.ExpressionAttributeValues ?? {};
      const pk = values[':pk'] as string;
      const rows = [...this.table(request.tableName).values()]
        .filter((item) => item.pk === pk)
        .filter((item) => matchesSortKey(item.sk as string, input.KeyConditionExpression ?? '', values))
        .filter((item) => input.FilterExpression === undefined || satisfies(item, input.FilterExpression, values))
        .sort((a, b) => ((a.sk as string) < (b.sk as string) ? -1 : 1));
      if (input.ScanIndexForward === false) rows.reverse();
      // Pages of `Limit` items, resumed after ExclusiveStartKey, as DynamoDB pages a Query.
      const startAfter = input.ExclusiveStartKey === undefined ? -1 : rows.findIndex((item) => item.sk === input.ExclusiveStartKey!.sk);
      const page = rows.slice(startAfter + 1, input.Limit === undefined ? undefined : startAfter + 1 + input.Limit);
      const last = page.at(-1);
      const more = last !== undefined && rows.indexOf(last) < rows.length - 1;
      return {
        Items: page.map((item) => structuredClone(item)),
        ...(more ? { LastEvaluatedKey: { pk: last.pk, sk: last.sk } } : {}),
      };
    }
    throw new Error(`FakeDynamoDb does not support ${(command as object).constructor.name}`);
  }
}

/** An AWS-shaped TransactionConflict cancellation, for tests that inject one. */
export const transactionConflict = () =>
  new TransactionCanceledException({
    message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]',
    CancellationReasons: [{ Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }],
    $metadata: {},
  });

const keyOf = (key: { pk: string; sk: string }) => JSON.stringify([key.pk, key.sk]);

function sizeOf(item: Item): number {
  return Buffer.byteLength(JSON.stringify(item, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value)));
}

function matchesSortKey(sk: string, expression: string, values: Record<string, unknown>): boolean {
  const beginsWith = /begins_with\(sk, (:\w+)\)/.exec(expression);
  if (beginsWith) return sk.startsWith(values[beginsWith[1]!] as string);
  const atLeast = /sk >= (:\w+)/.exec(expression);
  if (atLeast) return sk >= (values[atLeast[1]!] as string);
  const atMost = /sk <= (:\w+)/.exec(expression);
  if (atMost) return sk <= (values[atMost[1]!] as string);
  return true;
}

/** The condition forms the shard store writes, evaluated as DynamoDB would. */
function satisfies(item: Item | undefined, condition: string, values: Record<string, unknown>): boolean {
  return condition.split(' OR ').some((clause) => {
    const notExists = /^attribute_not_exists\((\w+)\)$/.exec(clause.trim());
    if (notExists) return item === undefined || item[notExists[1]!] === undefined;
    const equals = /^(\w+) = (:\w+)$/.exec(clause.trim());
    if (equals) return item !== undefined && item[equals[1]!] === values[equals[2]!];
    const greater = /^(\w+) > (:\w+)$/.exec(clause.trim());
    if (greater) return item !== undefined && (item[greater[1]!] as number) > (values[greater[2]!] as number);
    throw new Error(`FakeDynamoDb cannot evaluate condition: ${clause}`);
  });
}
