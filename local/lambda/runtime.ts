import { randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../clients';
import type { FunctionSpec } from '../cloudformation/provision';
import { sdkNodeWarningEnvironment } from '../../contracts/sdk-node-warning';

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
  /**
   * Most execution environments one function runs at once. Further invocations wait for a free
   * one, as throttled stream batches are retried on AWS. Each environment is a worker thread
   * (tens of MB), so the default bounds memory, not concurrency in practice.
   * @default 64
   */
  maxEnvironmentsPerFunction?: number;
  /** Told of every invocation once it settled (metrics: invocations, errors, durations, batch sizes). */
  onInvoked?: (functionName: string, event: unknown, result: InvokeResult) => void;
}

interface PendingInvocation {
  resolve: (result: InvokeResult) => void;
  startedAt: number;
  timer: NodeJS.Timeout;
}

/** What a fault-injecting test may pick an environment by: the event it is running now. */
export type InvocationFilter = (event: unknown) => boolean;

const DEFAULT_MAX_ENVIRONMENTS = 64;

/**
 * One Lambda execution environment: a worker thread with its own environment variables and
 * module scope, running one invocation at a time. A crash or timeout ends it for good (its
 * function starts a fresh one, a cold start, when it next needs one), as Lambda does.
 */
class ExecutionEnvironment {
  private readonly worker: Worker;
  private pending: (PendingInvocation & { invocationId: string; event: unknown }) | undefined;
  private ended = false;
  invocations = 0;

