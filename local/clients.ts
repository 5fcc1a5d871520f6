import { Agent } from 'node:http';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../contracts/local-cloud';

// Defined in contracts/ (the simulator and tools use them without depending on local/); re-exported
// here beside the client settings they go with.
export { LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS, LOCAL_REGION } from '../contracts/local-cloud';

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
