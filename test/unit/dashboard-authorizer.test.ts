import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * The $connect authorizer end to end: the real handler module, its module-scope verifier, and a
 * JWKS served over http from 127.0.0.1 (as the local cloud serves its development issuer), which
 * aws-jwt-verify fetches for real. Tokens are RS256 JWTs signed here with node:crypto.
 */

const POOL_ID = 'us-east-1_TestPool1';
const CLIENT_ID = 'dashboard-client-id';
const KID = 'test-key-1';
const METHOD_ARN = 'arn:aws:execute-api:us-east-1:000000000000:abc123/live/$connect';

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
/** A second key pair: a forger who knows the kid but not the private key. */
const forgerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });

let server: Server;
let issuer: string;
let jwksRequests = 0;
let handler: (event: APIGatewayRequestAuthorizerEvent) => Promise<unknown>;
let logged: ReturnType<typeof vi.spyOn>[] = [];

const base64url = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

function jwt(
  claims: Record<string, unknown>,
  { key = signingKey.privateKey, kid = KID, alg = 'RS256' }: { key?: KeyObject; kid?: string; alg?: string } = {},
): string {
  const header = base64url(JSON.stringify({ alg, kid, typ: 'JWT' }));
  const payload = base64url(JSON.stringify(claims));
  const signature = alg === 'none' ? '' : base64url(sign('RSA-SHA256', Buffer.from(`${header}.${payload}`), key));
  return `${header}.${payload}.${signature}`;
}

/** The claims of a Cognito ID token for this pool and client, valid for an hour. */
function idToken(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'user-sub-1',
    iss: issuer,
    aud: CLIENT_ID,
    token_use: 'id',
    auth_time: nowSeconds() - 60,
    iat: nowSeconds() - 60,
    exp: nowSeconds() + 3600,
    email: 'user@example.com',
    ...overrides,
  };
}

function connectEvent(token?: string): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    headers: { Host: 'abc123.execute-api.us-east-1.amazonaws.com' },
    multiValueHeaders: {},
    queryStringParameters: token === undefined ? null : { token },
    multiValueQueryStringParameters: null,
    stageVariables: {},
    requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId: 'conn-1', stage: 'live' },
  } as unknown as APIGatewayRequestAuthorizerEvent;
}

const ALLOW = {
  principalId: 'user-sub-1',
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }] },
  context: { sub: 'user-sub-1' },
};
const DENY = {
  principalId: 'anonymous',
  policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: METHOD_ARN }] },
};

