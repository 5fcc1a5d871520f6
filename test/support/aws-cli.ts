import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';

export interface AwsCli {
  /** Absolute path of the `aws` executable. */
  readonly path: string;
  /** e.g. `aws-cli/1.45.11 Python/3.11.7 ...` */
  readonly version: string;
  readonly major: number;
}

const CANDIDATES = ['/usr/bin/aws', '/usr/local/bin/aws'];

function describe(path: string): AwsCli | undefined {
  try {
    const version = execFileSync(path, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 }).trim();
    const major = Number(/^aws-cli\/(\d+)\./.exec(version)?.[1]);
    return Number.isFinite(major) ? { path, version, major } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every AWS CLI on this machine: the `aws` on PATH and the usual install locations (Debian's
 * `awscli` package is /usr/bin/aws; pip and the v2 installer use others), one per distinct
 * executable. The README's snippets run once with each, so v1 and v2 are both checked where both
 * are installed.
 */
export function findAwsClis(): AwsCli[] {
  const paths = new Set<string>();
  try {
    const onPath = execFileSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).trim();
    if (onPath !== '') paths.add(onPath);
  } catch {
    // none on PATH
  }
  for (const candidate of CANDIDATES) if (existsSync(candidate)) paths.add(candidate);
  const seen = new Set<string>();
  const clis: AwsCli[] = [];
  for (const path of paths) {
    const cli = describe(path);
    if (cli === undefined) continue;
    const key = `${realpathSync(path)}|${cli.version}`;
    if (seen.has(key)) continue;
    seen.add(key);
    clis.push(cli);
  }
  return clis;
}
