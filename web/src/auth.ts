import * as z from 'zod';
import type { DashboardConfig } from '../../contracts/dashboard';

/**
 * Where the dashboard's WebSocket token comes from: the local cloud's development issuer, or a
 * Cognito user pool's managed login (authorization code flow with PKCE). The helpers that build
 * URLs and challenges are pure; browser objects (fetch, storage, location) come in as arguments.
 */

export class UnauthorizedError extends Error {
  override name = 'UnauthorizedError';
}

/** The page is navigating to the sign-in page; nothing more to do until it comes back. */
export class SignInRedirectError extends Error {
  override name = 'SignInRedirectError';
}

export class TokenRequestError extends Error {
  override name = 'TokenRequestError';
}

export interface TokenSource {
  /** `fresh`: the last token may have been refused, so do not reuse a cached one blindly. */
  token(options: { fresh: boolean }): Promise<string>;
}

/** A token is renewed this long before it expires, so it is still valid when the handshake reaches the authorizer. */
export const EXPIRY_MARGIN_MS = 60_000;

const encoder = new TextEncoder();

export function base64UrlEncode(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function base64UrlDecode(text: string): string {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

/** The `exp` claim in epoch milliseconds, or undefined if the token is not a JWT with one. It does not verify anything: the authorizer does. */
export function jwtExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as { exp?: unknown };
    return typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export const isUsable = (token: string | undefined, now: number): token is string => {
  if (token === undefined) return false;
  const expiry = jwtExpiryMs(token);
  return expiry !== undefined && expiry - EXPIRY_MARGIN_MS > now;
};

/** RFC 7636 code verifier: 32 random bytes, base64url (43 characters). */
export function createCodeVerifier(randomBytes: (length: number) => Uint8Array): string {
  return base64UrlEncode(randomBytes(32));
}

export async function codeChallengeS256(verifier: string, subtle: SubtleCrypto): Promise<string> {
  return base64UrlEncode(new Uint8Array(await subtle.digest('SHA-256', encoder.encode(verifier))));
}

type CognitoAuth = Extract<DashboardConfig['auth'], { mode: 'cognito' }>;

const trimSlash = (url: string): string => url.replace(/\/+$/, '');

export function authorizeUrl(auth: CognitoAuth, { state, challenge }: { state: string; challenge: string }): string {
  const url = new URL(`${trimSlash(auth.domain)}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: auth.clientId,
    redirect_uri: auth.redirectUri,
    scope: 'openid',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  return url.toString();
}

export function tokenRequest(auth: CognitoAuth, { code, verifier }: { code: string; verifier: string }): { url: string; init: RequestInit } {
  return {
    url: `${trimSlash(auth.domain)}/oauth2/token`,
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: auth.clientId,
        code,
        redirect_uri: auth.redirectUri,
        code_verifier: verifier,
      }).toString(),
    },
  };
}

const DevTokenResponse = z.object({ token: z.string().min(1) });
const CognitoTokenResponse = z.object({ id_token: z.string().min(1) });

/** The local cloud's development issuer: `POST tokenUrl` answers `{ "token": "<JWT>" }`. */
export function devTokenSource(tokenUrl: string, { fetch: fetchFn = globalThis.fetch.bind(globalThis), now = () => Date.now() } = {}): TokenSource {
  let cached: string | undefined;
  return {
    async token({ fresh }) {
      if (!fresh && isUsable(cached, now())) return cached;
      let response: Response;
      try {
        response = await fetchFn(tokenUrl, { method: 'POST' });
      } catch (error) {
        throw new TokenRequestError(`cannot reach ${tokenUrl} (${(error as Error).message})`);
      }
      if (response.status === 401 || response.status === 403) throw new UnauthorizedError(`${tokenUrl} answered ${response.status}`);
      if (!response.ok) throw new TokenRequestError(`${tokenUrl} answered ${response.status}`);
      const parsed = DevTokenResponse.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw new TokenRequestError(`${tokenUrl} did not answer { "token": "..." }`);
      cached = parsed.data.token;
      return cached;
    },
  };
}

/** Keys in sessionStorage: one tab's sign-in survives a reload, and nothing outlives the session. */
export const STORAGE_KEYS = {
  idToken: 'watershed.idToken',
  verifier: 'watershed.pkce.verifier',
  state: 'watershed.pkce.state',
  redirects: 'watershed.signIn.redirects',
} as const;

/** Redirects to sign-in allowed within REDIRECT_WINDOW_MS before the page gives up and reports it (no redirect loops). */
const MAX_REDIRECTS = 3;
const REDIRECT_WINDOW_MS = 60_000;

export interface BrowserDeps {
  readonly fetch: typeof fetch;
  readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  /** The page's current URL. */
  readonly currentUrl: () => string;
  /** Replaces the current history entry's URL (removes `code` and `state` after sign-in). */
  readonly replaceUrl: (url: string) => void;
  readonly navigate: (url: string) => void;
  readonly crypto: Pick<Crypto, 'getRandomValues' | 'subtle'>;
  readonly now: () => number;
}

export function browserDeps(): BrowserDeps {
  return {
    fetch: globalThis.fetch.bind(globalThis),
    storage: sessionStorage,
    currentUrl: () => location.href,
    replaceUrl: (url) => history.replaceState(history.state, '', url),
    navigate: (url) => location.assign(url),
    crypto,
    now: () => Date.now(),
  };
}

/**
 * Cognito managed login. `token()` returns the stored ID token while it is valid; otherwise it
 * starts the code flow (and throws SignInRedirectError as the page navigates away). Call
 * `completeSignIn()` once at start-up: it finishes a flow the page is returning from.
 */
export class CognitoTokenSource implements TokenSource {
  private idToken: string | undefined;

  constructor(
    private readonly auth: CognitoAuth,
    private readonly deps: BrowserDeps,
  ) {
    this.idToken = deps.storage.getItem(STORAGE_KEYS.idToken) ?? undefined;
  }

  /** Exchanges `?code=` for tokens if the page is the redirect target of a sign-in it started. */
  async completeSignIn(): Promise<void> {
    const url = new URL(this.deps.currentUrl());
    const code = url.searchParams.get('code');
    const returnedState = url.searchParams.get('state');
    const error = url.searchParams.get('error');
    if (code === null && error === null) return;
    for (const name of ['code', 'state', 'error', 'error_description']) url.searchParams.delete(name);
    this.deps.replaceUrl(url.toString());

    const expectedState = this.deps.storage.getItem(STORAGE_KEYS.state);
    const verifier = this.deps.storage.getItem(STORAGE_KEYS.verifier);
    this.deps.storage.removeItem(STORAGE_KEYS.state);
    this.deps.storage.removeItem(STORAGE_KEYS.verifier);
    if (error !== null) throw new UnauthorizedError(`sign-in failed: ${error}`);
    if (expectedState === null || verifier === null || returnedState !== expectedState) {
      throw new UnauthorizedError('sign-in response does not match a sign-in this tab started (state mismatch)');
    }
    const request = tokenRequest(this.auth, { code: code!, verifier });
    const response = await this.deps.fetch(request.url, request.init);
    if (!response.ok) throw new UnauthorizedError(`token exchange answered ${response.status}`);
    const parsed = CognitoTokenResponse.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) throw new UnauthorizedError('token exchange returned no id_token');
    this.idToken = parsed.data.id_token;
    this.deps.storage.setItem(STORAGE_KEYS.idToken, this.idToken);
    this.deps.storage.removeItem(STORAGE_KEYS.redirects);
  }

  async token(_options: { fresh: boolean }): Promise<string> {
    // A fresh token cannot be had without a sign-in; a refused but unexpired token is retried
    // (the server may have been down), an expired one means signing in again.
    if (isUsable(this.idToken, this.deps.now())) return this.idToken;
    this.idToken = undefined;
    this.deps.storage.removeItem(STORAGE_KEYS.idToken);
    await this.signIn();
    throw new SignInRedirectError('signing in');
  }

  private async signIn(): Promise<void> {
    const now = this.deps.now();
    const recent = (this.deps.storage.getItem(STORAGE_KEYS.redirects) ?? '')
      .split(',')
      .map(Number)
      .filter((at) => Number.isFinite(at) && at > now - REDIRECT_WINDOW_MS);
    if (recent.length >= MAX_REDIRECTS) {
      throw new UnauthorizedError(`signed in ${recent.length} times in a minute without a usable token; check the clock and the user pool client`);
    }
    this.deps.storage.setItem(STORAGE_KEYS.redirects, [...recent, now].join(','));
    const verifier = createCodeVerifier((length) => this.deps.crypto.getRandomValues(new Uint8Array(length)));
    const state = base64UrlEncode(this.deps.crypto.getRandomValues(new Uint8Array(16)));
    this.deps.storage.setItem(STORAGE_KEYS.verifier, verifier);
    this.deps.storage.setItem(STORAGE_KEYS.state, state);
    this.deps.navigate(authorizeUrl(this.auth, { state, challenge: await codeChallengeS256(verifier, this.deps.crypto.subtle) }));
  }
}
