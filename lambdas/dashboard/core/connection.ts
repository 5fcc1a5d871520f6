import type { ConnectionItem } from '../../../contracts/dashboard-connections';

export function newConnection(connectionId: string, sub: string, nowMs: number, ttlSeconds: number): ConnectionItem {
  return {
    connectionId,
    sub,
    connectedAt: new Date(nowMs).toISOString(),
    expiresAt: Math.floor(nowMs / 1000) + ttlSeconds,
  };
}
