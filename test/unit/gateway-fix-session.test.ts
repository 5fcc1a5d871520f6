import 'reflect-metadata';
import { afterEach, describe, expect, it } from 'vitest';
import { MsgType, SessionId } from 'jspurefix';
import { GATEWAY_METRICS } from '../../contracts/market-data-gateway';
import type { FixSessionRunner } from '../../gateway/fix/session';
import { GatewaySessionStore, MemorySessionTable, SENDER_SEQ_NUM_MARGIN } from '../../gateway/fix/session-store';
import type { FixVenue } from '../../simulator/venues/fix-venue';
import { expectedFixTickIds, KillableSessionTable, killRunner, RecordingOutputs, SESSION_NAME, sleep, startTestSession, startTestVenue, until } from '../support/fix-session';

/**
 * The gateway's FIX session (jspurefix initiator, gateway/fix/session.ts) against the venue
 * simulator (a jspurefix acceptor) on 127.0.0.1, 1 s heartbeats. Ticks go to a recording sink;
 * sequence numbers to an in-memory session table with the DynamoDB table's interface.
 */
describe('FIX session against the venue simulator', () => {
  let venue: FixVenue;
  let table: MemorySessionTable;
  let outputs: RecordingOutputs;
  const runners: FixSessionRunner[] = [];
  const log: string[] = [];

  const start = async (sessionTable = new MemorySessionTable()) => {
    venue = await startTestVenue();
    table = sessionTable;
    outputs = new RecordingOutputs();
    const runner = startTestSession(venue, table, outputs, log);
    runners.push(runner);
    await until(() => outputs.published.length > 0, () => `no ticks; state ${runner.state}; log ${log.join(' / ')}`);
    return runner;
  };
  const received = (msgType: string) => venue.received.filter((message) => message.msgType === msgType);
  const transmitted = (msgType: string) => venue.transmitted.filter((message) => message.msgType === msgType);
  const tickIds = (ticks: { tickId: string }[]) => ticks.map((tick) => tick.tickId);
  /** Stops the feed, waits until every message the venue sent is durable, and returns what was expected. */
  const settle = async (runner: FixSessionRunner, ticks: () => { tickId: string }[] = () => outputs.durable) => {
    venue.mute();
    const expected = expectedFixTickIds(venue.sent, SESSION_NAME, runner.store!.epochMs);
    await until(() => new Set(tickIds(ticks())).size >= expected.size, () => `${new Set(tickIds(ticks())).size} of ${expected.size} ticks`);
    await sleep(300);
    return expected;
  };

  afterEach(async () => {
    for (const runner of runners.splice(0)) await runner.stop();
    await venue?.stop();
    log.length = 0;
  });

  it('logs on, sends MarketDataRequest, heartbeats at 1 s, and answers the venue\'s TestRequest with its TestReqID', async () => {
    const runner = await start();

    expect(runner.state).toBe('ActiveNormalSession');
    expect(venue.received.slice(0, 2).map((message) => [message.msgType, message.seqNum])).toStrictEqual([[MsgType.Logon, 1], [MsgType.MarketDataRequest, 2]]);
    await until(() => received(MsgType.Heartbeat).length >= 2, () => `heartbeats ${received(MsgType.Heartbeat).length}`, 5_000);

    venue.testRequest('venue-ping-1');
    await until(() => received(MsgType.Heartbeat).some((message) => message.testReqId === 'venue-ping-1'), () => JSON.stringify(received(MsgType.Heartbeat)), 5_000);
    expect(received(MsgType.Logon)).toHaveLength(1);
  });

  it('sends a TestRequest when the venue goes quiet, and stays logged on when the venue answers it', async () => {
    const runner = await start();

    venue.mute();
    // The venue's HeartBtInt is 1 s: the gateway asks after 1.5 s of silence.
    await until(() => received(MsgType.TestRequest).length > 0, () => 'no TestRequest from the gateway', 6_000);
    const { testReqId } = received(MsgType.TestRequest)[0]!;
    await until(() => transmitted(MsgType.Heartbeat).some((message) => message.testReqId === testReqId), () => 'the venue did not answer', 5_000);
    venue.unmute();
    await sleep(1_500);

    expect(testReqId).toBeTruthy();
    expect(runner.state).toBe('ActiveNormalSession');
    expect(received(MsgType.Logon)).toHaveLength(1);
  });

  it('meets skipped sequence numbers with a ResendRequest from the first missing one, takes the gap fill, and loses and duplicates no tick', async () => {
    const runner = await start();

    const lastBeforeGap = venue.transmitted.at(-1)!.seqNum;
    venue.skip(3);
    await until(() => received(MsgType.ResendRequest).length > 0, () => 'no ResendRequest', 5_000);
    const expected = await settle(runner);

    expect(received(MsgType.ResendRequest)[0]).toMatchObject({ beginSeqNo: lastBeforeGap + 1, endSeqNo: 0 });
    expect(transmitted(MsgType.SequenceReset).filter((message) => message.seqNum === lastBeforeGap + 1)[0]).toMatchObject({ gapFill: true, newSeqNo: lastBeforeGap + 4, possDup: true });
    expect(new Set(tickIds(outputs.durable))).toStrictEqual(expected);
    expect(tickIds(outputs.published)).toHaveLength(expected.size);
    expect(runner.watermark.pending).toStrictEqual({ inFlight: 0, missing: 0 });
    expect(table.items.get(runner.store!.sessionId.toString())!.targetSeqNum).toBeGreaterThan(Math.max(...venue.sent.keys()));
  });

  it('answers the venue\'s ResendRequest with a SequenceReset-GapFill over its session messages, and stays logged on through the market data behind it', async () => {
    const runner = await start();
    await until(() => received(MsgType.Heartbeat).length >= 1, () => 'no heartbeat', 5_000);
    const lastFromGateway = venue.received.at(-1)!.seqNum;
    const savedSenderSeqNums: number[] = [];
    const save = table.save.bind(table);
    table.save = async (item) => {
      savedSenderSeqNums.push(item.senderSeqNum);
      await save(item);
    };

    // Market data right behind the ResendRequest, as on a busy feed: the gateway must not end the session over it.
    venue.resendRequest(2, lastFromGateway, { thenMarketData: true });
    await until(() => received(MsgType.SequenceReset).length > 0, () => `no SequenceReset from the gateway; state ${runner.state}; from it ${JSON.stringify(venue.received.slice(-6))}; to it ${JSON.stringify(venue.transmitted.slice(-4).map((message) => message.text))}; log ${log.join(' / ')}`, 5_000);
    await sleep(1_200);

    // The gateway sends no market data: Logon (1) is never resent, MarketDataRequest and heartbeats are replaced by a gap fill.
    expect(received(MsgType.SequenceReset)).toStrictEqual([expect.objectContaining({ seqNum: 2, possDup: true, gapFill: true, newSeqNo: lastFromGateway + 1 })]);
    expect(runner.state).toBe('ActiveNormalSession');
    expect(received(MsgType.Logon)).toHaveLength(1);
    // Its next messages go on from where they were, and so does the saved number (the gap fill, numbered 2, does not move it back).
    expect(venue.received.at(-1)!.seqNum).toBeGreaterThan(lastFromGateway);
    expect(savedSenderSeqNums.length).toBeGreaterThan(0);
    expect(savedSenderSeqNums).toStrictEqual([...savedSenderSeqNums].sort((a, b) => a - b));
    expect(table.items.get(runner.store!.sessionId.toString())!.senderSeqNum).toBe(venue.received.at(-1)!.seqNum + 1);
    expect(new Set(tickIds(outputs.durable))).toStrictEqual(expectedFixTickIds(venue.sent, SESSION_NAME, runner.store!.epochMs));
  });

  it('gets lost messages back as PossDup resends with OrigSendingTime, and loses and duplicates no tick', async () => {
    const runner = await start();

    venue.loseNext(2);
    await until(() => received(MsgType.ResendRequest).length > 0, () => 'no ResendRequest', 5_000);
    const expected = await settle(runner);

    const lost = [...venue.sent.keys()].filter((seq) => seq >= received(MsgType.ResendRequest)[0]!.beginSeqNo!).slice(0, 2);
    const resends = venue.transmitted.filter((message) => message.possDup && lost.includes(message.seqNum));
    expect(resends.map((message) => message.msgType)).toStrictEqual([MsgType.MarketDataIncrementalRefresh, MsgType.MarketDataIncrementalRefresh]);
    for (const resend of resends) expect(resend.text).toMatch(/\|43=Y\|.*\|122=\d{8}-/);
    expect(new Set(tickIds(outputs.durable))).toStrictEqual(expected);
    expect(tickIds(outputs.published)).toHaveLength(expected.size);
  });

  it('takes unasked PossDup resends of messages it has without publishing a new or repeated tickId', async () => {
    const runner = await start();
    await sleep(300);
    venue.mute();
    await sleep(200);
    const before = tickIds(outputs.published);

    const resent = await venue.resend(3);
    await until(() => (outputs.counts.get(GATEWAY_METRICS.possDupMessages) ?? 0) >= 3, () => `possDup count ${outputs.counts.get(GATEWAY_METRICS.possDupMessages)}`, 5_000);
    await sleep(300);

    expect(resent).toHaveLength(3);
    expect(tickIds(outputs.published)).toStrictEqual(before);
    expect(new Set(before)).toStrictEqual(expectedFixTickIds(venue.sent, SESSION_NAME, runner.store!.epochMs));
    expect(runner.state).toBe('ActiveNormalSession');
  });

  it('reconnects after the acceptor restarts and resumes both sequence numbers', async () => {
    const runner = await start();
    await sleep(300);

    const gatewaySeqBefore = venue.received.at(-1)!.seqNum;
    await venue.stop();
    await until(() => runner.state !== 'ActiveNormalSession', () => 'still active after the acceptor stopped', 5_000);
    const venueSeqBefore = venue.transmitted.at(-1)!.seqNum;
    await venue.start();
    await until(() => received(MsgType.Logon).length === 2 && runner.state === 'ActiveNormalSession', () => `state ${runner.state}, logons ${received(MsgType.Logon).length}`, 10_000);
    const sentBeforeReconnect = venue.sent.size;
    await until(() => venue.sent.size > sentBeforeReconnect + 5, () => 'no market data after the reconnect', 5_000);
    const expected = await settle(runner);

    const [first, second] = received(MsgType.Logon);
    expect(first!.seqNum).toBe(1);
    expect(second!.seqNum).toBeGreaterThan(gatewaySeqBefore);
    expect(transmitted(MsgType.Logon).at(-1)!.seqNum).toBeGreaterThan(venueSeqBefore);
    expect(new Set(tickIds(outputs.durable))).toStrictEqual(expected);
  });

  it('a restarted gateway resumes from the session table: it logs on past the stored numbers and re-requests what was not durable', async () => {
    const first = await start();
    await sleep(300);
    // PutRecords stops answering: the next messages reach the sink but are not durable.
    outputs.holdAcks = true;
    await sleep(400);
    await first.stop();
    runners.splice(runners.indexOf(first), 1);
    const item = { ...table.items.get(first.store!.sessionId.toString())! };
    const durableBefore = new Set(tickIds(outputs.durable));
    const notDurable = tickIds(outputs.published).filter((id) => !durableBefore.has(id));

    const restartedOutputs = new RecordingOutputs();
    const restarted = startTestSession(venue, table, restartedOutputs, log);
    runners.push(restarted);
    await until(() => restarted.state === 'ActiveNormalSession' && restartedOutputs.durable.length > 0, () => `state ${restarted.state}; ${log.join(' / ')}`);
    const expected = await settle(restarted, () => [...outputs.durable, ...restartedOutputs.durable]);

    expect(notDurable.length).toBeGreaterThan(0);
    expect(restarted.store!.epochMs).toBe(item.createdAt);
    // It logs on SENDER_SEQ_NUM_MARGIN past the saved number (it cannot tell a stop from a kill); the venue gap-fills.
    expect(received(MsgType.Logon).map((message) => message.seqNum)).toStrictEqual([1, item.senderSeqNum + SENDER_SEQ_NUM_MARGIN]);
    // Everything from the first message that was not durable is asked again.
    expect(received(MsgType.ResendRequest).at(-1)).toMatchObject({ beginSeqNo: item.targetSeqNum, endSeqNo: 0 });
    expect(new Set([...durableBefore, ...tickIds(restartedOutputs.durable)])).toStrictEqual(expected);
    for (const id of notDurable) expect(tickIds(restartedOutputs.durable)).toContain(id);
  });

  it('a gateway killed while its sequence numbers were not yet saved logs on again past every number it sent, and loses no tick', async () => {
    const killable = new KillableSessionTable();
    const first = await start(killable);
    await sleep(300);
    // Saves stop landing (the PutItem in flight when SIGKILL comes): the heartbeats (1 s) go on, numbered past the table.
    killable.landing = false;
    const sessionId = first.store!.sessionId.toString();
    const item = { ...killable.items.get(sessionId)! };
    await until(() => venue.received.at(-1)!.seqNum > item.senderSeqNum + 1, () => `the gateway sent up to ${venue.received.at(-1)!.seqNum}; the table says ${item.senderSeqNum}`, 5_000);
    killRunner(first);
    runners.splice(runners.indexOf(first), 1);
    const lastSentBeforeKill = Math.max(...venue.received.map((message) => message.seqNum));
    const durableBefore = new Set(tickIds(outputs.durable));
    killable.landing = true;

    const restartedOutputs = new RecordingOutputs();
    const restarted = startTestSession(venue, killable, restartedOutputs, log);
    runners.push(restarted);
    await until(() => restarted.state === 'ActiveNormalSession' && restartedOutputs.durable.length > 0, () => `state ${restarted.state}; refused by the venue ${JSON.stringify(venue.tooLow)}; ${log.join(' / ')}`);
    const sentAfterRestart = venue.sent.size;
    await until(() => venue.sent.size > sentAfterRestart + 5, () => 'no market data after the restart', 5_000);
    const expected = await settle(restarted, () => [...outputs.durable, ...restartedOutputs.durable]);

    // The table was behind what the venue had received: the defect's precondition.
    expect(killable.items.get(sessionId)!.senderSeqNum).toBeGreaterThan(lastSentBeforeKill);
    expect(item.senderSeqNum).toBeLessThanOrEqual(lastSentBeforeKill);
    // Its first Logon is taken: no "MsgSeqNum too low" Logout, no failed attempt.
    expect(venue.tooLow).toStrictEqual([]);
    expect(restartedOutputs.states.slice(0, 2)).toStrictEqual(['Connecting', 'ActiveNormalSession']);
    expect(received(MsgType.Logon).at(-1)!.seqNum).toBeGreaterThan(lastSentBeforeKill);
    // The numbers skipped are filled for the venue with a gap fill, as for any ResendRequest.
    expect(received(MsgType.SequenceReset).at(-1)).toMatchObject({ gapFill: true, possDup: true });
    // The target side: everything after the last saved watermark is asked again, and no tick is lost.
    expect(received(MsgType.ResendRequest).at(-1)).toMatchObject({ beginSeqNo: item.targetSeqNum, endSeqNo: 0 });
    expect(new Set([...durableBefore, ...tickIds(restartedOutputs.durable)])).toStrictEqual(expected);
    expect(restarted.state).toBe('ActiveNormalSession');
  });
});

