import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import type { UserPoolSpec } from '../cloudformation/provision';
import type { Edge, EdgeHandler, EdgeRequest, EdgeResponse } from '../edge';
import { readBody, sendJson } from '../http';

/** Where the dashboard (and anyone) gets a development token: `POST <edge>/_watershed/dev-token`. */
export const DEV_TOKEN_PATH = '/_watershed/dev-token';
const ONE_HOUR_SECONDS = 3600;
const MAX_REQUEST_BYTES = 16 * 1024;

export interface MintOptions {
  /** @default the only user pool of the template */
  userPoolId?: string;
  /** @default the pool's first app client */
  clientId?: string;
  /** @default a user id fixed for the issuer's lifetime */
  sub?: string;
  /** Negative values mint an expired token, for tests. @default 3600 */
  expiresInSeconds?: number;
  /** Claims to add or override. */
  claims?: Record<string, unknown>;
}

export class DevIssuerError extends Error {
  override name = 'DevIssuerError';
}

/**
 * A development stand-in for a Cognito user pool's token issuer. The JWT verification in the
 * authorizer runs unchanged against it: it serves each pool's OpenID configuration and JWKS at
 * `<edge>/<userPoolId>/.well-known/...` (issuer `<edge>/<userPoolId>`, LocalStack's convention)
 * and mints RS256 ID tokens as Cognito does (`token_use: id`, audience = the app client id), with
 * a key pair generated at start. There is no sign-in: anyone local can get a token, which is the
 * point of a development issuer.
 */
export class DevIssuer {
  readonly keyId = randomUUID();
  private readonly privateKey: KeyObject;
  private readonly publicJwk: Record<string, unknown>;
  private readonly pools = new Map<string, UserPoolSpec>();
  private readonly defaultSub = randomUUID();

  constructor(private readonly edgeUrl: string) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = privateKey;
    this.publicJwk = { ...publicKey.export({ format: 'jwk' }), alg: 'RS256', kid: this.keyId, use: 'sig' };
  }

  addUserPool(pool: UserPoolSpec): void {
    this.pools.set(pool.userPoolId, pool);
  }

  userPools(): UserPoolSpec[] {
    return [...this.pools.values()];
  }

  issuer(userPoolId: string): string {
    return `${this.edgeUrl}/${userPoolId}`;
  }

  get tokenUrl(): string {
    return `${this.edgeUrl}${DEV_TOKEN_PATH}`;
  }

  jwks(): { keys: Record<string, unknown>[] } {
    return { keys: [{ ...this.publicJwk }] };
  }

  /** An RS256 ID token as Cognito issues one. */
  mintIdToken(options: MintOptions = {}): string {
    const pool = this.pool(options.userPoolId);
    const clientId = options.clientId ?? pool.clientIds[0];
    if (clientId === undefined) throw new DevIssuerError(`User pool ${pool.userPoolId} has no app client in the template`);
    const now = Math.floor(Date.now() / 1000);
    const sub = options.sub ?? this.defaultSub;
    const payload = {
      sub,
      iss: this.issuer(pool.userPoolId),
      'cognito:username': sub === this.defaultSub ? 'dev' : sub,
      origin_jti: randomUUID(),
      aud: clientId,
      event_id: randomUUID(),
      token_use: 'id',
      auth_time: now,
      exp: now + (options.expiresInSeconds ?? ONE_HOUR_SECONDS),
      iat: now,
      jti: randomUUID(),
      ...options.claims,
    };
    const header = { kid: this.keyId, alg: 'RS256' };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    return `${signingInput}.${sign('sha256', Buffer.from(signingInput), this.privateKey).toString('base64url')}`;
  }

  /** Serves the well-known documents of every pool and the dev-token endpoint on the edge. */
  attach(edge: Edge): void {
    for (const userPoolId of this.pools.keys()) edge.routePath(`/${userPoolId}/.well-known/`, this.wellKnown);
    edge.routePath(DEV_TOKEN_PATH, this.devToken);
  }

  readonly wellKnown: EdgeHandler = (req: EdgeRequest, res: EdgeResponse) => {
    const [, userPoolId = '', , document] = (req.url ?? '/').split('?')[0]!.split('/');
    if (!this.pools.has(userPoolId) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      sendJson(res, 404, { message: `No such document: ${req.method ?? '?'} ${req.url ?? ''}` });
      return;
    }
    if (document === 'jwks.json') {
      sendJson(res, 200, this.jwks());
    } else if (document === 'openid-configuration') {
      const issuer = this.issuer(userPoolId);
      sendJson(res, 200, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        // Not an OAuth endpoint: POST it for a token, with no sign-in.
        token_endpoint: this.tokenUrl,
        response_types_supported: ['token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'token_use', 'cognito:username'],
      });
    } else {
      sendJson(res, 404, { message: `No such document: ${req.url ?? ''}` });
    }
  };

  /**
   * `POST /_watershed/dev-token` with an optional JSON body `{ "sub"?: string }` answers
   * `{ "token": "<JWT>" }`. It allows any origin, so the dashboard on its own port can call it.
   */
  readonly devToken: EdgeHandler = async (req: EdgeRequest, res: EdgeResponse) => {
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST, OPTIONS',
      'access-control-allow-headers': 'content-type',
      'access-control-max-age': '600',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      res.end();
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, { message: `POST ${DEV_TOKEN_PATH} for a development token` }, { ...cors, allow: 'POST, OPTIONS' });
      return;
    }
    let request: { sub?: unknown; userPoolId?: unknown; clientId?: unknown } = {};
    try {
      const text = (await readText(req, MAX_REQUEST_BYTES)).trim();
      if (text !== '') request = JSON.parse(text) as typeof request;
      if (request === null || typeof request !== 'object') throw new DevIssuerError('the body is not a JSON object');
      for (const key of ['sub', 'userPoolId', 'clientId'] as const) {
        if (request[key] !== undefined && (typeof request[key] !== 'string' || request[key] === '')) throw new DevIssuerError(`${key} must be a non-empty string`);
      }
      const token = this.mintIdToken({
        sub: request.sub as string | undefined,
        userPoolId: request.userPoolId as string | undefined,
        clientId: request.clientId as string | undefined,
      });
      sendJson(res, 200, { token }, { ...cors, 'cache-control': 'no-store' });
    } catch (error) {
      const message = error instanceof SyntaxError ? `the body is not JSON: ${error.message}` : (error as Error).message;
      sendJson(res, error instanceof DevIssuerError || error instanceof SyntaxError ? 400 : 500, { message }, cors);
    }
  };

  private pool(userPoolId?: string): UserPoolSpec {
    if (userPoolId !== undefined) {
      const pool = this.pools.get(userPoolId);
      if (pool === undefined) throw new DevIssuerError(`No user pool ${userPoolId}; known: ${[...this.pools.keys()].join(', ') || 'none'}`);
      return pool;
    }
    const [only, ...others] = this.pools.values();
    if (only === undefined) throw new DevIssuerError('The template declares no Cognito user pool');
    if (others.length > 0) throw new DevIssuerError(`The template declares several user pools; name one with userPoolId: ${[...this.pools.keys()].join(', ')}`);
    return only;
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

async function readText(req: EdgeRequest, limit: number): Promise<string> {
  const body = await readBody(req, limit);
  if (body === undefined) throw new DevIssuerError(`the body is longer than ${limit} bytes`);
  return body.toString('utf8');
}
