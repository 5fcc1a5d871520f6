import type { RestFeedConfig } from '../../contracts/market-data-gateway';
import type { MarketTickInput } from '../../contracts/market-data';
import { backoffDelayMs } from '../core/backoff';
import { ticksFromRestBody } from '../core/rest-ticks';
import type { TickReject } from '../core/tick-checks';
import { restSource } from '../core/tick-id';

export type PollOutcome = 'ticks' | 'not-modified' | 'failed' | 'malformed';

export interface RestPollerStats {
  polls: number;
  notModified: number;
  failures: number;
  malformed: number;
  ticks: number;
  consecutiveFailures: number;
  lastError?: string;
}

export interface RestPollerDeps {
  /** Hands the ticks of one response to the sink; the poller waits, so a slow sink slows polling. */
  publish: (ticks: MarketTickInput[]) => Promise<void>;
  /** Dead-letters what could not become a tick, with the raw body. */
  deadLetter: (reject: TickReject, source: string, raw: string) => Promise<void>;
  /** Credentials named by the feed (`apiKeyEnv`). @default process.env */
  env?: Record<string, string | undefined>;
  /** Prices above this are dead-lettered (GatewayConfig.maxPrice). @default 1e9 */
  maxPrice?: number;
  now?: () => number;
  random?: () => number;
  log?: (message: string) => void;
}

export class RestPollError extends Error {
  override name = 'RestPollError';
}

/**
 * Polls one quote endpoint: every `intervalMs` while it answers, with exponential backoff and full
 * jitter added while it fails (errors, timeouts, 5xx, bodies that are not JSON). It sends the last
 * ETag as If-None-Match and Last-Modified as If-Modified-Since, so an unchanged quote costs a 304,
 * and it keeps them only once the response's ticks are published: a failed publish re-fetches.
 */
export class RestPoller {
  readonly stats: RestPollerStats = { polls: 0, notModified: 0, failures: 0, malformed: 0, ticks: 0, consecutiveFailures: 0 };
  private etag: string | undefined;
  private lastModified: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly inflight = new AbortController();
  private readonly source: string;

  constructor(private readonly feed: RestFeedConfig, private readonly deps: RestPollerDeps) {
    this.source = restSource(feed.name);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.inflight.abort();
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pollOnce().then((outcome) => {
        const failing = outcome === 'failed' || outcome === 'malformed';
        this.schedule(this.feed.intervalMs + (failing ? backoffDelayMs(this.stats.consecutiveFailures - 1, this.feed.backoff, this.deps.random) : 0));
      });
    }, delayMs);
  }

  /** One request; never throws (a failure is counted, logged and backed off from). */
  async pollOnce(): Promise<PollOutcome> {
    const { feed, deps } = this;
    this.stats.polls += 1;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.etag !== undefined) headers['if-none-match'] = this.etag;
    if (this.lastModified !== undefined) headers['if-modified-since'] = this.lastModified;
    if (feed.apiKeyEnv !== undefined) {
      const key = (deps.env ?? process.env)[feed.apiKeyEnv];
      if (key === undefined) return this.failed(new RestPollError(`${feed.name}: ${feed.apiKeyEnv} (the API key) is not set`));
      headers[feed.apiKeyHeader] = key;
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(feed.url, { headers, signal: AbortSignal.any([AbortSignal.timeout(feed.timeoutMs), this.inflight.signal]) });
      if (response.status === 304) {
        await response.body?.cancel();
        this.stats.notModified += 1;
        this.stats.consecutiveFailures = 0;
        return 'not-modified';
      }
      text = await response.text();
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      return this.failed(new RestPollError(`${feed.name}: ${timedOut ? `no answer within ${feed.timeoutMs} ms` : (error as Error).message}`));
    }
    if (!response.ok) return this.failed(new RestPollError(`${feed.name}: HTTP ${response.status} from ${feed.url}`));

    const ingestTime = (deps.now ?? Date.now)();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      this.stats.malformed += 1;
      this.failed(new RestPollError(`${feed.name}: the body is not JSON (${(error as Error).message})`));
      await deps.deadLetter({ reason: 'malformed-response', detail: `not JSON: ${(error as Error).message}`, position: 'body' }, this.source, text);
      return 'malformed';
    }
    const { ticks, rejects } = ticksFromRestBody(body, { feed: feed.name, mapping: feed.mapping, ingestTime, maxPrice: deps.maxPrice ?? 1e9 });
    for (const reject of rejects) await deps.deadLetter(reject, this.source, text);
    if (rejects.some((reject) => reject.reason === 'malformed-response')) {
      this.stats.malformed += 1;
      this.failed(new RestPollError(`${feed.name}: ${rejects[0]!.detail}`));
      return 'malformed';
    }
    try {
      if (ticks.length > 0) await deps.publish(ticks);
    } catch (error) {
      return this.failed(new RestPollError(`${feed.name}: publishing ${ticks.length} ticks failed: ${(error as Error).message}`));
    }
    this.stats.ticks += ticks.length;
    this.stats.consecutiveFailures = 0;
    this.etag = response.headers.get('etag') ?? undefined;
    this.lastModified = response.headers.get('last-modified') ?? undefined;
    return 'ticks';
  }

  private failed(error: RestPollError): 'failed' {
    this.stats.failures += 1;
    this.stats.consecutiveFailures += 1;
    this.stats.lastError = error.message;
    this.deps.log?.(error.message);
    return 'failed';
  }
}
