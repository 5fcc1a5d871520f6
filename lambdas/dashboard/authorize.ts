import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import { JwtRsaVerifier } from 'aws-jwt-verify';
import {
  FetchError,
  JwksNotAvailableInCacheError,
  JwtExpiredError,
  JwtInvalidAudienceError,
  JwtInvalidIssuerError,
  JwtInvalidSignatureAlgorithmError,
  JwtInvalidSignatureError,
  JwtNotBeforeError,
  JwtParseError,
  JwtWithoutValidKidError,
  KidNotFoundInJwksError,
  WaitPeriodNotYetEndedJwkError,
} from 'aws-jwt-verify/error';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import {
  allowConnect,
  assertIdToken,
  denyConnect,
  jwksUriOf,
  NotAnIdTokenError,
  tokenOf,
  type AuthorizerPolicy,
} from './core/authorize';
import { GlobalFetchJwksFetcher } from './jwks-fetcher';

/** Verifies a JWT and resolves to its payload, or rejects. */
export interface TokenVerifier {
  verify(token: string): Promise<{ sub?: unknown }>;
}

export interface AuthorizerDependencies {
  readonly verifier: TokenVerifier;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * A verifier for the user pool's ID tokens: RS256 signature against the issuer's JWKS (fetched
 * once and cached per cold start, refetched when a new `kid` appears), `iss`, `aud` = the app
 * client, `exp`/`nbf`, and `token_use: "id"`. JwtRsaVerifier is the generic verifier, which knows
 * nothing of Cognito's `token_use`, so a custom check adds it; CognitoJwtVerifier would check it
 * but insists on the `cognito-idp.<region>.amazonaws.com` issuer, which the local issuer is not.
 */
export function idTokenVerifier(issuer: string, clientId: string): TokenVerifier {
  return JwtRsaVerifier.create(
    {
      issuer,
      audience: clientId,
      jwksUri: jwksUriOf(issuer),
      customJwtCheck: ({ payload }) => assertIdToken(payload),
    },
    { jwksCache: new SimpleJwksCache({ fetcher: new GlobalFetchJwksFetcher() }) },
  );
}

/**
 * Why a token was refused, for the logs. By class, not by `name` or constructor name:
 * aws-jwt-verify's errors do not set `name`, and the minified bundle renames classes.
 */
const REFUSALS: ReadonlyArray<readonly [abstract new (...args: never[]) => Error, string]> = [
  [JwtExpiredError, 'expired'],
  [JwtNotBeforeError, 'not-yet-valid'],
  [JwtInvalidIssuerError, 'wrong-issuer'],
  [JwtInvalidAudienceError, 'wrong-audience'],
  [JwtInvalidSignatureError, 'bad-signature'],
  [JwtInvalidSignatureAlgorithmError, 'bad-algorithm'],
  [KidNotFoundInJwksError, 'unknown-key'],
  // An unknown kid again within the JWKS refetch back-off: still an unknown key, not an outage.
  [WaitPeriodNotYetEndedJwkError, 'unknown-key'],
  [JwtWithoutValidKidError, 'malformed'],
  [JwtParseError, 'malformed'],
  [NotAnIdTokenError, 'not-an-id-token'],
  // The JWKS could not be had: an outage of ours or the issuer's, not the caller's fault.
  [FetchError, 'jwks-unavailable'],
  [JwksNotAvailableInCacheError, 'jwks-unavailable'],
];

export function refusalReason(error: unknown): string {
  return REFUSALS.find(([type]) => error instanceof type)?.[1] ?? 'invalid';
}

/**
 * The $connect REQUEST authorizer: Allow for a valid ID token, with the token's `sub` as principal
 * and in the context the $connect integration reads; Deny for anything else. The caller learns only
 * that it was refused (403); the reason is logged by error class, never the token.
 */
export async function authorizeConnect(
  event: Pick<APIGatewayRequestAuthorizerEvent, 'methodArn' | 'queryStringParameters'>,
  deps: AuthorizerDependencies,
): Promise<AuthorizerPolicy> {
  try {
    return await decide(event, deps);
  } finally {
    deps.metrics.publishStoredMetrics();
  }
}

async function decide(
  event: Pick<APIGatewayRequestAuthorizerEvent, 'methodArn' | 'queryStringParameters'>,
  deps: AuthorizerDependencies,
): Promise<AuthorizerPolicy> {
  const token = tokenOf(event);
  if (token === undefined) return deny(event.methodArn, deps, 'missing-token');
  let sub: string;
  try {
    // The custom check guarantees a non-empty string `sub` in a verified payload.
    sub = (await deps.verifier.verify(token)).sub as string;
  } catch (error) {
    const reason = refusalReason(error);
    if (reason === 'jwks-unavailable') {
      deps.logger.error('Could not obtain the issuer JWKS; refusing the connection', { message: (error as Error).message });
      deps.metrics.addMetric('JwksUnavailable', MetricUnit.Count, 1);
    }
    return deny(event.methodArn, deps, reason);
  }
  deps.metrics.addMetric('ConnectionsAuthorized', MetricUnit.Count, 1);
  return allowConnect(sub, event.methodArn);
}

function deny(methodArn: string, deps: AuthorizerDependencies, reason: string): AuthorizerPolicy {
  deps.logger.warn('Connection refused', { reason });
  deps.metrics.addMetric('ConnectionsRefused', MetricUnit.Count, 1);
  return denyConnect(methodArn);
}
