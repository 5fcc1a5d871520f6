import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RestFeedConfig } from '../../contracts/market-data-gateway';
import type { MarketTickInput } from '../../contracts/market-data';
import type { TickReject } from '../../gateway/core/tick-checks';
import { RestPoller } from '../../gateway/rest/poller';
import { REST_VENUE_MAPPING, RestQuoteVenue } from '../../simulator/venues/rest-venue';

const SYMBOLS = ['AAPL', 'MSFT', 'EUR/USD'];

describe('REST poller against a local quote API', () => {
  let venue: RestQuoteVenue;
  let published: MarketTickInput[][];
  let deadLetters: { reject: TickReject; source: string; raw: string }[];
  let poller: RestPoller;
  let failPublish: boolean;

  beforeEach(async () => {
    venue = new RestQuoteVenue({ symbols: SYMBOLS, seed: 7, updateEveryMs: 0 });
    await venue.start();
    published = [];
    deadLetters = [];
    failPublish = false;
    const feed = RestFeedConfig.parse({ name: 'venue', url: venue.url, intervalMs: 50, timeoutMs: 1_000, backoff: { initialMs: 20, maxMs: 100 }, mapping: REST_VENUE_MAPPING });
    poller = new RestPoller(feed, {
      publish: async (ticks) => {
        if (failPublish) throw new Error('stream unavailable');
        published.push(ticks);
      },
      deadLetter: async (reject, source, raw) => void deadLetters.push({ reject, source, raw }),
    });
  });

  afterEach(async () => {
    await poller.stop();
    await venue.stop();
  });

  const tickIds = () => published.flat().map((tick) => tick.tickId);

  it('turns each quote into a tick whose id is the venue quote id, then gets 304 until the quotes move', async () => {
    expect(await poller.pollOnce()).toBe('ticks');
    expect(await poller.pollOnce()).toBe('not-modified');
    venue.advance();
    expect(await poller.pollOnce()).toBe('ticks');

    expect(tickIds()).toStrictEqual([...venue.served.keys()].map((id) => `rest:venue:${id}`));
    expect(tickIds()).toHaveLength(6);
    expect(venue.requests.notModified).toBe(1);
    expect(poller.stats).toMatchObject({ polls: 3, notModified: 1, ticks: 6, failures: 0 });
  });

  it('counts a 503 as a failure and recovers on the next poll', async () => {
    venue.setFault('fail');
    expect(await poller.pollOnce()).toBe('failed');
    expect(poller.stats.lastError).toMatch(/HTTP 503/);
    expect(await poller.pollOnce()).toBe('ticks');
    expect(poller.stats.consecutiveFailures).toBe(0);
  });

  it('gives up on a request that does not answer within the timeout', async () => {
    venue.setFault('timeout');
    const started = Date.now();
    expect(await poller.pollOnce()).toBe('failed');
    expect(poller.stats.lastError).toMatch(/no answer within 1000 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(published).toStrictEqual([]);
  });

  it('dead-letters a body that is not JSON, with the raw body, and publishes nothing', async () => {
    venue.setFault('garbage');
    expect(await poller.pollOnce()).toBe('malformed');
    expect(deadLetters).toStrictEqual([
      { reject: expect.objectContaining({ reason: 'malformed-response' }), source: 'rest:venue', raw: '<html>502 Bad Gateway</html>{"quo' },
    ]);
    expect(published).toStrictEqual([]);
  });

  it('dead-letters JSON without the quote array', async () => {
    venue.setFault('wrong-shape');
    expect(await poller.pollOnce()).toBe('malformed');
    expect(deadLetters.map((entry) => [entry.reject.reason, entry.reject.detail, entry.raw])).toStrictEqual([
      ['malformed-response', 'no quote array at quotes', '{"status":"maintenance"}'],
    ]);
  });

  it('keeps no ETag from a response whose ticks could not be published, so they are fetched again', async () => {
    failPublish = true;
    expect(await poller.pollOnce()).toBe('failed');
    failPublish = false;
    expect(await poller.pollOnce()).toBe('ticks');
    expect(venue.requests.notModified).toBe(0);
    expect(tickIds()).toHaveLength(SYMBOLS.length);
  });

  it('keeps polling through failures with backoff, and publishes every version it saw once', async () => {
    venue.setFault('fail', 2);
    venue.setFault('timeout', 1);
    venue.setFault('garbage', 1);
    poller.start();
    const deadline = Date.now() + 10_000;
    while (published.length < 2 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      if (published.length === 1 && venue.served.size === SYMBOLS.length) venue.advance();
    }
    await poller.stop();

    // The 4 injected faults at least; on a loaded machine a healthy poll can also time out.
    expect(poller.stats.failures).toBeGreaterThanOrEqual(4);
    expect(new Set(tickIds()).size).toBe(tickIds().length);
    expect(new Set(tickIds())).toStrictEqual(new Set([...venue.served.keys()].map((id) => `rest:venue:${id}`)));
  });
});
