import { AGGREGATOR_DEFAULTS } from '../contracts/aggregator-settings';
import {
  ClickEvent,
  WINDOW_MS,
  type ClickEventInput,
  type RejectionReason,
} from '../contracts/clickstream';
import { MAX_SEED, ZipfSampler, createRandom, type Random } from './random';

/**
 * Click workload generation: pure, no SDK, no wall clock unless `startTime` is omitted.
 *
 * Every record carries its ground truth, so a test or benchmark can compute exactly what the
 * aggregator must produce (`expectedWindowCounts`) and compare.
 *
 * Partition key = userId. A user's clicks (and a producer re-send of one of them) always hash to
 * the same shard, so per-user order holds and a re-send meets the original on the same shard,
 * where the aggregator's per-shard de-duplication sees both. Keying by URL would put the Zipf
 * head (the top URL alone takes ~18% of traffic at s = 1.1) on one hot shard.
 */

export type TruthKind = 'valid' | 'resend' | 'late' | 'malformed';
export const TRUTH_KINDS: readonly TruthKind[] = ['valid', 'resend', 'late', 'malformed'];

export type RecordTruth =
  /** A well-formed event; `resend` is a byte-identical producer re-send of an earlier `valid` one. */
  | { readonly kind: 'valid' | 'resend'; readonly event: ClickEventInput }
  /** Well-formed, but timestamped `lateByMs` before the simulated clock: beyond the allowed lateness. */
  | { readonly kind: 'late'; readonly event: ClickEventInput }
  /** What the aggregator must dead-letter, and why. */
  | { readonly kind: 'malformed'; readonly reason: RejectionReason; readonly event?: undefined };

export interface GeneratedRecord {
  readonly partitionKey: string;
  /** The exact bytes put on the stream. */
  readonly data: Uint8Array;
  /** Simulated time (epoch ms) at which a producer sends this record: startTime + index / rate. */
  readonly emittedAt: number;
  readonly truth: RecordTruth;
}

export interface ClickGeneratorOptions {
  /**
   * Records per simulated second; drives the simulated clock.
   * @default 500
   */
  readonly rate?: number;
  /**
   * Number of records to generate (re-sends included).
   * @default - unbounded: the iterator never ends
   */
  readonly count?: number;
  /**
   * Number of distinct URL paths.
   * @default 1000
   */
  readonly urls?: number;
  /**
   * Number of distinct users.
   * @default 5000
   */
  readonly users?: number;
  /**
   * Zipf exponent of URL popularity.
   * @default 1.1
   */
  readonly zipf?: number;
  /**
   * PRNG seed, an unsigned 32-bit integer.
   * @default 1
   */
  readonly seed?: number;
  /**
   * Simulated clock start, epoch ms.
   * @default - Date.now() at the call
   */
  readonly startTime?: number;
  /**
   * Mild disorder: some valid events are timestamped up to this much before the clock.
   * @default 2000
   */
  readonly disorderMs?: number;
  /**
   * Fraction of records that are producer re-sends (exact bytes of a recent valid record).
   * @default 0
   */
  readonly duplicates?: number;
  /**
   * Fraction of records that are late events.
   * @default 0
   */
  readonly late?: number;
  /**
   * Fraction of records that are malformed (not JSON, schema violations, oversized, far future).
   * @default 0
   */
  readonly malformed?: number;
  /**
   * How far before the clock a late event is timestamped.
   * @default 300000 (5 minutes)
   */
  readonly lateByMs?: number;
  /**
   * The aggregator's allowed lateness; late events are placed so they are beyond it.
   * @default - AGGREGATOR_DEFAULTS.allowedLatenessSeconds * 1000
   */
  readonly allowedLatenessMs?: number;
}

export const CLICK_DEFAULTS = {
  rate: 500,
  urls: 1000,
  users: 5000,
  zipf: 1.1,
  seed: 1,
  disorderMs: 2000,
  duplicates: 0,
  late: 0,
  malformed: 0,
  lateByMs: 5 * 60_000,
  allowedLatenessMs: AGGREGATOR_DEFAULTS.allowedLatenessSeconds * 1000,
} as const;

