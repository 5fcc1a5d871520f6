import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../clients';
import type { FunctionSpec } from '../cloudformation/provision';
import { sdkNodeWarningEnvironment } from '../sdk-node-warning';

export type InvokeResult =
  | { ok: true; payload: unknown; durationMs: number }
  | { ok: false; errorType: string; errorMessage: string; durationMs: number };

export interface LocalLambdaRuntimeOptions {
  /** The edge every SDK client inside a function talks to, through AWS_ENDPOINT_URL. */
  edgeUrl: string;
  /** Function output goes to <logDirectory>/<functionName>.log when set. */
  logDirectory?: string;
  /** Receives every stdout line a function prints (logs and EMF metrics). */
  onLogLine?: (functionName: string, line: string) => void;
  /** Told of every invocation once it settled (metrics: invocations, errors, durations, batch sizes). */
  onInvoked?: (functionName: string, event: unknown, result: InvokeResult) => void;
}

interface PendingInvocation {
  resolve: (result: InvokeResult) => void;
  startedAt: number;
  timer: NodeJS.Timeout;
}

/**
 * One execution environment per function, as a worker thread. Invocations of a function run one
 * at a time, as in a single Lambda environment. A crash or timeout discards the environment and
 * the next invocation cold-starts a new one, exactly as Lambda does.
 */
class ExecutionEnvironment {
  private worker: Worker | undefined;
  private readonly pending = new Map<string, PendingInvocation>();
  private queue: Promise<unknown> = Promise.resolve();
  coldStarts = 0;
  invocations = 0;

  constructor(
    readonly spec: FunctionSpec,
    private readonly options: LocalLambdaRuntimeOptions,
    private readonly log: WriteStream | undefined,
  ) {}

