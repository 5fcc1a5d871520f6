import { generateKeyPairSync, sign } from 'node:crypto';
import { JwtVerifier } from 'aws-jwt-verify';
import { JwtExpiredError, JwtInvalidClaimError, JwtInvalidSignatureError, KidNotFoundInJwksError } from 'aws-jwt-verify/error';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache } from 'aws-jwt-verify/jwk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_TOKEN_PATH, DevIssuer } from '../../local/cognito/dev-issuer';
import { provisionStack, type ProvisionedStack } from '../../local/cloudformation/provision';
import type { CfnTemplate } from '../../local/cloudformation/template';
import { startEdge, type Edge } from '../../local/edge';

/** The user pool and app client as CDK synthesizes them (lib/live-dashboard.ts). */
const TEMPLATE: CfnTemplate = {
  Resources: {
    UserPool: { Type: 'AWS::Cognito::UserPool', Properties: { AdminCreateUserConfig: { AllowAdminCreateUserOnly: true } } },
    UserPoolClient: { Type: 'AWS::Cognito::UserPoolClient', Properties: { UserPoolId: { Ref: 'UserPool' }, GenerateSecret: false } },
    UserPoolDomain: { Type: 'AWS::Cognito::UserPoolDomain', Properties: { UserPoolId: { Ref: 'UserPool' }, Domain: 'watershed-000000000000' } },
  },
  Outputs: {
    UserPoolId: { Value: { Ref: 'UserPool' } },
    UserPoolClientId: { Value: { Ref: 'UserPoolClient' } },
    ProviderUrl: { Value: { 'Fn::GetAtt': ['UserPool', 'ProviderURL'] } },
  },
};

/** Fetches JWKS with the global fetch, as the dashboard authorizer does (aws-jwt-verify's own fetcher is https-only). */
const globalFetch: Fetcher = {
  async fetch(uri: string) {
    const response = await fetch(uri);
    if (response.status !== 200) throw new Error(`GET ${uri} answered ${response.status}`);
    return response.arrayBuffer();
  },
};

let edge: Edge;
let stack: ProvisionedStack;
let issuer: DevIssuer;
let userPoolId: string;
let clientId: string;

beforeAll(async () => {
  edge = await startEdge({ port: 0 });
  stack = await provisionStack({ template: TEMPLATE, stackName: 'CognitoTest', assemblyDirectory: '.', edgeUrl: edge.url });
  issuer = new DevIssuer(edge.url);
  for (const pool of stack.userPools) issuer.addUserPool(pool);
  issuer.attach(edge);
  userPoolId = stack.outputs.UserPoolId!;
  clientId = stack.outputs.UserPoolClientId!;
});

afterAll(async () => {
  await edge?.stop();
});

/** The verifier of the dashboard authorizer: issuer `<edge>/<userPoolId>`, ID tokens of the app client. */
function verifierFactory() {
  const verifier = JwtVerifier.create(
    { issuer: `${edge.url}/${userPoolId}`, audience: clientId, jwksUri: `${edge.url}/${userPoolId}/.well-known/jwks.json`, customJwtCheck: ({ payload }) => {
      if (payload.token_use !== 'id') throw new Error(`expected an ID token, got ${JSON.stringify(payload.token_use)}`);
    } },
    { jwksCache: new SimpleJwksCache({ fetcher: globalFetch }) },
  );
  return verifier;
}

const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;

async function postToken(body?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${edge.url}${DEV_TOKEN_PATH}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
}

describe('provisioning a user pool', () => {
  it('gives the pool a Cognito-style id, the client an id, and ProviderURL the local issuer', () => {
    // Assess
    expect(userPoolId).toMatch(/^us-east-1_[A-Za-z0-9]{9}$/);
    expect(clientId).toMatch(/^[a-z0-9]{26}$/);
    expect(stack.userPools).toStrictEqual([{ logicalId: 'UserPool', userPoolId, clientIds: [clientId] }]);
    expect(stack.resources.get('UserPool')?.attributes).toStrictEqual({
      Arn: `arn:aws:cognito-idp:us-east-1:000000000000:userpool/${userPoolId}`,
      ProviderName: `${edge.url.replace('http://', '')}/${userPoolId}`,
      ProviderURL: `${edge.url}/${userPoolId}`,
      UserPoolId: userPoolId,
    });
    expect(stack.outputs.ProviderUrl).toBe(issuer.issuer(userPoolId));
    expect(stack.resources.get('UserPoolDomain')?.note).toBe('managed login is not emulated; local clients use development tokens');
  });
});

