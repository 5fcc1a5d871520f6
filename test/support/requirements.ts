import { detectJava, JAVA_INSTALL_HINT } from '../../local/emulators';

/**
 * Java runs DynamoDB Local. In CI a missing Java fails the suite; elsewhere the caller skips
 * with a message that says what is missing and how to install it.
 */
export async function requireJava(): Promise<void> {
  if ((await detectJava()) !== undefined) return;
  const message = `Java 17+ is required for DynamoDB Local and was not found: ${JAVA_INSTALL_HINT}`;
  if (process.env.CI === 'true') throw new Error(message);
  throw new Error(`${message} (outside CI these tests cannot run without it)`);
}
