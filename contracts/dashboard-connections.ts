import * as z from 'zod';

/**
 * One item per open WebSocket connection in the connections table (pk `connectionId`).
 * `subscribedAt` is set once the client sent `subscribe`: only subscribed connections receive
 * broadcasts, so nothing reaches a client before it asked. `expiresAt` (epoch seconds) is the
 * table's TTL attribute and removes items whose $disconnect never ran.
 */
export const ConnectionItem = z.object({
  connectionId: z.string().min(1),
  sub: z.string().min(1),
  connectedAt: z.iso.datetime(),
  subscribedAt: z.iso.datetime().optional(),
  expiresAt: z.number().int().positive(),
});
export type ConnectionItem = z.infer<typeof ConnectionItem>;

export const CONNECTIONS_TABLE_KEYS = { partitionKey: 'connectionId', timeToLiveAttribute: 'expiresAt' } as const;
