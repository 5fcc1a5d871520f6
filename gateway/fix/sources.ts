import type { Gateway, GatewaySource } from '../gateway';

/** The gateway's FIX sessions, one per configured session (see ./session.ts). */
export function fixSessionsOf(gateway: Gateway): GatewaySource[] {
  if (gateway.settings.config.fixSessions.length > 0) {
    process.stderr.write('FIX sessions are configured but this build runs the REST feeds only\n');
  }
  return [];
}
