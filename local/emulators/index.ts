import { join, resolve } from 'node:path';
import { startEdge, type Edge, type EdgeLimits } from '../edge';
import { startSqs, type SqsServer } from '../sqs';
import { startDynamoDb } from './dynamodb';
import { startKinesis } from './kinesis';
import { startS3 } from './s3';
import { SupervisedService, type SupervisionEvent } from './supervisor';
import { describeExit, type KinesisEngine, type LogFn, type RunningService } from './types';

export { startKinesis, type KinesisOptions } from './kinesis';
export {
  detectJava,
  JAVA_INSTALL_HINT,
  requireJavaRuntime,
  startDynamoDb,
  type DynamoDbOptions,
  type JavaRuntime,
} from './dynamodb';
export { startS3, type S3Options } from './s3';
export { SupervisedService, type SupervisionEvent } from './supervisor';
export { nextRestart, RESTART_BACKOFF, type RestartBackoffPolicy } from './backoff';
export {
  describeExit,
  EmulatorStartError,
  KINESIS_ENGINES,
  MissingRuntimeError,
  type KinesisEngine,
  type EmulatorExit,
  type LogFn,
  type RunningService,
} from './types';

export interface StartServicesOptions {
  /** Port of the edge. @default 4566 (LocalStack's); 0 lets the OS pick */
  readonly edgePort?: number;
  /** @default 'kinesalite' */
  readonly kinesisEngine?: KinesisEngine;
  /**
   * Keep every service's data in this folder across restarts: `kinesis/` (or `kinesis-local/`),
   * `dynamodb/`, `s3/` and `sqs/` (a journal). @default - in memory (S3 in a temporary folder)
   */
  readonly persistDir?: string;
  /** Receives progress lines. @default - silent */
  readonly log?: LogFn;
  /** The edge's timeouts and connection limit. @default - DEFAULT_EDGE_LIMITS */
  readonly edgeLimits?: Partial<EdgeLimits>;
}

export type ServiceName = 'kinesis' | 'dynamodb' | 's3' | 'sqs';
/** The services that run as child processes, watched and restarted when they die. */
export type SupervisedServiceName = Exclude<ServiceName, 'sqs'>;

export interface LocalServices {
  /** The one endpoint for every SDK client, e.g. `http://127.0.0.1:4566`. */
  readonly edgeUrl: string;
  readonly edge: Edge;
  /**
   * Each engine's own endpoint, behind the edge. The child-process engines are supervised: each
   * entry reads as the engine running now (endpoint, pid), across restarts.
   */
  readonly services: Readonly<Record<SupervisedServiceName, SupervisedService> & Record<'sqs', SqsServer>>;
  /** Whether each engine finds its data again after a restart (`--persist`). */
  readonly persistent: boolean;
  /** Calls `listener` on each death, failed restart and restart of a supervised engine; returns an unsubscribe. */
  onSupervisionEvent(listener: (event: SupervisionEvent) => void): () => void;
  /** The SQS stand-in, with its store (mounted on the edge in process). */
  readonly sqs: SqsServer;
  /** Stops the edge and every engine, even when some stop fails; then reports the failures. */
  stop(): Promise<void>;
}

/**
 * Starts the edge, then Kinesis, DynamoDB Local, S3 and the SQS stand-in in parallel, and
 * routes the edge to them. When any fails to start, the others are stopped and the error says
 * which failed and why.
 */
