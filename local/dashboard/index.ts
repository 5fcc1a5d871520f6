import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DashboardConfig, type DashboardConfigInput } from '../../contracts/dashboard';
import { buildDashboardSync } from '../../web/build';
import { startStaticServer, type StaticServer } from './server';

export { startStaticServer, type StaticServer, type StaticServerOptions } from './server';

export interface LocalDashboardOptions {
  /** Where the web app is built and served from, e.g. `.watershed/web`. */
  directory: string;
  /** What the web app reads from `config.json`: the local WebSocket stage and the dev-token URL. */
  config: DashboardConfigInput;
  /** 0 lets the OS pick. @default 3000 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  log?: (line: string) => void;
}

export interface LocalDashboard extends StaticServer {
  config: DashboardConfig;
}

/**
 * Builds the dashboard web app (web/build.ts, the same build the CDK construct uploads to S3)
 * into `directory`, writes the local `config.json` next to it (what the deployment writes on AWS)
 * and serves the folder.
 */
export async function startLocalDashboard(options: LocalDashboardOptions): Promise<LocalDashboard> {
  const config = DashboardConfig.parse(options.config);
  rmSync(options.directory, { recursive: true, force: true });
  mkdirSync(options.directory, { recursive: true });
  const started = Date.now();
  buildDashboardSync(options.directory);
  options.log?.(`built the dashboard web app into ${options.directory} in ${Date.now() - started} ms`);
  writeFileSync(join(options.directory, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const server = await startStaticServer({ directory: options.directory, port: options.port, host: options.host });
  return { ...server, config };
}
