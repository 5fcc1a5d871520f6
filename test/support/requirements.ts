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
