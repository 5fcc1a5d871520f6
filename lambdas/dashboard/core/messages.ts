import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type HealthMessage,
  type MarketQuote,
  type PricesMessage,
  type SnapshotMessage,
  type WindowCount,
  type WindowsMessage,
} from '../../../contracts/dashboard';
import { splitWindows, type SplitResult } from './split';

/** A snapshot of the windows, as payloads under the message limit; at least one, so an empty page still learns it is current. */
export function snapshotPayloads(nowMs: number, windows: readonly WindowCount[]): SplitResult {
  const sentAt = new Date(nowMs).toISOString();
  const envelope = (part: WindowCount[]): SnapshotMessage => ({ v: PROTOCOL_VERSION, type: 'snapshot', sentAt, windows: part });
  return splitWindows(envelope, windows, MAX_MESSAGE_BYTES, { emptyMessage: true });
}

/** Changed windows, as payloads under the message limit; none when nothing changed. */
export function windowsPayloads(nowMs: number, windows: readonly WindowCount[]): SplitResult {
  const sentAt = new Date(nowMs).toISOString();
  const envelope = (part: WindowCount[]): WindowsMessage => ({ v: PROTOCOL_VERSION, type: 'windows', sentAt, windows: part });
  return splitWindows(envelope, windows, MAX_MESSAGE_BYTES);
}

export function healthMessage(nowMs: number, status: HealthMessage['status'], detail?: string): HealthMessage {
  return {
    v: PROTOCOL_VERSION,
    type: 'health',
    sentAt: new Date(nowMs).toISOString(),
    status,
    ...(detail === undefined ? {} : { detail }),
  };
}

/**
 * Quotes per message: a quote is at most about 500 bytes (symbol 64, source 256), so 200 stay
 * well under MAX_MESSAGE_BYTES.
 */
export const QUOTES_PER_MESSAGE = 200;

/** Latest quotes, as `prices` payloads of at most QUOTES_PER_MESSAGE each; none when there are none. */
export function pricesPayloads(nowMs: number, quotes: readonly MarketQuote[]): string[] {
  const sentAt = new Date(nowMs).toISOString();
  const payloads: string[] = [];
  for (let start = 0; start < quotes.length; start += QUOTES_PER_MESSAGE) {
    const message: PricesMessage = { v: PROTOCOL_VERSION, type: 'prices', sentAt, quotes: quotes.slice(start, start + QUOTES_PER_MESSAGE) };
    payloads.push(JSON.stringify(message));
  }
  return payloads;
}
