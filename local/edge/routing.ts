import type { IncomingHttpHeaders } from 'node:http';

/**
 * The AWS service a request is for, from its SigV4 credential scope
 * (`Credential=AKID/20240101/us-east-1/<service>/aws4_request`) in the Authorization header
 * or the `X-Amz-Credential` query parameter (presigned URLs). SigV4a scopes have no region
 * (`AKID/20240101/<service>/aws4_request`) and work too. Undefined for unsigned requests.
 */
export function signingService(headers: IncomingHttpHeaders, url: string): string | undefined {
  const authorization = headers.authorization;
  if (authorization !== undefined) {
    const start = authorization.indexOf('Credential=');
    if (start >= 0) {
      const from = start + 'Credential='.length;
      let end = authorization.indexOf(',', from);
      if (end < 0) end = authorization.length;
      return serviceOfCredential(authorization.slice(from, end).trim());
    }
  }
  if (url.includes('X-Amz-Credential=') || url.includes('x-amz-credential=')) {
    const match = /[?&]X-Amz-Credential=([^&#]*)/i.exec(url);
    if (match?.[1] !== undefined) return serviceOfCredential(safeDecode(match[1]));
  }
  return undefined;
}

/** The service element of a credential scope: the one before `aws4_request`. */
export function serviceOfCredential(credential: string): string | undefined {
  const parts = credential.split('/');
  const index = parts.lastIndexOf('aws4_request');
  const service = index >= 2 ? parts[index - 1] : undefined;
  return service === '' ? undefined : service;
}

/** X-Amz-Target prefixes of the JSON-protocol services, for unsigned requests. */
const TARGET_PREFIXES: ReadonlyArray<readonly [string, string]> = [
  ['Kinesis_', 'kinesis'],
  ['DynamoDBStreams_', 'dynamodb'],
  ['DynamoDB_', 'dynamodb'],
  ['AmazonSQS.', 'sqs'],
];

/** The service an unsigned JSON-protocol request is for, from its X-Amz-Target header. */
export function targetService(headers: IncomingHttpHeaders): string | undefined {
  const target = headers['x-amz-target'];
  if (typeof target !== 'string') return undefined;
  for (const [prefix, service] of TARGET_PREFIXES) if (target.startsWith(prefix)) return service;
  return undefined;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
