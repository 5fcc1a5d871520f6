import * as z from 'zod';
import { settingsFromVariables } from './settings-from-variables';

/**
 * Settings of the fraud functions, read from the environment. The CDK construct
 * (lib/fraud-pipeline.ts) writes these variables, so their names and defaults live here once.
 */
export const FRAUD_DEFAULTS = {
  /** A real order is a few hundred bytes; 16 KiB leaves room for a hundred item lines. */
  maxOrderBytes: 16_384,
  /**
   * How long a function trusts the configuration it read. A new version takes effect within this
   * time without a redeploy; each container reads the configuration table at most this often.
   */
  configMaxAgeSeconds: 10,
} as const;

export const FraudScorerEnv = {
  decisionsTableName: 'DECISIONS_TABLE_NAME',
  profilesTableName: 'PROFILES_TABLE_NAME',
  stateTableName: 'SCORER_STATE_TABLE_NAME',
  configTableName: 'CONFIG_TABLE_NAME',
  deadLetterQueueUrl: 'DEAD_LETTER_QUEUE_URL',
  maxOrderBytes: 'MAX_ORDER_BYTES',
  configMaxAgeSeconds: 'CONFIG_MAX_AGE_SECONDS',
} as const;

const name = z.string().min(1);

export const FraudScorerSettings = z.object({
  decisionsTableName: name,
  profilesTableName: name,
  stateTableName: name,
  configTableName: name,
  deadLetterQueueUrl: name,
  maxOrderBytes: z.coerce.number().int().positive().max(1024 * 1024).default(FRAUD_DEFAULTS.maxOrderBytes),
  configMaxAgeSeconds: z.coerce.number().nonnegative().default(FRAUD_DEFAULTS.configMaxAgeSeconds),
});
export type FraudScorerSettings = z.infer<typeof FraudScorerSettings>;

/** The caller passes the environment: contracts never read `process.env` (the web bundle imports them). */
export function fraudScorerSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): FraudScorerSettings {
  return settingsFromVariables(FraudScorerSettings, FraudScorerEnv, 'fraud scorer', env);
}

/**
 * The configuration table: immutable version items plus one pointer item naming the active
 * version and the shadow versions. Activating is one write to the pointer.
 */
export const CONFIG_TABLE_KEY = 'id';
export const CONFIG_POINTER_ID = 'scoring#active';
export const configVersionId = (modelVersion: string): string => `scoring#version#${modelVersion}`;

export const ConfigPointerItem = z.object({
  id: z.literal(CONFIG_POINTER_ID),
  active: z.string(),
  shadows: z.array(z.string()).default([]),
  updatedAt: z.iso.datetime(),
});
export type ConfigPointerItem = z.infer<typeof ConfigPointerItem>;

/** A configuration version: its JSON text, validated with ScoringConfig when read. */
export const ConfigVersionItem = z.object({
  id: z.string().startsWith('scoring#version#'),
  modelVersion: z.string(),
  config: z.string(),
  createdAt: z.iso.datetime(),
});
export type ConfigVersionItem = z.infer<typeof ConfigVersionItem>;