/** The store's sender numbers on their own (no network): the bounds the kill test above relies on. */
describe('GatewaySessionStore sender sequence numbers', () => {
  const sessionId = new SessionId('FIX.4.4', 'GW', 'VENUE');
  const key = sessionId.toString();
  const saved = (senderSeqNum: number) => ({ sessionId: key, senderSeqNum, targetSeqNum: 7, createdAt: 1, updatedAt: 1 });

  it('starts SENDER_SEQ_NUM_MARGIN past the saved item, saves that before the Logon, and asks for a reconnect once half the margin is sent unsaved', async () => {
    const table = new KillableSessionTable();
    await table.save(saved(40));
    let unsafe = 0;
    const store = new GatewaySessionStore(sessionId, table, { onUnsafeLead: () => (unsafe += 1) });
    await store.initialize();

    expect(store.senderSeqNum).toBe(40 + SENDER_SEQ_NUM_MARGIN);
    expect(table.items.get(key)!.senderSeqNum).toBe(40 + SENDER_SEQ_NUM_MARGIN);
    expect(store.targetSeqNum).toBe(7);
    table.landing = false;
    for (let sent = 1; sent < SENDER_SEQ_NUM_MARGIN / 2; sent += 1) void store.setSenderSeqNum(store.senderSeqNum + 1);
    expect(unsafe).toBe(0);
    void store.setSenderSeqNum(store.senderSeqNum + 1);
    void store.setSenderSeqNum(store.senderSeqNum + 1);
    expect(unsafe).toBe(1);
    // A restart from what landed still starts past everything sent.
    expect(table.items.get(key)!.senderSeqNum + SENDER_SEQ_NUM_MARGIN).toBeGreaterThan(store.senderSeqNum - 1);
  });

  it('a reconnect in the same process waits for the save in flight and starts from the higher of its own number and the item\'s', async () => {
    const table = new KillableSessionTable();
    await table.save(saved(40));
    const first = new GatewaySessionStore(sessionId, table);
    await first.initialize();
    await first.setSenderSeqNum(first.senderSeqNum + 300);
    table.landing = false;
    void first.setSenderSeqNum(first.senderSeqNum + 1);
    const second = new GatewaySessionStore(sessionId, table, { previous: first });
    first.retire();
    let initialized = false;
    void second.initialize().then(() => (initialized = true));
    await sleep(100);
    // The first store's save never lands: no Logon until it does.
    expect(initialized).toBe(false);

  });

  it('a reconnect in the same process starts from the higher of the number it reached and the item\'s plus the margin', async () => {
    const startAfter = async (reached: number, itemSenderSeqNum: number) => {
      const previous = new GatewaySessionStore(sessionId, new MemorySessionTable());
      await previous.initialize();
      await previous.setSenderSeqNum(reached);
      const table = new MemorySessionTable();
      await table.save(saved(itemSenderSeqNum));
      const next = new GatewaySessionStore(sessionId, table, { previous });
      await next.initialize();
      return next.senderSeqNum;
    };
    // Its own saves did not land: the item is far behind.
    expect(await startAfter(500, 40)).toBe(500);
    expect(await startAfter(50, 40)).toBe(40 + SENDER_SEQ_NUM_MARGIN);
  });
});