  invoke(event: unknown): Promise<InvokeResult> {
    const run = this.queue.then(() => this.invokeNow(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Discards the environment, as a crash or a deployment would. */
  async discard(reason = 'discarded'): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failPending('Runtime.ExitError', `execution environment ${reason}`);
    if (worker !== undefined) await worker.terminate();
  }

  private invokeNow(event: unknown): Promise<InvokeResult> {
    const worker = this.worker ?? this.start();
    const invocationId = randomUUID();
    const startedAt = Date.now();
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    this.invocations += 1;
    return new Promise<InvokeResult>((resolve) => {
      const timer = setTimeout(() => {
        // Settle as timed out before discarding: discard() fails every pending invocation with ExitError.
        this.pending.delete(invocationId);
        resolve({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${this.spec.timeoutSeconds}.00 seconds`, durationMs: timeoutMs });
        void this.discard(`timed out after ${this.spec.timeoutSeconds} s`);
      }, timeoutMs);
      this.pending.set(invocationId, { resolve, startedAt, timer });
      worker.postMessage({ invocationId, requestId: randomUUID(), event, deadlineMs: startedAt + timeoutMs });
    });
  }

  private start(): Worker {
    this.coldStarts += 1;
    const worker = new Worker(join(__dirname, 'worker.cjs'), {
      workerData: {
        codeDirectory: this.spec.codeDirectory,
        handler: this.spec.handler,
        functionName: this.spec.functionName,
        functionArn: this.spec.functionArn,
        memorySize: this.spec.memorySize,
      },
      env: this.environment(),
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: Math.max(128, this.spec.memorySize) },
    });
    this.forwardOutput(worker);
    worker.on('message', (message: { invocationId: string; ok: boolean; payload?: unknown; errorType?: string; errorMessage?: string }) => {
      const pending = this.pending.get(message.invocationId);
      if (pending === undefined) return;
      this.pending.delete(message.invocationId);
      clearTimeout(pending.timer);
      const durationMs = Date.now() - pending.startedAt;
      pending.resolve(
        message.ok
          ? { ok: true, payload: message.payload, durationMs }
          : { ok: false, errorType: message.errorType ?? 'Error', errorMessage: message.errorMessage ?? '', durationMs },
      );
    });
    // A discarded worker exits after its successor may have started: only the current worker's
    // death fails the pending invocation, or the successor's invocation would fail with it.
    worker.on('error', (error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failPending('Runtime.UnhandledError', `${error.name}: ${error.message}`);
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failPending('Runtime.ExitError', `execution environment exited with code ${code}`);
    });
    this.worker = worker;
    return worker;
  }

  private environment(): Record<string, string> {
    const { spec } = this;
    return {
      PATH: process.env.PATH ?? '',
      TZ: 'UTC',
      NODE_OPTIONS: '--enable-source-maps',
      ...sdkNodeWarningEnvironment(spec.runtime),
      ...spec.environment,
      ...edgeEndpoints(spec.environment, this.options.edgeUrl),
      AWS_ENDPOINT_URL: this.options.edgeUrl,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySize),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      // There is no X-Ray daemon locally; Powertools Tracer would otherwise complain on every call.
      POWERTOOLS_TRACE_ENABLED: 'false',
    };
  }

  private forwardOutput(worker: Worker): void {
    for (const stream of [worker.stdout, worker.stderr]) {
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      lines.on('line', (line) => {
        this.log?.write(`${line}\n`);
        this.options.onLogLine?.(this.spec.functionName, line);
      });
    }
  }

  private failPending(errorType: string, errorMessage: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.resolve({ ok: false, errorType, errorMessage, durationMs: Date.now() - pending.startedAt });
      this.pending.delete(id);
    }
  }
}

/**
 * The template's `AWS_ENDPOINT_URL*` variables, pointed at the edge. On AWS a function that calls
 * a per-resource endpoint gets it from its environment: the @connections client, for one, is
 * configured by `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` = the WebSocket stage's callback URL
 * (`https://<apiId>.execute-api.<region>.amazonaws.com/<stage>`), so that the handler code names
 * no endpoint. Locally every service sits behind the edge, which routes by the SigV4 service, so
 * the origin becomes the edge's; the path (the stage) is kept, as the edge accepts it.
 */
export function edgeEndpoints(environment: Readonly<Record<string, string>>, edgeUrl: string): Record<string, string> {
  const endpoints: Record<string, string> = {};
  for (const [name, value] of Object.entries(environment)) {
    if (!/^AWS_ENDPOINT_URL(_[A-Z0-9_]+)?$/.test(name)) continue;
    let path = '';
    try {
      path = new URL(value).pathname.replace(/\/+$/, '');
    } catch {
      // Not a URL: the edge itself.
    }
    endpoints[name] = `${edgeUrl}${path}`;
  }
  return endpoints;
}

/** Runs the template's functions locally; the event source mappings and tests invoke them here. */
export class LocalLambdaRuntime {
  private readonly environments = new Map<string, ExecutionEnvironment>();
  private readonly logs: WriteStream[] = [];
  private readonly onInvoked: LocalLambdaRuntimeOptions['onInvoked'];

  constructor(functions: readonly FunctionSpec[], options: LocalLambdaRuntimeOptions) {
    this.onInvoked = options.onInvoked;
    if (options.logDirectory !== undefined) mkdirSync(options.logDirectory, { recursive: true });
    for (const spec of functions) {
      const log = options.logDirectory === undefined ? undefined : createWriteStream(join(options.logDirectory, `${spec.functionName}.log`), { flags: 'a' });
      if (log !== undefined) this.logs.push(log);
      this.environments.set(spec.functionName, new ExecutionEnvironment(spec, options, log));
    }
  }

  get functionNames(): string[] {
    return [...this.environments.keys()];
  }

  invoke(functionName: string, event: unknown): Promise<InvokeResult> {
    const result = this.environment(functionName).invoke(event);
    const onInvoked = this.onInvoked;
    if (onInvoked === undefined) return result;
    return result.then((settled) => {
      onInvoked(functionName, event, settled);
      return settled;
    });
  }

  /** Kills a function's execution environment mid-flight, for fault injection. */
  crash(functionName: string): Promise<void> {
    return this.environment(functionName).discard('crashed');
  }

  stats(functionName: string): { coldStarts: number; invocations: number } {
    const { coldStarts, invocations } = this.environment(functionName);
    return { coldStarts, invocations };
  }

  async stop(): Promise<void> {
    await Promise.all([...this.environments.values()].map((environment) => environment.discard('stopped')));
    await Promise.all(this.logs.map((log) => new Promise((resolve) => log.end(resolve))));
  }

  private environment(functionName: string): ExecutionEnvironment {
    const environment = this.environments.get(functionName);
    if (environment === undefined) {
      throw new Error(`Function not found: ${functionName}. Known functions: ${this.functionNames.join(', ') || 'none'}`);
    }
    return environment;
  }
}
