import * as z from 'zod';

/**
 * The market-data gateway's contracts: its configuration file (FIX sessions and REST quote feeds),
 * the environment the task definition gives it, its session table's key, and the dead-letter
 * message. The CDK construct, the gateway process, the local cloud and the tests import these.
 * The tick itself is `MarketTick` in ./market-data.
 */

/** A FIX CompID or a session/feed name: what tickIds and stream partition keys are built from. */
const Identifier = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-", 1 to 64 of them');

/** Reconnect and retry pacing: exponential from `initialMs`, capped at `maxMs`, with full jitter. */
export const Backoff = z.object({
  initialMs: z.number().int().min(1).default(500),
  maxMs: z.number().int().min(1).default(30_000),
});
export type Backoff = z.infer<typeof Backoff>;

export const FixSessionConfig = z.object({
  /** Names the session in tickIds (`fix:<name>:...`) and metrics; defaults to SenderCompID-TargetCompID. */
  name: Identifier.optional(),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  senderCompId: Identifier,
  targetCompId: Identifier,
  /** HeartBtInt (108) sent at logon. */
  heartbeatSeconds: z.number().int().min(1).max(300).default(30),
  /** Symbols of the MarketDataRequest (35=V). */
  symbols: z.array(z.string().min(1).max(64)).min(1),
  /**
   * Name of the environment variable that holds the logon password (553/554), if the venue wants
   * one. On AWS it comes from Secrets Manager through the task definition's `secrets`.
   */
  passwordEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
  reconnect: Backoff.default({ initialMs: 500, maxMs: 30_000 }),
});
export type FixSessionConfig = z.infer<typeof FixSessionConfig>;
export type FixSessionConfigInput = z.input<typeof FixSessionConfig>;

/**
 * Where each tick field is in a quote API's JSON: dot paths (`data.quotes`, `bid.px`), evaluated
 * on each element of `quotes` (or on the whole body when `quotes` is absent). Unset fields are null.
 */
export const RestMapping = z.object({
  /** Path of the array of quotes in the body; absent: the body is one quote, or an array of them. */
  quotes: z.string().optional(),
  symbol: z.string(),
  bidPrice: z.string().optional(),
  bidSize: z.string().optional(),
  askPrice: z.string().optional(),
  askSize: z.string().optional(),
  lastPrice: z.string().optional(),
  lastSize: z.string().optional(),
  /** Epoch ms, epoch seconds (below 1e11), or ISO-8601 with a zone; absent: the time of the response. */
  eventTime: z.string().optional(),
  /**
   * The quote's own unique id, if the API has one: the tickId becomes `rest:<feed>:<id>`. Without it
   * the tickId is a hash of the quote's content, so the same quote polled twice is the same tick.
   */
  id: z.string().optional(),
});
export type RestMapping = z.infer<typeof RestMapping>;

export const RestFeedConfig = z.object({
  name: Identifier,
  url: z.url(),
  intervalMs: z.number().int().min(50).default(1_000),
  timeoutMs: z.number().int().min(10).default(2_000),
  backoff: Backoff.default({ initialMs: 500, maxMs: 30_000 }),
  /** Environment variable holding an API key, sent as `headerName`; from Secrets Manager on AWS. */
  apiKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
  apiKeyHeader: z.string().default('x-api-key'),
  mapping: RestMapping,
});
export type RestFeedConfig = z.infer<typeof RestFeedConfig>;
export type RestFeedConfigInput = z.input<typeof RestFeedConfig>;

