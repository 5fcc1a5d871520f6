import { spawnSync } from 'node:child_process';
import { detectJava, JAVA_INSTALL_HINT } from '../../local/emulators/dynamodb';

/** Whether a suite's external requirement is met; `reason` says what is missing and how to install it. */
export interface Requirement {
  readonly available: boolean;
  readonly reason: string;
}

const MIN_JAVA_MAJOR = 17;

/**
 * Java 17+ for DynamoDB Local. In CI (`CI=true`) a missing Java is an error, so the suite
 * fails and never skips silently. Elsewhere it returns `available: false` with the reason,
 * for `describe.skipIf(!java.available)`.
 */
export async function requireJava(): Promise<Requirement> {
  const java = await detectJava();
  if (java && java.major >= MIN_JAVA_MAJOR) {
    return { available: true, reason: `Java ${java.version}` };
  }
  const reason = java
    ? `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+, found Java ${java.version} at ${java.command}: ${JAVA_INSTALL_HINT}`
    : `DynamoDB Local needs Java ${MIN_JAVA_MAJOR}+ and no java runs: ${JAVA_INSTALL_HINT}`;
  if (process.env.CI === 'true') {
    throw new Error(`CI=true: ${reason}`);
  }
  console.warn(`Skipping the DynamoDB tests: ${reason}`);
  return { available: false, reason };
}

/** A describe/it title that says why it is skipped, when it is. */
export function titled(title: string, requirement: Requirement): string {
  return requirement.available ? title : `${title} (skipped: ${requirement.reason})`;
}

export const PROMTOOL_INSTALL_HINT = 'on Debian or Ubuntu: apt-get install -y prometheus (it provides promtool)';

/** `promtool` (Debian's `prometheus` package) on the PATH, to check the metrics endpoint's output. CI=true fails without it. */
export function requirePromtool(): Requirement {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return { available: true, reason: found.stdout.split('\n')[0] ?? 'promtool' };
  const reason = `promtool is not on the PATH: ${PROMTOOL_INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${reason}`);
  console.warn(`Skipping the promtool check: ${reason}`);
  return { available: false, reason };
}
