import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayConfig, GatewayDeadLetter, GatewayEnv } from '../../contracts/market-data-gateway';
import type { LocalCloud } from '../../local/cloud';
import { RestQuoteVenue } from '../../simulator/venues/rest-venue';
import { drainQueue, eventually, startTestCloud } from '../support/local-cloud';
import { readMarketData } from '../support/market-data';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

describe.skipIf(!java.available)(titled('market-data gateway on the local cloud', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let rest: RestQuoteVenue;

  beforeAll(async () => {
    rest = new RestQuoteVenue({ symbols: ['AAPL', 'MSFT'], seed: 11, updateEveryMs: 0 });
    await rest.start();
    // The template's gateway configuration with the venue on this test's port.
    ({ cloud, dispose } = await startTestCloud({
      serviceEnvironment: (_service, container) => {
        const config = GatewayConfig.parse(JSON.parse(container.environment[GatewayEnv.config]!));
        const restFeeds = config.restFeeds.map((feed) => ({ ...feed, url: rest.url, intervalMs: 100 }));
        return { [GatewayEnv.config]: JSON.stringify({ ...config, fixSessions: [], restFeeds }) };
      },
    }));
    // Synthesis (four bundled functions) takes minutes on a loaded 2-core machine.
  }, 300_000);
  afterAll(async () => {
    await dispose?.();
    await rest?.stop();
  });

  it('runs the gateway from the template: REST quotes reach the market-data stream with their tickIds, each once', async () => {
    const service = cloud.containers.serviceNames.find((name) => name.includes('MarketData'))!;
    expect(cloud.containers.status()).toStrictEqual([expect.objectContaining({ serviceName: service, state: 'RUNNING' })]);
    for (let version = 0; version < 3; version += 1) {
      const before = rest.served.size;
      await eventually(async () => rest.served.size > before, () => `the gateway polled no new version (served ${rest.served.size})`);
      rest.advance();
    }
    rest.setFault('garbage');
    await eventually(async () => rest.requests.faulted === 1, () => 'the garbage answer was not requested');
    const expected = new Set([...rest.served.keys()].map((id) => `rest:demo-rest:${id}`));
    let ticks = await readMarketData(cloud);
    await eventually(async () => {
      ticks = await readMarketData(cloud);
      return [...expected].every((id) => ticks.some((tick) => tick.tickId === id));
    }, () => `${ticks.length} ticks on the stream, expected ${expected.size}`);

    const ids = ticks.map((tick) => tick.tickId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.filter((id) => expected.has(id)))).toStrictEqual(expected);
    expect(ticks.every((tick) => tick.source === 'rest:demo-rest')).toBe(true);

    const letters: GatewayDeadLetter[] = [];
    await eventually(async () => {
      letters.push(...(await drainQueue(cloud, cloud.outputs.GatewayDeadLetterQueueUrl!)).map((body) => GatewayDeadLetter.parse(body)));
      return letters.length > 0;
    }, () => 'no dead letter for the garbage response');
    expect(letters.map((letter) => [letter.reason, letter.source, letter.raw])).toStrictEqual([['malformed-response', 'rest:demo-rest', '<html>502 Bad Gateway</html>{"quo']]);
  });
});
