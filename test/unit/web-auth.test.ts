import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  codeChallengeS256,
  CognitoTokenSource,
  devTokenSource,
  jwtExpiryMs,
  readRefreshResponse,
  RefreshRefusedError,
  refreshTokenRequest,
  renewAtMs,
  SignInRedirectError,
  STORAGE_KEYS,
  tokenRequest,
  TokenRequestError,
  UnauthorizedError,
  type BrowserDeps,
} from '../../web/src/auth';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const COGNITO = { mode: 'cognito', domain: 'https://watershed.auth.us-east-1.amazoncognito.com/', clientId: 'client-1', redirectUri: 'https://d111.cloudfront.net/' } as const;

function jwtFactory(claims: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', kid: 'k1' })}.${part(claims)}.signature`;
}

const validToken = jwtFactory({ sub: 'u-1', exp: NOW / 1000 + 3600 });
const expiredToken = jwtFactory({ sub: 'u-1', exp: NOW / 1000 - 1 });

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

function browserFactory({
  url = 'https://d111.cloudfront.net/',
  stored = {},
  fetchResponse = jsonResponse(200, { id_token: validToken }),
  respond,
}: { url?: string; stored?: Record<string, string>; fetchResponse?: Response; respond?: (call: number) => Promise<Response> } = {}) {
  const storage = new Map(Object.entries(stored));
  const navigations: string[] = [];
  const requests: { url: string; init?: RequestInit }[] = [];
  let current = url;
  const deps: BrowserDeps = {
    fetch: (async (input: string, init?: RequestInit) => {
      requests.push({ url: input, init });
      return respond === undefined ? fetchResponse : respond(requests.length);
    }) as typeof fetch,
    storage: { getItem: (key) => storage.get(key) ?? null, setItem: (key, value) => void storage.set(key, value), removeItem: (key) => void storage.delete(key) },
    currentUrl: () => current,
    replaceUrl: (next) => {
      current = next;
    },
    navigate: (next) => navigations.push(next),
    crypto: webcrypto as unknown as Crypto,
    now: () => NOW,
  };
  return { deps, storage, navigations, requests, current: () => current };
}

