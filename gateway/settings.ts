import { readFileSync } from 'node:fs';
import { GatewayConfig, GatewayEnv } from '../contracts/market-data-gateway';

export class GatewaySettingsError extends Error {
  override name = 'GatewaySettingsError';
}

export interface GatewaySettings {
  config: GatewayConfig;
  streamName: string;
  sessionTableName: string;
  deadLetterQueueUrl: string;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') throw new GatewaySettingsError(`${name} is not set; the task definition sets it (lib/market-data-gateway.ts)`);
  return value;
}

/** Parses and validates a configuration (JSON text); the message names each bad field. */
export function parseGatewayConfig(text: string, origin: string): GatewayConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new GatewaySettingsError(`${origin} is not JSON: ${(error as Error).message}`);
  }
  const parsed = GatewayConfig.safeParse(json);
  if (!parsed.success) {
    throw new GatewaySettingsError(`${origin} is not a valid gateway configuration: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** The task's environment (and `--config FILE`, which replaces GATEWAY_CONFIG). */
export function readGatewaySettings(env: NodeJS.ProcessEnv, configFile?: string): GatewaySettings {
  const config = configFile === undefined
    ? parseGatewayConfig(required(env, GatewayEnv.config), GatewayEnv.config)
    : parseGatewayConfig(readFileSync(configFile, 'utf8'), configFile);
  return {
    config,
    streamName: required(env, GatewayEnv.streamName),
    sessionTableName: required(env, GatewayEnv.sessionTableName),
    deadLetterQueueUrl: required(env, GatewayEnv.deadLetterQueueUrl),
  };
}