/** Share of valid events that are delayed (by 1..disorderMs); the rest carry the clock's time. */
export const DELAYED_SHARE = 0.3;
/** A re-send follows its original within this much simulated time. */
export const RESEND_WITHIN_MS = 5_000;
/** Malformed "future" records are this far ahead of the clock (the aggregator allows 5 minutes). */
export const FUTURE_BY_MS = 60 * 60_000;
/** Mean number of clicks in a session. */
export const MEAN_SESSION_CLICKS = 8;
/** Mean simulated time between two clicks of the same session; sets the number of concurrent sessions. */
export const MEAN_CLICK_GAP_MS = 2_000;

export type ResolvedClickOptions = Required<Omit<ClickGeneratorOptions, 'count'>> & { readonly count: number };

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/** Applies defaults and validates; errors name the option and the received value. */
export function resolveClickOptions(options: ClickGeneratorOptions = {}): ResolvedClickOptions {
  const o = {
    ...CLICK_DEFAULTS,
    startTime: options.startTime ?? Date.now(),
    count: Number.POSITIVE_INFINITY,
    ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
  } as ResolvedClickOptions;

  check(Number.isFinite(o.rate) && o.rate > 0, `rate must be a positive number of records per second. Received ${o.rate}`);
  check(
    o.count === Number.POSITIVE_INFINITY || (Number.isInteger(o.count) && o.count >= 0),
    `count must be a non-negative integer. Received ${o.count}`,
  );
  check(Number.isInteger(o.urls) && o.urls >= 1, `urls must be a positive integer. Received ${o.urls}`);
  check(Number.isInteger(o.users) && o.users >= 1, `users must be a positive integer. Received ${o.users}`);
  check(Number.isFinite(o.zipf) && o.zipf >= 0, `zipf must be a finite number >= 0. Received ${o.zipf}`);
  check(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= MAX_SEED, `seed must be an integer between 0 and ${MAX_SEED}. Received ${o.seed}`);
  check(Number.isInteger(o.startTime) && o.startTime >= 0, `startTime must be epoch milliseconds. Received ${o.startTime}`);
  check(Number.isInteger(o.disorderMs) && o.disorderMs >= 0, `disorderMs must be a non-negative integer. Received ${o.disorderMs}`);
  for (const name of ['duplicates', 'late', 'malformed'] as const) {
    const value = o[name];
    check(Number.isFinite(value) && value >= 0 && value <= 1, `${name} must be a fraction between 0 and 1. Received ${value}`);
  }
  const injected = o.duplicates + o.late + o.malformed;
  check(injected <= 1, `duplicates + late + malformed must not exceed 1. Received ${injected}`);
  check(
    Number.isInteger(o.allowedLatenessMs) && o.allowedLatenessMs >= 0,
    `allowedLatenessMs must be a non-negative integer. Received ${o.allowedLatenessMs}`,
  );
  // A late event must fall in a window that closed (window end + allowed lateness) before the
  // newest event already on its shard, which can itself be up to disorderMs behind the clock.
  const minLateBy = WINDOW_MS + o.allowedLatenessMs + o.disorderMs;
  check(
    Number.isInteger(o.lateByMs) && o.lateByMs > minLateBy,
    `lateByMs must be an integer greater than window (${WINDOW_MS}) + allowed lateness (${o.allowedLatenessMs}) + disorder (${o.disorderMs}) = ${minLateBy} ms. Received ${o.lateByMs}`,
  );
  return o;
}

const CATEGORIES = ['shoes', 'jackets', 'bags', 'watches', 'kitchen', 'garden', 'toys', 'books', 'audio', 'cameras'];
const WORDS = [
  'kinesis', 'streaming', 'windows', 'exactly-once', 'shards', 'latency', 'watermarks', 'replay',
  'checkout', 'pricing', 'release', 'roadmap', 'guide', 'migration', 'benchmarks', 'deep-dive',
];
const DOC_SECTIONS = ['getting-started', 'api', 'sdk', 'cli', 'limits', 'faq'];

