import { GATEWAY_METRICS } from '../contracts/market-data-gateway';

/**
 * The gateway's metrics as Embedded Metric Format lines on stdout: on AWS the awslogs driver ships
 * them to CloudWatch Logs, which extracts the metrics the alarms watch; locally the local cloud
 * reads the same lines for its status line. Counters are flushed as deltas every `intervalMs`.
 */
export class GatewayMetrics {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly sessions = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly write: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  start(intervalMs = 5_000): void {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.flush();
  }

  /** Adds to a counter of one source (`fix:<session>` or `rest:<feed>`). */
  count(metric: string, source: string, value = 1): void {
    const bySource = this.counters.get(metric) ?? new Map<string, number>();
    bySource.set(source, (bySource.get(source) ?? 0) + value);
    this.counters.set(metric, bySource);
  }

  /** A FIX session's state (jspurefix SessionState name); reported as FixSessionUp 1/0 with the state. */
  sessionState(session: string, state: string): void {
    this.sessions.set(session, state);
  }

  flush(): void {
    const timestamp = Date.now();
    for (const [metric, bySource] of this.counters) {
      for (const [source, value] of bySource) {
        this.write(JSON.stringify({
          _aws: { Timestamp: timestamp, CloudWatchMetrics: [{ Namespace: GATEWAY_METRICS.namespace, Dimensions: [[], ['Source']], Metrics: [{ Name: metric, Unit: 'Count' }] }] },
          Source: source,
          [metric]: value,
        }));
      }
    }
    this.counters.clear();
    for (const [session, state] of this.sessions) {
      const up = state === 'ActiveNormalSession' ? 1 : 0;
      this.write(JSON.stringify({
        // No dimension on the alarm's metric: its minimum over sessions is what the alarm watches.
        _aws: { Timestamp: timestamp, CloudWatchMetrics: [{ Namespace: GATEWAY_METRICS.namespace, Dimensions: [[], ['Session']], Metrics: [{ Name: GATEWAY_METRICS.sessionUp, Unit: 'None' }] }] },
        Session: session,
        SessionState: state,
        [GATEWAY_METRICS.sessionUp]: up,
      }));
    }
  }
}
