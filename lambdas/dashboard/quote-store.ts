import { paginateQuery, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LatestQuoteItem, QUOTES_PARTITION } from '../../contracts/market-quotes';
import type { LatestQuote } from './core/quotes';

/**
 * The latest-quotes table (contracts/market-quotes.ts), for the prices broadcaster and snapshots.
 */

const fromItem = (item: LatestQuoteItem): LatestQuote => ({
  symbol: item.symbol,
  bid: item.bid ?? null,
  ask: item.ask ?? null,
  last: item.last ?? null,
  eventTimeMs: item.eventTimeMs,
  source: item.source,
});

/**
 * Merges a batch's quote of one symbol into its item and returns the item as stored: sides the
 * quote lacks keep the stored price. Refused (undefined) when the item already holds a newer event
 * time, so a re-delivered or late batch never moves a quote back. One shard's batches run one at a
 * time in order and a symbol is one partition key, so one writer updates a symbol at a time.
 */
export async function saveQuote(ddb: DynamoDBDocumentClient, tableName: string, quote: LatestQuote): Promise<LatestQuote | undefined> {
  const sides = (['bid', 'ask', 'last'] as const).filter((side) => quote[side] !== null);
  const values: Record<string, unknown> = { ':t': quote.eventTimeMs, ':source': quote.source };
  for (const side of sides) values[`:${side}`] = quote[side];
  try {
    const { Attributes } = await ddb.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: QUOTES_PARTITION, symbol: quote.symbol },
        UpdateExpression: `SET ${['eventTimeMs = :t', '#source = :source', ...sides.map((side) => `#${side} = :${side}`)].join(', ')}`,
        ConditionExpression: 'attribute_not_exists(eventTimeMs) OR eventTimeMs <= :t',
        ExpressionAttributeNames: { '#source': 'source', ...Object.fromEntries(sides.map((side) => [`#${side}`, side])) },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return fromItem(LatestQuoteItem.parse(Attributes));
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
    throw error;
  }
}

/** Every symbol's latest quote (one strongly consistent Query of the quotes partition). */
export async function readQuotes(ddb: DynamoDBDocumentClient, tableName: string): Promise<{ quotes: LatestQuote[]; invalid: number }> {
  const quotes: LatestQuote[] = [];
  let invalid = 0;
  const pages = paginateQuery({ client: ddb }, {
    TableName: tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': QUOTES_PARTITION },
    ConsistentRead: true,
  });
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      const parsed = LatestQuoteItem.safeParse(item);
      if (parsed.success) quotes.push(fromItem(parsed.data));
      else invalid++;
    }
  }
  return { quotes, invalid };
}
