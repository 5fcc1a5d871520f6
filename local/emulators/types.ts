/** A service of the local cloud that is running and answers on `endpoint`. */
export interface RunningService {
  /** Short name, for example `kinesis (kinesalite)`. */
  readonly name: string;
  /** Base URL, always `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Stops the service and frees its port. Safe to call more than once. */
  stop(): Promise<void>;
  /**
   * The engine's own OS process (Java for DynamoDB Local, not its launcher), e.g. for a test that
   * kills it. Undefined for a service that runs inside the local cloud's process (the SQS stand-in).
   */
  readonly pid?: number;
  /**
   * Settles when the engine's process has exited, for whatever reason (a stop included); never
   * rejects. What a supervisor watches. Undefined for a service inside this process.
   */
  readonly exited?: Promise<EmulatorExit>;
}

/** How an emulator process ended: its exit code, or the signal that ended it. */
export interface EmulatorExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** `signal SIGKILL` or `exit code 1`, for messages. */
export function describeExit(exit: EmulatorExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
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
