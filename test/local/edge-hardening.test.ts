import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand, CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../local/clients';
import { startEdge, type Edge } from '../../local/edge';
import { startDynamoDb, startKinesis, startS3, type RunningService } from '../../local/emulators';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

/** Short limits, so that the timeouts show within a test; each test says which it relies on. */
const LIMITS = { headersTimeoutMs: 400, requestTimeoutMs: 1200, idleTimeoutMs: 1500, maxConnections: 64, readinessWaitMs: 300 };
const BUCKET = 'guarded';
const signedFor = (service: string): string =>
  `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`;

interface RawAnswer {
  status: number;
  head: string;
  body: string;
  /** When the edge closed the connection, in ms after the request started. */
  closedAfterMs: number;
}

/**
 * Sends `parts` on a fresh connection, `gapMs` apart (a slow client), and resolves with what came
 * back once the edge closes the connection (or `giveUpMs` passed: then closedAfterMs is Infinity).
 */
function rawExchange(port: number, parts: (string | Buffer)[], gapMs = 0, giveUpMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => finish(Number.POSITIVE_INFINITY), giveUpMs);
    const finish = (closedAfterMs: number): void => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body, closedAfterMs });
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => finish(Date.now() - started));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      let index = 0;
      const next = (): void => {
        if (socket.destroyed || index >= parts.length) return;
        socket.write(parts[index++]!);
        timer = setTimeout(next, gapMs);
      };
      next();
    });
    socket.on('error', reject);
  });
}

/** One HTTP/1.1 request with a complete head and body; closes after the answer. */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<RawAnswer> {
  const all = { host: '127.0.0.1', connection: 'close', 'content-length': String(Buffer.byteLength(body)), ...headers };
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(all).map(([name, value]) => `${name}: ${value}`)];
  return rawExchange(port, [`${lines.join('\r\n')}\r\n\r\n${body}`]);
}

let edge: Edge;
let kinesis: RunningService;
let s3: RunningService;
let dynamodb: RunningService | undefined;
let sandbox: string;
let s3Directory: string;

beforeAll(async () => {
  sandbox = mkdtempSync(join(tmpdir(), 'watershed-edge-hardening-'));
  // The S3 data folder sits two levels down, so that `../..` from a bucket lands in the sandbox.
  s3Directory = join(sandbox, 'data', 's3');
  [kinesis, s3, dynamodb] = await Promise.all([startKinesis(), startS3({ persistDir: s3Directory }), java.available ? startDynamoDb() : Promise.resolve(undefined)]);
  edge = await startEdge({
    port: 0,
    limits: LIMITS,
    targets: { kinesis: kinesis.endpoint, s3: s3.endpoint, ...(dynamodb ? { dynamodb: dynamodb.endpoint } : {}) },
  });
  const client = new S3Client({ ...localClientConfig(edge.url), forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
});

afterAll(async () => {
  await Promise.allSettled([edge?.stop(), kinesis?.stop(), s3?.stop(), dynamodb?.stop()]);
  rmSync(sandbox, { recursive: true, force: true });
});

describe('timeouts', () => {
  it('cuts off a client that sends its headers slowly, with 408, while others are served', async () => {
    // Prepare: a header line every 150 ms would take 6 s; the headers timeout is 400 ms
    const slowHead = ['GET /_localstack/health HTTP/1.1\r\n', ...Array.from({ length: 40 }, (_, index) => `X-Slow-${index}: 1\r\n`), '\r\n'];

    // Act
    const slow = rawExchange(edge.port, slowHead, 150);
    const served = await rawRequest(edge.port, 'GET', '/_localstack/health');

    // Assess
    expect(served.status).toBe(200);
    const answer = await slow;
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ __type: 'RequestTimeoutException' });
    // Cut off after the headers timeout plus at most a few checking intervals; not after 6 s.
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs);
    expect(answer.closedAfterMs).toBeLessThan(LIMITS.headersTimeoutMs * 5);
  });

  it('cuts off a client that sends its body slowly, with 408, while others are served', async () => {
    // Prepare: 40 bytes at one per 150 ms would take 6 s; the request timeout is 1.2 s
    const head = `PUT /${BUCKET}/slow-body HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40\r\n\r\n`;

    // Act
    const slow = rawExchange(edge.port, [head, ...Array.from({ length: 40 }, () => 'x')], 150);
    const served = await rawRequest(edge.port, 'GET', '/_localstack/health');

    // Assess
    expect(served.status).toBe(200);
    const answer = await slow;
    expect(answer.status).toBe(408);
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.requestTimeoutMs);
    expect(answer.closedAfterMs).toBeLessThan(LIMITS.requestTimeoutMs * 3);
  });

  it('closes a connection that never sends a byte after the headers timeout', async () => {
    const answer = await rawExchange(edge.port, []);
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.headersTimeoutMs);
    expect(answer.closedAfterMs).toBeLessThan(LIMITS.headersTimeoutMs * 5);
  });

  it('closes an idle keep-alive connection after the idle timeout', async () => {
    const answer = await rawExchange(edge.port, ['GET /_localstack/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n']);
    expect(answer.status).toBe(200);
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(LIMITS.idleTimeoutMs);
    expect(answer.closedAfterMs).toBeLessThan(LIMITS.idleTimeoutMs * 3);
  });
});

