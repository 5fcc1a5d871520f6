import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ContainerServiceSpec, ContainerSpec } from '../cloudformation/containers';
import { sdkNodeWarningEnvironment } from '../../contracts/sdk-node-warning';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../clients';

/**
 * Runs the template's ECS services as supervised local processes: each task's container runs its
 * task-definition command with its environment and resolved secrets, from the repository root
 * (the image's layout), against the edge (AWS_ENDPOINT_URL). Like an ECS service it replaces a
 * task that exits, after a short delay that doubles while tasks keep failing fast.
 */

export interface LocalContainerOptions {
  edgeUrl: string;
  /** Working directory of every container: the repository root, which the images mirror. */
  projectRoot: string;
  logDirectory: string;
  /** Variables laid over a container's environment (venue addresses in tests and `npm start -- --fix`). */
  environmentOverrides?: ServiceEnvironmentOverride;
  onLogLine?: (serviceName: string, line: string) => void;
  log?: (message: string) => void;
}

/** Computes variables to lay over a container's template environment; undefined for none. */
export type ServiceEnvironmentOverride = (service: ContainerServiceSpec, container: ContainerSpec) => Record<string, string> | undefined;

export interface TaskStatus {
  serviceName: string;
  /** PENDING (starting or waiting to be replaced), RUNNING, STOPPED (by stop()). */
  state: 'PENDING' | 'RUNNING' | 'STOPPED';
  pid?: number;
  starts: number;
  lastExit?: string;
}

interface Task {
  spec: ContainerServiceSpec;
  container: ContainerSpec;
  process?: ChildProcess;
  exited?: Promise<void>;
  status: TaskStatus;
  restartTimer?: NodeJS.Timeout;
  stopping: boolean;
  log: WriteStream;
}

const MIN_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;

export class LocalContainerRunner {
  private readonly tasks: Task[] = [];

  constructor(private readonly services: ContainerServiceSpec[], private readonly options: LocalContainerOptions) {
    mkdirSync(options.logDirectory, { recursive: true });
    for (const spec of services) {
      if (spec.containers.length !== 1) {
        throw new Error(`${spec.logicalId}: the local runner runs tasks of one container; this task definition has ${spec.containers.length}`);
      }
      for (let index = 0; index < spec.desiredCount; index += 1) {
        this.tasks.push({
          spec,
          container: spec.containers[0]!,
          status: { serviceName: spec.serviceName, state: 'PENDING', starts: 0 },
          stopping: false,
          log: createWriteStream(join(options.logDirectory, `${spec.serviceName}${index === 0 ? '' : `-${index}`}.log`), { flags: 'a' }),
        });
      }
    }
  }

  get serviceNames(): string[] {
    return this.services.map((spec) => spec.serviceName);
  }

  status(): TaskStatus[] {
    return this.tasks.map((task) => ({ ...task.status }));
  }

  start(): void {
    for (const task of this.tasks) this.launch(task);
  }

  /** Stops every task (SIGTERM, then SIGKILL after the container's stop timeout), as ECS does. */
  async stop(): Promise<void> {
    await Promise.all(this.tasks.map((task) => this.stopTask(task)));
    await Promise.all(this.tasks.map((task) => new Promise<void>((resolve) => task.log.end(resolve))));
  }

  /** Stops a service's tasks gracefully and starts new ones (a new deployment, or a task replaced). */
  async restart(service: string): Promise<void> {
    const tasks = this.tasksOf(service);
    await Promise.all(tasks.map((task) => this.stopTask(task)));
    for (const task of tasks) {
      task.stopping = false;
      task.status.starts = 0;
      this.launch(task);
    }
  }

  /** Kills a service's tasks at once (SIGKILL): a crash. The runner replaces them, as ECS would. */
  kill(service: string): void {
    for (const task of this.tasksOf(service)) task.process?.kill('SIGKILL');
  }

  /** Resolves when every task of the service has written a line that matches. */
  async waitForLine(service: string, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    await Promise.all(this.tasksOf(service).map((task) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${service} wrote no line matching ${pattern} within ${timeoutMs} ms; see ${String(task.log.path)}`)), timeoutMs);
      const listener = (name: string, line: string) => {
        if (name === task.spec.serviceName && pattern.test(line)) {
          clearTimeout(timer);
          this.lineListeners.delete(listener);
          resolve();
        }
      };
      this.lineListeners.add(listener);
    })));
  }

  private readonly lineListeners = new Set<(serviceName: string, line: string) => void>();

  private tasksOf(service: string): Task[] {
    const tasks = this.tasks.filter((task) => task.spec.serviceName === service || task.spec.logicalId === service);
    if (tasks.length === 0) throw new Error(`no ECS service ${service} in the template; services: ${this.serviceNames.join(', ') || 'none'}`);
    return tasks;
  }

  private environmentOf(task: Task): NodeJS.ProcessEnv {
    const overrides = this.options.environmentOverrides?.(task.spec, task.container);
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_OPTIONS: process.env.NODE_OPTIONS,
      // The images run Node.js 22 (gateway/Dockerfile): the SDK's warning about this host's older
      // Node.js would not appear on AWS, so it does not appear here either.
      ...sdkNodeWarningEnvironment('nodejs22.x'),
      ...task.container.environment,
      ...overrides,
      AWS_ENDPOINT_URL: this.options.edgeUrl,
      AWS_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      ECS_CONTAINER_METADATA_URI_V4: '',
    };
  }

  private launch(task: Task): void {
    if (task.stopping) return;
    const [command, ...args] = task.container.command;
    // `node` in the image is this Node.js locally.
    const executable = command === 'node' ? process.execPath : command!;
    task.status.starts += 1;
    task.status.state = 'PENDING';
    const started = Date.now();
    const child = spawn(executable, args, { cwd: this.options.projectRoot, env: this.environmentOf(task), stdio: ['ignore', 'pipe', 'pipe'] });
    task.process = child;
    task.status.pid = child.pid;
    task.status.state = 'RUNNING';
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        task.log.write(`${line}\n`);
        this.options.onLogLine?.(task.spec.serviceName, line);
        for (const listener of this.lineListeners) listener(task.spec.serviceName, line);
      });
    }
    task.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        task.process = undefined;
        task.status.pid = undefined;
        task.status.lastExit = signal === null ? `exit code ${code}` : `signal ${signal}`;
        resolve();
        if (task.stopping) {
          task.status.state = 'STOPPED';
          return;
        }
        task.status.state = 'PENDING';
        const failedFast = Date.now() - started < 10_000;
        const delay = failedFast ? Math.min(MAX_RESTART_DELAY_MS, MIN_RESTART_DELAY_MS * 2 ** Math.min(task.status.starts - 1, 10)) : MIN_RESTART_DELAY_MS;
        this.options.log?.(`ecs service ${task.spec.serviceName}: task exited (${task.status.lastExit}); starting a new one in ${delay} ms (log: ${String(task.log.path)})`);
        task.restartTimer = setTimeout(() => this.launch(task), delay);
      });
    });
  }

  private async stopTask(task: Task): Promise<void> {
    task.stopping = true;
    if (task.restartTimer !== undefined) clearTimeout(task.restartTimer);
    const child = task.process;
    if (child === undefined) {
      task.status.state = 'STOPPED';
      return;
    }
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), task.container.stopTimeoutSeconds * 1000);
    await task.exited;
    clearTimeout(killer);
  }
}
