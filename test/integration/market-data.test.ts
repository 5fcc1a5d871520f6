import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MsgType } from 'jspurefix';
import { GatewayConfig, GatewayDeadLetter, GatewayEnv, GatewaySessionItem } from '../../contracts/market-data-gateway';
import type { LocalCloud } from '../../local/cloud';
import { FixVenue } from '../../simulator/venues/fix-venue';
import { RestQuoteVenue } from '../../simulator/venues/rest-venue';
import { expectedFixTickIds } from '../support/fix-session';
import { drainQueue, eventually, scanAll, startTestCloud } from '../support/local-cloud';
import { readMarketData } from '../support/market-data';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

describe.skipIf(!java.available)(titled('market-data gateway on the local cloud', java), () => {
  let cloud: LocalCloud;
  let dispose: () => Promise<void>;
  let rest: RestQuoteVenue;
  let fix: FixVenue;
  let fixSession = '';

  beforeAll(async () => {
    rest = new RestQuoteVenue({ symbols: ['AAPL', 'MSFT'], seed: 11, updateEveryMs: 0 });
    await rest.start();
    // The FIX venue starts muted (no feed, no heartbeats) until the FIX test: the REST test counts only REST ticks.
    fix = new FixVenue({ symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'], senderCompId: 'TEST-VENUE', targetCompId: 'TEST-GW', heartbeatSeconds: 1, rate: 20, seed: 13 });
    fix.mute();
    await fix.start();
    // The template's gateway configuration with the venues on this test's ports.
    ({ cloud, dispose } = await startTestCloud({
      serviceEnvironment: (_service, container) => {
        const config = GatewayConfig.parse(JSON.parse(container.environment[GatewayEnv.config]!));
        const restFeeds = config.restFeeds.map((feed) => ({ ...feed, url: rest.url, intervalMs: 100 }));
        const fixSessions = config.fixSessions.slice(0, 1).map((session) => ({
          ...session, host: '127.0.0.1', port: fix.port, senderCompId: 'TEST-GW', targetCompId: 'TEST-VENUE', heartbeatSeconds: 1, reconnect: { initialMs: 200, maxMs: 1_000 },
        }));
        fixSession = fixSessions[0]!.name!;
        return { [GatewayEnv.config]: JSON.stringify({ ...config, fixSessions, restFeeds }) };
      },
    }));
    // Synthesis (four bundled functions) takes minutes on a loaded 2-core machine.
  }, 300_000);
  afterAll(async () => {
    await dispose?.();
    await rest?.stop();
    await fix?.stop();
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
    expect(ticks.filter((tick) => !tick.source.startsWith('fix:')).every((tick) => tick.source === 'rest:demo-rest')).toBe(true);

    const letters: GatewayDeadLetter[] = [];
    await eventually(async () => {
      letters.push(...(await drainQueue(cloud, cloud.outputs.GatewayDeadLetterQueueUrl!)).map((body) => GatewayDeadLetter.parse(body)));
      return letters.length > 0;
    }, () => 'no dead letter for the garbage response');
    expect(letters.map((letter) => [letter.reason, letter.source, letter.raw])).toStrictEqual([['malformed-response', 'rest:demo-rest', '<html>502 Bad Gateway</html>{"quo']]);
  });

  it('runs the FIX session from the template: every tick the venue sent reaches the stream, across a forced gap, lost messages, a gateway restart and a gateway SIGKILL', async () => {
    const service = cloud.containers.serviceNames.find((name) => name.includes('MarketData'))!;
    const fromGateway = (msgType: string) => fix.received.filter((message) => message.msgType === msgType);
    await eventually(async () => fix.connected && fromGateway(MsgType.MarketDataRequest).length > 0, () => `the gateway's FIX session did not subscribe (${fix.received.length} messages from it)`);
    fix.unmute();
    await eventually(async () => fix.sent.size > 20, () => `the venue sent ${fix.sent.size} market-data messages`);

    // A forced gap: 3 sequence numbers skipped (gap fill), then 2 messages kept off the wire (PossDup resends).
    fix.skip(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    fix.loseNext(2);
    await eventually(async () => fromGateway(MsgType.ResendRequest).length > 0, () => 'no ResendRequest from the gateway');
    // The restart comes while the second gap may still be open: whatever was not durable is asked again after it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const logonsBefore = fromGateway(MsgType.Logon).length;
    const gatewaySeqBeforeRestart = fix.received.at(-1)!.seqNum;

    // A gateway restart (SIGTERM, as ECS stops a task): the new process resumes from the session table.
    await cloud.containers.restart(service);
    await eventually(async () => fromGateway(MsgType.Logon).length > logonsBefore && fix.connected, () => 'the restarted gateway did not log on again');
    const sentAtLogon = fix.sent.size;
    await eventually(async () => fix.sent.size > sentAtLogon + 20, () => 'no market data after the restart');
    const relogon = fromGateway(MsgType.Logon).at(-1)!;

    // A crash (SIGKILL, no Logout, no final save): the session item may be behind the numbers sent.
    const logonsBeforeKill = fromGateway(MsgType.Logon).length;
    const gatewaySeqBeforeKill = Math.max(...fix.received.map((message) => message.seqNum));
    cloud.containers.kill(service);
    await eventually(async () => fromGateway(MsgType.Logon).length > logonsBeforeKill && fix.connected, () => 'the gateway did not log on again after SIGKILL');
    const sentAtKillLogon = fix.sent.size;
    await eventually(async () => fix.sent.size > sentAtKillLogon + 20, () => 'no market data after the SIGKILL');
    fix.mute();

    const [item] = (await scanAll(cloud, cloud.outputs.GatewaySessionTableName!)).map((raw) => GatewaySessionItem.parse(raw));
    const expected = expectedFixTickIds(fix.sent, fixSession, item!.createdAt);
    let fixTicks: string[] = [];
    await eventually(async () => {
      fixTicks = (await readMarketData(cloud)).filter((tick) => tick.source === `fix:${fixSession}`).map((tick) => tick.tickId);
      return new Set(fixTicks).size >= expected.size;
    }, () => `${new Set(fixTicks).size} of ${expected.size} FIX tickIds on the stream; missing e.g. ${[...expected].filter((id) => !fixTicks.includes(id)).slice(0, 5).join(', ')}`);

    expect(new Set(fixTicks)).toStrictEqual(expected);
    // The sender sequence number came back from DynamoDB: no reset to 1.
    expect(relogon.seqNum).toBeGreaterThan(gatewaySeqBeforeRestart);
    // After the kill it logged on past every number it had sent, at the first attempt: the venue refused nothing as too low.
    expect(fromGateway(MsgType.Logon).slice(logonsBeforeKill).map((message) => message.seqNum)).toStrictEqual([expect.any(Number)]);
    expect(fromGateway(MsgType.Logon).at(-1)!.seqNum).toBeGreaterThan(gatewaySeqBeforeKill);
    expect(fix.tooLow).toStrictEqual([]);
    expect(item!.sessionId).toBe('FIX.4.4-TEST-GW-TEST-VENUE');
    // Both sources reached the one stream.
    const sources = new Set((await readMarketData(cloud)).map((tick) => tick.source));
    expect(sources).toStrictEqual(new Set([`fix:${fixSession}`, 'rest:demo-rest']));
  }, 180_000);
});
