import { FetchError, NonRetryableFetchError } from 'aws-jwt-verify/error';
import type { Fetcher } from 'aws-jwt-verify/https';

/**
 * Fetches the JWKS with the global `fetch`, which speaks both https (Cognito) and http (the local
 * cloud's development issuer). aws-jwt-verify's own fetcher uses `https.request` and refuses
 * `http:` URIs. A timeout bounds the cold-start fetch well inside the authorizer's own timeout.
 */
export class GlobalFetchJwksFetcher implements Fetcher {
  constructor(private readonly timeoutMs = 3000) {}

  async fetch(uri: string): Promise<ArrayBuffer> {
    let response: Response;
    try {
      response = await fetch(uri, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      // A timeout or a network failure is an issuer outage, not a bad token: say so, so it is alarmed on.
      throw new FetchError(uri, `${(error as Error).name}: ${(error as Error).message}`);
    }
    if (response.status !== 200) {
      throw new NonRetryableFetchError(uri, `Status code is ${response.status}, expected 200`);
    }
    return response.arrayBuffer();
  }
}
