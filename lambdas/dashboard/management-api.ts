import { GoneException, PostToConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';

/** What became of one post to a connection. */
export type PostOutcome =
  | { readonly status: 'sent' }
  /** 410: the client is gone; its connection item should be deleted. */
  | { readonly status: 'gone' }
  /** Anything else (throttling, payload, network, timeout): logged and counted, the connection kept. */
  | { readonly status: 'failed'; readonly error: string };

/**
 * Posts one serialized message to a connection through @connections. The client has no endpoint
 * of its own: the SDK takes it from AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI.
 */
export async function postToConnection(
  client: ApiGatewayManagementApiClient,
  connectionId: string,
  payload: string,
): Promise<PostOutcome> {
  try {
    await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(payload) }));
    return { status: 'sent' };
  } catch (error) {
    if (isGone(error)) return { status: 'gone' };
    return { status: 'failed', error: (error as Error).name || 'Error' };
  }
}

/** GoneException, or a bare 410 from an endpoint that does not name the error type. */
function isGone(error: unknown): boolean {
  if (error instanceof GoneException) return true;
  const candidate = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return candidate.name === 'GoneException' || candidate.$metadata?.httpStatusCode === 410;
}