describe('limits and malformed requests', () => {
  it('answers connections beyond the limit with 503 and Retry-After, and serves again once they close', async () => {
    // Prepare: an edge that allows 4 connections, with 4 held open
    const small = await startEdge({ port: 0, limits: { ...LIMITS, maxConnections: 4, headersTimeoutMs: 5000, requestTimeoutMs: 5000 } });
    const held = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<Socket>((resolve) => {
        const socket = connect(small.port, '127.0.0.1', () => resolve(socket));
        socket.on('error', () => undefined);
      })),
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));

      // Act
      const refused = await rawRequest(small.port, 'GET', '/_localstack/health');
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const served = await rawRequest(small.port, 'GET', '/_localstack/health');

      // Assess
      expect(refused.status).toBe(503);
      expect(refused.head).toMatch(/\r\nRetry-After: 1\r\n/i);
      expect(JSON.parse(refused.body)).toMatchObject({ __type: 'ServiceUnavailableException' });
      expect(served.status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await small.stop();
    }
  });

  it('answers malformed HTTP with an AWS-shaped 400', async () => {
    const answer = await rawExchange(edge.port, ['GARBAGE\r\n\r\n']);
    expect(answer.status).toBe(400);
    expect(answer.head).toMatch(/\r\nx-amzn-ErrorType: BadRequestException\r\n/i);
    expect(JSON.parse(answer.body)).toMatchObject({ __type: 'BadRequestException', message: expect.stringContaining('not valid HTTP/1.1') });
  });

  it.each([
    ['unsigned', {}],
    ['signed', { authorization: signedFor('s3'), 'x-amz-date': '20240101T000000Z' }],
  ])('answers a malformed %% in an %s S3 path with 400 InvalidURI, not 500', async (_name, headers) => {
    const answer = await rawRequest(edge.port, 'GET', `/${BUCKET}/bad%zzkey`, headers);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('<Code>InvalidURI</Code>');
  });

  it('never echoes a long client value in full', async () => {
    const longService = 'x'.repeat(10_000);
    const answer = await rawRequest(edge.port, 'POST', '/', { authorization: signedFor(longService), 'x-amz-date': '20240101T000000Z' }, '{}');
    expect(answer.status).toBe(400);
    expect(answer.body.length).toBeLessThan(1000);
    expect(answer.body).toContain('(10000 characters)');
  });
});

describe('S3 keys cannot leave the bucket folder', () => {
  const signed = { authorization: signedFor('s3'), 'x-amz-date': '20240101T000000Z' };
  const escapes: [string, string, Record<string, string>][] = [];
  for (const [name, headers] of [['unsigned', {}], ['signed', signed]] as const) {
    escapes.push(
      [`raw ../ (${name})`, `/${BUCKET}/../../escaped-raw-${name}`, headers],
      [`..%2F (${name})`, `/${BUCKET}/..%2F..%2Fescaped-2f-${name}`, headers],
      [`%2e%2e (${name})`, `/${BUCKET}/%2e%2e/%2E%2E/escaped-2e-${name}`, headers],
      [`double-encoded (${name})`, `/${BUCKET}/%252e%252e%252f%252e%252e%252fescaped-25-${name}`, headers],
      [`bucket .. (${name})`, `/../escaped-bucket-${name}`, headers],
      [`multipart upload id (${name})`, `/${BUCKET}/key?partNumber=1&uploadId=..%2F..%2F..%2Fescaped-upload-${name}`, headers],
      [`virtual host .. (${name})`, `/escaped-vhost-${name}`, { ...headers, host: '...s3.amazonaws.com' }],
    );
  }

  it.each(escapes)('refuses a PUT through %s with an S3 error, and writes nothing outside the data folder', async (_name, path, headers) => {
    // Act
    const answer = await rawRequest(edge.port, 'PUT', path, headers, 'stolen');

    // Assess
    expect([400, 404]).toContain(answer.status);
    expect(answer.body).toMatch(/<Error><Code>(InvalidArgument|InvalidBucketName|NoSuchUpload|InvalidURI)<\/Code>/);
    expect(readdirSync(sandbox)).toStrictEqual(['data']);
    expect(readdirSync(join(sandbox, 'data'))).toStrictEqual(['s3']);
  });

  it('refuses to read or delete a file outside the data folder, and to copy from one', async () => {
    // Prepare: a file next to the data folder that a traversal would name
    writeFileSync(join(sandbox, 'data', '_S3rver_object'), 'secret');
    try {
      // Act
      const read = await rawRequest(edge.port, 'GET', `/${BUCKET}/..%2F..%2F`);
      const removed = await rawRequest(edge.port, 'DELETE', `/${BUCKET}/..%2F..%2F`);
      const copied = await rawRequest(edge.port, 'PUT', `/${BUCKET}/copy`, { 'x-amz-copy-source': `/${BUCKET}/..%2F..%2F` });

      // Assess
      for (const answer of [read, removed, copied]) {
        expect(answer.status).toBe(400);
        expect(answer.body).not.toContain('secret');
      }
      expect(existsSync(join(sandbox, 'data', '_S3rver_object'))).toBe(true);
    } finally {
      rmSync(join(sandbox, 'data', '_S3rver_object'), { force: true });
    }
  });

  it('still stores keys with dots that are not path segments', async () => {
    const client = new S3Client({ ...localClientConfig(edge.url), forcePathStyle: true });
    try {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a..b/.hidden/v1.2..3', Body: 'fine' }));
    } finally {
      client.destroy();
    }
    expect(readdirSync(sandbox)).toStrictEqual(['data']);
  });
});

