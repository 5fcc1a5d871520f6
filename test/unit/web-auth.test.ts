import { webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  authorizeUrl,
  codeChallengeS256,
  CognitoTokenSource,
  devTokenSource,
  jwtExpiryMs,
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
}: { url?: string; stored?: Record<string, string>; fetchResponse?: Response } = {}) {
  const storage = new Map(Object.entries(stored));
  const navigations: string[] = [];
  const requests: { url: string; init?: RequestInit }[] = [];
  let current = url;
  const deps: BrowserDeps = {
    fetch: (async (input: string, init?: RequestInit) => {
      requests.push({ url: input, init });
      return fetchResponse;
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
