import { Agent } from 'node:http';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * SDK client settings for the local cloud (or LocalStack). HTTP/1.1 with keep-alive works with
 * every engine behind the edge; the edge accepts HTTP/2 too, for clients left at their defaults.
 */
export function localClientConfig(endpoint: string) {
  return {
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 32 }) }),
    maxAttempts: 3,
  };
}
