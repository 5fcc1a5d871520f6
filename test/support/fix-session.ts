import { FixSessionConfig } from '../../contracts/market-data-gateway';
import type { MarketTickInput } from '../../contracts/market-data';
import type { TickReject } from '../../gateway/core/tick-checks';
import { fixTickId } from '../../gateway/core/tick-id';
import { FixSessionRunner, type FixSessionOutputs } from '../../gateway/fix/session';
import { MemorySessionTable, type SessionTable } from '../../gateway/fix/session-store';
import type { GatewaySessionItem } from '../../contracts/market-data-gateway';
import { FixVenue, type SentMarketData } from '../../simulator/venues/fix-venue';

export const VENUE_COMP_ID = 'VENUE';
export const GATEWAY_COMP_ID = 'GW';
export const SESSION_NAME = 'test-fix';

/**
 * A FIX session's outputs, recorded: what the sink accepted (`published`) and what it acknowledged
 * (`durable`). While `holdAcks` is set, publish() keeps its promise pending, as a PutRecords that
 * has not answered yet: the session must not count those messages as durable.
 */
export class RecordingOutputs implements FixSessionOutputs {
  readonly published: MarketTickInput[] = [];
  readonly durable: MarketTickInput[] = [];
  readonly letters: { reject: TickReject; source: string; raw: string }[] = [];
  readonly counts = new Map<string, number>();
  readonly states: string[] = [];
  holdAcks = false;
  maxPrice = 1e6;

  sink = {
    publish: (ticks: readonly MarketTickInput[]): Promise<void> => {
      this.published.push(...ticks);
      if (this.holdAcks) return new Promise<void>(() => undefined);
      this.durable.push(...ticks);
      return Promise.resolve();
    },
  };

  deadLetters = {
    send: async (reject: TickReject, source: string, raw: string): Promise<void> => {
      this.letters.push({ reject, source, raw });
    },
  };

  metrics = {
    count: (metric: string, _source: string, value = 1): void => {
      this.counts.set(metric, (this.counts.get(metric) ?? 0) + value);
    },
    sessionState: (_session: string, state: string): void => {
      this.states.push(state);
    },
  };
}

/**
 * A MemorySessionTable whose saves can stop landing: while `landing` is false a save never
 * answers and changes nothing, as a DynamoDB PutItem in flight when the process is killed.
 */
export class KillableSessionTable extends MemorySessionTable {
  landing = true;

  override async save(item: GatewaySessionItem): Promise<void> {
    if (!this.landing) return new Promise<void>(() => undefined);
    return super.save(item);
  }
}

/**
 * The runner as after a SIGKILL: the connection ends without a Logout, no final persist, no
 * reconnect. (Reaches into the runner: nothing in production stops a session this way.)
 */
export function killRunner(runner: FixSessionRunner): void {
  const inside = runner as unknown as { stopped: boolean; wake?: () => void; session?: { requestStop(reason: string): void } };
  inside.stopped = true;
  inside.wake?.();
  inside.session?.requestStop('killed');
}

/** The venue on 127.0.0.1 with an OS-picked port and 1 s heartbeats. */
export async function startTestVenue(options: { rate?: number; seed?: number } = {}): Promise<FixVenue> {
  const venue = new FixVenue({ symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'], senderCompId: VENUE_COMP_ID, targetCompId: GATEWAY_COMP_ID, heartbeatSeconds: 1, rate: options.rate ?? 20, seed: options.seed ?? 5 });
  await venue.start();
  return venue;
}

/** The gateway's session runner (the real jspurefix initiator) against `venue`, 1 s heartbeats, fast reconnects. */
export function startTestSession(venue: FixVenue, table: SessionTable, outputs: RecordingOutputs, log: string[] = []): FixSessionRunner {
  const config = FixSessionConfig.parse({
    name: SESSION_NAME,
    host: '127.0.0.1',
    port: venue.port,
    senderCompId: GATEWAY_COMP_ID,
    targetCompId: VENUE_COMP_ID,
    heartbeatSeconds: 1,
    symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'],
    reconnect: { initialMs: 100, maxMs: 400 },
  });
  const runner = new FixSessionRunner(config, { outputs, sessionTable: table, env: {}, log: (line) => log.push(line) });
  runner.start();
  return runner;
}

/** Every tickId the venue's market data must become: one per entry of every W and X it sent. */
export function expectedFixTickIds(sent: SentMarketData, session: string, epochMs: number): Set<string> {
  const ids = new Set<string>();
  for (const [seq, { entries }] of sent) for (let index = 0; index < entries; index += 1) ids.add(fixTickId(session, epochMs, seq, index));
  return ids;
}

/** Polls `check` every 50 ms; the error says what was still wrong. */
export async function until(check: () => boolean, describe: () => string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
