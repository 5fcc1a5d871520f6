import type { IncomingHttpHeaders } from 'node:http';
import { clipClientInput } from '../../contracts/client-input';

/**
 * s3rver joins bucket names, keys and upload ids into file paths. These checks run on the edge
 * before a request reaches it, so that no request can name a file outside its bucket's folder:
 * whatever the encoding (raw `../`, `..%2F`, `%2e%2e`, double encoding), signed or not, in the
 * path, the Host header (virtual-hosted style), `x-amz-copy-source` or the multipart query.
 */
export interface S3Refusal {
  readonly status: number;
  /** The S3 error code, e.g. `InvalidURI`. */
  readonly code: string;
  readonly message: string;
}

/** S3's bucket naming rules (general purpose buckets): 3-63 characters, no `..`, not an IP address. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_ADDRESS = /^\d+\.\d+\.\d+\.\d+$/;
/** Virtual-hosted style, as s3rver reads it: `<bucket>.s3[-website][.-<region>].amazonaws.com`. */
const VIRTUAL_HOST = /^(?:(.+)\.)?s3(?:-website)?(?:[-.].+)?\.amazonaws\.com$/;
/** s3rver's upload ids are 32 hex characters; part numbers are 1 to 10,000. */
const UPLOAD_ID = /^[0-9a-f]{1,64}$/i;
const PART_NUMBER = /^\d{1,5}$/;

/** Why the edge refuses this S3 request, or undefined when it may go to s3rver. */
export function s3RequestProblem(url: string, headers: IncomingHttpHeaders): S3Refusal | undefined {
  const queryStart = url.indexOf('?');
  const rawPath = queryStart < 0 ? url : url.slice(0, queryStart);
  const path = decodeOnce(rawPath);
  if (path === undefined) return invalidUri(`The path has a malformed percent-encoding: ${clipClientInput(rawPath)}`);
  const [, first = '', ...keyParts] = path.split('/');
  const hostBucket = virtualHostBucket(headers.host);
  const bucket = hostBucket ?? first;
  const key = (hostBucket === undefined ? keyParts : [first, ...keyParts]).join('/');
  if (hostBucket !== undefined && !BUCKET_NAME.test(hostBucket)) return invalidBucketName(hostBucket);
  if (hostBucket === undefined && bucket !== '' && (!BUCKET_NAME.test(bucket) || IP_ADDRESS.test(bucket))) return invalidBucketName(bucket);
  const keyProblem = objectKeyProblem(key);
  if (keyProblem !== undefined) return keyProblem;

  const query = new URLSearchParams(queryStart < 0 ? '' : url.slice(queryStart + 1));
  const uploadId = query.get('uploadId');
  if (uploadId !== null && !UPLOAD_ID.test(uploadId)) {
    return { status: 404, code: 'NoSuchUpload', message: `The specified upload does not exist: ${clipClientInput(uploadId)}` };
  }
  const partNumber = query.get('partNumber');
  if (partNumber !== null && !(PART_NUMBER.test(partNumber) && Number(partNumber) >= 1 && Number(partNumber) <= 10_000)) {
    return { status: 400, code: 'InvalidArgument', message: `Part number must be an integer between 1 and 10000, inclusive. Received ${clipClientInput(partNumber)}` };
  }

  const copySource = headers['x-amz-copy-source'];
  if (typeof copySource === 'string') {
    const source = decodeOnce(copySource.split('?')[0] ?? '');
    if (source === undefined) return invalidArgument(`x-amz-copy-source has a malformed percent-encoding: ${clipClientInput(copySource)}`);
    const [sourceBucket = '', ...sourceKey] = source.replace(/^\//, '').split('/');
    if (!BUCKET_NAME.test(sourceBucket)) return invalidBucketName(sourceBucket);
    const sourceProblem = objectKeyProblem(sourceKey.join('/'));
    if (sourceProblem !== undefined) return { ...sourceProblem, message: `x-amz-copy-source: ${sourceProblem.message}` };
  }
  return undefined;
}

/**
 * A key with a `.` or `..` segment, after one or two rounds of decoding (`%252e%252e`), or with a
 * NUL character, would name another file once joined into a path; AWS itself stores such keys
 * verbatim, but the local stand-in cannot, so it refuses them with a clear error.
 */
function objectKeyProblem(key: string): S3Refusal | undefined {
  if (key === '') return undefined;
  for (const candidate of [key, decodeOnce(key) ?? key]) {
    if (candidate.includes('\0')) return invalidArgument('Object keys must not contain NUL characters');
    const segments = candidate.split(/[/\\]/);
    if (segments.some((segment) => segment === '.' || segment === '..')) {
      return invalidArgument(
        `The local cloud refuses object keys with '.' or '..' path segments, which would name a file outside the bucket's folder. Received ${clipClientInput(key)}`,
      );
    }
  }
  return undefined;
}

/** The bucket a virtual-hosted-style Host header names, or undefined for path style. */
function virtualHostBucket(host: string | undefined): string | undefined {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  return VIRTUAL_HOST.exec(hostname)?.[1];
}

function decodeOnce(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

const invalidUri = (message: string): S3Refusal => ({ status: 400, code: 'InvalidURI', message });
const invalidArgument = (message: string): S3Refusal => ({ status: 400, code: 'InvalidArgument', message });
const invalidBucketName = (bucket: string): S3Refusal => ({
  status: 400,
  code: 'InvalidBucketName',
  message: `The specified bucket is not valid: ${clipClientInput(bucket)}`,
});

/** The XML error body S3 answers with. */
export function s3ErrorXml(refusal: S3Refusal, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(refusal.code)}</Code><Message>${escapeXml(refusal.message)}</Message><RequestId>${requestId}</RequestId></Error>`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