export async function startServices(options: StartServicesOptions = {}): Promise<LocalServices> {
  const log = options.log ?? ((): void => undefined);
  const engine = options.kinesisEngine ?? 'kinesalite';
  // Absolute: DynamoDB Local runs in its jar's folder, where a relative path names another place.
  const persistDir = options.persistDir === undefined ? undefined : resolve(options.persistDir);
  const persist = (name: string): string | undefined => (persistDir === undefined ? undefined : join(persistDir, name));
  // Requests that arrive while the engines start wait for them (then 503, which SDKs retry).
  const edge = await startEdge({ port: options.edgePort ?? 4566, log, limits: options.edgeLimits, pendingServices: ['kinesis', 'dynamodb', 's3', 'sqs'] });

  const starters = {
    kinesis: () => startKinesis({ engine, persistDir: persist(engine === 'kinesalite' ? 'kinesis' : 'kinesis-local') }),
    dynamodb: () => startDynamoDb({ persistDir: persist('dynamodb') }),
    s3: () => startS3({ persistDir: persist('s3') }),
  } satisfies Record<SupervisedServiceName, () => Promise<RunningService>>;
  const started = await Promise.allSettled([
    starters.kinesis(),
    starters.dynamodb(),
    starters.s3(),
    startSqs({ persistDirectory: persist('sqs'), onInternalError: (error) => log(`sqs: ${String(error)}`) }),
  ]);
  const [kinesis, dynamodb, s3, sqs] = started;
  if (kinesis.status !== 'fulfilled' || dynamodb.status !== 'fulfilled' || s3.status !== 'fulfilled' || sqs.status !== 'fulfilled') {
    const running = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    await stopAll([edge, ...running]).catch(() => undefined);
    const reasons = started.flatMap((result) =>
      result.status === 'rejected' ? [result.reason instanceof Error ? result.reason.message : String(result.reason)] : [],
    );
    throw new AggregateError(
      started.flatMap((result): unknown[] => (result.status === 'rejected' ? [result.reason] : [])),
      `The local cloud could not start:\n${reasons.join('\n')}`,
    );
  }

  edge.register('kinesis', kinesis.value.endpoint);
  edge.register('dynamodb', dynamodb.value.endpoint);
  edge.register('s3', s3.value.endpoint);
  edge.register('sqs', sqs.value.handler);

  // Each child engine is watched from here on: a death is on the edge's health at once, and a new
  // engine is started with backoff (see ./supervisor.ts and ./backoff.ts).
  const listeners = new Set<(event: SupervisionEvent) => void>();
  const onEvent = (event: SupervisionEvent): void => {
    log(supervisionLine(event, persistDir !== undefined));
    for (const listener of listeners) listener(event);
  };
  // kinesis-local saves its data on a clean stop only: after a crash it comes back without what came since.
  const keepsData = (service: SupervisedServiceName): boolean => persistDir !== undefined && !(service === 'kinesis' && engine === 'kinesis-local');
  const supervise = (service: SupervisedServiceName, initial: RunningService): SupervisedService =>
    new SupervisedService({ service, initial, start: starters[service], edge, keepsData: keepsData(service), onEvent });
  const services = {
    kinesis: supervise('kinesis', kinesis.value),
    dynamodb: supervise('dynamodb', dynamodb.value),
    s3: supervise('s3', s3.value),
    sqs: sqs.value,
  };
  log(`edge      ${edge.url}  (HTTP/1.1 and h2c; routes by SigV4 credential scope)`);
  for (const [key, service] of Object.entries(services)) {
    log(`${key.padEnd(9)} ${service.endpoint}  ${service.name}${key === 'sqs' ? ', mounted in the edge' : ''}`);
  }
  log(persistDir ? `data persisted in ${persistDir}` : 'data in memory (lost on stop)');

  let stopped: Promise<void> | undefined;
  return {
    edgeUrl: edge.url,
    edge,
    services,
    sqs: sqs.value,
    persistent: persistDir !== undefined,
    onSupervisionEvent: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () => (stopped ??= stopAll([edge, ...Object.values(services)])),
  };
}

/** What the user reads when a supervised engine dies, fails to restart, or is back. */
export function supervisionLine(event: SupervisionEvent, persistent: boolean): string {
  switch (event.type) {
    case 'died':
      return `! ${event.name} died (${describeExit(event.exit)}${event.pid === undefined ? '' : `, pid ${event.pid}`}); restarting in ${event.restartInMs} ms${event.deaths > 1 ? ` (death ${event.deaths} in a row)` : ''}`;
    case 'restart-failed':
      return `! ${event.name} could not restart: ${event.error.message.split('\n')[0]}; next try in ${event.restartInMs} ms`;
    case 'restarted':
      return `${event.name} restarted after ${(event.downMs / 1000).toFixed(1)} s on ${event.endpoint}${event.pid === undefined ? '' : ` (pid ${event.pid})`}: ${
        event.dataKept
          ? 'its data is back (--persist)'
          : persistent
            ? 'its data since its last clean stop was LOST (kinesis-local saves on a clean stop only)'
            : 'it starts EMPTY: its data was lost (run with --persist to keep data across crashes)'
      }`;
  }
}

/** Stops every service, all at once; throws an AggregateError naming those that failed. */
async function stopAll(services: ReadonlyArray<Pick<RunningService, 'stop'> & { name?: string; url?: string }>): Promise<void> {
  const results = await Promise.allSettled(services.map((service) => service.stop()));
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected' ? [{ service: services[index], reason: result.reason as unknown }] : [],
  );
  if (failures.length > 0) {
    throw new AggregateError(
      failures.map((failure) => failure.reason),
      `Some local services did not stop cleanly: ${failures
        .map((failure) => `${failure.service?.name ?? failure.service?.url ?? '?'}: ${String(failure.reason)}`)
        .join('; ')}`,
    );
  }
}
