import { DEMO_VENUES, GATEWAY_METRICS, GatewayConfig, GatewayEnv } from '../contracts/market-data-gateway';
import { FixVenue } from '../simulator/venues/fix-venue';
import { RestQuoteVenue } from '../simulator/venues/rest-venue';
import type { ServiceEnvironmentOverride } from './containers/runner';
import type { EmfMetrics } from './metrics';

/**
 * The market-data side of `npm start`: the venue simulators the template's default gateway
 * configuration points at, the override for an external FIX acceptor (`--fix`), and the status.
 */

export interface ExternalFixVenue {
  host: string;
  port: number;
  senderCompId?: string;
  targetCompId?: string;
}

/** `HOST:PORT` of `--fix`; the error names the value and the expected form. */
export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65_535) throw new RangeError(`${flag} must be HOST:PORT with a port from 1 to 65535. Received ${value}`);
  return { host: match[1]!, port };
}

/**
 * Overrides the gateway's FIX session address (and CompIDs) in the template's configuration: the
 * first configured session is pointed at `venue`; everything else stays as the template says.
 */
export function fixVenueOverride(venue: ExternalFixVenue): ServiceEnvironmentOverride {
  return (_service, container) => {
    const text = container.environment[GatewayEnv.config];
    if (text === undefined) return undefined;
    const config = GatewayConfig.parse(JSON.parse(text));
    const [first, ...rest] = config.fixSessions;
    if (first === undefined) return undefined;
    const session = {
      ...first,
      host: venue.host,
      port: venue.port,
      senderCompId: venue.senderCompId ?? first.senderCompId,
      targetCompId: venue.targetCompId ?? first.targetCompId,
    };
    return { [GatewayEnv.config]: JSON.stringify({ ...config, fixSessions: [session, ...rest] }) };
  };
}

export interface DemoVenues {
  rest: RestQuoteVenue;
  /** Absent when the gateway talks to an external acceptor (`--fix`). */
  fix?: FixVenue;
  stop(): Promise<void>;
}

/** The venue simulators on the ports the default configuration names. */
export async function startDemoVenues(options: { fix: boolean }): Promise<DemoVenues> {
  const rest = new RestQuoteVenue({ symbols: ['AAPL', 'MSFT', 'EUR/USD'], seed: Date.now() % 1e9, port: DEMO_VENUES.restPort, updateEveryMs: 500 });
  await rest.start();
  let fix: FixVenue | undefined;
  if (options.fix) {
    fix = new FixVenue({ symbols: ['EUR/USD', 'GBP/USD', 'USD/JPY'], senderCompId: DEMO_VENUES.fixTargetCompId, targetCompId: DEMO_VENUES.fixSenderCompId, port: DEMO_VENUES.fixPort, rate: 20 });
    await fix.start();
  }
  return { rest, fix, stop: async () => { await fix?.stop(); await rest.stop(); } };
}

/** `ticks fix:demo-fix 120/s, rest:demo-rest 3/s | fix demo-fix ActiveNormalSession`: rates since the last call. */
export class MarketDataStatus {
  private last = { at: Date.now(), totals: new Map<string, number>() };

  constructor(private readonly metrics: EmfMetrics) {}

  render(): string {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.last.at) / 1000);
    const totals = new Map<string, number>();
    const rates: string[] = [];
    for (const [source, { total }] of this.metrics.perDimension(GATEWAY_METRICS.ticks, 'Source')) {
      totals.set(source, total);
      rates.push(`${source} ${((total - (this.last.totals.get(source) ?? 0)) / seconds).toFixed(0)}/s`);
    }
    this.last = { at: now, totals };
    const sessions = [...this.metrics.perDimension(GATEWAY_METRICS.sessionUp, 'Session')].map(([session, { latest }]) => `${session} ${String(latest.SessionState)}`);
    return `ticks ${rates.join(', ') || 'none yet'}${sessions.length > 0 ? ` | fix ${sessions.join(', ')}` : ''}`;
  }
}
