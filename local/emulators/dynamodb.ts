import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { helperScript, probeJsonApi, spawnEmulator, withFreePort } from './process';
import { MissingRuntimeError, type RunningService } from './types';

export interface DynamoDbOptions {
  /** @default - a port the OS reports free */
  readonly port?: number;
  /** Keep tables in this folder (`-dbPath`) across restarts. @default - in memory (`-inMemory`) */
  readonly persistDir?: string;
  /** @default 60000 */
  readonly readyTimeoutMs?: number;
}

export const JAVA_INSTALL_HINT = 'apt-get install -y openjdk-17-jre-headless';
const MIN_JAVA_MAJOR = 17;

export interface JavaRuntime {
  /** The `java` command that was found (from JAVA_HOME, else the PATH). */
  readonly command: string;
  readonly major: number;
  readonly version: string;
}

/** The `java` command: `$JAVA_HOME/bin/java` when JAVA_HOME is set, else `java` from the PATH. */
export function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', 'java') : 'java';
}

/** Finds a Java runtime and its version; undefined when none runs. */
export async function detectJava(command = javaCommand()): Promise<JavaRuntime | undefined> {
  const banner = await new Promise<string | undefined>((resolve) => {
    execFile(command, ['-version'], { timeout: 15_000 }, (error, stdout, stderr) =>
      resolve(error ? undefined : `${stderr}${stdout}`),
    );
  });
  if (banner === undefined) return undefined;
  // `openjdk version "17.0.15" 2025-04-15` or, before Java 9, `java version "1.8.0_402"`.
  const version = /version "([^"]+)"/.exec(banner)?.[1] ?? '';
  const [first = '0', second = '0'] = version.split('.');
  const major = first === '1' ? Number(second) : Number.parseInt(first, 10);
  return { command, major: Number.isFinite(major) ? major : 0, version };
}

/** The Java runtime DynamoDB Local needs, or a {@link MissingRuntimeError} that says what to install. */
export async function requireJavaRuntime(): Promise<JavaRuntime> {
  const java = await detectJava();
  if (!java) {
    throw new MissingRuntimeError(
      `Java ${MIN_JAVA_MAJOR}+ is required for DynamoDB Local, and no \`${javaCommand()}\` runs: ${JAVA_INSTALL_HINT}`,
    );
  }
  if (java.major < MIN_JAVA_MAJOR) {
    throw new MissingRuntimeError(
      `Java ${MIN_JAVA_MAJOR}+ is required for DynamoDB Local. Received Java ${java.version} (${java.command}): ${JAVA_INSTALL_HINT}`,
    );
  }
  return java;
}

/** The folder that holds DynamoDBLocal.jar and DynamoDBLocal_lib (shipped by amplify-dynamodb-simulator). */
export function dynamoDbLocalDir(): string {
  let dir: string;
  try {
    const require = createRequire(import.meta.url);
    dir = join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
  } catch {
    throw new MissingRuntimeError(
      'DynamoDB Local is not installed: it ships in the npm package amplify-dynamodb-simulator (run `npm ci`)',
    );
  }
  if (!existsSync(join(dir, 'DynamoDBLocal.jar'))) {
    throw new MissingRuntimeError(`DynamoDB Local is missing: ${join(dir, 'DynamoDBLocal.jar')} does not exist`);
  }
  return dir;
}

/**
 * Starts DynamoDB Local (with Streams and transactions) on Java, listening on 127.0.0.1 only, with
 * `-sharedDb` so every client sees the same tables whatever its credentials and region.
 */
export async function startDynamoDb(options: DynamoDbOptions = {}): Promise<RunningService> {
  const service = 'dynamodb (DynamoDB Local)';
  const java = await requireJavaRuntime();
  const dir = dynamoDbLocalDir();
  if (options.persistDir) await mkdir(options.persistDir, { recursive: true });
  const storage = options.persistDir ? ['-dbPath', options.persistDir] : ['-inMemory'];
  return withFreePort(options.port, async (port) => {
    const proc = spawnEmulator({
      service,
      command: java.command,
      args: [
        `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
        // DynamoDB Local has no host option and listens on every interface; this launcher binds it
        // to 127.0.0.1 only (see java/DynamoDbLocalOnHost.java).
        '-cp',
        [join(dir, 'DynamoDBLocal.jar'), helperScript('java')].join(delimiter),
        'DynamoDbLocalOnHost',
        '127.0.0.1',
        '-sharedDb',
        '-disableTelemetry',
        '-port',
        String(port),
        ...storage,
      ],
      cwd: dir,
      orphanGuard: 'supervise',
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
    // supervise.cjs names Java's pid first; Java, not the launcher, is the engine that can crash.
    const javaPid = proc.waitForLine(/^supervise: pid (\d+)/, readyTimeoutMs);
    try {
      await proc.waitUntilReady(
        () => probeJsonApi(endpoint, 'DynamoDB_20120810.ListTables', 'application/x-amz-json-1.0'),
        readyTimeoutMs,
      );
      const pid = Number((await javaPid)[1]);
      // If the launcher itself is killed (kill -9 of supervise.cjs), Java would live on, holding its
      // port and its -dbPath files while a new one starts on them: it is ended too.
      void proc.exited.then(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        }
      });
      return { name: service, endpoint, pid, exited: proc.exited, stop: () => proc.stop() };
    } catch (error) {
      // A start that failed before Java's pid was printed fails javaPid too: waitUntilReady's error says more.
      javaPid.catch(() => undefined);
      await proc.stop();
      throw error;
    }
  });
}
