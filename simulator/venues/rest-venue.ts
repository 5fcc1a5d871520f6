import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { DEMO_REST_MAPPING as REST_VENUE_MAPPING } from '../../contracts/market-data-gateway';
import { RandomWalk, type Quote } from './random-walk';

/**
 * A REST quote API for the local cloud and the tests: `GET /quotes` answers
 * `{"quotes":[{id, symbol, bid, bidSize, ask, askSize, last, lastSize, ts}]}` with an ETag and
 * Last-Modified, and 304 to a request that names the current version. The quotes move every
 * `updateEveryMs` (or on `advance()`), each move a new version.
 *
 * Faults (`setFault`, or `POST /_control {"fault": "...", "count": n}`) apply to the next
 * `count` quote requests: `fail` answers 503, `timeout` never answers, `garbage` sends a body
 * that is not JSON, `wrong-shape` valid JSON without the quotes.
 */

export const REST_FAULTS = ['fail', 'timeout', 'garbage', 'wrong-shape'] as const;
export type RestFault = (typeof REST_FAULTS)[number];

const ControlRequest = z.object({ fault: z.enum(REST_FAULTS), count: z.number().int().min(1).default(1) });

/** The mapping that reads this venue's body (GatewayConfig `restFeeds[].mapping`). */
export { REST_VENUE_MAPPING };

export interface ServedQuote extends Quote {
  /** `<symbol>@<version>`: the REST tickId is `rest:<feed>:<id>`. */
  id: string;
  ts: number;
}

export interface RestQuoteVenueOptions {
  symbols: readonly string[];
  seed?: number;
  host?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Move the quotes this often; 0 moves them only on advance(). @default 200 */
  updateEveryMs?: number;
}

export class RestQuoteVenue {
  private server: Server | undefined;
  private readonly walk: RandomWalk;
  private version = 0;
  private current: ServedQuote[] = [];
  private updatedAt = new Date();
  private faults: { fault: RestFault; remaining: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly hanging = new Set<ServerResponse>();
  /** Every version served with 200, by id: what a poller may have turned into ticks. */
  readonly served = new Map<string, ServedQuote>();
  readonly requests = { total: 0, notModified: 0, faulted: 0 };

  constructor(private readonly options: RestQuoteVenueOptions) {
    this.walk = new RandomWalk(options.symbols, options.seed ?? 1);
    this.advance();
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | undefined;
    if (address === undefined) throw new Error('the REST venue is not listening; call start() first');
    return `http://${this.options.host ?? '127.0.0.1'}:${address.port}/quotes`;
  }

  async start(): Promise<string> {
    this.server = createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve);
    });
    const every = this.options.updateEveryMs ?? 200;
    if (every > 0) this.timer = setInterval(() => this.advance(), every);
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const response of this.hanging) response.destroy();
    this.hanging.clear();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  setFault(fault: RestFault, count = 1): void {
    this.faults.push({ fault, remaining: count });
  }

  /** Moves every symbol one step: a new version, a new ETag. */
  advance(): void {
    this.version += 1;
    this.updatedAt = new Date(Math.floor(Date.now() / 1000) * 1000);
    this.current = this.walk.symbols.map((symbol) => ({ ...this.walk.step(symbol), id: `${symbol}@${this.version}`, ts: Date.now() }));
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://venue');
    if (request.method === 'POST' && url.pathname === '/_control') return this.control(request, response);
    if (request.method !== 'GET' || url.pathname !== '/quotes') {
      response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `no route ${request.method} ${url.pathname}; GET /quotes` }));
      return;
    }
    this.requests.total += 1;
    const fault = this.faults[0];
    if (fault !== undefined) {
      fault.remaining -= 1;
      if (fault.remaining <= 0) this.faults.shift();
      this.requests.faulted += 1;
      switch (fault.fault) {
        case 'fail':
          response.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"message":"venue unavailable"}');
          return;
        case 'timeout':
          this.hanging.add(response);
          response.on('close', () => this.hanging.delete(response));
          return;
        case 'garbage':
          response.writeHead(200, { 'content-type': 'application/json' }).end('<html>502 Bad Gateway</html>{"quo');
          return;
        case 'wrong-shape':
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"maintenance"}');
          return;
      }
    }
    const etag = `"v${this.version}"`;
    if (request.headers['if-none-match'] === etag) {
      this.requests.notModified += 1;
      response.writeHead(304, { etag }).end();
      return;
    }
    for (const quote of this.current) this.served.set(quote.id, quote);
    response
      .writeHead(200, { 'content-type': 'application/json', etag, 'last-modified': this.updatedAt.toUTCString(), 'cache-control': 'no-cache' })
      .end(JSON.stringify({ quotes: this.current }));
  }

  private control(request: IncomingMessage, response: ServerResponse): void {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      let parsed;
      try {
        parsed = ControlRequest.safeParse(JSON.parse(text));
      } catch {
        parsed = undefined;
      }
      if (parsed === undefined || !parsed.success) {
        response.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `expected {"fault": one of ${REST_FAULTS.join(', ')}, "count": n}` }));
        return;
      }
      this.setFault(parsed.data.fault, parsed.data.count);
      response.writeHead(204).end();
    });
  }
}
