import { Transform, type TransformCallback } from 'node:stream';

/**
 * s3rver accepts only the access key `S3RVER` or unsigned requests, and does not understand
 * `aws-chunked` bodies. These helpers turn any signed S3 request into the unsigned request
 * s3rver serves, so that every client's credentials work.
 */

/** Query parameters of SigV4 and SigV2 presigned URLs. */
const PRESIGN_PARAMETERS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
  'awsaccesskeyid',
  'signature',
  'expires',
]);

/** Headers that only carry the signature, or describe an aws-chunked body that is decoded here. */
const SIGNATURE_HEADERS = [
  'authorization',
  'x-amz-content-sha256',
  'x-amz-security-token',
  'x-amz-decoded-content-length',
  'x-amz-trailer',
];

/** The request path with presign query parameters removed. */
export function unsignedPath(path: string): string {
  const queryStart = path.indexOf('?');
  if (queryStart < 0) return path;
  const query = path.slice(queryStart + 1);
  if (!/(?:^|&)(?:x-amz-|awsaccesskeyid=|signature=|expires=)/i.test(query)) return path;
  const kept = query.split('&').filter((pair) => {
    const name = pair.split('=')[0] ?? '';
    return !PRESIGN_PARAMETERS.has(name.toLowerCase());
  });
  return kept.length > 0 ? `${path.slice(0, queryStart)}?${kept.join('&')}` : path.slice(0, queryStart);
}

/** Whether the body is `aws-chunked` (streaming SigV4 or unsigned with trailing checksums). */
export function isAwsChunked(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const encoding = headers['content-encoding'];
  const sha = headers['x-amz-content-sha256'];
  return (
    (typeof encoding === 'string' && encoding.includes('aws-chunked')) ||
    (typeof sha === 'string' && sha.startsWith('STREAMING-'))
  );
}

/**
 * Rewrites upstream headers (already copied, lower-case names) in place for s3rver: removes
 * the signature, and for aws-chunked bodies sets the decoded length and encoding.
 */
export function unsignHeaders(headers: Record<string, string | string[] | undefined>): void {
  if (isAwsChunked(headers)) {
    const decodedLength = headers['x-amz-decoded-content-length'];
    delete headers['transfer-encoding'];
    if (typeof decodedLength === 'string') headers['content-length'] = decodedLength;
    else delete headers['content-length'];
    const encoding = typeof headers['content-encoding'] === 'string' ? headers['content-encoding'] : '';
    const rest = encoding
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '' && part !== 'aws-chunked');
    if (rest.length > 0) headers['content-encoding'] = rest.join(', ');
    else delete headers['content-encoding'];
  }
  for (const name of SIGNATURE_HEADERS) delete headers[name];
}

const CRLF = Buffer.from('\r\n');

/**
 * Decodes an `aws-chunked` body into its payload:
 * `<hex size>[;chunk-signature=...]\r\n<data>\r\n ... 0[;...]\r\n[trailer: value\r\n]*\r\n`.
 * Trailing headers (checksums) are dropped.
 */
export class AwsChunkedDecoder extends Transform {
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes left in the current chunk, then the CRLF that ends it. */
  private remaining = 0;
  private skipCrlf = false;
  private done = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    while (data.length > 0 && !this.done) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, data.length);
        this.push(data.subarray(0, take));
        this.remaining -= take;
        data = data.subarray(take);
        if (this.remaining === 0) this.skipCrlf = true;
        continue;
      }
      if (this.skipCrlf) {
        if (data.length < 2) break;
        if (data[0] !== 0x0d || data[1] !== 0x0a) {
          callback(new Error('Malformed aws-chunked body: a chunk is not followed by CRLF'));
          return;
        }
        data = data.subarray(2);
        this.skipCrlf = false;
        continue;
      }
      const lineEnd = data.indexOf(CRLF);
      if (lineEnd < 0) {
        if (data.length > 4096) {
          callback(new Error('Malformed aws-chunked body: chunk header longer than 4096 bytes'));
          return;
        }
        break;
      }
      const sizeText = data.subarray(0, lineEnd).toString('latin1').split(';')[0]?.trim() ?? '';
      const size = Number.parseInt(sizeText, 16);
      if (!/^[0-9a-fA-F]+$/.test(sizeText) || !Number.isSafeInteger(size)) {
        callback(new Error(`Malformed aws-chunked body: bad chunk size ${JSON.stringify(sizeText)}`));
        return;
      }
      data = data.subarray(lineEnd + 2);
      if (size === 0) this.done = true;
      else this.remaining = size;
    }
    if (!this.done && data.length > 0) this.pending = Buffer.from(data);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    callback(this.done ? null : new Error('Malformed aws-chunked body: it ended before the final chunk'));
  }
}