/** `n` distinct, realistic URL paths; index 0 is the home page. Deterministic, independent of the seed. */
export function buildUrlPaths(n: number): string[] {
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i === 0) {
      paths.push('/');
      continue;
    }
    const word = (k: number): string => WORDS[k % WORDS.length] as string;
    switch (i % 6) {
      case 0:
        paths.push(`/blog/${word(i)}-${word(i * 7 + 3)}-${i}`);
        break;
      case 1:
      case 4:
        paths.push(`/products/${10_000 + i}`);
        break;
      case 2:
        paths.push(`/category/${CATEGORIES[i % CATEGORIES.length]}?page=${Math.floor(i / CATEGORIES.length) + 1}`);
        break;
      case 3:
        paths.push(`/docs/${DOC_SECTIONS[i % DOC_SECTIONS.length]}/${word(i)}-${i}`);
        break;
      default:
        paths.push(`/search?q=${word(i)}+${word(i * 5 + 1)}&p=${i}`);
    }
  }
  return paths;
}

const UTC_OFFSETS_MIN = [60, 330, -240, -480, 540];

function isoWithOffset(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, -1);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Both formats the contract accepts: about half epoch ms, the rest ISO-8601 (mostly Z, some offsets). */
function formatTimestamp(ms: number, random: Random): string | number {
  const u = random.next();
  if (u < 0.5) return ms;
  if (u < 0.9) return new Date(ms).toISOString();
  return isoWithOffset(ms, random.pick(UTC_OFFSETS_MIN));
}

const encoder = new TextEncoder();
const encodeJson = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));

interface Session {
  readonly user: number;
  clicksLeft: number;
  /** Newest timestamp of a valid click already emitted with this user's partition key. */
  newestTs: number;
}

interface ResendCandidate {
  readonly record: GeneratedRecord;
}

const MALFORMATIONS = ['not-json', 'missing-field', 'wrong-type', 'oversized', 'future-timestamp'] as const;

/**
 * Generates click records lazily. Record i is emitted at simulated time startTime + i * 1000 / rate.
 *
 * Each slot is a re-send with probability `duplicates`, late with probability `late`, malformed with
 * probability `malformed`, otherwise a valid click. A re-send needs a valid record from the last
 * RESEND_WITHIN_MS, and a late event needs a user whose partition key already carries an event new
 * enough to have closed the late event's window; when none exists yet (the first few records) the
 * injection is deferred to the next slot that can take it, so the fractions hold.
 */
