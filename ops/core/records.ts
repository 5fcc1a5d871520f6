/** Decoding of stream records and queue messages for display. Pure. */

/** A record's data as people read it: parsed JSON when it is JSON, the text when it is UTF-8, else base64. */
export type DecodedData = { readonly json: unknown } | { readonly text: string } | { readonly base64: string };

export function decodeData(data: Uint8Array): DecodedData {
  const text = Buffer.from(data).toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD; such bytes are shown as base64, as they are.
  if (text.includes('\uFFFD')) return { base64: Buffer.from(data).toString('base64') };
  try {
    return { json: JSON.parse(text) as unknown };
  } catch {
    return { text };
  }
}

export function decodedText(decoded: DecodedData): string {
  if ('json' in decoded) return JSON.stringify(decoded.json);
  if ('text' in decoded) return JSON.stringify(decoded.text);
  return `base64:${decoded.base64}`;
}

/** Kinesis sequence numbers are decimal strings of up to 128 bits: compared as BigInt. */
export function compareSequenceNumbers(a: string, b: string): number {
  const left = BigInt(a);
  const right = BigInt(b);
  return left < right ? -1 : left > right ? 1 : 0;
}
