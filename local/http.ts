import type { EdgeRequest, EdgeResponse } from './edge';

/** Answers with a JSON body (HTTP/1.1 and HTTP/2 compatibility responses alike). */
export function sendJson(res: EdgeResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}

/** The request body, or undefined when it is longer than `limit` bytes (the rest is read and dropped). */
export async function readBody(req: EdgeRequest, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length <= limit) chunks.push(chunk);
  }
  return length > limit ? undefined : Buffer.concat(chunks);
}
