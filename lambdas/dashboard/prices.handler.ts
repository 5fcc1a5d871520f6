import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { postingDependenciesFromEnv } from './broadcaster-dependencies';
import { broadcastPrices, type PricesDependencies } from './prices';
import { saveQuote } from './quote-store';
import { PricesSettings, settingsFromEnv } from './settings';

// Created once per cold start; the handler only wires them in.
const settings = settingsFromEnv(PricesSettings, 'prices broadcaster');
const { posting, ddb } = postingDependenciesFromEnv('prices broadcaster');
const dependencies: PricesDependencies = {
  ...posting,
  settings,
  saveQuote: (quote) => saveQuote(ddb, settings.quotesTableName, quote),
};

/** The `market-data` stream -> the latest quotes on every subscribed dashboard connection. */
export const handler = (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse> =>
  broadcastPrices(event, context, dependencies);
