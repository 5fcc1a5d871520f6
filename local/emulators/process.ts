import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EmulatorStartError } from './types';

/** Keeps the last `limit` characters written to it: enough to explain a failed start. */
export class OutputTail {
  private text = '';

  constructor(private readonly limit = 4096) {}

  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit * 2) this.text = this.text.slice(-this.limit);
  }

  toString(): string {
    const tail = this.text.slice(-this.limit).trimEnd();
    return tail.length > 0 ? tail : '(no output)';
  }
}

/** A port on `host` that the OS reported free a moment ago. */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error('The OS gave no free port'))));
    });
  });
}

/** A child process that serves an emulator; see {@link spawnEmulator}. */
export interface EmulatorProcess {
  readonly service: string;
  readonly child: ChildProcess;
  /** Last stdout and stderr output, interleaved. */
  readonly output: OutputTail;
  /** Settles when the process has exited; never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** Resolves with the first output line matching `pattern`; rejects if the process exits first. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Polls `probe` until it returns true; rejects if the process exits first or on timeout. */
  waitUntilReady(probe: () => Promise<boolean>, timeoutMs: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnEmulatorOptions {
  /** Named in errors and logs, for example `DynamoDB Local`. */
  readonly service: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  /** Added to the parent's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * How the child is ended when this process dies without calling stop():
   * - `preload`: a Node.js child loads `orphan-guard.cjs` and exits when its stdin closes;
   * - `supervise`: any command runs under `supervise.cjs`, which ends it when its stdin closes.
   */
  readonly orphanGuard: 'preload' | 'supervise';
}

const emulatorDir = fileURLToPath(new URL('.', import.meta.url));
/** Path of a helper script that ships next to this module. */
export const helperScript = (file: string): string => `${emulatorDir}${file}`;

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Ends every emulator child when this process ends: on 'exit', and on SIGINT/SIGTERM/SIGHUP when
 * nobody else handles the signal (then the signal is re-raised, so the process still ends). When
 * someone does handle it, as `npm start` does to stop cleanly, the emulators keep serving until
 * they are stopped in order: killing them first would fail the requests still in flight.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const child of liveChildren) child.kill('SIGTERM');
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(signal) > 1) return;
      killAll();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/** Starts an emulator child with piped output, tracked so it dies with this process. */
export function spawnEmulator(options: SpawnEmulatorOptions): EmulatorProcess {
  installExitHook();
  const [command, args] =
    options.orphanGuard === 'preload'
      ? [options.command, ['--require', helperScript('orphan-guard.cjs'), ...options.args]]
      : [process.execPath, [helperScript('supervise.cjs'), options.command, ...options.args]];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group: a terminal's Ctrl-C reaches only the local cloud, which then stops the
    // emulators after the work in flight. The orphan guard still ends them if this process dies.
    detached: true,
  });
  liveChildren.add(child);
  const output = new OutputTail();
  const lineListeners = new Set<(line: string) => void>();
  let partialLine = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output.push(chunk);
    const lines = (partialLine + chunk.toString()).split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines) for (const listener of lineListeners) listener(line);
  });
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
  // A write to stdin is never made; an EPIPE there must not crash the parent.
  child.stdin?.on('error', () => undefined);

  let running = true;
  let spawnError: Error | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      output.push(`${error.message}\n`);
      if (child.pid === undefined) {
        running = false;
        liveChildren.delete(child);
        resolve({ code: null, signal: null });
      }
    });
    child.once('exit', (code, signal) => {
      running = false;
      liveChildren.delete(child);
      resolve({ code, signal });
    });
  });

  const exitReason = async (): Promise<string> => {
    const { code, signal } = await exited;
    if (spawnError) return `could not run ${options.command}: ${spawnError.message}`;
    return `the process exited early (${signal ? `signal ${signal}` : `exit code ${String(code)}`})`;
  };

  const failure = (reason: string): EmulatorStartError =>
    new EmulatorStartError(options.service, reason, output.toString());

  const handle: EmulatorProcess = {
    service: options.service,
    child,
    output,
    exited,
    isRunning: () => running,

    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          finish();
          reject(failure(`no ready line matching ${String(pattern)} within ${timeoutMs} ms`));
        }, timeoutMs);
        const onLine = (line: string): void => {
          const match = pattern.exec(line);
          if (!match) return;
          finish();
          resolve(match);
        };
        const finish = (): void => {
          clearTimeout(timer);
          lineListeners.delete(onLine);
        };
        lineListeners.add(onLine);
        void exited.then(async () => {
          if (!lineListeners.has(onLine)) return;
          finish();
          reject(failure(await exitReason()));
        });
      });
    },

    async waitUntilReady(probe, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (let delayMs = 25; ; delayMs = Math.min(delayMs * 2, 250)) {
        if (!running) throw failure(await exitReason());
        if (await probe().catch(() => false)) {
          if (running) return;
          throw failure(await exitReason());
        }
        if (Date.now() >= deadline) throw failure(`not ready within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    },

    async stop(graceMs = 5000) {
      if (!running) return;
      child.kill(graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}

/**
 * A fake SigV4 Authorization header. The engines check that one is present and well formed,
 * never the signature.
 */
export const PROBE_AUTH_HEADERS: Readonly<Record<string, string>> = {
  authorization:
    'AWS4-HMAC-SHA256 Credential=probe/20240101/us-east-1/probe/aws4_request, SignedHeaders=host;x-amz-date, Signature=0',
  'x-amz-date': '20240101T000000Z',
};

/** POSTs an AWS JSON-protocol call and reports whether it answered 200. */
export async function probeJsonApi(
  endpoint: string,
  target: string,
  contentType: string,
): Promise<boolean> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { ...PROBE_AUTH_HEADERS, 'content-type': contentType, 'x-amz-target': target },
    body: '{}',
    signal: AbortSignal.timeout(2000),
  });
  await response.arrayBuffer();
  return response.status === 200;
}

/** Says whether `error` means that a port was taken, from an error or an engine's output. */
export function isPortConflict(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error);
  return /EADDRINUSE|Address already in use|BindException/i.test(text);
}

/**
 * Runs `attempt` on a free port, and again on a new one when the port was taken in between
 * (engines that cannot listen on port 0 need a port picked for them). A fixed port is tried once.
 */
export async function withFreePort<T>(
  fixedPort: number | undefined,
  attempt: (port: number) => Promise<T>,
  tries = 3,
): Promise<T> {
  if (fixedPort !== undefined && fixedPort !== 0) return attempt(fixedPort);
  for (let i = 1; ; i++) {
    try {
      return await attempt(await findFreePort());
    } catch (error) {
      if (i >= tries || !isPortConflict(error)) throw error;
    }
  }
}
