import type * as z from 'zod';
import { ClickEvent } from '../contracts/clickstream';
import { MarketTick } from '../contracts/market-data';
import { dayPartitionSpec, icebergSchemaOf, type IcebergSchema, type PartitionSpec } from './iceberg/schema';

/**
 * The lakehouse's tables: which contract each one stores, its unique key (upserts replace on it)
 * and the event-time column it is partitioned by day on. The CDK stack (Glue tables, Firehose
 * unique keys) and the local sink both take their schemas from here.
 */
export interface LakehouseTableDefinition {
  /** The zod contract of one row; the Iceberg schema is derived from it. */
  readonly contract: z.ZodObject;
  readonly uniqueKey: readonly string[];
  readonly eventTimeColumn: string;
  readonly description: string;
}

export const LAKEHOUSE_TABLES = {
  market_ticks: {
    contract: MarketTick,
    uniqueKey: ['tickId'],
    eventTimeColumn: 'eventTime',
    description: 'Market ticks from the market-data stream (FIX and REST sources), one row per tickId',
  },
  user_activity: {
    contract: ClickEvent,
    uniqueKey: ['eventId'],
    eventTimeColumn: 'timestamp',
    description: 'Click events from the clicks stream, one row per eventId',
  },
} as const satisfies Record<string, LakehouseTableDefinition>;

export type LakehouseTableName = keyof typeof LAKEHOUSE_TABLES;
export const LAKEHOUSE_TABLE_NAMES = Object.keys(LAKEHOUSE_TABLES) as LakehouseTableName[];

/** The Iceberg schema (with the unique key as identifier fields) and day partition spec of a table. */
export function lakehouseTableLayout(name: LakehouseTableName): { schema: IcebergSchema; spec: PartitionSpec } {
  const definition: LakehouseTableDefinition = LAKEHOUSE_TABLES[name];
  const schema = icebergSchemaOf(definition.contract, { identifierFields: definition.uniqueKey });
  return { schema, spec: dayPartitionSpec(schema, definition.eventTimeColumn) };
}
