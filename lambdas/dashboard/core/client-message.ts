import { ClientMessage, PROTOCOL_VERSION } from '../../../contracts/dashboard';
import { quoteClientInput } from '../../../contracts/client-input';

export type ClientMessageResult =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly reason: string };

const EXPECTED = `{"v":${PROTOCOL_VERSION},"type":"subscribe"} or {"v":${PROTOCOL_VERSION},"type":"ping"}`;

/**
 * Decodes a $default frame. The reason is written for the client that sent the frame: it names
 * what was expected and never echoes parser internals or the frame itself.
 */
export function parseClientMessage(body: string | null | undefined): ClientMessageResult {
  if (body === null || body === undefined || body.trim() === '') {
    return { ok: false, reason: `Empty message; expected ${EXPECTED}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, reason: `Message is not JSON; expected ${EXPECTED}` };
  }
  const parsed = ClientMessage.safeParse(json);
  if (parsed.success) return { ok: true, message: parsed.data };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, reason: `Unknown message; expected ${EXPECTED}` };
  }
  const version = (json as { v?: unknown }).v;
  if (version === undefined) return { ok: false, reason: `Missing protocol version "v"; expected ${EXPECTED}` };
  if (version !== PROTOCOL_VERSION) {
    return { ok: false, reason: `Unsupported protocol version ${quoteClientInput(version)}; this server speaks version ${PROTOCOL_VERSION}` };
  }
  return { ok: false, reason: `Unknown message; expected ${EXPECTED}` };
}
