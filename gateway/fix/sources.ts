import type { Gateway, GatewaySource } from '../gateway';
import { fixSessionRunners } from './session';

/** The gateway's FIX sessions, one per configured session (see ./session.ts). */
export function fixSessionsOf(gateway: Gateway): GatewaySource[] {
  return fixSessionRunners(gateway, gateway.clients.dynamodb, process.env, (message) => process.stderr.write(`${new Date().toISOString()} ${message}\n`));
}
