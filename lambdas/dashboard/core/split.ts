import type { WindowCount } from '../../../contracts/dashboard';

export interface SplitResult {
  /** Serialized messages, in order; each is at most `maxBytes` of UTF-8. */
  readonly payloads: string[];
  /** Windows that cannot fit in a message even alone (never expected: URLs are at most 2 KiB). */
  readonly oversized: WindowCount[];
}

/**
 * Packs windows, in order, into as few messages as fit under `maxBytes` each, measured exactly as
 * the bytes that go on the wire: `JSON.stringify` of the message, UTF-8. `envelope(windows)` builds
 * the message around a part's windows; it must serialize `windows` as given (the array is the only
 * part that grows), which lets each window be measured once instead of re-serializing the message.
 * No window is lost or repeated: each lands in exactly one payload, or in `oversized`.
 * With no windows, `emptyMessage` decides between one message with an empty array (a snapshot
 * must still arrive) and none (nothing changed).
 */
export function splitWindows(
  envelope: (windows: WindowCount[]) => unknown,
  windows: readonly WindowCount[],
  maxBytes: number,
  { emptyMessage = false }: { emptyMessage?: boolean } = {},
): SplitResult {
  const payloads: string[] = [];
  const oversized: WindowCount[] = [];
  const baseBytes = Buffer.byteLength(JSON.stringify(envelope([])));

  let part: WindowCount[] = [];
  let partBytes = baseBytes;
  const flush = () => {
    if (part.length > 0) payloads.push(JSON.stringify(envelope(part)));
    part = [];
    partBytes = baseBytes;
  };

  for (const window of windows) {
    const windowBytes = Buffer.byteLength(JSON.stringify(window));
    if (baseBytes + windowBytes > maxBytes) {
      oversized.push(window);
      continue;
    }
    // A comma separates this window from the previous one in the array.
    const added = windowBytes + (part.length > 0 ? 1 : 0);
    if (partBytes + added > maxBytes) flush();
    partBytes += windowBytes + (part.length > 0 ? 1 : 0);
    part.push(window);
  }
  flush();
  if (payloads.length === 0 && emptyMessage) payloads.push(JSON.stringify(envelope([])));
  return { payloads, oversized };
}
