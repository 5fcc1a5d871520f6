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

function jwtClaims(token: string): { exp?: unknown; iat?: unknown } | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as unknown;
    return typeof claims === 'object' && claims !== null ? claims : undefined;
  } catch {
    return undefined;
  }
}

/** The `exp` claim in epoch milliseconds, or undefined if the token is not a JWT with one. It does not verify anything: the authorizer does. */
export function jwtExpiryMs(token: string): number | undefined {
  const exp = jwtClaims(token)?.exp;
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

/**
 * When to stop using a token and get a new one: EXPIRY_MARGIN_MS before it expires, or halfway
 * through its life if it lives less than twice the margin (`exp - iat`), so a short-lived token
 * (a test's, or a pool configured for minutes) is still used at all. Undefined without `exp`.
 */
export function renewAtMs(token: string): number | undefined {
  const claims = jwtClaims(token);
  if (typeof claims?.exp !== 'number') return undefined;
  const expiry = claims.exp * 1000;
  const lifetime = typeof claims.iat === 'number' ? expiry - claims.iat * 1000 : Infinity;
  return expiry - Math.min(EXPIRY_MARGIN_MS, Math.max(0, lifetime / 2));
}

export const isUsable = (token: string | undefined, now: number): token is string => {
  if (token === undefined) return false;
  const renewAt = renewAtMs(token);
  return renewAt !== undefined && renewAt > now;
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

/**
 * Trades the refresh token for new tokens (Cognito's token endpoint, `grant_type=refresh_token`).
 * The app client has no secret (a public client), so the client id alone identifies it.
 */
export function refreshTokenRequest(auth: CognitoAuth, refreshToken: string): { url: string; init: RequestInit } {
  return {
    url: `${trimSlash(auth.domain)}/oauth2/token`,
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', client_id: auth.clientId, refresh_token: refreshToken }).toString(),
    },
  };
}

const DevTokenResponse = z.object({ token: z.string().min(1) });
/** The token endpoint's answer. A refresh answers no refresh_token unless the client rotates them. */
const CognitoTokenResponse = z.object({ id_token: z.string().min(1), refresh_token: z.string().min(1).optional() });
/** RFC 6749 section 5.2: an error answer of the token endpoint. */
const OAuthErrorResponse = z.object({ error: z.string().min(1), error_description: z.string().optional() });

/** The errors of RFC 6749 section 5.2: the grant or the client is refused, and asking again cannot change that. */
const REFUSALS = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_request', 'invalid_scope']);

/** The token endpoint refused the refresh token (expired, revoked, or the client may not use it): only a new sign-in helps. */
export class RefreshRefusedError extends Error {
  override name = 'RefreshRefusedError';
}

export interface CognitoTokens {
  readonly idToken: string;
  /** Present when the endpoint issued one (the code exchange, or a refresh with rotation on). */
  readonly refreshToken: string | undefined;
}

/**
 * Reads the token endpoint's answer to a refresh. A refusal (an OAuth error such as
 * `invalid_grant`) throws RefreshRefusedError; anything else that went wrong (a 5xx, throttling,
 * a proxy's error page, a 200 without an id_token) throws TokenRequestError, which is worth a
 * retry. `body` is the parsed JSON, or undefined if it was not JSON.
 */
export function readRefreshResponse(status: number, body: unknown): CognitoTokens {
  if (status === 200) {
    const parsed = CognitoTokenResponse.safeParse(body);
    if (!parsed.success) throw new TokenRequestError('the token endpoint answered 200 without an id_token');
    return { idToken: parsed.data.id_token, refreshToken: parsed.data.refresh_token };
  }
  const error = OAuthErrorResponse.safeParse(body);
  if ((status === 400 || status === 401) && error.success && REFUSALS.has(error.data.error)) {
    throw new RefreshRefusedError(`the token endpoint refused the refresh token: ${error.data.error}${error.data.error_description ? ` (${error.data.error_description})` : ''}`);
  }
  throw new TokenRequestError(`the token endpoint answered ${status}${error.success ? ` ${error.data.error}` : ''}`);
}

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

/**
 * Keys in sessionStorage: one tab's sign-in survives a reload, and nothing outlives the session.
 * The refresh token is kept there too, beside the ID token, and for the same reasons: in memory
 * only, a reload would end the session; in localStorage or a cookie it would outlive the tab and
 * be shared by every tab. Script on the page can read it either way (an XSS could), which the
 * CSP (no inline or third-party script) guards against, and a revoked session refuses it.
 */
export const STORAGE_KEYS = {
  idToken: 'watershed.idToken',
  refreshToken: 'watershed.refreshToken',
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
 * trades the refresh token for a new one, silently. Only when there is no refresh token, or the
 * token endpoint refuses it, does it start the code flow (and throw SignInRedirectError as the
 * page navigates away). A refresh that fails for any other reason (network, 5xx) throws
 * TokenRequestError and keeps the session: the caller retries with backoff. Call
 * `completeSignIn()` once at start-up: it finishes a flow the page is returning from.
 */
export class CognitoTokenSource implements TokenSource {
  private idToken: string | undefined;
  private refreshToken: string | undefined;
  /** The refresh in flight: callers share it, so a refresh token is never spent twice at once. */
  private refreshing: Promise<string> | undefined;

  constructor(
    private readonly auth: CognitoAuth,
    private readonly deps: BrowserDeps,
  ) {
    this.idToken = deps.storage.getItem(STORAGE_KEYS.idToken) ?? undefined;
    this.refreshToken = deps.storage.getItem(STORAGE_KEYS.refreshToken) ?? undefined;
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
    this.store({ idToken: parsed.data.id_token, refreshToken: parsed.data.refresh_token });
    this.deps.storage.removeItem(STORAGE_KEYS.redirects);
  }

  async token({ fresh }: { fresh: boolean }): Promise<string> {
    if (!fresh && isUsable(this.idToken, this.deps.now())) return this.idToken;
    if (this.refreshToken !== undefined) {
      try {
        return await this.refresh();
      } catch (error) {
        if (!(error instanceof RefreshRefusedError)) {
          // Network or server trouble: the session is intact. A refused but unexpired ID token is
          // still offered (the server may have been down); otherwise the caller retries later.
          if (isUsable(this.idToken, this.deps.now())) return this.idToken;
          throw error;
        }
        this.refreshToken = undefined;
        this.deps.storage.removeItem(STORAGE_KEYS.refreshToken);
      }
    } else if (isUsable(this.idToken, this.deps.now())) {
      // Without a refresh token a fresh ID token needs a sign-in; the unexpired one is retried.
      return this.idToken;
    }
    this.idToken = undefined;
    this.deps.storage.removeItem(STORAGE_KEYS.idToken);
    await this.signIn();
    throw new SignInRedirectError('signing in');
  }

  private refresh(): Promise<string> {
    this.refreshing ??= this.exchangeRefreshToken().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async exchangeRefreshToken(): Promise<string> {
    const request = refreshTokenRequest(this.auth, this.refreshToken!);
    let response: Response;
    try {
      response = await this.deps.fetch(request.url, request.init);
    } catch (error) {
      throw new TokenRequestError(`cannot reach ${request.url} (${(error as Error).message})`);
    }
    const tokens = readRefreshResponse(response.status, await response.json().catch(() => undefined));
    this.store(tokens);
    return tokens.idToken;
  }

  private store({ idToken, refreshToken }: CognitoTokens): void {
    this.idToken = idToken;
    this.deps.storage.setItem(STORAGE_KEYS.idToken, idToken);
    if (refreshToken === undefined) return;
    this.refreshToken = refreshToken;
    this.deps.storage.setItem(STORAGE_KEYS.refreshToken, refreshToken);
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
