import { fixSource, fixTickId } from './tick-id';
import { checkTick, priceProblem, type TickBatch, type TickReject } from './tick-checks';
import type { MarketTickInput } from '../../contracts/market-data';

/**
 * FIX 4.4 market data (35=W snapshots, 35=X incremental refreshes) to ticks. The input is the
 * engine's decoded message (jspurefix `view.toObject()` with the QuickFIX FIX44 dictionary); this
 * module has no I/O and no engine import, so it is unit-tested on plain objects.
 *
 * One tick per MDEntry: a bid entry (269=0) sets bidPrice/bidSize, an offer (269=1) askPrice/askSize,
 * a trade (269=2) lastPrice/lastSize; the other sides stay null ("no news"). A delete
 * (279=2) is the side's price null and size 0 ("no quote on that side any more"). Other entry
 * types (opening price, settlement, imbalance...) are dead-lettered as `unsupported-entry-type`,
 * so nothing is dropped silently.
 */

export interface FixHeader {
  MsgSeqNum: number;
  SendingTime?: Date | string;
  PossDupFlag?: boolean;
}

export interface FixMdEntry {
  MDUpdateAction?: string;
  MDEntryType?: string;
  MDEntryPx?: number;
  MDEntrySize?: number;
  MDEntryDate?: Date | string;
  MDEntryTime?: Date | string;
  Instrument?: { Symbol?: string };
}

export interface FixMarketDataMessage {
  StandardHeader: FixHeader;
  Instrument?: { Symbol?: string };
  MDFullGrp?: { NoMDEntries?: FixMdEntry[] };
  MDIncGrp?: { NoMDEntries?: FixMdEntry[] };
}

export interface FixTickContext {
  /** The session's name in tickIds. */
  session: string;
  /** When the session's sequence numbers last started from 1 (session table `createdAt`). */
  epochMs: number;
  /** When the gateway received the message. */
  ingestTime: number;
  maxPrice: number;
}

export const MD_ENTRY_TYPE = { bid: '0', offer: '1', trade: '2' } as const;
export const MD_UPDATE_ACTION = { new: '0', change: '1', delete: '2' } as const;

const DAY_MS = 86_400_000;

function toEpochMs(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * MDEntryDate (272, UTCDateOnly) plus MDEntryTime (273, UTCTimeOnly; the engine decodes it as a
 * time of day on 1899-12-31), else the time of day on SendingTime's date, else SendingTime,
 * else the time the gateway received the message.
 */
export function entryEventTime(entry: FixMdEntry, sendingTime: number | undefined, ingestTime: number): number {
  const date = toEpochMs(entry.MDEntryDate);
  const time = toEpochMs(entry.MDEntryTime);
  const timeOfDay = time === undefined ? undefined : ((time % DAY_MS) + DAY_MS) % DAY_MS;
  if (timeOfDay !== undefined) {
    const day = date ?? (sendingTime === undefined ? undefined : sendingTime - (sendingTime % DAY_MS));
    if (day !== undefined) return day - (day % DAY_MS) + timeOfDay;
  }
  if (date !== undefined) return date;
  return sendingTime ?? ingestTime;
}

/** What the wire said, beside what the engine decoded. */
export interface FixWireFacts {
  /** NoMDEntries (268) as sent. */
  declaredEntries?: number;
  /** Tags the engine's dictionary does not place in the message. */
  invalidTags?: readonly number[];
}

/**
 * The ticks of one 35=W or 35=X message, and the entries that could not become ticks. jspurefix
 * ends a repeating group at the first tag it does not expect there, so an unknown tag inside an
 * entry silently drops that entry's remaining fields and every entry after it: when fewer entries
 * were decoded than NoMDEntries declares, the lost ones are dead-lettered as `malformed-message`.
 */
export function ticksFromMarketData(msgType: 'W' | 'X', message: FixMarketDataMessage, context: FixTickContext, wire: FixWireFacts = {}): TickBatch {
  const seq = message.StandardHeader.MsgSeqNum;
  const sendingTime = toEpochMs(message.StandardHeader.SendingTime);
  const entries = (msgType === 'W' ? message.MDFullGrp?.NoMDEntries : message.MDIncGrp?.NoMDEntries) ?? [];
  const ticks: MarketTickInput[] = [];
  const rejects: TickReject[] = [];
  const source = fixSource(context.session);

  entries.forEach((entry, index) => {
    const position = `${seq}:${index}`;
    const reject = (reason: TickReject['reason'], detail: string) => rejects.push({ reason, detail, position });
    // W names its instrument once for all entries; X names it per entry.
    const symbol = entry.Instrument?.Symbol ?? message.Instrument?.Symbol;
    if (symbol === undefined || symbol === '') return reject('missing-symbol', `entry ${index} has no Symbol (55)`);
    const type = entry.MDEntryType;
    const side = type === MD_ENTRY_TYPE.bid ? 'bid' : type === MD_ENTRY_TYPE.offer ? 'ask' : type === MD_ENTRY_TYPE.trade ? 'last' : undefined;
    if (side === undefined) {
      return reject('unsupported-entry-type', `MDEntryType (269) ${String(type)} is not bid (0), offer (1) or trade (2)`);
    }
    const action = msgType === 'W' ? MD_UPDATE_ACTION.new : (entry.MDUpdateAction ?? MD_UPDATE_ACTION.new);
    if (action !== MD_UPDATE_ACTION.new && action !== MD_UPDATE_ACTION.change && action !== MD_UPDATE_ACTION.delete) {
      return reject('invalid-tick', `MDUpdateAction (279) ${action} is not new (0), change (1) or delete (2)`);
    }
    let price: number | null = null;
    let size: number | null = 0;
    if (action !== MD_UPDATE_ACTION.delete) {
      if (entry.MDEntryPx === undefined) return reject('invalid-tick', `entry ${index} (${side}) has no MDEntryPx (270)`);
      const problem = priceProblem('MDEntryPx (270)', entry.MDEntryPx, context.maxPrice);
      if (problem !== undefined) return reject('price-out-of-range', problem);
      price = entry.MDEntryPx;
      size = entry.MDEntrySize ?? null;
    }
    const tick: MarketTickInput = {
      tickId: fixTickId(context.session, context.epochMs, seq, index),
      source,
      symbol,
      bidPrice: side === 'bid' ? price : null,
      bidSize: side === 'bid' ? size : null,
      askPrice: side === 'ask' ? price : null,
      askSize: side === 'ask' ? size : null,
      lastPrice: side === 'last' ? price : null,
      lastSize: side === 'last' ? size : null,
      eventTime: entryEventTime(entry, sendingTime, context.ingestTime),
      ingestTime: context.ingestTime,
    };
    const invalid = checkTick(tick, position);
    if (invalid !== undefined) return rejects.push(invalid);
    ticks.push(tick);
  });
  if (wire.declaredEntries !== undefined && wire.declaredEntries > entries.length) {
    const tags = wire.invalidTags !== undefined && wire.invalidTags.length > 0 ? ` at unexpected tag(s) ${wire.invalidTags.join(', ')}` : '';
    rejects.push({
      reason: 'malformed-message',
      detail: `NoMDEntries (268) is ${wire.declaredEntries} but ${entries.length} entries decoded: the group ended early${tags}; entries ${entries.length} to ${wire.declaredEntries - 1} are in the raw message only`,
      position: `${seq}:${entries.length}`,
    });
  }
  return { ticks, rejects };
}
