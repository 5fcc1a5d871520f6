/**
 * A resolved template property as text, for names, identifiers and messages. Scalars print as
 * themselves; an object (an intrinsic the local cloud left unresolved, or a nested property)
 * prints as JSON, so a log line or a name shows what the template held instead of
 * `[object Object]`. A missing property gives `fallback`.
 */
export function propertyText(value: unknown, fallback = ''): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}