  constructor(
    readonly spec: FunctionSpec,
    private readonly options: LocalLambdaRuntimeOptions,
    private readonly log: WriteStream | undefined,
    /** Called once when the environment ends (crash, timeout, exit, stop): its function forgets it. */
    private readonly onEnd: (environment: ExecutionEnvironment) => void,
  ) {
    this.worker = this.start();
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  get alive(): boolean {
    return !this.ended;
  }

  /** The event of the invocation running now, if any. */
  get currentEvent(): unknown {
    return this.pending?.event;
  }

  invoke(event: unknown): Promise<InvokeResult> {
    if (this.pending !== undefined) throw new Error(`${this.spec.functionName}: an execution environment runs one invocation at a time`);
    const invocationId = randomUUID();
    const startedAt = Date.now();
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    this.invocations += 1;
    return new Promise<InvokeResult>((resolve) => {
      const timer = setTimeout(() => {
        // Settle as timed out before ending: end() fails the pending invocation with ExitError.
        this.pending = undefined;
        resolve({ ok: false, errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${this.spec.timeoutSeconds}.00 seconds`, durationMs: timeoutMs });
        void this.end(`timed out after ${this.spec.timeoutSeconds} s`);
      }, timeoutMs);
      this.pending = { invocationId, event, resolve, startedAt, timer };
      this.worker.postMessage({ invocationId, requestId: randomUUID(), event, deadlineMs: startedAt + timeoutMs });
    });
  }

  /** Ends the environment, as a crash, a timeout or a deployment would; an invocation in flight fails. */
  async end(reason = 'discarded'): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.failPending('Runtime.ExitError', `execution environment ${reason}`);
    this.onEnd(this);
    await this.worker.terminate();
  }

  private start(): Worker {
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
      const pending = this.pending;
      if (pending === undefined || pending.invocationId !== message.invocationId) return;
      this.pending = undefined;
      clearTimeout(pending.timer);
      const durationMs = Date.now() - pending.startedAt;
      pending.resolve(
        message.ok
          ? { ok: true, payload: message.payload, durationMs }
          : { ok: false, errorType: message.errorType ?? 'Error', errorMessage: message.errorMessage ?? '', durationMs },
      );
    });
    worker.on('error', (error) => {
      if (this.ended) return;
      this.failPending('Runtime.UnhandledError', `${error.name}: ${error.message}`);
      void this.end('failed');
    });
    worker.on('exit', (code) => {
      if (this.ended) return;
      this.failPending('Runtime.ExitError', `execution environment exited with code ${code}`);
      void this.end(`exited with code ${code}`);
    });
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
    const pending = this.pending;
    if (pending === undefined) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve({ ok: false, errorType, errorMessage, durationMs: Date.now() - pending.startedAt });
  }
}

/** Counters of one function, for status output and tests. */
export interface FunctionStats {
  /** Execution environments started (each one a cold start). */
  coldStarts: number;
  invocations: number;
  /** Environments alive now, busy or idle. */
  environments: number;
  /** Most invocations that ran at the same time. */
  peakConcurrency: number;
}

/**
 * The execution environments of one function, as Lambda scales them: an invocation runs in an
 * idle environment if there is one (the most recently used, so it is warm), otherwise in a new
 * one, so concurrent invocations (one per shard of a stream mapping, say) run in parallel, each
 * in its own worker with its own module scope. Past the limit, invocations wait for a free one.
 */
class FunctionEnvironments {
  private readonly idle: ExecutionEnvironment[] = [];
  private readonly all = new Set<ExecutionEnvironment>();
  private readonly waiting: (() => void)[] = [];
  private coldStarts = 0;
  private invocations = 0;
  private running = 0;
  private peakConcurrency = 0;
  private stopped = false;

  constructor(
    readonly spec: FunctionSpec,
    private readonly options: LocalLambdaRuntimeOptions,
    private readonly log: WriteStream | undefined,
    private readonly maxEnvironments: number,
  ) {}

  async invoke(event: unknown): Promise<InvokeResult> {
    const environment = await this.acquire();
    if (environment === undefined) {
      return { ok: false, errorType: 'Runtime.Stopped', errorMessage: `${this.spec.functionName}: the local Lambda runtime is stopped`, durationMs: 0 };
    }
    this.invocations += 1;
    this.running += 1;
    this.peakConcurrency = Math.max(this.peakConcurrency, this.running);
    try {
      return await environment.invoke(event);
    } finally {
      this.running -= 1;
      this.release(environment);
    }
  }

  /** Ends the environments running an invocation `which` picks (every environment without it). */
  async crash(which?: InvocationFilter): Promise<number> {
    const chosen = [...this.all].filter((environment) => which === undefined || (environment.busy && which(environment.currentEvent)));
    await Promise.all(chosen.map((environment) => environment.end('crashed')));
    return chosen.length;
  }

  stats(): FunctionStats {
    return { coldStarts: this.coldStarts, invocations: this.invocations, environments: this.all.size, peakConcurrency: this.peakConcurrency };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.all].map((environment) => environment.end('stopped')));
    // Nothing will free an environment any more: let waiting invocations fail on the stopped check.
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** An environment to run in, once one is free; undefined once the runtime stopped. */
  private async acquire(): Promise<ExecutionEnvironment | undefined> {
    for (;;) {
      if (this.stopped) return undefined;
      const warm = this.idle.pop();
      if (warm !== undefined) return warm;
      if (this.all.size < this.maxEnvironments) {
        const environment = new ExecutionEnvironment(this.spec, this.options, this.log, (ended) => this.forget(ended));
        this.coldStarts += 1;
        this.all.add(environment);
        return environment;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(environment: ExecutionEnvironment): void {
    if (environment.alive && !this.stopped) this.idle.push(environment);
    this.waiting.shift()?.();
  }

  private forget(environment: ExecutionEnvironment): void {
    this.all.delete(environment);
    const index = this.idle.indexOf(environment);
    if (index !== -1) this.idle.splice(index, 1);
    // A slot is free for a new environment.
    this.waiting.shift()?.();
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
  private readonly functions = new Map<string, FunctionEnvironments>();
  private readonly logs: WriteStream[] = [];
  private readonly onInvoked: LocalLambdaRuntimeOptions['onInvoked'];
  private readonly invocationObservers = new Set<NonNullable<LocalLambdaRuntimeOptions['onInvoked']>>();

  constructor(functions: readonly FunctionSpec[], options: LocalLambdaRuntimeOptions) {
    this.onInvoked = options.onInvoked;
    if (options.logDirectory !== undefined) mkdirSync(options.logDirectory, { recursive: true });
    const maxEnvironments = options.maxEnvironmentsPerFunction ?? DEFAULT_MAX_ENVIRONMENTS;
    if (!Number.isInteger(maxEnvironments) || maxEnvironments < 1) {
      throw new Error(`maxEnvironmentsPerFunction must be an integer of at least 1. Received ${maxEnvironments}`);
    }
    for (const spec of functions) {
      const log = options.logDirectory === undefined ? undefined : createWriteStream(join(options.logDirectory, `${spec.functionName}.log`), { flags: 'a' });
      if (log !== undefined) this.logs.push(log);
      this.functions.set(spec.functionName, new FunctionEnvironments(spec, options, log, maxEnvironments));
    }
  }

  get functionNames(): string[] {
    return [...this.functions.keys()];
  }

  /** Runs one invocation in an idle execution environment of the function, or in a new one. */
  invoke(functionName: string, event: unknown): Promise<InvokeResult> {
    const result = this.function(functionName).invoke(event);
    const onInvoked = this.onInvoked;
    if (onInvoked === undefined && this.invocationObservers.size === 0) return result;
    return result.then((settled) => {
      onInvoked?.(functionName, event, settled);
      for (const observer of this.invocationObservers) observer(functionName, event, settled);
      return settled;
    });
  }

  /**
   * Also tells `observer` of every invocation once it settled, like the `onInvoked` option, for a
   * tool that attaches after the start (the e2e benchmark reads the aggregator's durations and
   * batch sizes). Returns the function that detaches it.
   */
  observeInvocations(observer: NonNullable<LocalLambdaRuntimeOptions['onInvoked']>): () => void {
    this.invocationObservers.add(observer);
    return () => this.invocationObservers.delete(observer);
  }

  /**
   * Kills execution environments mid-flight, for fault injection: those running an invocation
   * whose event `which` accepts (e.g. one shard's batch), or all of the function's without it.
   * Their invocations fail with Runtime.ExitError; other environments carry on. Resolves to the
   * number of environments ended.
   */
  crash(functionName: string, which?: InvocationFilter): Promise<number> {
    return this.function(functionName).crash(which);
  }

  stats(functionName: string): FunctionStats {
    return this.function(functionName).stats();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.functions.values()].map((environments) => environments.stop()));
    await Promise.all(this.logs.map((log) => new Promise((resolve) => log.end(resolve))));
  }

  private function(functionName: string): FunctionEnvironments {
    const environments = this.functions.get(functionName);
    if (environments === undefined) {
      throw new Error(`Function not found: ${functionName}. Known functions: ${this.functionNames.join(', ') || 'none'}`);
    }
    return environments;
  }
}
