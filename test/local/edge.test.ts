import { request as http1Request } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { Readable } from 'node:stream';
import { CreateTableCommand, DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListStreamsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { NodeHttp2Handler, NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdge, AwsChunkedDecoder, type Edge, type EdgeHandler } from '../../local/edge';
import { startDynamoDb, startKinesis, startS3, type RunningService } from '../../local/emulators';
import { startSqs, type SqsServer } from '../../local/sqs';
import { requireJava, titled } from '../support/requirements';

const java = await requireJava();

/** Credentials nobody configured anywhere: every service must accept them. */
const ANY_CREDENTIALS = { accessKeyId: 'AKIAEDGETEST', secretAccessKey: 'not-checked' };

let edge: Edge;
let kinesis: RunningService;
let s3: RunningService;
let sqs: SqsServer;
let dynamodb: RunningService | undefined;

beforeAll(async () => {
  [kinesis, s3, sqs, dynamodb] = await Promise.all([
    startKinesis(),
    startS3(),
    startSqs(),
    java.available ? startDynamoDb() : Promise.resolve(undefined),
  ]);
  edge = await startEdge({
    port: 0,
    targets: {
      kinesis: kinesis.endpoint,
      s3: s3.endpoint,
      sqs: sqs.handler,
      ...(dynamodb ? { dynamodb: dynamodb.endpoint } : {}),
    },
  });
});

afterAll(async () => {
  await Promise.allSettled([edge?.stop(), kinesis?.stop(), s3?.stop(), sqs?.stop(), dynamodb?.stop()]);
});

const signedFor = (service: string): string =>
  `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=00`;

/** One raw HTTP/1.1 request; resolves with status, headers and body text. */
function http1(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http1Request(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** One raw HTTP/2 prior-knowledge (h2c) request. */
function h2c(url: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const session = http2Connect(target.origin);
    session.on('error', reject);
    const stream = session.request({ ':method': body === undefined ? 'GET' : 'POST', ':path': `${target.pathname}${target.search}`, ...headers });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (responseHeaders) => (status = Number(responseHeaders[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      session.close();
      resolve({ status, body: Buffer.concat(chunks).toString() });
    });
    stream.on('error', reject);
    stream.end(body);
  });
}

describe('edge', () => {
  it('binds 127.0.0.1 on the port the OS picked', () => {
    expect(edge.url).toBe(`http://127.0.0.1:${edge.port}`);
    expect(edge.port).toBeGreaterThan(0);
    expect(edge.port).not.toBe(4566);
  });

  it.each(['/_localstack/health', '/health'])('reports running services at GET %s, like LocalStack', async (path) => {
    const response = await http1(`${edge.url}${path}`);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toStrictEqual({
      services: {
        ...(java.available ? { dynamodb: 'running' } : {}),
        kinesis: 'running',
        s3: 'running',
        sqs: 'running',
      },
    });
  });

  it('answers a request signed for an unknown service with 400 naming the service', async () => {
    const response = await http1(`${edge.url}/`, {
      method: 'POST',
      headers: { authorization: signedFor('firehose'), 'x-amz-date': '20240101T000000Z' },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toStrictEqual({
      __type: 'UnknownServiceException',
      service: 'firehose',
      message: `The local cloud has no service 'firehose' (from the request's SigV4 credential scope). Registered services: ${
        java.available ? 'dynamodb, ' : ''
      }kinesis, s3, sqs`,
    });
  });

  it('routes by the credential scope of the header or of the presign query, over HTTP/1.1 and h2c', async () => {
    const seen: string[] = [];
    const echo: EdgeHandler = (req, res) => {
      seen.push(req.httpVersion);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`echo ${req.method ?? ''} ${req.url ?? ''} over ${req.httpVersion}`);
    };
    edge.register('execute-api', echo);
    try {
      const byHeader = await http1(`${edge.url}/prod/items`, { headers: { authorization: signedFor('execute-api') } });
      expect(byHeader).toMatchObject({ status: 200, body: 'echo GET /prod/items over 1.1' });

      const presigned = `/prod/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fexecute-api%2Faws4_request`;
      const byQuery = await h2c(`${edge.url}${presigned}`, {});
      expect(byQuery).toStrictEqual({ status: 200, body: `echo GET ${presigned} over 2.0` });

      const posted = await h2c(`${edge.url}/prod/post`, { authorization: signedFor('execute-api') }, '{"a":1}');
      expect(posted).toStrictEqual({ status: 200, body: 'echo POST /prod/post over 2.0' });
      expect(seen).toStrictEqual(['1.1', '2.0', '2.0']);
    } finally {
      edge.unregister('execute-api');
    }
  });

  it('answers 502 naming the service when its upstream is down', async () => {
    edge.register('lambda', 'http://127.0.0.1:9');
    try {
      const response = await h2c(`${edge.url}/2015-03-31/functions`, { authorization: signedFor('lambda') });
      expect(response.status).toBe(502);
      expect(JSON.parse(response.body)).toMatchObject({
        __type: 'ServiceUnavailableException',
        message: expect.stringMatching(/^The local 'lambda' service at http:\/\/127\.0\.0\.1:9 did not answer: .*ECONNREFUSED/),
      });
    } finally {
      edge.unregister('lambda');
    }
  });

  it('serves the Kinesis client at its defaults, which speaks HTTP/2 (h2c) to an http:// endpoint', async () => {
    const versions: string[] = [];
    const fakeKinesis = await startEdge({
      port: 0,
      targets: {
        kinesis: (req, res) => {
          versions.push(req.httpVersion);
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
          res.end('{"StreamNames":["from-fake"],"HasMoreStreams":false}');
        },
      },
    });
    const client = new KinesisClient({ endpoint: fakeKinesis.url, region: 'us-east-1', credentials: ANY_CREDENTIALS });
    try {
      const listed = await client.send(new ListStreamsCommand({}));
      expect(listed.StreamNames).toStrictEqual(['from-fake']);
      expect(versions).toStrictEqual(['2.0']);
    } finally {
      client.destroy();
      await fakeKinesis.stop();
    }
  });
});

const PROTOCOLS = [
  ['HTTP/1.1 (NodeHttpHandler)', 'h1', () => new NodeHttpHandler()],
  ['HTTP/2 prior knowledge (NodeHttp2Handler)', 'h2', () => new NodeHttp2Handler()],
] as const;

describe.each(PROTOCOLS)('through the edge over %s', (_label, tag, requestHandler) => {
  const config = () => ({ endpoint: edge.url, region: 'eu-west-1', credentials: ANY_CREDENTIALS, requestHandler: requestHandler() });

  it('creates a Kinesis stream, puts records and reads them back', async () => {
    const client = new KinesisClient(config());
    const StreamName = `edge-${tag}`;
    try {
      await client.send(new CreateStreamCommand({ StreamName, ShardCount: 1 }));
      let status: string | undefined;
      for (let i = 0; i < 50 && status !== 'ACTIVE'; i++) {
        status = (await client.send(new DescribeStreamCommand({ StreamName }))).StreamDescription?.StreamStatus;
        if (status !== 'ACTIVE') await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(status).toBe('ACTIVE');

      const put = await client.send(
        new PutRecordsCommand({
          StreamName,
          Records: ['a', 'b', 'c'].map((key) => ({ PartitionKey: key, Data: Buffer.from(`click-${key}`) })),
        }),
      );
      expect(put.FailedRecordCount).toBe(0);

      const { ShardIterator } = await client.send(
        new GetShardIteratorCommand({ StreamName, ShardId: 'shardId-000000000000', ShardIteratorType: 'TRIM_HORIZON' }),
      );
      const { Records } = await client.send(new GetRecordsCommand({ ShardIterator }));
      expect(Records?.map((r) => [r.PartitionKey, Buffer.from(r.Data ?? []).toString()])).toStrictEqual([
        ['a', 'click-a'],
        ['b', 'click-b'],
        ['c', 'click-c'],
      ]);
    } finally {
      client.destroy();
    }
  });

  it('creates an S3 bucket and round-trips objects with any credentials (path style)', async () => {
    const client = new S3Client({ ...config(), forcePathStyle: true });
    const Bucket = `edge-bucket-${tag}`;
    try {
      await client.send(new CreateBucketCommand({ Bucket }));
      await client.send(new PutObjectCommand({ Bucket, Key: 'dir/a.json', Body: '{"n":1}', ContentType: 'application/json' }));
      await client.send(new PutObjectCommand({ Bucket, Key: 'dir/b.bin', Body: Uint8Array.of(0, 1, 2, 255) }));
      const json = await client.send(new GetObjectCommand({ Bucket, Key: 'dir/a.json' }));
      expect(json.ContentType).toBe('application/json');
      expect(await json.Body?.transformToString()).toBe('{"n":1}');
      const binary = await client.send(new GetObjectCommand({ Bucket, Key: 'dir/b.bin' }));
      expect([...((await binary.Body?.transformToByteArray()) ?? [])]).toStrictEqual([0, 1, 2, 255]);
      const listed = await client.send(new ListObjectsV2Command({ Bucket }));
      expect(listed.Contents?.map((object) => [object.Key, object.Size])).toStrictEqual([
        ['dir/a.json', 7],
        ['dir/b.bin', 4],
      ]);
    } finally {
      client.destroy();
    }
  });

  it('round-trips an SQS message, with queue URLs on the edge port', async () => {
    const client = new SQSClient(config());
    try {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: `edge-queue-${tag}` }));
      expect(QueueUrl).toBe(`http://localhost:${edge.port}/000000000000/edge-queue-${tag}`);
      await client.send(new SendMessageCommand({ QueueUrl, MessageBody: `hello over ${tag}` }));
      const { Messages } = await client.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
      expect(Messages?.map((m) => m.Body)).toStrictEqual([`hello over ${tag}`]);
      await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: Messages?.[0]?.ReceiptHandle }));
      const { Attributes } = await client.send(
        new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      expect(Attributes).toStrictEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
    } finally {
      client.destroy();
    }
  });

  it.skipIf(!java.available)(titled('creates a DynamoDB table and puts and gets an item', java), async () => {
    const client = new DynamoDBClient(config());
    const TableName = `edge-table-${tag}`;
    try {
      await client.send(
        new CreateTableCommand({
          TableName,
          KeySchema: [{ AttributeName: 'url', KeyType: 'HASH' }, { AttributeName: 'windowStart', KeyType: 'RANGE' }],
          AttributeDefinitions: [
            { AttributeName: 'url', AttributeType: 'S' },
            { AttributeName: 'windowStart', AttributeType: 'S' },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      const Item = { url: { S: '/home' }, windowStart: { S: '2026-01-01T00:10:00.000Z' }, clicks: { N: '42' } };
      await client.send(new PutItemCommand({ TableName, Item }));
      const got = await client.send(
        new GetItemCommand({ TableName, Key: { url: Item.url, windowStart: Item.windowStart }, ConsistentRead: true }),
      );
      expect(got.Item).toStrictEqual(Item);
    } finally {
      client.destroy();
    }
  });
});

describe('S3 through the edge, signatures and encodings', () => {
  it('stores a streamed upload, which the SDK sends aws-chunked with a trailing checksum', async () => {
    // HTTP/1.1 only: the SDK's HTTP/2 handler refuses chunked request bodies itself.
    const client = new S3Client({
      endpoint: edge.url,
      region: 'us-east-1',
      credentials: ANY_CREDENTIALS,
      forcePathStyle: true,
      requestHandler: new NodeHttpHandler(),
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'streamed' }));
      await client.send(
        new PutObjectCommand({
          Bucket: 'streamed',
          Key: 'parts.txt',
          Body: Readable.from([Buffer.from('streamed '), Buffer.from('through the edge')]),
          ContentLength: 25,
        }),
      );
      const object = await client.send(new GetObjectCommand({ Bucket: 'streamed', Key: 'parts.txt' }));
      expect(object.ContentLength).toBe(25);
      expect(await object.Body?.transformToString()).toBe('streamed through the edge');
    } finally {
      client.destroy();
    }
  });

  it('serves presigned-style and unsigned GETs, dropping the presign query', async () => {
    const client = new S3Client({ endpoint: edge.url, region: 'us-east-1', credentials: ANY_CREDENTIALS, forcePathStyle: true });
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'presigned' }));
      await client.send(new PutObjectCommand({ Bucket: 'presigned', Key: 'report.csv', Body: 'a,b\n1,2\n' }));
    } finally {
      client.destroy();
    }
    const presign =
      'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ANYKEY%2F20240101%2Fus-east-1%2Fs3%2Faws4_request' +
      '&X-Amz-Date=20240101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef';
    expect(await http1(`${edge.url}/presigned/report.csv?${presign}`)).toMatchObject({ status: 200, body: 'a,b\n1,2\n' });
    expect(await http1(`${edge.url}/presigned/report.csv`)).toMatchObject({ status: 200, body: 'a,b\n1,2\n' });
  });
});

