import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { KinesisDataStreamRecord, KinesisDataStreamRecordPayload } from '@aws-lambda-powertools/parser/schemas/kinesis';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { z } from 'zod';
import { MarketTick } from '../../contracts/market-data';
import { postToSubscribers, type PostingDependencies } from './broadcast';
import { latestQuotes, toMarketQuote, type LatestQuote } from './core/quotes';
import { pricesPayloads } from './core/messages';
import type { PricesSettings } from './settings';
import { decodeInOrder } from './decode-in-order';

/** The Kinesis envelope (Powertools' schema) with the data left as base64, decoded below. */
const KinesisEnvelopeRecord = KinesisDataStreamRecord.extend({
  kinesis: KinesisDataStreamRecordPayload.extend({ data: z.string() }),
});

export class UnreadableTickError extends Error {
  override name = 'UnreadableTickError';
}

/** One `market-data` record -> its MarketTick (contracts/market-data.ts); throws with the reason otherwise. */
export function toTick(record: KinesisStreamRecord): MarketTick {
  const { kinesis } = KinesisEnvelopeRecord.parse(record);
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(kinesis.data, 'base64').toString('utf8'));
  } catch {
    throw new UnreadableTickError(`record ${kinesis.sequenceNumber} is not JSON`);
  }
  const parsed = MarketTick.safeParse(json);
  if (!parsed.success) throw new UnreadableTickError(`record ${kinesis.sequenceNumber} is not a MarketTick: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

export interface PricesDependencies extends PostingDependencies {
  readonly settings: PricesSettings;
  /** Merges one symbol's quote into the latest-quotes table; the stored quote, or undefined if a newer one is stored. */
  readonly saveQuote: (quote: LatestQuote) => Promise<LatestQuote | undefined>;
}

/**
 * One batch of the `market-data` stream -> one `prices` message per subscribed connection.
 *
 * 1. Decode each tick (Powertools isolates one that cannot be read). The batch ends before the
 *    first unreadable record, which is reported: the mapping retries it, then sends its range to
 *    the on-failure queue. (The gateway validates ticks before it puts them, so this is a bug
 *    or a foreign producer; the lakehouse keeps every tick either way.)
 * 2. Keep the latest quote per symbol (core/quotes.ts), merge each into the latest-quotes table,
 *    which returns the whole stored quote (sides from earlier batches included) and refuses an
 *    older one.
 * 3. Post the quotes as one message (split only past 200 symbols) to every subscribed connection.
 *
 * Throttling is the mapping's batching window (lib/market-panel.ts): Lambda gathers a shard's
 * ticks for that long, so each connection gets at most one message per shard per window however
 * fast the venues tick. A failed post does not fail the batch (as for windows and alerts): the
 * next batch carries newer prices, and a reconnect's snapshot has them all.
 */
export async function broadcastPrices(event: KinesisStreamEvent, context: Context, deps: PricesDependencies): Promise<KinesisStreamBatchResponse> {
  const records = event.Records;
  const { decoded: ticks, batchItemFailures } = await decodeInOrder(records, toTick, context, deps, 'market-data');
  const stored = await Promise.all(latestQuotes(ticks).map((quote) => deps.saveQuote(quote)));
  const quotes = stored.filter((quote): quote is LatestQuote => quote !== undefined).map(toMarketQuote);
  const nowMs = deps.now();
  const tally = await postToSubscribers(pricesPayloads(nowMs, quotes), nowMs, deps);

  deps.metrics.addMetric('Ticks', MetricUnit.Count, ticks.length);
  deps.metrics.addMetric('QuotesBroadcast', MetricUnit.Count, quotes.length);
  deps.metrics.addMetric('MessagesPosted', MetricUnit.Count, tally.sent);
  deps.metrics.addMetric('GoneConnections', MetricUnit.Count, tally.gone);
  deps.metrics.addMetric('PostFailures', MetricUnit.Count, tally.failed);
  deps.metrics.publishStoredMetrics();
  deps.logger.info('Prices broadcast', { records: records.length, ticks: ticks.length, quotes: quotes.length, ...tally });
  return { batchItemFailures };
}