describe.skipIf(!java.available)(titled('DynamoDB requests are checked before DynamoDB Local', java), () => {
  const table = 'surrogates';
  let client: DynamoDBClient;

  beforeAll(async () => {
    client = new DynamoDBClient({ ...localClientConfig(edge.url), maxAttempts: 1 });
    await client.send(new CreateTableCommand({
      TableName: table,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }));
  });
  afterAll(() => client?.destroy());

  it('answers invalid JSON with 400 SerializationException, not 500', async () => {
    const answer = await rawRequest(edge.port, 'POST', '/', {
      authorization: signedFor('dynamodb'),
      'x-amz-date': '20240101T000000Z',
      'x-amz-target': 'DynamoDB_20120810.ListTables',
      'content-type': 'application/x-amz-json-1.0',
    }, '{"Limit": ');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ __type: 'com.amazon.coral.service#SerializationException' });
  });

  it.each(['k/\ud800', 'k/\udc00', 'k/\udc00\ud800'])('refuses a key with a lone surrogate (%j) with 400 ValidationException, so it cannot alias k/?', async (id) => {
    // Prepare
    await client.send(new PutItemCommand({ TableName: table, Item: { id: { S: 'k/?' }, owner: { S: 'question-mark' } } }));

    // Act
    const put = client.send(new PutItemCommand({ TableName: table, Item: { id: { S: id }, owner: { S: 'surrogate' } } }));
    const get = client.send(new GetItemCommand({ TableName: table, Key: { id: { S: id } } }));

    // Assess
    await expect(put).rejects.toMatchObject({ name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
    await expect(get).rejects.toMatchObject({ name: 'ValidationException' });
    const kept = await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: 'k/?' } } }));
    expect(kept.Item?.owner?.S).toBe('question-mark');
  });

  it('passes well-formed surrogate pairs through', async () => {
    await client.send(new PutItemCommand({ TableName: table, Item: { id: { S: 'k/😀' }, owner: { S: 'emoji' } } }));
    const read = await client.send(new GetItemCommand({ TableName: table, Key: { id: { S: 'k/😀' } } }));
    expect(read.Item?.owner?.S).toBe('emoji');
  });
});

describe('readiness', () => {
  it('holds requests for a starting service until it is registered, then serves them', async () => {
    // Prepare: an edge whose kinesis is still starting
    const starting = await startEdge({ port: 0, limits: { ...LIMITS, readinessWaitMs: 5000 }, pendingServices: ['kinesis'] });
    const client = new KinesisClient({ ...localClientConfig(starting.url), maxAttempts: 1 });
    try {
      const health = (await (await fetch(`${starting.url}/_localstack/health`)).json()) as unknown;
      expect(health).toStrictEqual({ services: { kinesis: 'starting' } });

      // Act: the call goes out before kinesis is registered
      const listed = client.send(new ListStreamsCommand({}));
      await new Promise((resolve) => setTimeout(resolve, 200));
      starting.register('kinesis', kinesis.endpoint);

      // Assess
      expect((await listed).StreamNames).toBeDefined();
    } finally {
      client.destroy();
      await starting.stop();
    }
  });

  it('answers 503 with Retry-After, which SDKs retry, when the service is not back in time; never 400 UnknownServiceException', async () => {
    const starting = await startEdge({ port: 0, limits: LIMITS, pendingServices: ['kinesis'] });
    try {
      starting.setUnavailable('kinesis', 'restarting', 'kinesalite exited (signal SIGKILL)');
      const answer = await rawRequest(starting.port, 'POST', '/', { authorization: signedFor('kinesis'), 'x-amz-date': '20240101T000000Z' }, '{}');
      expect(answer.status).toBe(503);
      expect(answer.head).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(JSON.parse(answer.body)).toMatchObject({ __type: 'ServiceUnavailableException', message: expect.stringContaining('restarting: kinesalite exited') });
      const health = (await (await fetch(`${starting.url}/_localstack/health`)).json()) as unknown;
      expect(health).toStrictEqual({ services: { kinesis: 'restarting' }, details: { kinesis: 'kinesalite exited (signal SIGKILL)' } });
    } finally {
      await starting.stop();
    }
  });
});