describe('AwsChunkedDecoder', () => {
  const encoded =
    '9;chunk-signature=aaaa\r\nstreamed \r\n' +
    '10;chunk-signature=bbbb\r\nthrough the edge\r\n' +
    '0;chunk-signature=cccc\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n';

  it.each([1, 3, 7, encoded.length])('decodes the payload when the body arrives in %i-byte pieces', async (size) => {
    const pieces: Buffer[] = [];
    for (let i = 0; i < encoded.length; i += size) pieces.push(Buffer.from(encoded.slice(i, i + size)));
    const decoded: Buffer[] = [];
    for await (const chunk of Readable.from(pieces).pipe(new AwsChunkedDecoder())) decoded.push(chunk as Buffer);
    expect(Buffer.concat(decoded).toString()).toBe('streamed through the edge');
  });

  it('fails on a body that ends before the final chunk', async () => {
    const truncated = Readable.from([Buffer.from('9\r\nstreamed \r\n')]).pipe(new AwsChunkedDecoder());
    await expect(async () => {
      for await (const _ of truncated) void _;
    }).rejects.toThrow('Malformed aws-chunked body: it ended before the final chunk');
  });
});

describe('edge throughput', () => {
  it('carries more than 1,000 Kinesis events/s from the default (HTTP/2) client', async () => {
    const client = new KinesisClient({ endpoint: edge.url, region: 'us-east-1', credentials: ANY_CREDENTIALS });
    const StreamName = 'edge-throughput';
    try {
      await client.send(new CreateStreamCommand({ StreamName, ShardCount: 4 }));
      for (let i = 0; i < 50; i++) {
        const status = (await client.send(new DescribeStreamCommand({ StreamName }))).StreamDescription?.StreamStatus;
        if (status === 'ACTIVE') break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const batches = 10;
      const perBatch = 500;
      const data = Buffer.from(JSON.stringify({ eventId: 'e', url: '/home', userId: 'u', timestamp: '2026-01-01T00:00:00Z' }));
      const started = performance.now();
      let failed = 0;
      const inFlight = 4;
      for (let b = 0; b < batches; b += inFlight) {
        const results = await Promise.all(
          Array.from({ length: Math.min(inFlight, batches - b) }, (_, i) =>
            client.send(
              new PutRecordsCommand({
                StreamName,
                Records: Array.from({ length: perBatch }, (_, r) => ({ PartitionKey: `user-${b + i}-${r}`, Data: data })),
              }),
            ),
          ),
        );
        failed += results.reduce((sum, result) => sum + (result.FailedRecordCount ?? 0), 0);
      }
      const perSecond = (batches * perBatch) / ((performance.now() - started) / 1000);
      expect(failed).toBe(0);
      expect(perSecond).toBeGreaterThan(1000);
    } finally {
      client.destroy();
    }
  });
});