describe('the development issuer', () => {
  it('serves the OpenID configuration and the JWKS at the issuer', async () => {
    // Act
    const configuration = (await (await fetch(`${edge.url}/${userPoolId}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    const jwks = (await (await fetch(`${edge.url}/${userPoolId}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] };

    // Assess
    expect(configuration).toMatchObject({
      issuer: `${edge.url}/${userPoolId}`,
      jwks_uri: `${edge.url}/${userPoolId}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['RS256'],
    });
    expect(jwks).toStrictEqual({ keys: [{ kty: 'RSA', n: expect.stringMatching(/^[A-Za-z0-9_-]{342}$/), e: 'AQAB', alg: 'RS256', kid: issuer.keyId, use: 'sig' }] });
  });

  it('answers 404 for a pool it does not know', async () => {
    // Act
    const response = await fetch(`${edge.url}/us-east-1_unknown12/.well-known/jwks.json`);

    // Assess: unsigned and not a dev issuer path, so the edge sends it to S3, which is not registered here
    expect(response.status).toBe(400);
  });

  it('mints an RS256 ID token that the authorizer verification accepts', async () => {
    // Act
    const { status, headers, json } = await postToken();
    const token = String(json.token);
    const payload = await verifierFactory().verify(token);

    // Assess
    expect(status).toBe(200);
    expect(Object.keys(json)).toStrictEqual(['token']);
    expect(headers.get('access-control-allow-origin')).toBe('*');
    const [header] = token.split('.');
    expect(decode(header!)).toStrictEqual({ kid: issuer.keyId, alg: 'RS256' });
    expect(payload).toStrictEqual({
      sub: expect.stringMatching(/^[0-9a-f-]{36}$/),
      iss: `${edge.url}/${userPoolId}`,
      'cognito:username': 'dev',
      origin_jti: expect.any(String),
      aud: clientId,
      event_id: expect.any(String),
      token_use: 'id',
      auth_time: expect.any(Number),
      exp: payload.iat! + 3600,
      iat: expect.any(Number),
      jti: expect.any(String),
    });
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(5);
  });

  it('takes the subject from the request body', async () => {
    // Act
    const { json } = await postToken(JSON.stringify({ sub: 'alice' }));

    // Assess
    expect(await verifierFactory().verify(String(json.token))).toMatchObject({ sub: 'alice', 'cognito:username': 'alice' });
  });

  it.each<[string, string, string]>([
    ['a body that is not JSON', '{', 'the body is not JSON'],
    ['a subject that is not a string', '{"sub":7}', 'sub must be a non-empty string'],
    ['an unknown user pool', '{"userPoolId":"us-east-1_nothere00"}', 'No user pool us-east-1_nothere00'],
  ])('answers 400 to %s', async (_name, body, message) => {
    // Act
    const { status, json } = await postToken(body);

    // Assess
    expect(status).toBe(400);
    expect(String(json.message)).toContain(message);
  });

  it('answers the CORS preflight of a page on another origin', async () => {
    // Act
    const response = await fetch(`${edge.url}${DEV_TOKEN_PATH}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

    // Assess
    expect(response.status).toBe(204);
    const cors: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name.startsWith('access-control-')) cors[name] = value;
    });
    expect(cors).toStrictEqual({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '600',
    });
  });

  it('answers 405 to GET', async () => {
    // Act
    const response = await fetch(`${edge.url}${DEV_TOKEN_PATH}`);

    // Assess
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST, OPTIONS');
  });

  describe('tokens the verification refuses', () => {
    const forge = (payload: Record<string, unknown>, kid: string) => {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const input = `${Buffer.from(JSON.stringify({ kid, alg: 'RS256' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    };

    it.each<[string, () => string, object]>([
      ['an expired token', () => issuer.mintIdToken({ expiresInSeconds: -60 }), JwtExpiredError],
      ['a token for another audience', () => issuer.mintIdToken({ clientId: 'someotherclient' }), JwtInvalidClaimError],
      ['a token from another issuer', () => issuer.mintIdToken({ claims: { iss: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abcdefghi' } }), JwtInvalidClaimError],
      [
        'a tampered token (its payload changed after signing)',
        () => {
          const [header, payload, signature] = issuer.mintIdToken().split('.');
          const changed = Buffer.from(JSON.stringify({ ...decode(payload!), sub: 'admin' })).toString('base64url');
          return `${header}.${changed}.${signature}`;
        },
        JwtInvalidSignatureError,
      ],
      ['a token signed with another key under the same kid', () => forge(decode(issuer.mintIdToken().split('.')[1]!), issuer.keyId), JwtInvalidSignatureError],
      ['a token signed with an unknown key', () => forge(decode(issuer.mintIdToken().split('.')[1]!), 'unknown-kid'), KidNotFoundInJwksError],
    ])('refuses %s', async (_name, token, errorClass) => {
      // Act
      const verification = verifierFactory().verify(token());

      // Assess
      await expect(verification).rejects.toBeInstanceOf(errorClass);
    });
  });

  it('asks for a userPoolId when the template has several pools', async () => {
    // Prepare
    const several = new DevIssuer(edge.url);
    several.addUserPool({ logicalId: 'A', userPoolId: 'us-east-1_aaaaaaaaa', clientIds: ['a'] });
    several.addUserPool({ logicalId: 'B', userPoolId: 'us-east-1_bbbbbbbbb', clientIds: ['b'] });

    // Act
    const mint = () => several.mintIdToken();
    const token = several.mintIdToken({ userPoolId: 'us-east-1_bbbbbbbbb' });

    // Assess
    expect(mint).toThrow('The template declares several user pools; name one with userPoolId: us-east-1_aaaaaaaaa, us-east-1_bbbbbbbbb');
    expect(decode(token.split('.')[1]!)).toMatchObject({ aud: 'b', iss: `${edge.url}/us-east-1_bbbbbbbbb` });
  });
});
