/**
 * Pure helpers of the $connect authorizer: which issuer to trust, where the token is, and the IAM
 * policies API Gateway expects back. The verification itself (JWKS fetch, signature) lives in the
 * handler's collaborators.
 */

export interface IssuerEnvironment {
  /** Service-specific endpoint (LocalStack's convention for a local Cognito). */
  readonly cognitoEndpoint?: string;
  /** Endpoint for every service (the local cloud's edge). */
  readonly endpoint?: string;
  readonly region?: string;
}

export class IssuerConfigurationError extends Error {
  override name = 'IssuerConfigurationError';
}

/**
 * The issuer of the user pool's tokens: `https://cognito-idp.<region>.amazonaws.com/<poolId>` on
 * AWS; `<endpoint>/<poolId>` where an endpoint override points at a local issuer, as LocalStack
 * does. The JWKS is at `<issuer>/.well-known/jwks.json` in both cases.
 */
export function cognitoIssuer(userPoolId: string, env: IssuerEnvironment): string {
  const endpoint = env.cognitoEndpoint || env.endpoint;
  if (endpoint) return `${endpoint.replace(/\/+$/, '')}/${userPoolId}`;
  if (!env.region) throw new IssuerConfigurationError('AWS_REGION is not set, so the Cognito issuer is unknown');
  return `https://cognito-idp.${env.region}.amazonaws.com/${userPoolId}`;
}

export const jwksUriOf = (issuer: string): string => `${issuer}/.well-known/jwks.json`;

/**
 * The token from the $connect request's query string (`?token=<JWT>`), the authorizer's identity
 * source. Browsers cannot set headers on a WebSocket handshake, hence the query string.
 */
export function tokenOf(event: { queryStringParameters?: Record<string, string | undefined> | null }): string | undefined {
  const token = event.queryStringParameters?.token?.trim();
  return token ? token : undefined;
}

/** Context values API Gateway passes on to the integration as `requestContext.authorizer.<key>`. */
export interface ConnectContext {
  readonly sub: string;
}

export interface AuthorizerPolicy {
  readonly principalId: string;
  readonly policyDocument: {
    readonly Version: '2012-10-17';
    readonly Statement: ReadonlyArray<{ readonly Action: 'execute-api:Invoke'; readonly Effect: 'Allow' | 'Deny'; readonly Resource: string }>;
  };
  readonly context?: ConnectContext;
}

function policy(principalId: string, effect: 'Allow' | 'Deny', methodArn: string): AuthorizerPolicy['policyDocument'] {
  return { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: methodArn }] };
}

/** Allows exactly this $connect (the request's method ARN), for the token's subject. */
export function allowConnect(sub: string, methodArn: string): AuthorizerPolicy {
  return { principalId: sub, policyDocument: policy(sub, 'Allow', methodArn), context: { sub } };
}

/**
 * Refuses the connection: API Gateway answers the handshake with 403 Forbidden. A Deny carries no
 * reason, so nothing about why the token failed reaches the caller.
 */
export function denyConnect(methodArn: string): AuthorizerPolicy {
  return { principalId: 'anonymous', policyDocument: policy('anonymous', 'Deny', methodArn) };
}

/** Cognito ID tokens say `token_use: "id"`; access tokens (`"access"`) carry no audience and are refused. */
export class NotAnIdTokenError extends Error {
  override name = 'NotAnIdTokenError';
}

export function assertIdToken(payload: { token_use?: unknown; sub?: unknown }): void {
  if (payload.token_use !== 'id') throw new NotAnIdTokenError('token_use is not "id"');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new NotAnIdTokenError('sub is missing');
}
