import { createHash, type Hash } from 'node:crypto';

/** A message attribute as it travels in the AWS JSON protocol (binary values in base64). */
export interface MessageAttributeValue {
  readonly DataType: string;
  readonly StringValue?: string;
  readonly BinaryValue?: string;
  readonly StringListValues?: readonly string[];
  readonly BinaryListValues?: readonly string[];
}

export type MessageAttributes = Readonly<Record<string, MessageAttributeValue>>;

/** Hex MD5 of a message body's UTF-8 bytes: `MD5OfBody` / `MD5OfMessageBody`. */
export function md5OfBody(body: string): string {
  return createHash('md5').update(body, 'utf8').digest('hex');
}

const STRING_TRANSPORT = 1;
const BINARY_TRANSPORT = 2;

/**
 * Hex MD5 of message attributes, computed as SQS does: for each attribute in name order,
 * the name, the data type, a transport byte (1 string, 2 binary) and the value, each
 * length-prefixed (4-byte big-endian) except the transport byte. Undefined when empty.
 */
export function md5OfMessageAttributes(attributes: MessageAttributes | undefined): string | undefined {
  if (!attributes) return undefined;
  const names = Object.keys(attributes).sort(compareBytes);
  if (names.length === 0) return undefined;
  const hash = createHash('md5');
  for (const name of names) {
    const value = attributes[name];
    if (!value) continue;
    updateLengthPrefixed(hash, Buffer.from(name, 'utf8'));
    updateLengthPrefixed(hash, Buffer.from(value.DataType, 'utf8'));
    if (value.BinaryValue !== undefined) {
      hash.update(Uint8Array.of(BINARY_TRANSPORT));
      updateLengthPrefixed(hash, Buffer.from(value.BinaryValue, 'base64'));
    } else {
      hash.update(Uint8Array.of(STRING_TRANSPORT));
      updateLengthPrefixed(hash, Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

function updateLengthPrefixed(hash: Hash, bytes: Buffer): void {
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(bytes.length, 0);
  hash.update(length);
  hash.update(bytes);
}

/** Orders names by their UTF-8 bytes, as SQS does (not by UTF-16 code units). */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
