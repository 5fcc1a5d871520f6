import { request } from 'node:http';
import type { EdgeHandler } from '../../local/edge';

/** What to do with a response the upstream produced: deliver it, or cut the connection instead. */
export type FaultDecision = 'pass' | 'drop';

/** A request as the fault hooks see it: its `X-Amz-Target` and its body. */
export interface InterceptedCall {
  target: string;
  body: string;
}

export interface FaultHooks {
  /** Runs before the request goes upstream; the request waits for it (to hold it back, say). 'fail' answers 500 instead. */
  beforeRequest?: (call: InterceptedCall) => Promise<void | 'forward' | 'fail'>;
  /** Runs after the upstream handled the request, before the caller hears back. */
  afterResponse?: (call: InterceptedCall) => Promise<FaultDecision>;
}

/**
 * An edge route that forwards to an HTTP/1.1 upstream but lets a test act after the upstream has
 * handled a request and before the caller hears back, e.g. kill the caller at that moment.
 */
export function faultInjectingRoute(
  upstream: string,
  afterResponse: (target: string, body: string) => Promise<FaultDecision>,
  /** Called first: 'fail' answers 500 without forwarding, so the request has no effect. */
  beforeRequest: (target: string) => 'forward' | 'fail' = () => 'forward',
): EdgeHandler {
  return interceptingRoute(upstream, {
    beforeRequest: ({ target }) => Promise.resolve(beforeRequest(target)),
    afterResponse: ({ target, body }) => afterResponse(target, body),
  });
}

/**
 * An edge route that forwards to an HTTP/1.1 upstream, letting a test hold a request back before
 * it reaches the upstream (or fail it with a 500 that had no effect), and act after the upstream
 * handled it (deliver or cut the connection).
 */
export function interceptingRoute(upstream: string, hooks: FaultHooks): EdgeHandler {
  return async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith(':') && typeof value === 'string' && name !== 'connection') headers[name] = value;
    }
    const call: InterceptedCall = { target: String(req.headers['x-amz-target'] ?? ''), body: body.toString('utf8') };
    if ((await hooks.beforeRequest?.(call)) === 'fail') {
      res.writeHead(500, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'injected fault: not applied' }));
      return;
    }
    const upstreamResponse = await new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
      const outgoing = request(`${upstream}${req.url}`, { method: req.method, headers }, (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 500, headers: response.headers as Record<string, string>, body: Buffer.concat(parts) }));
        response.on('error', reject);
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
    const decision = (await hooks.afterResponse?.(call)) ?? 'pass';
    if (decision === 'drop') {
      req.socket.destroy();
      return;
    }
    const { connection: _connection, 'transfer-encoding': _encoding, 'keep-alive': _keepAlive, ...passHeaders } = upstreamResponse.headers;
    res.writeHead(upstreamResponse.status, passHeaders);
    res.end(upstreamResponse.body);
  };
}