export function* generateClicks(options: ClickGeneratorOptions = {}): Generator<GeneratedRecord, void, undefined> {
  const o = resolveClickOptions(options);
  const random = createRandom(o.seed);
  const zipf = new ZipfSampler(o.urls, o.zipf);
  const urlPaths = buildUrlPaths(o.urls);
  const userWidth = String(o.users - 1).length;
  const userIds = Array.from({ length: o.users }, (_, i) => `user-${String(i).padStart(userWidth, '0')}`);
  const runTag = `clk-${o.seed}-${o.startTime.toString(36)}`;

  const idle = Array.from({ length: o.users }, (_, i) => i);
  const active: Session[] = [];
  const targetActive = Math.max(1, Math.min(o.users, Math.round((o.rate * MEAN_CLICK_GAP_MS) / 1000)));

  const candidates: (ResendCandidate | undefined)[] = [];
  let candidateHead = 0;
  let liveCandidates = 0;
  let resendDebt = 0;
  let lateDebt = 0;

  const startSession = (): void => {
    const slot = random.int(idle.length);
    const user = idle[slot] as number;
    idle[slot] = idle[idle.length - 1] as number;
    idle.pop();
    const clicks = 1 + Math.min(49, Math.floor(-Math.log(1 - random.next()) * (MEAN_SESSION_CLICKS - 1)));
    active.push({ user, clicksLeft: clicks, newestTs: Number.NEGATIVE_INFINITY });
  };

  const endSession = (index: number): void => {
    const session = active[index] as Session;
    active[index] = active[active.length - 1] as Session;
    active.pop();
    idle.push(session.user);
  };

  const evictCandidates = (now: number): void => {
    while (candidateHead < candidates.length) {
      const head = candidates[candidateHead];
      if (head !== undefined && now - head.record.emittedAt <= RESEND_WITHIN_MS) break;
      if (head !== undefined) liveCandidates--;
      candidateHead++;
    }
    if (candidateHead > 4096 && candidateHead * 2 > candidates.length) {
      candidates.splice(0, candidateHead);
      candidateHead = 0;
    }
  };

  const takeCandidate = (): GeneratedRecord | undefined => {
    if (liveCandidates === 0) return undefined;
    const span = candidates.length - candidateHead;
    const start = random.int(span);
    for (let step = 0; step < span; step++) {
      const index = candidateHead + ((start + step) % span);
      const candidate = candidates[index];
      if (candidate !== undefined) {
        candidates[index] = undefined;
        liveCandidates--;
        return candidate.record;
      }
    }
    return undefined;
  };

  /** An active session whose partition key has carried an event newer than `minNewestTs`. */
  const findLateHost = (minNewestTs: number): Session | undefined => {
    for (let attempt = 0; attempt < 8 && active.length > 0; attempt++) {
      const session = random.pick(active);
      if (session.newestTs >= minNewestTs) return session;
    }
    return undefined;
  };

  const lateHostThreshold = (lateTs: number): number =>
    Math.floor(lateTs / WINDOW_MS) * WINDOW_MS + WINDOW_MS + o.allowedLatenessMs;

  for (let i = 0; i < o.count; i++) {
    const now = o.startTime + Math.floor((i * 1000) / o.rate);
    const eventId = `${runTag}-${i}`;
    evictCandidates(now);

    const u = random.next();
    let kind: TruthKind =
      u < o.duplicates ? 'resend' : u < o.duplicates + o.late ? 'late' : u < o.duplicates + o.late + o.malformed ? 'malformed' : 'valid';

    if (kind === 'resend') {
      const original = takeCandidate();
      if (original !== undefined) {
        yield { partitionKey: original.partitionKey, data: original.data.slice(), emittedAt: now, truth: { kind: 'resend', event: original.truth.event as ClickEventInput } };
        continue;
      }
      resendDebt++;
      kind = 'valid';
    } else if (kind === 'valid' && resendDebt > 0) {
      const original = takeCandidate();
      if (original !== undefined) {
        resendDebt--;
        yield { partitionKey: original.partitionKey, data: original.data.slice(), emittedAt: now, truth: { kind: 'resend', event: original.truth.event as ClickEventInput } };
        continue;
      }
    }

    const lateTs = now - o.lateByMs;
    if (kind === 'late' || (kind === 'valid' && lateDebt > 0)) {
      const host = findLateHost(lateHostThreshold(lateTs));
      if (host !== undefined) {
        if (kind === 'valid') lateDebt--;
        const userId = userIds[host.user] as string;
        const event: ClickEventInput = { eventId, url: urlPaths[zipf.sample(random)] as string, userId, timestamp: formatTimestamp(lateTs, random) };
        yield { partitionKey: userId, data: encodeJson(event), emittedAt: now, truth: { kind: 'late', event } };
        continue;
      }
      if (kind === 'late') {
        lateDebt++;
        kind = 'valid';
      }
    }

    if (kind === 'malformed') {
      const userId = userIds[random.int(o.users)] as string;
      const { data, reason } = malformedPayload(random.pick(MALFORMATIONS), { eventId, userId, url: urlPaths[zipf.sample(random)] as string, now, random });
      yield { partitionKey: userId, data, emittedAt: now, truth: { kind: 'malformed', reason } };
      continue;
    }

    // A valid click from an active session.
    while (active.length < targetActive && idle.length > 0) startSession();
    const sessionIndex = random.int(active.length);
    const session = active[sessionIndex] as Session;
    const userId = userIds[session.user] as string;
    const ts = random.chance(DELAYED_SHARE) && o.disorderMs > 0 ? now - 1 - random.int(o.disorderMs) : now;
    const event: ClickEventInput = { eventId, url: urlPaths[zipf.sample(random)] as string, userId, timestamp: formatTimestamp(ts, random) };
    const record: GeneratedRecord = { partitionKey: userId, data: encodeJson(event), emittedAt: now, truth: { kind: 'valid', event } };
    session.newestTs = Math.max(session.newestTs, ts);
    session.clicksLeft--;
    if (session.clicksLeft <= 0) endSession(sessionIndex);
    if (o.duplicates > 0) {
      candidates.push({ record });
      liveCandidates++;
    }
    yield record;
  }
}

