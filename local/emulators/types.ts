/** A service of the local cloud that is running and answers on `endpoint`. */
export interface RunningService {
  /** Short name, for example `kinesis (kinesalite)`. */
  readonly name: string;
  /** Base URL, always `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Stops the service and frees its port. Safe to call more than once. */
  stop(): Promise<void>;
}

/** Receives one human-readable line of progress. */
export type LogFn = (line: string) => void;

/** The engines that can serve the Kinesis API. */
export type KinesisEngine = 'kinesalite' | 'kinesis-local';

export const KINESIS_ENGINES: readonly KinesisEngine[] = ['kinesalite', 'kinesis-local'];

/** Thrown when an emulator cannot start: the message says why and shows its last output. */
export class EmulatorStartError extends Error {
  override name = 'EmulatorStartError';

  constructor(
    readonly service: string,
    reason: string,
    readonly outputTail = '',
  ) {
    super(
      outputTail
        ? `${service} failed to start: ${reason}\n--- last output of ${service} ---\n${outputTail}`
        : `${service} failed to start: ${reason}`,
    );
  }
}

/** Thrown when a runtime an emulator needs (Java, an npm package) is not installed. */
export class MissingRuntimeError extends Error {
  override name = 'MissingRuntimeError';
}
