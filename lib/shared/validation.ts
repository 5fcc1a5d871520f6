import { Token, type Duration } from 'aws-cdk-lib';

/**
 * Synth-time checks of construct props. Every message names the prop, the allowed range and the
 * value received, e.g. `connectionTtl must be a whole number of seconds between 60 and 86400
 * seconds. Received 30 seconds`. Unresolved tokens pass: they are only known at deploy time.
 */
function describeRange(min: number, max: number | undefined, unit: string): string {
  return max === undefined ? `at least ${min}${unit}` : `between ${min} and ${max}${unit}`;
}

export function checkInteger(name: string, value: number | undefined, min: number, max?: number): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
    throw new Error(`${name} must be an integer ${describeRange(min, max, '')}. Received ${value}`);
  }
}

export function checkSeconds(name: string, value: Duration | undefined, min: number, max?: number): void {
  if (value === undefined || value.isUnresolved()) return;
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min || (max !== undefined && seconds > max)) {
    throw new Error(
      `${name} must be a whole number of seconds ${describeRange(min, max, ' seconds')}. Received ${seconds} seconds`,
    );
  }
}
