/**
 * Client input quoted (as JSON) in an error detail, never more than `maxChars` characters of it:
 * an error answer must not echo, or amplify, whatever a client sent, such as a 100 KB field.
 */
export function quoteClientInput(value: unknown, maxChars = 64): string {
  let json: string;
  try {
    json = JSON.stringify(value) ?? String(value);
  } catch {
    json = String(value);
  }
  return clipClientInput(json, maxChars);
}

/** Like {@link quoteClientInput}, unquoted: for names that read better bare (queue names, ids). */
export function clipClientInput(text: string, maxChars = 64): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}... (${text.length} characters)`;
}
