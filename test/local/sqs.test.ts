import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  PurgeQueueCommand,
  QueueDoesNotExist,
  QueueNameExists,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { md5OfMessageAttributes, startSqs, type SqsServer } from '../../local/sqs';

const md5 = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');
const clientFor = (endpoint: string): SQSClient =>
  new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });

let sqs: SqsServer;
let client: SQSClient;
let queueCounter = 0;

/** A fresh queue per test, so tests share no messages. */
async function freshQueue(attributes?: Record<string, string>): Promise<{ name: string; url: string }> {
  const name = `q-${++queueCounter}-${Date.now()}`;
  const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  return { name, url: QueueUrl ?? '' };
}

beforeAll(async () => {
  sqs = await startSqs({ port: 0 });
  client = clientFor(sqs.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await sqs?.stop();
});

describe('message attribute MD5 (the SQS algorithm)', () => {
  // Published values, computed by SQS and checked by other SQS implementations.
  it.each([
    [{ SellerName: { DataType: 'String', StringValue: 'Example Store' } }, 'cd28f3b68aeee4b2eac9c66f2f694b58'],
    [{ timestamp: { DataType: 'Number', StringValue: '1493147359900' } }, '235c5c510d26fb653d073faed50ae77c'],
    [
      { ordinal: { DataType: 'Number', StringValue: '1' }, category: { DataType: 'String', StringValue: 'test' } },
      'd21ae90c49061e927f57df5f5d72be1f',
    ],
  ])('hashes %j to %s', (attributes, expected) => {
    expect(md5OfMessageAttributes(attributes)).toBe(expected);
  });
});

describe('SQS stand-in', () => {
  it('listens on 127.0.0.1 and returns LocalStack-style queue URLs for the port it was called on', async () => {
    const port = new URL(sqs.endpoint).port;
    expect(sqs.endpoint).toBe(`http://127.0.0.1:${port}`);
    const { name, url } = await freshQueue();
    expect(url).toBe(`http://localhost:${port}/000000000000/${name}`);
    expect((await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl).toBe(url);
  });

  it('sends, receives and deletes a message, with the MD5 digests the SDK checks', async () => {
    const { url } = await freshQueue();
    const body = '{"click":"héllo wörld ✓ 🚀"}';
    const sent = await client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: body,
        MessageAttributes: {
          reason: { DataType: 'String', StringValue: 'late' },
          raw: { DataType: 'Binary', BinaryValue: Uint8Array.of(1, 2, 3) },
        },
      }),
    );
    expect(sent.MD5OfMessageBody).toBe(md5(body));

    const received = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
    );
    expect(received.Messages).toHaveLength(1);
    const [message] = received.Messages ?? [];
    expect(message).toMatchObject({
      MessageId: sent.MessageId,
      Body: body,
      MD5OfBody: md5(body),
      MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
      Attributes: { ApproximateReceiveCount: '1' },
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: 'late' },
        raw: { DataType: 'Binary', BinaryValue: Uint8Array.of(1, 2, 3) },
      },
    });

    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message?.ReceiptHandle }));
    const attributes = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(attributes.Attributes).toStrictEqual({ ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' });
  });

  it('makes the SDK reject a response whose MD5OfBody is wrong (the check is live)', async () => {
    const { name } = await freshQueue();
    await client.send(new SendMessageCommand({ QueueUrl: `http://x/000000000000/${name}`, MessageBody: 'tampered' }));
    // A proxy in front of the stand-in that corrupts the digest (same length, so Content-Length holds).
    const tampering: Server = createServer((req, res) => {
      const end = res.end.bind(res) as (chunk: string) => void;
      res.end = ((chunk: string) =>
        end(String(chunk).replace(/"MD5OfBody":"[0-9a-f]{32}"/, `"MD5OfBody":"${'0'.repeat(32)}"`))) as typeof res.end;
      sqs.handler(req, res);
    });
    await new Promise<void>((resolve) => tampering.listen(0, '127.0.0.1', resolve));
    const address = tampering.address();
    const tamperingClient = clientFor(`http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
    try {
      await expect(
        tamperingClient.send(new ReceiveMessageCommand({ QueueUrl: `http://x/000000000000/${name}` })),
      ).rejects.toThrow(/^Invalid MD5 checksum on messages: [0-9a-f-]{36}$/);
    } finally {
      tamperingClient.destroy();
      await new Promise((resolve) => tampering.close(resolve));
    }
  });

  it('redelivers a message whose visibility timeout expired, with a new receipt handle', async () => {
    const { url } = await freshQueue();
    const sent = await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'retry me' }));
    const first = await client.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 1 }));
    expect(first.Messages?.map((m) => m.MessageId)).toStrictEqual([sent.MessageId]);

    const whileHidden = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(whileHidden.Messages).toBeUndefined();

    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }),
    );
    expect(second.Messages?.map((m) => [m.MessageId, m.Attributes?.ApproximateReceiveCount])).toStrictEqual([
      [sent.MessageId, '2'],
    ]);
    expect(second.Messages?.[0]?.ReceiptHandle).not.toBe(first.Messages?.[0]?.ReceiptHandle);
  });

  it('makes a message visible again at once with ChangeMessageVisibility 0', async () => {
    const { url } = await freshQueue();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'back' }));
    const first = await client.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 600 }));
    await client.send(
      new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: first.Messages?.[0]?.ReceiptHandle, VisibilityTimeout: 0 }),
    );
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    expect(again.Messages?.map((m) => m.Body)).toStrictEqual(['back']);
  });

  it('answers a long poll as soon as a message arrives', async () => {
    const { url } = await freshQueue();
    const started = Date.now();
    const polling = client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'wake up' }));
    const received = await polling;
    const elapsed = Date.now() - started;
    expect(received.Messages?.map((m) => m.Body)).toStrictEqual(['wake up']);
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(3000);
  });

  it('ends a long poll on an empty queue after WaitTimeSeconds with no messages', async () => {
    const { url } = await freshQueue();
    const started = Date.now();
    const received = await client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    expect(received.Messages).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('sends and deletes in batches, failing bad entries alone', async () => {
    const { url } = await freshQueue();
    const sent = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'a', MessageBody: 'first' },
          { Id: 'b', MessageBody: 'bad \u0000 byte' },
          { Id: 'c', MessageBody: 'third' },
        ],
      }),
    );
    expect(sent.Successful?.map((entry) => [entry.Id, entry.MD5OfMessageBody])).toStrictEqual([
      ['a', md5('first')],
      ['c', md5('third')],
    ]);
    expect(sent.Failed).toStrictEqual([
      { Id: 'b', SenderFault: true, Code: 'InvalidMessageContents', Message: expect.stringContaining('Invalid characters') },
    ]);

    const received = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    expect(received.Messages?.map((m) => m.Body)).toStrictEqual(['first', 'third']);
    const deleted = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          ...(received.Messages ?? []).map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle })),
          { Id: 'junk', ReceiptHandle: 'not-a-handle' },
        ],
      }),
    );
    expect(deleted.Successful).toStrictEqual([{ Id: 'm0' }, { Id: 'm1' }]);
    expect(deleted.Failed).toStrictEqual([
      { Id: 'junk', SenderFault: true, Code: 'ReceiptHandleIsInvalid', Message: expect.stringContaining('not-a-handle') },
    ]);
    const attributes = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    expect(attributes.Attributes?.ApproximateNumberOfMessages).toBe('0');
    expect(attributes.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');
  });

  it('reports queue attributes with their AWS defaults and live counts', async () => {
    const { name, url } = await freshQueue({ VisibilityTimeout: '45' });
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'one' }));
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'two' }));
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'later', DelaySeconds: 60 }));
    await client.send(new ReceiveMessageCommand({ QueueUrl: url }));
    const { Attributes } = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    expect(Attributes).toMatchObject({
      QueueArn: `arn:aws:sqs:us-east-1:000000000000:${name}`,
      VisibilityTimeout: '45',
      DelaySeconds: '0',
      MessageRetentionPeriod: '345600',
      ReceiveMessageWaitTimeSeconds: '0',
      ApproximateNumberOfMessages: '1',
      ApproximateNumberOfMessagesNotVisible: '1',
      ApproximateNumberOfMessagesDelayed: '1',
    });
  });

  it('moves a message to the dead-letter queue after maxReceiveCount receives', async () => {
    const dlq = await freshQueue();
    const { QueueArn } = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.url, AttributeNames: ['QueueArn'] })))
      .Attributes ?? {};
    const main = await freshQueue({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: QueueArn, maxReceiveCount: 2 }) });
    const sent = await client.send(new SendMessageCommand({ QueueUrl: main.url, MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) {
      const received = await client.send(new ReceiveMessageCommand({ QueueUrl: main.url, VisibilityTimeout: 0 }));
      expect(received.Messages?.map((m) => m.MessageId)).toStrictEqual([sent.MessageId]);
    }
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl: main.url }))).Messages).toBeUndefined();
    const dead = await client.send(new ReceiveMessageCommand({ QueueUrl: dlq.url }));
    expect(dead.Messages?.map((m) => [m.MessageId, m.Body])).toStrictEqual([[sent.MessageId, 'poison']]);
  });

  it('purges, lists by prefix and deletes queues', async () => {
    const { name, url } = await freshQueue();
    await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'gone soon' }));
    await client.send(new PurgeQueueCommand({ QueueUrl: url }));
    expect((await client.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
    expect((await client.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls).toStrictEqual([url]);

    await client.send(new DeleteQueueCommand({ QueueUrl: url }));
    expect((await client.send(new ListQueuesCommand({ QueueNamePrefix: name }))).QueueUrls).toBeUndefined();
  });

  it('returns the modelled SQS errors the SDK maps to its exception classes', async () => {
    const missing = client.send(new SendMessageCommand({ QueueUrl: 'http://localhost:4566/000000000000/nope', MessageBody: 'x' }));
    await expect(missing).rejects.toBeInstanceOf(QueueDoesNotExist);
    await expect(missing).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
      Code: 'AWS.SimpleQueueService.NonExistentQueue',
      message: 'The specified queue does not exist: nope',
      $metadata: { httpStatusCode: 400 },
    });

    const { name, url } = await freshQueue({ VisibilityTimeout: '10' });
    await expect(
      client.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '20' } })),
    ).rejects.toBeInstanceOf(QueueNameExists);
    await expect(
      client.send(new ChangeMessageVisibilityCommand({ QueueUrl: url, ReceiptHandle: 'garbage', VisibilityTimeout: 5 })),
    ).rejects.toBeInstanceOf(ReceiptHandleIsInvalid);
    await expect(
      client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: 'Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10.',
    });
  });
});