describe('PKCE and the Cognito URLs', () => {
  it('derives the S256 challenge of RFC 7636, appendix B', async () => {
    await expect(codeChallengeS256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk', webcrypto.subtle as SubtleCrypto)).resolves.toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('builds the authorize URL of the managed login', () => {
    const url = new URL(authorizeUrl(COGNITO, { state: 's-1', challenge: 'c-1' }));

    expect(`${url.origin}${url.pathname}`).toBe('https://watershed.auth.us-east-1.amazoncognito.com/oauth2/authorize');
    expect(Object.fromEntries(url.searchParams)).toStrictEqual({
      response_type: 'code',
      client_id: 'client-1',
      redirect_uri: 'https://d111.cloudfront.net/',
      scope: 'openid',
      state: 's-1',
      code_challenge: 'c-1',
      code_challenge_method: 'S256',
    });
  });

  it('exchanges the code with the verifier, form-encoded', () => {
    const request = tokenRequest(COGNITO, { code: 'code-1', verifier: 'v-1' });

    expect(request.url).toBe('https://watershed.auth.us-east-1.amazoncognito.com/oauth2/token');
    expect(Object.fromEntries(new URLSearchParams(request.init.body as URLSearchParams))).toStrictEqual({
      grant_type: 'authorization_code',
      client_id: 'client-1',
      code: 'code-1',
      redirect_uri: 'https://d111.cloudfront.net/',
      code_verifier: 'v-1',
    });
  });

  it.each([
    { name: 'a JWT with exp', token: validToken, expected: NOW + 3_600_000 },
    { name: 'a JWT without exp', token: jwtFactory({ sub: 'x' }), expected: undefined },
    { name: 'not a JWT', token: 'opaque', expected: undefined },
    { name: 'a garbled payload', token: 'a.%%%.c', expected: undefined },
  ])('reads the expiry of $name', ({ token, expected }) => {
    expect(jwtExpiryMs(token)).toBe(expected);
  });
});

describe('CognitoTokenSource', () => {
  it('starts the code flow when it holds no usable token, keeping verifier and state in sessionStorage', async () => {
    const browser = browserFactory({ stored: { [STORAGE_KEYS.idToken]: expiredToken } });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    await expect(source.token({ fresh: false })).rejects.toBeInstanceOf(SignInRedirectError);

    const target = new URL(browser.navigations[0]!);
    const verifier = browser.storage.get(STORAGE_KEYS.verifier)!;
    expect(target.searchParams.get('state')).toBe(browser.storage.get(STORAGE_KEYS.state));
    expect(target.searchParams.get('code_challenge')).toBe(await codeChallengeS256(verifier, webcrypto.subtle as SubtleCrypto));
    expect(verifier).toMatch(/^[\w-]{43}$/);
    expect(browser.storage.has(STORAGE_KEYS.idToken)).toBe(false);
  });

  it('completes the flow: checks state, exchanges the code, stores the ID token and cleans the URL', async () => {
    const browser = browserFactory({
      url: 'https://d111.cloudfront.net/?code=code-1&state=s-1',
      stored: { [STORAGE_KEYS.state]: 's-1', [STORAGE_KEYS.verifier]: 'v-1' },
    });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    await source.completeSignIn();

    await expect(source.token({ fresh: true })).resolves.toBe(validToken);
    expect(browser.current()).toBe('https://d111.cloudfront.net/');
    expect(browser.storage.get(STORAGE_KEYS.idToken)).toBe(validToken);
    expect(browser.storage.has(STORAGE_KEYS.verifier)).toBe(false);
    expect(Object.fromEntries(new URLSearchParams(browser.requests[0]!.init!.body as URLSearchParams))).toMatchObject({ code: 'code-1', code_verifier: 'v-1' });
  });

  it('refuses a response whose state this tab did not issue', async () => {
    const browser = browserFactory({
      url: 'https://d111.cloudfront.net/?code=code-1&state=forged',
      stored: { [STORAGE_KEYS.state]: 's-1', [STORAGE_KEYS.verifier]: 'v-1' },
    });

    await expect(new CognitoTokenSource(COGNITO, browser.deps).completeSignIn()).rejects.toBeInstanceOf(UnauthorizedError);
    expect(browser.requests).toStrictEqual([]);
  });

  it('stops redirecting after three sign-ins in a minute that yielded no usable token', async () => {
    const browser = browserFactory();
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    for (let i = 0; i < 3; i++) await expect(source.token({ fresh: false })).rejects.toBeInstanceOf(SignInRedirectError);
    await expect(source.token({ fresh: false })).rejects.toBeInstanceOf(UnauthorizedError);
    expect(browser.navigations).toHaveLength(3);
  });
});

const form = (init: RequestInit | undefined) => Object.fromEntries(new URLSearchParams(init?.body as string));

describe('refreshing the Cognito tokens', () => {
  it('asks the token endpoint for a refresh_token grant, form-encoded, as a public client', () => {
    const request = refreshTokenRequest(COGNITO, 'refresh-1');

    expect(request.url).toBe('https://watershed.auth.us-east-1.amazoncognito.com/oauth2/token');
    expect(request.init.method).toBe('POST');
    expect(request.init.headers).toStrictEqual({ 'content-type': 'application/x-www-form-urlencoded' });
    expect(form(request.init)).toStrictEqual({ grant_type: 'refresh_token', client_id: 'client-1', refresh_token: 'refresh-1' });
  });

  it.each([
    { name: 'new tokens with a rotated refresh token', status: 200, body: { id_token: 'id-2', refresh_token: 'refresh-2', access_token: 'a', expires_in: 3600, token_type: 'Bearer' }, expected: { idToken: 'id-2', refreshToken: 'refresh-2' } },
    { name: 'an ID token alone (no rotation)', status: 200, body: { id_token: 'id-2', access_token: 'a', expires_in: 3600, token_type: 'Bearer' }, expected: { idToken: 'id-2', refreshToken: undefined } },
  ])('reads $name', ({ status, body, expected }) => {
    expect(readRefreshResponse(status, body)).toStrictEqual(expected);
  });

  it.each([
    { name: '400 invalid_grant (expired or revoked)', status: 400, body: { error: 'invalid_grant' }, error: RefreshRefusedError, message: 'the token endpoint refused the refresh token: invalid_grant' },
    { name: '400 unauthorized_client (refresh not allowed)', status: 400, body: { error: 'unauthorized_client', error_description: 'no refresh' }, error: RefreshRefusedError, message: 'the token endpoint refused the refresh token: unauthorized_client (no refresh)' },
    { name: '401 invalid_client', status: 401, body: { error: 'invalid_client' }, error: RefreshRefusedError, message: 'the token endpoint refused the refresh token: invalid_client' },
    { name: '500', status: 500, body: { error: 'internal_error' }, error: TokenRequestError, message: 'the token endpoint answered 500 internal_error' },
    { name: '429 throttling', status: 429, body: undefined, error: TokenRequestError, message: 'the token endpoint answered 429' },
    { name: 'a 400 that is not an OAuth error (a proxy page)', status: 400, body: undefined, error: TokenRequestError, message: 'the token endpoint answered 400' },
    { name: 'a 200 without an id_token', status: 200, body: { access_token: 'a' }, error: TokenRequestError, message: 'the token endpoint answered 200 without an id_token' },
  ])('throws $error.name for $name', ({ status, body, error, message }) => {
    expect(() => readRefreshResponse(status, body)).toThrow(error);
    expect(() => readRefreshResponse(status, body)).toThrow(message);
  });

  it.each([
    { name: 'an hour-long token', claims: { iat: NOW / 1000, exp: NOW / 1000 + 3600 }, expected: NOW + 3_600_000 - 60_000 },
    { name: 'a 4-second token (halfway)', claims: { iat: NOW / 1000, exp: NOW / 1000 + 4 }, expected: NOW + 2000 },
    { name: 'a token without iat', claims: { exp: NOW / 1000 + 3600 }, expected: NOW + 3_600_000 - 60_000 },
    { name: 'a token without exp', claims: { iat: NOW / 1000 }, expected: undefined },
  ])('renews $name at the right time', ({ claims, expected }) => {
    expect(renewAtMs(jwtFactory(claims))).toBe(expected);
  });
});

describe('CognitoTokenSource with a refresh token', () => {
  const refreshed = jwtFactory({ sub: 'u-1', iat: NOW / 1000, exp: NOW / 1000 + 3600, n: 2 });

  it('keeps the refresh token of the code exchange in sessionStorage', async () => {
    const browser = browserFactory({
      url: 'https://d111.cloudfront.net/?code=code-1&state=s-1',
      stored: { [STORAGE_KEYS.state]: 's-1', [STORAGE_KEYS.verifier]: 'v-1' },
      fetchResponse: jsonResponse(200, { id_token: validToken, refresh_token: 'refresh-1' }),
    });

    await new CognitoTokenSource(COGNITO, browser.deps).completeSignIn();

    expect(browser.storage.get(STORAGE_KEYS.refreshToken)).toBe('refresh-1');
  });

  it('trades it for a new ID token when the stored one expires, without a sign-in', async () => {
    const browser = browserFactory({
      stored: { [STORAGE_KEYS.idToken]: expiredToken, [STORAGE_KEYS.refreshToken]: 'refresh-1' },
      fetchResponse: jsonResponse(200, { id_token: refreshed, refresh_token: 'refresh-2' }),
    });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    await expect(source.token({ fresh: false })).resolves.toBe(refreshed);

    expect(browser.navigations).toStrictEqual([]);
    expect(browser.requests.map((request) => form(request.init))).toStrictEqual([{ grant_type: 'refresh_token', client_id: 'client-1', refresh_token: 'refresh-1' }]);
    expect(browser.storage.get(STORAGE_KEYS.idToken)).toBe(refreshed);
    expect(browser.storage.get(STORAGE_KEYS.refreshToken)).toBe('refresh-2');
  });

  it('refreshes a valid ID token when asked for a fresh one (the last one was refused)', async () => {
    const browser = browserFactory({
      stored: { [STORAGE_KEYS.idToken]: validToken, [STORAGE_KEYS.refreshToken]: 'refresh-1' },
      fetchResponse: jsonResponse(200, { id_token: refreshed }),
    });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    await expect(source.token({ fresh: true })).resolves.toBe(refreshed);
    // No rotation: the refresh token stays.
    expect(browser.storage.get(STORAGE_KEYS.refreshToken)).toBe('refresh-1');
  });

  it('sends callers that ask at once to one refresh', async () => {
    const browser = browserFactory({ stored: { [STORAGE_KEYS.refreshToken]: 'refresh-1' }, respond: async () => jsonResponse(200, { id_token: refreshed }) });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    const tokens = await Promise.all([source.token({ fresh: false }), source.token({ fresh: false })]);

    expect(tokens).toStrictEqual([refreshed, refreshed]);
    expect(browser.requests).toHaveLength(1);
  });

  it('signs in again only when the refresh token is refused', async () => {
    const browser = browserFactory({
      stored: { [STORAGE_KEYS.idToken]: expiredToken, [STORAGE_KEYS.refreshToken]: 'revoked' },
      fetchResponse: jsonResponse(400, { error: 'invalid_grant' }),
    });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    await expect(source.token({ fresh: false })).rejects.toBeInstanceOf(SignInRedirectError);

    expect(browser.navigations).toHaveLength(1);
    expect(new URL(browser.navigations[0]!).pathname).toBe('/oauth2/authorize');
    expect(browser.storage.has(STORAGE_KEYS.refreshToken)).toBe(false);
    expect(browser.storage.has(STORAGE_KEYS.idToken)).toBe(false);
  });

  it.each([
    { name: 'the network fails', respond: async () => Promise.reject(new TypeError('Failed to fetch')), message: 'cannot reach https://watershed.auth.us-east-1.amazoncognito.com/oauth2/token (Failed to fetch)' },
    { name: 'the endpoint answers 503', respond: async () => jsonResponse(503, {}), message: 'the token endpoint answered 503' },
  ])('keeps the session when $name, and refreshes on the next call', async ({ respond, message }) => {
    let failing = true;
    const browser = browserFactory({
      stored: { [STORAGE_KEYS.idToken]: expiredToken, [STORAGE_KEYS.refreshToken]: 'refresh-1' },
      respond: async () => (failing ? respond() : jsonResponse(200, { id_token: refreshed })),
    });
    const source = new CognitoTokenSource(COGNITO, browser.deps);

    const failure = source.token({ fresh: false });
    await expect(failure).rejects.toBeInstanceOf(TokenRequestError);
    await expect(failure).rejects.toThrow(message);
    expect(browser.navigations).toStrictEqual([]);
    expect(browser.storage.get(STORAGE_KEYS.refreshToken)).toBe('refresh-1');

    failing = false;
    await expect(source.token({ fresh: false })).resolves.toBe(refreshed);
    expect(browser.navigations).toStrictEqual([]);
  });

  it('offers a refused but unexpired ID token while the token endpoint is unreachable', async () => {
    const browser = browserFactory({
      stored: { [STORAGE_KEYS.idToken]: validToken, [STORAGE_KEYS.refreshToken]: 'refresh-1' },
      respond: async () => Promise.reject(new TypeError('Failed to fetch')),
    });

    await expect(new CognitoTokenSource(COGNITO, browser.deps).token({ fresh: true })).resolves.toBe(validToken);
  });
});

describe('devTokenSource', () => {
  it('POSTs to the token URL and reuses a token until it nears expiry, unless asked for a fresh one', async () => {
    const calls: string[] = [];
    const source = devTokenSource('http://localhost:4566/_watershed/dev-token', {
      fetch: (async (url: string, init?: RequestInit) => {
        calls.push(`${init?.method} ${url}`);
        return jsonResponse(200, { token: validToken });
      }) as typeof fetch,
      now: () => NOW,
    });

    await source.token({ fresh: false });
    await source.token({ fresh: false });
    await source.token({ fresh: true });

    expect(calls).toStrictEqual(['POST http://localhost:4566/_watershed/dev-token', 'POST http://localhost:4566/_watershed/dev-token']);
  });

  it.each([
    { status: 401, error: UnauthorizedError },
    { status: 403, error: UnauthorizedError },
    { status: 500, error: TokenRequestError },
  ])('rejects with $error.name when the issuer answers $status', async ({ status, error }) => {
    const source = devTokenSource('http://localhost:4566/_watershed/dev-token', { fetch: (async () => jsonResponse(status, {})) as unknown as typeof fetch });

    await expect(source.token({ fresh: false })).rejects.toBeInstanceOf(error);
  });
});
