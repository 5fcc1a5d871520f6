import 'reflect-metadata';
import { AsciiParser, DITokens, ElasticBuffer, EmptyLogFactory, SessionContainer, type IJsFixConfig, type MsgView } from 'jspurefix';

/**
 * FIX 4.4 text for tests and benchmarks: `fixText` writes a message from its fields (BodyLength
 * and CheckSum computed), and `createFixParser` parses text with jspurefix's AsciiParser and the
 * QuickFIX FIX44 dictionary, the parser and dictionary the gateway's session runs on.
 */

const SOH = '\x01';

/** A message from [tag, value] pairs after 35 (MsgType); 8, 9 and 10 are added. */
export function fixText(msgType: string, fields: readonly (readonly [number, string | number])[]): string {
  const body = [`35=${msgType}`, ...fields.map(([tag, value]) => `${tag}=${value}`)].join(SOH) + SOH;
  const head = `8=FIX.4.4${SOH}9=${Buffer.byteLength(body)}${SOH}`;
  let sum = 0;
  for (const byte of Buffer.from(head + body)) sum += byte;
  return `${head}${body}10=${String(sum % 256).padStart(3, '0')}${SOH}`;
}

export interface FixParser {
  /** Calls `onMessage` for every complete message in `text`, synchronously. */
  parse(text: string | Buffer, onMessage: (msgType: string, view: MsgView) => void): void;
}

export async function createFixParser(): Promise<FixParser> {
  const container = new SessionContainer();
  container.registerGlobal(new EmptyLogFactory());
  const description = {
    application: { type: 'initiator', name: 'parser', protocol: 'ascii', dictionary: 'qf44', tcp: { host: '127.0.0.1', port: 1 } },
    EncryptMethod: 0, ResetSeqNumFlag: false, HeartBtInt: 30, SenderCompId: 'GW', TargetCompID: 'VENUE', BeginString: 'FIX.4.4',
  };
  const system = await container.makeSystem(description as never);
  const config = system.resolve<IJsFixConfig>(DITokens.IJsFixConfig);
  // The parser state writes into the container's receive buffer: the parser must read the same one.
  const parser = new AsciiParser(config, null, system.resolve<ElasticBuffer>(DITokens.ParseBuffer));
  let current: ((msgType: string, view: MsgView) => void) | undefined;
  parser.on('msg', (msgType: string, view: MsgView) => current?.(msgType, view));
  parser.on('error', (error: Error) => {
    throw error;
  });
  return {
    parse(text, onMessage) {
      current = onMessage;
      const buffer = typeof text === 'string' ? Buffer.from(text) : text;
      parser.parseBuffer(buffer, buffer.length);
      current = undefined;
    },
  };
}