describe('SQS stand-in persistence', () => {
  it('keeps queues and messages across a clean restart with persistDirectory', async () => {
    const persistDirectory = await mkdtemp(join(tmpdir(), 'watershed-sqs-test-'));
    try {
      const first = await startSqs({ persistDirectory });
      const firstClient = clientFor(first.endpoint);
      const { QueueUrl } = await firstClient.send(new CreateQueueCommand({ QueueName: 'kept' }));
      await firstClient.send(new SendMessageCommand({ QueueUrl, MessageBody: 'survives' }));
      firstClient.destroy();
      await first.stop();

      const second = await startSqs({ persistDirectory });
      const secondClient = clientFor(second.endpoint);
      try {
        const received = await secondClient.send(new ReceiveMessageCommand({ QueueUrl: `http://any/000000000000/kept` }));
        expect(received.Messages?.map((m) => m.Body)).toStrictEqual(['survives']);
      } finally {
        secondClient.destroy();
        await second.stop();
      }
    } finally {
      await rm(persistDirectory, { recursive: true, force: true });
    }
  });

  it('keeps every acknowledged send and delete when the process dies without stopping (kill -9), and drops a torn last line', async () => {
    // Prepare: a stand-in that is never stopped, as after kill -9: only what it journaled remains
    const persistDirectory = await mkdtemp(join(tmpdir(), 'watershed-sqs-crash-'));
    const crashed = await startSqs({ persistDirectory });
    const client = clientFor(crashed.endpoint);
    let second: SqsServer | undefined;
    try {
      const { QueueUrl } = await client.send(new CreateQueueCommand({ QueueName: 'dead-letters', Attributes: { VisibilityTimeout: '5' } }));
      for (const body of ['one', 'two', 'three']) await client.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
      const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
      const two = Messages.find((message) => message.Body === 'two')!;
      await client.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: two.ReceiptHandle! }));
      // A write cut off in the middle by the crash: never acknowledged, so never applied.
      const journal = (await readdir(persistDirectory)).find((file) => file.startsWith('journal-'))!;
      await appendFile(join(persistDirectory, journal), '{"op":"send","queue":"dead-letters","mess');

      // Act
      second = await startSqs({ persistDirectory });

      // Assess: received-but-not-deleted messages are visible again (at least once), the deleted one is gone
      const secondClient = clientFor(second.endpoint);
      try {
        const attributes = await secondClient.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['VisibilityTimeout'] }));
        expect(attributes.Attributes?.VisibilityTimeout).toBe('5');
        const again = await secondClient.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10 }));
        expect(again.Messages?.map((message) => message.Body).sort()).toStrictEqual(['one', 'three']);
      } finally {
        secondClient.destroy();
      }
    } finally {
      client.destroy();
      await crashed.stop();
      await second?.stop();
      await rm(persistDirectory, { recursive: true, force: true });
    }
  });
});