beforeAll(async () => {
  const jwk = { ...signingKey.publicKey.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' };
  server = createServer((request, response) => {
    if (request.url === `/${POOL_ID}/.well-known/jwks.json`) {
      jwksRequests++;
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = `${endpoint}/${POOL_ID}`;

  // The environment the local cloud gives the function: every AWS endpoint at the edge.
  vi.stubEnv('AWS_ENDPOINT_URL', endpoint);
  vi.stubEnv('AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER', '');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  vi.stubEnv('USER_POOL_ID', POOL_ID);
  vi.stubEnv('USER_POOL_CLIENT_ID', CLIENT_ID);
  vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'dashboard-authorizer');
  vi.stubEnv('POWERTOOLS_METRICS_NAMESPACE', 'Watershed');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'true');
  vi.resetModules();
  ({ handler } = await import('../../lambdas/dashboard/authorize.handler'));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  // What the handler asks its logger to write (the level is SILENT, so nothing is printed).
  logged = (['debug', 'info', 'warn', 'error'] as const).map((level) => vi.spyOn(Logger.prototype, level));
  return () => vi.restoreAllMocks();
});

const logCalls = () => logged.flatMap((spy) => spy.mock.calls);

describe('a valid ID token', () => {
  it('is allowed, with its subject as principal and in the context', async () => {
    expect(await handler(connectEvent(jwt(idToken())))).toStrictEqual(ALLOW);
  });

  it('is verified with a JWKS fetched once and cached across invocations', async () => {
    await handler(connectEvent(jwt(idToken())));
    await handler(connectEvent(jwt(idToken({ sub: 'user-sub-1' }))));
    expect(jwksRequests).toBe(1);
  });
});

describe('a token that must be refused', () => {
  const tampered = () => {
    const [header, , signature] = jwt(idToken()).split('.');
    return `${header}.${base64url(JSON.stringify(idToken({ sub: 'admin' })))}.${signature}`;
  };

  it.each([
    ['missing', () => undefined, 'missing-token'],
    ['empty', () => '', 'missing-token'],
    ['expired', () => jwt(idToken({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 })), 'expired'],
    ['not yet valid', () => jwt(idToken({ nbf: nowSeconds() + 3600 })), 'not-yet-valid'],
    ['from another issuer', () => jwt(idToken({ iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other' })), 'wrong-issuer'],
    ['for another audience', () => jwt(idToken({ aud: 'another-client' })), 'wrong-audience'],
    ['tampered (payload changed after signing)', tampered, 'bad-signature'],
    ['forged (signed with another key under the same kid)', () => jwt(idToken(), { key: forgerKey.privateKey }), 'bad-signature'],
    ['unsigned (alg none)', () => jwt(idToken(), { alg: 'none' }), 'malformed'],
    ['signed with a key the JWKS does not have', () => jwt(idToken(), { kid: 'unknown-kid' }), 'unknown-key'],
    ['an access token, not an ID token', () => jwt(idToken({ token_use: 'access', aud: undefined, client_id: CLIENT_ID })), 'wrong-audience'],
    ['an ID token of the right audience with token_use access', () => jwt(idToken({ token_use: 'access' })), 'not-an-id-token'],
    ['an ID token without a subject', () => jwt(idToken({ sub: undefined })), 'not-an-id-token'],
    ['not a JWT at all', () => 'not-a-jwt', 'malformed'],
  ])('is denied when %s, with nothing about why', async (_name, token, reason) => {
    // Act
    const result = await handler(connectEvent(token()));

    // Assess: a plain Deny, no context, no reason; the reason goes to the logs only.
    expect(result).toStrictEqual(DENY);
    expect(logCalls()).toContainEqual(['Connection refused', { reason }]);
  });

  it('never writes the token to the logs', async () => {
    const token = jwt(idToken({ exp: nowSeconds() - 10 }));
    await handler(connectEvent(token));
    const logs = JSON.stringify(logCalls());
    expect(logs).toContain('Connection refused');
    for (const part of token.split('.')) expect(logs).not.toContain(part);
  });
});

describe('an issuer whose JWKS cannot be fetched', () => {
  it('refuses the connection and logs the outage as an error', async () => {
    // Prepare: a fresh cold start for a pool the JWKS server does not know (it answers 404).
    vi.stubEnv('USER_POOL_ID', 'us-east-1_Missing');
    vi.resetModules();
    const cold = (await import('../../lambdas/dashboard/authorize.handler')).handler;
    const missingIssuer = issuer.replace(POOL_ID, 'us-east-1_Missing');

    // Act
    const result = await cold(connectEvent(jwt(idToken({ iss: missingIssuer }))));

    // Assess
    expect(result).toStrictEqual(DENY);
    expect(logCalls()).toContainEqual(['Connection refused', { reason: 'jwks-unavailable' }]);
    expect(logCalls().map(([message]) => message)).toContain('Could not obtain the issuer JWKS; refusing the connection');
  });

  it('reports an issuer that cannot be reached as an outage, not as a bad token', async () => {
    // Prepare: a cold start whose issuer endpoint refuses connections (a closed port).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = `http://127.0.0.1:${port}`;
    vi.stubEnv('AWS_ENDPOINT_URL', unreachable);
    vi.resetModules();
    const cold = (await import('../../lambdas/dashboard/authorize.handler')).handler;

    // Act
    const result = await cold(connectEvent(jwt(idToken({ iss: `${unreachable}/${POOL_ID}` }))));

    // Assess
    expect(result).toStrictEqual(DENY);
    expect(logCalls()).toContainEqual(['Connection refused', { reason: 'jwks-unavailable' }]);
  });
});
