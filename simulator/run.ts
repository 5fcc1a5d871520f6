import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { CLICK_DEFAULTS, WindowTally, generateClicks, resolveClickOptions, type ClickGeneratorOptions } from './clicks';
import { resolveLocalTarget } from './local-target';
import { createKinesisClient, putAll, resolveStreamName, type ProducerStats, type PutAllOptions, type TargetKind } from './producer';

export interface ClickSimulatorOptions extends Omit<ClickGeneratorOptions, 'count'> {
  /**
   * Where to send.
   * @default 'local'
   */
  readonly target?: TargetKind;
  /** @default - for local, the running local cloud's edge (.watershed/local-cloud.json); http://localhost:4566 for localstack; AWS's endpoint for aws */
  readonly endpoint?: string;
  /** @default - us-east-1 for local and localstack; the default chain for aws */
  readonly region?: string;
  /** @default - read from the outputs file */
  readonly stream?: string;
  /** @default - for local, the running local cloud's outputs file (.watershed/local-cloud.json names it) */
  readonly outputsFile?: string;
  /**
   * Records to send. Exclusive with durationSeconds.
   * @default - rate * durationSeconds, or unbounded (until the signal aborts) when neither is set
   */
  readonly count?: number;
  /** Seconds of traffic at `rate`; sets count = round(rate * durationSeconds). */
  readonly durationSeconds?: number;
  /**
   * Kinesis client to use (the caller keeps ownership).
   * @default - one created for the target and destroyed at the end
   */
  readonly client?: KinesisClient;
  /** Progress after every PutRecords call. */
  readonly onProgress?: (stats: ProducerStats) => void;
  /**
   * Keep the ground truth (expectedWindowCounts) of the records acknowledged. Memory grows with
   * urls x windows, so leave it off for open-ended runs.
   * @default false
   */
  readonly trackExpected?: boolean;
  /** Producer tuning passed to putAll (retries, pacing tick, clock). */
  readonly producer?: Pick<PutAllOptions, 'maxAttempts' | 'baseBackoffMs' | 'maxBackoffMs' | 'tickMs' | 'clock' | 'jitter'>;
}

export interface ClickSimulatorResult {
  readonly streamName: string;
  readonly seed: number;
  readonly startTime: number;
  readonly rate: number;
  /** Records planned; Infinity for an open-ended run. */
  readonly planned: number;
  readonly stats: ProducerStats;
  /** True when the signal stopped the run before every planned record was sent. */
  readonly aborted: boolean;
  /** `${url}|${windowStartIso}` → count, over the acknowledged records (with trackExpected). */
  readonly expected?: Map<string, number>;
}

/** A seed for runs that do not pass one; reported in the result so the run can be replayed. */
export const randomSeed = (): number => crypto.getRandomValues(new Uint32Array(1))[0] as number;

/**
 * Runs the click simulator in-process: generate, pace, put, until `count` records are sent or
 * `signal` aborts (the batch in flight is finished first). Used by the CLI and by `npm start`.
 */
export async function runClickSimulator(options: ClickSimulatorOptions, signal?: AbortSignal): Promise<ClickSimulatorResult> {
  const {
    target = 'local',
    endpoint,
    region,
    stream,
    outputsFile,
    durationSeconds,
    client: injected,
    onProgress,
    trackExpected = false,
    producer,
    ...generatorOptions
  } = options;
  if (durationSeconds !== undefined && options.count !== undefined) {
    throw new RangeError(`count and durationSeconds are exclusive. Received count ${options.count} and durationSeconds ${durationSeconds}`);
  }
  if (durationSeconds !== undefined && !(Number.isFinite(durationSeconds) && durationSeconds > 0)) {
    throw new RangeError(`durationSeconds must be a positive number. Received ${durationSeconds}`);
  }
  const rate = options.rate ?? CLICK_DEFAULTS.rate;
  const count = durationSeconds !== undefined ? Math.round(rate * durationSeconds) : options.count;
  const generation = resolveClickOptions({
    ...generatorOptions,
    rate,
    count,
    seed: options.seed ?? randomSeed(),
    startTime: options.startTime ?? Date.now(),
  });

  // An injected client already knows its endpoint; otherwise follow the running local cloud.
  const located = injected === undefined ? resolveLocalTarget({ target, endpoint, stream, outputsFile }) : { endpoint, outputsFile };
  const streamName = resolveStreamName({ target, stream, outputsFile: located.outputsFile });
  const client = injected ?? createKinesisClient({ kind: target, endpoint: located.endpoint, region });
  const tally = trackExpected ? new WindowTally() : undefined;
  try {
    const stats = await putAll(client, streamName, generateClicks(generation), {
      ...producer,
      rate,
      signal,
      onProgress,
      onSent: tally === undefined ? undefined : (record) => tally.add(record),
    });
    return {
      streamName,
      seed: generation.seed,
      startTime: generation.startTime,
      rate,
      planned: generation.count,
      stats,
      aborted: stats.sent + stats.dropped < generation.count,
      ...(tally !== undefined ? { expected: tally.counts() } : {}),
    };
  } finally {
    if (injected === undefined) client.destroy();
  }
}
