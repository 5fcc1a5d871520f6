import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ServerMessage, type WindowCount } from '../../contracts/dashboard';
import { splitWindows } from '../../lambdas/dashboard/core/split';

const SENT_AT = '2026-01-01T00:10:30.000Z';
const windowsMessage = (windows: WindowCount[]) => ({ v: PROTOCOL_VERSION, type: 'windows' as const, sentAt: SENT_AT, windows });
const snapshotMessage = (windows: WindowCount[]) => ({ v: PROTOCOL_VERSION, type: 'snapshot' as const, sentAt: SENT_AT, windows });

/** `n` distinct windows; `urlLength` pads the URL, multi-byte characters included. */
function windows(n: number, urlLength = 40, char = 'x'): WindowCount[] {
  return Array.from({ length: n }, (_, i) => ({
    url: `/${i}/${char.repeat(urlLength)}`,
    windowStart: new Date(Date.UTC(2026, 0, 1, 0, i % 60)).toISOString(),
    windowEnd: new Date(Date.UTC(2026, 0, 1, 0, (i % 60) + 1)).toISOString(),
    count: i * 7,
    lateCount: i % 3,
    delta: i % 5,
    final: i % 2 === 0,
  }));
}

const decoded = (payloads: string[]) => payloads.map((payload) => ServerMessage.parse(JSON.parse(payload)));
const keysOf = (list: WindowCount[]) => list.map((window) => `${window.windowStart}|${window.url}`);

describe.each([
  ['a few small windows', windows(3), MAX_MESSAGE_BYTES],
  ['many windows over the real limit', windows(3000, 60), MAX_MESSAGE_BYTES],
  ['long multi-byte URLs over the real limit', windows(400, 600, 'é'), MAX_MESSAGE_BYTES],
  ['a tight limit that fits one window per message', windows(10, 100), 600],
  ['a limit that fits a few windows per message', windows(100, 30), 1024],
])('splitting %s', (_name, input, maxBytes) => {
  const { payloads, oversized } = splitWindows(windowsMessage, input, maxBytes);

  it('keeps every message within the byte limit, measured as UTF-8', () => {
    for (const payload of payloads) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(maxBytes);
  });

  it('loses and repeats no window, and keeps their order', () => {
    expect(oversized).toStrictEqual([]);
    expect(keysOf(decoded(payloads).flatMap((message) => ('windows' in message ? message.windows : [])))).toStrictEqual(keysOf(input));
  });

  it('writes valid protocol messages sharing one envelope', () => {
    for (const message of decoded(payloads)) expect(message).toMatchObject({ v: PROTOCOL_VERSION, type: 'windows', sentAt: SENT_AT });
  });

  it('uses as few messages as greedy packing allows', () => {
    // Each message but the last is full: the first window of the next would not have fitted.
    const parts = decoded(payloads);
    for (let i = 0; i + 1 < parts.length; i++) {
      const current = parts[i] as { windows: WindowCount[] };
      const next = parts[i + 1] as { windows: WindowCount[] };
      const grown = JSON.stringify(windowsMessage([...current.windows, next.windows[0]!]));
      expect(Buffer.byteLength(grown)).toBeGreaterThan(maxBytes);
    }
  });
});

describe('splitting edge cases', () => {
  it('splits 3,000 windows into several messages at the real limit', () => {
    expect(splitWindows(windowsMessage, windows(3000, 60), MAX_MESSAGE_BYTES).payloads.length).toBeGreaterThan(1);
  });

  it('fits a message of exactly the limit', () => {
    const input = windows(2, 50);
    const exact = Buffer.byteLength(JSON.stringify(windowsMessage(input)));
    expect(splitWindows(windowsMessage, input, exact).payloads).toHaveLength(1);
    expect(splitWindows(windowsMessage, input, exact - 1).payloads).toHaveLength(2);
  });

  it('sets aside a window too large for any message, and keeps the others', () => {
    const [small, huge] = [windows(1, 10)[0]!, windows(2, 5000)[1]!];
    const { payloads, oversized } = splitWindows(windowsMessage, [small, huge], 1024);
    expect(oversized).toStrictEqual([huge]);
    expect(decoded(payloads)).toStrictEqual([windowsMessage([small])]);
  });

  it('sends nothing for no windows', () => {
    expect(splitWindows(windowsMessage, [], MAX_MESSAGE_BYTES)).toStrictEqual({ payloads: [], oversized: [] });
  });

  it('still sends one empty snapshot when asked to', () => {
    expect(splitWindows(snapshotMessage, [], MAX_MESSAGE_BYTES, { emptyMessage: true }).payloads).toStrictEqual([
      JSON.stringify(snapshotMessage([])),
    ]);
  });
});