export const GatewayConfig = z.object({
  fixSessions: z.array(FixSessionConfig).default([]),
  restFeeds: z.array(RestFeedConfig).default([]),
  /** Prices outside (0, maxPrice] are dead-lettered as `price-out-of-range`. */
  maxPrice: z.number().positive().default(1e9),
  /** PutRecords batching: at most this many ticks, or this long, per call. */
  batchSize: z.number().int().min(1).max(500).default(500),
  batchDelayMs: z.number().int().min(0).max(5_000).default(100),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;
export type GatewayConfigInput = z.input<typeof GatewayConfig>;

/** Environment of the gateway task (set by the construct, read by gateway/settings.ts). */
export const GatewayEnv = {
  /** The GatewayConfig as JSON. */
  config: 'GATEWAY_CONFIG',
  streamName: 'MARKET_DATA_STREAM_NAME',
  sessionTableName: 'GATEWAY_SESSION_TABLE_NAME',
  deadLetterQueueUrl: 'GATEWAY_DEAD_LETTER_QUEUE_URL',
} as const;

/** The session table: one item per FIX session, keyed by `BeginString-SenderCompID-TargetCompID`. */
export const GATEWAY_SESSION_TABLE_KEY = { partitionKey: 'sessionId' } as const;

export const GatewaySessionItem = z.object({
  sessionId: z.string(),
  /**
   * Next MsgSeqNum the gateway sends, as last saved. Messages written while a save was in flight
   * may be numbered past it, so a gateway starting from this item logs on a margin past it
   * (SENDER_SEQ_NUM_MARGIN, gateway/fix/session-store.ts).
   */
  senderSeqNum: z.number().int().positive(),
  /**
   * Next MsgSeqNum the gateway must receive: never past a message whose ticks are not yet on the
   * stream, nor past a gap not yet resent or gap-filled. A restart resends from here.
   */
  targetSeqNum: z.number().int().positive(),
  /** When the sequence numbers last started from 1 (epoch ms): part of every tickId of the session. */
  createdAt: z.number().int().nonnegative(),
  updatedAt: z.number().int().nonnegative(),
});
export type GatewaySessionItem = z.infer<typeof GatewaySessionItem>;

export const GatewayDeadLetterReason = z.enum([
  'unsupported-entry-type',
  'price-out-of-range',
  'invalid-tick',
  'missing-symbol',
  'unknown-message',
  /** A FIX message the engine could not decode whole (an unknown tag inside a repeating group ends the group early). */
  'malformed-message',
  'malformed-response',
  'put-failed',
]);
export type GatewayDeadLetterReason = z.infer<typeof GatewayDeadLetterReason>;

/** What the gateway sends to its dead-letter queue: the reason, a detail and the raw input. */
export const GatewayDeadLetter = z.object({
  reason: GatewayDeadLetterReason,
  detail: z.string(),
  /** `fix:<session>` or `rest:<feed>`. */
  source: z.string(),
  /** FIX: MsgSeqNum and entry index; REST: the quote's index in the response. */
  position: z.string().optional(),
  /** The raw message (FIX with `|` for SOH) or response body, truncated past 16 KiB. */
  raw: z.string(),
  at: z.iso.datetime(),
});
export type GatewayDeadLetter = z.infer<typeof GatewayDeadLetter>;

export const MAX_DEAD_LETTER_RAW_CHARS = 16 * 1024;

/** CloudWatch namespace and metric names of the gateway's Embedded Metric Format lines. */
export const GATEWAY_METRICS = {
  namespace: 'Watershed/MarketData',
  /** Ticks put on the stream, per source (dimension `Source`). */
  ticks: 'TicksPublished',
  /** 1 while a FIX session is logged on, 0 otherwise (dimension `Session`). */
  sessionUp: 'FixSessionUp',
  deadLetters: 'GatewayDeadLetters',
  /** FIX messages received again with PossDupFlag=Y (their ticks keep their tickIds). */
  possDupMessages: 'PossDupMessages',
  /** Gaps the gateway detected and asked to be resent. */
  sequenceGaps: 'SequenceGaps',
  restPollFailures: 'RestPollFailures',
} as const;

/** Keys of the venue secret (Secrets Manager) that the task definition maps to variables. */
export const VENUE_SECRET_KEYS = { fixPassword: 'fixPassword', restApiKey: 'restApiKey' } as const;

/** How the REST venue simulator's body maps to ticks (simulator/venues/rest-venue.ts). */
export const DEMO_REST_MAPPING = {
  quotes: 'quotes',
  id: 'id',
  symbol: 'symbol',
  bidPrice: 'bid',
  bidSize: 'bidSize',
  askPrice: 'ask',
  askSize: 'askSize',
  lastPrice: 'last',
  lastSize: 'lastSize',
  eventTime: 'ts',
} as const satisfies RestMapping;

/** Where `npm start` runs the venue simulators, and so where the default configuration points. */
export const DEMO_VENUES = { fixHost: '127.0.0.1', fixPort: 9878, restPort: 9879, fixTargetCompId: 'DEMO-VENUE', fixSenderCompId: 'WATERSHED' } as const;

/**
 * The construct's default configuration: one FIX session and one REST feed on the venue simulators
 * that the local cloud runs. A deployment to AWS passes its real venues instead.
 */
export const DEMO_GATEWAY_CONFIG: GatewayConfigInput = {
  fixSessions: [
    {
      name: 'demo-fix',
      host: DEMO_VENUES.fixHost,
      port: DEMO_VENUES.fixPort,
      senderCompId: DEMO_VENUES.fixSenderCompId,
      targetCompId: DEMO_VENUES.fixTargetCompId,
      heartbeatSeconds: 10,
      symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'],
      passwordEnv: 'FIX_PASSWORD',
    },
  ],
  restFeeds: [
    {
      name: 'demo-rest',
      url: `http://127.0.0.1:${DEMO_VENUES.restPort}/quotes`,
      intervalMs: 1_000,
      timeoutMs: 2_000,
      apiKeyEnv: 'REST_API_KEY',
      mapping: DEMO_REST_MAPPING,
    },
  ],
};