interface MalformedContext {
  readonly eventId: string;
  readonly userId: string;
  readonly url: string;
  readonly now: number;
  readonly random: Random;
}

function malformedPayload(
  malformation: (typeof MALFORMATIONS)[number],
  { eventId, userId, url, now, random }: MalformedContext,
): { data: Uint8Array; reason: RejectionReason } {
  const event = { eventId, url, userId, timestamp: formatTimestamp(now, random) };
  switch (malformation) {
    case 'not-json': {
      const text = random.chance(0.5)
        ? JSON.stringify(event).slice(0, -7) // truncated mid-value
        : `click ${eventId} ${userId} ${url} ${now}`;
      return { data: encoder.encode(text), reason: 'not-json' };
    }
    case 'missing-field': {
      const without = random.pick(['eventId', 'url', 'userId', 'timestamp'] as const);
      const { [without]: _dropped, ...rest } = event;
      return { data: encodeJson(rest), reason: 'schema' };
    }
    case 'wrong-type': {
      const variants: Record<string, unknown>[] = [
        { ...event, timestamp: 'yesterday' },
        { ...event, timestamp: new Date(now).toISOString().slice(0, -1) }, // ISO without a zone
        { ...event, timestamp: -now },
        { ...event, url: 404 },
        { ...event, userId: null },
        { ...event, eventId: '' },
      ];
      return { data: encodeJson(random.pick(variants)), reason: 'schema' };
    }
    case 'oversized': {
      // Otherwise valid, but over the aggregator's size limit.
      const target = AGGREGATOR_DEFAULTS.maxEventBytes + 1 + random.int(2048);
      const base = JSON.stringify({ ...event, payload: '' }).length;
      return { data: encodeJson({ ...event, payload: 'x'.repeat(Math.max(0, target - base)) }), reason: 'oversized' };
    }
    case 'future-timestamp':
      return { data: encodeJson({ ...event, timestamp: formatTimestamp(now + FUTURE_BY_MS, random) }), reason: 'future-timestamp' };
  }
}

/** `${url}|${windowStartIso}`, the ground-truth key. */
export const windowKey = (url: string, windowStartIso: string): string => `${url}|${windowStartIso}`;

/**
 * Incremental ground truth: counts unique (by eventId) valid events per (url, window). Re-sends
 * count once (whichever copy arrives first); late and malformed records never count.
 */
export class WindowTally {
  private readonly seen = new Set<string>();
  private readonly tally = new Map<string, number>();

  constructor(private readonly windowMs: number = WINDOW_MS) {}

  add(record: GeneratedRecord): void {
    const { truth } = record;
    if (truth.kind !== 'valid' && truth.kind !== 'resend') return;
    const click = ClickEvent.parse(truth.event);
    if (this.seen.has(click.eventId)) return;
    this.seen.add(click.eventId);
    const windowStart = new Date(Math.floor(click.timestamp / this.windowMs) * this.windowMs).toISOString();
    const key = windowKey(click.url, windowStart);
    this.tally.set(key, (this.tally.get(key) ?? 0) + 1);
  }

  counts(): Map<string, number> {
    return new Map(this.tally);
  }
}

/** Offline ground truth: `${url}|${windowStartIso}` → count of unique, valid, on-time events. */
export function expectedWindowCounts(records: Iterable<GeneratedRecord>, windowMs: number = WINDOW_MS): Map<string, number> {
  const tally = new WindowTally(windowMs);
  for (const record of records) tally.add(record);
  return tally.counts();
}
