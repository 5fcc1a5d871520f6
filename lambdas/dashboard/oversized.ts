import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { WindowCount } from '../../contracts/dashboard';

/**
 * Windows too large for any message (never expected: URLs are at most 2 KiB) are left out of it;
 * they are logged by key and size and counted, never dropped silently.
 */
export function reportOversized(oversized: readonly WindowCount[], deps: { logger: Logger; metrics: Metrics }): void {
  if (oversized.length === 0) return;
  deps.logger.error('Windows too large for any message were left out', {
    count: oversized.length,
    windows: oversized.map((window) => ({ windowStart: window.windowStart, urlBytes: Buffer.byteLength(window.url) })),
  });
  deps.metrics.addMetric('OversizedWindows', MetricUnit.Count, oversized.length);
}
