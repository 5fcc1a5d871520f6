import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { invalidParameter, missingParameter, queueDoesNotExist, SqsError } from './errors';
import type { MessageAttributes, MessageAttributeValue } from './md5';
import type { SendMessageInput, SqsStore } from './store';
import { quoteClientInput } from '../../contracts/client-input';

/** A request handler that serves HTTP/1.1 and HTTP/2 (compatibility API) requests alike. */
export type HttpHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
) => void;

export interface SqsHandlerOptions {
  /**
   * Origin of the queue URLs the handler returns, for example `http://localhost:4566`.
   * @default - `http://localhost:<port the request was sent to>`, LocalStack's format
   */
  readonly queueUrlOrigin?: string;
  /** Called with errors that are not SQS errors (bugs); the client gets a 500. */
  readonly onInternalError?: (error: unknown) => void;
}

type Json = Readonly<Record<string, unknown>>;

interface Call {
  readonly input: Json;
  readonly queueUrl: (name: string) => string;
  readonly signal: AbortSignal;
}

type Operation = (store: SqsStore, call: Call) => unknown;

const TARGET_PREFIX = 'AmazonSQS.';
const JSON_CONTENT_TYPE = 'application/x-amz-json-1.0';
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Serves the SQS API over the AWS JSON 1.0 protocol used by @aws-sdk/client-sqs 3.x:
 * POST with `X-Amz-Target: AmazonSQS.<Operation>` and a JSON body. A queue is named by the last
 * path segment of its QueueUrl, so URLs with any host work.
 */
export function createSqsHandler(store: SqsStore, options: SqsHandlerOptions = {}): HttpHandler {
  return (req, res) => {
    void handle(store, options, req, res);
  };
}

async function handle(
  store: SqsStore,
  options: SqsHandlerOptions,
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
): Promise<void> {
  const aborted = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) aborted.abort();
  });
  try {
    const target = header(req, 'x-amz-target') ?? '';
    const operationName = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : '';
    if (req.method !== 'POST' || operationName === '') {
      throw new SqsError(
        'UnsupportedOperation',
        `The local SQS stand-in speaks only the AWS JSON 1.0 protocol: POST with the header X-Amz-Target: AmazonSQS.<Operation>. Received ${req.method ?? '?'} with X-Amz-Target ${quoteClientInput(target)}`,
      );
    }
    const operation = OPERATIONS[operationName];
    if (!operation) {
      throw new SqsError('UnsupportedOperation', `The local SQS stand-in does not support the operation ${operationName}.`);
    }
    const input = await readJson(req);
    const origin = options.queueUrlOrigin ?? defaultOrigin(req);
    const output = await operation(store, {
      input,
      queueUrl: (name) => `${origin}/${store.accountId}/${name}`,
      signal: aborted.signal,
    });
    send(res, 200, output ?? {});
  } catch (error) {
    if (error instanceof SqsError) {
      send(res, error.statusCode, { __type: error.type, message: error.message }, error.queryCode);
    } else {
      options.onInternalError?.(error);
      send(res, 500, {
        __type: 'com.amazonaws.sqs#InternalError',
        message: `The local SQS stand-in failed: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
}

function send(
  res: ServerResponse | Http2ServerResponse,
  status: number,
  body: unknown,
  queryErrorCode?: string,
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': JSON_CONTENT_TYPE,
    'content-length': Buffer.byteLength(payload),
    'x-amzn-requestid': randomUUID(),
  };
  if (queryErrorCode) headers['x-amzn-query-error'] = `${queryErrorCode};Sender`;
  res.writeHead(status, headers);
  res.end(payload);
}

function header(req: IncomingMessage | Http2ServerRequest, name: string): string | undefined {
  const value = (req.headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

function defaultOrigin(req: IncomingMessage | Http2ServerRequest): string {
  const host = header(req, 'host') ?? header(req, ':authority') ?? '';
  const port = /:(\d+)$/.exec(host)?.[1];
  return port ? `http://localhost:${port}` : 'http://localhost';
}

async function readJson(req: IncomingMessage | Http2ServerRequest): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) {
      throw invalidParameter(`The request is larger than ${MAX_REQUEST_BYTES} bytes.`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SqsError('SerializationException', 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SqsError('SerializationException', 'The request body must be a JSON object.');
  }
  return parsed as Json;
}

// Input readers: each checks the JSON type and names the parameter when it is wrong.

function optionalString(input: Json, name: string): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`${name} must be a string. Received ${quoteClientInput(value)}`);
  return value;
}

function requiredString(input: Json, name: string): string {
  const value = optionalString(input, name);
  if (value === undefined) throw missingParameter(name);
  return value;
}

function optionalInteger(input: Json, name: string): number | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidParameter(`${name} must be an integer. Received ${quoteClientInput(value)}`);
  }
  return value;
}

function requiredInteger(input: Json, name: string): number {
  const value = optionalInteger(input, name);
  if (value === undefined) throw missingParameter(name);
  return value;
}

function optionalStringList(input: Json, name: string): string[] | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) {
    throw invalidParameter(`${name} must be a list of strings. Received ${quoteClientInput(value)}`);
  }
  return value;
}

function optionalStringMap(input: Json, name: string): Record<string, string> | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalidParameter(`${name} must be a map of strings. Received ${quoteClientInput(value)}`);
  }
  return value as Record<string, string>;
}

function optionalAttributes(input: Json, name: string): MessageAttributes | undefined {
  const value = input[name];
  if (value === undefined || value === null) return undefined;
  const isAttribute = (v: unknown): v is MessageAttributeValue =>
    typeof v === 'object' && v !== null && typeof (v as { DataType?: unknown }).DataType === 'string';
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every(isAttribute)) {
    throw invalidParameter(`${name} must map names to {DataType, StringValue | BinaryValue}. Received ${quoteClientInput(value)}`);
  }
  return value as MessageAttributes;
}

function entries(input: Json): Json[] {
  const value = input.Entries;
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) {
    throw new SqsError('EmptyBatchRequest', 'There should be at least one entry in the request.');
  }
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'object' && entry !== null)) {
    throw invalidParameter(`Entries must be a list of objects. Received ${quoteClientInput(value)}`);
  }
  if (value.length > 10) {
    throw new SqsError('TooManyEntriesInBatchRequest', `Maximum number of entries per request are 10. You have sent ${value.length}.`);
  }
  const ids = new Set<string>();
  for (const entry of value as Json[]) {
    const id = requiredString(entry, 'Id');
    if (!BATCH_ENTRY_ID.test(id)) {
      throw new SqsError('InvalidBatchEntryId', `A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long. Received ${quoteClientInput(id)}`);
    }
    if (ids.has(id)) throw new SqsError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
    ids.add(id);
  }
  return value as Json[];
}

/** The queue a QueueUrl names: its last path segment, whatever the host. */
function queueName(input: Json): string {
  const url = requiredString(input, 'QueueUrl');
  const path = url.split('?')[0] ?? '';
  const name = path.split('/').filter((segment) => segment !== '').pop();
  if (!path.includes('/') || name === undefined) {
    throw new SqsError('InvalidAddress', `The address ${url} is not valid for this endpoint.`);
  }
  return name;
}

function sendInput(input: Json): SendMessageInput {
  return {
    MessageBody: requiredString(input, 'MessageBody'),
    DelaySeconds: optionalInteger(input, 'DelaySeconds'),
    MessageAttributes: optionalAttributes(input, 'MessageAttributes'),
    MessageSystemAttributes: optionalAttributes(input, 'MessageSystemAttributes'),
  };
}

/** Runs one batch entry; an SQS error becomes a Failed entry, anything else is rethrown. */
function batchEntry<T>(id: string, run: () => T): { ok: T } | { failed: Json } {
  try {
    return { ok: run() };
  } catch (error) {
    if (!(error instanceof SqsError)) throw error;
    return { failed: { Id: id, SenderFault: true, Code: error.queryCode, Message: error.message } };
  }
}

function batchResult<T>(results: ReadonlyArray<{ ok: T } | { failed: Json }>): { Successful: T[]; Failed: Json[] } {
  const Successful: T[] = [];
  const Failed: Json[] = [];
  for (const result of results) {
    if ('ok' in result) Successful.push(result.ok);
    else Failed.push(result.failed);
  }
  return { Successful, Failed };
}

const OPERATIONS: Readonly<Record<string, Operation | undefined>> = {
  CreateQueue(store, { input, queueUrl }) {
    const name = requiredString(input, 'QueueName');
    store.createQueue(name, optionalStringMap(input, 'Attributes'), optionalStringMap(input, 'tags'));
    return { QueueUrl: queueUrl(name) };
  },

  GetQueueUrl(store, { input, queueUrl }) {
    const name = requiredString(input, 'QueueName');
    if (!store.hasQueue(name)) throw queueDoesNotExist(name);
    return { QueueUrl: queueUrl(name) };
  },

  ListQueues(store, { input, queueUrl }) {
    const names = store.listQueues(optionalString(input, 'QueueNamePrefix'));
    const maxResults = optionalInteger(input, 'MaxResults');
    if (maxResults === undefined) {
      return names.length > 0 ? { QueueUrls: names.slice(0, 1000).map(queueUrl) } : {};
    }
    if (maxResults < 1 || maxResults > 1000) {
      throw invalidParameter(`Value ${maxResults} for parameter MaxResults is invalid. Reason: Must be between 1 and 1000.`);
    }
    const start = Number(optionalString(input, 'NextToken') ?? '0');
    const page = names.slice(start, start + maxResults);
    const next = start + maxResults < names.length ? { NextToken: String(start + maxResults) } : {};
    return page.length > 0 ? { QueueUrls: page.map(queueUrl), ...next } : next;
  },

  DeleteQueue(store, { input }) {
    store.deleteQueue(queueName(input));
    return {};
  },

  PurgeQueue(store, { input }) {
    store.purgeQueue(queueName(input));
    return {};
  },

  GetQueueAttributes(store, { input }) {
    const attributes = store.getQueueAttributes(queueName(input), optionalStringList(input, 'AttributeNames'));
    return Object.keys(attributes).length > 0 ? { Attributes: attributes } : {};
  },

  SetQueueAttributes(store, { input }) {
    const attributes = optionalStringMap(input, 'Attributes');
    if (!attributes) throw missingParameter('Attributes');
    store.setQueueAttributes(queueName(input), attributes);
    return {};
  },

  TagQueue(store, { input }) {
    const tags = optionalStringMap(input, 'Tags');
    if (!tags) throw missingParameter('Tags');
    store.tagQueue(queueName(input), tags);
    return {};
  },

  UntagQueue(store, { input }) {
    const keys = optionalStringList(input, 'TagKeys');
    if (!keys) throw missingParameter('TagKeys');
    store.untagQueue(queueName(input), keys);
    return {};
  },

  ListQueueTags(store, { input }) {
    const tags = store.listQueueTags(queueName(input));
    return Object.keys(tags).length > 0 ? { Tags: tags } : {};
  },

  SendMessage(store, { input }) {
    return store.sendMessage(queueName(input), sendInput(input));
  },

  SendMessageBatch(store, { input }) {
    const name = queueName(input);
    const batch = entries(input);
    const total = batch.reduce(
      (sum, entry) => sum + Buffer.byteLength(typeof entry.MessageBody === 'string' ? entry.MessageBody : ''),
      0,
    );
    if (total > MAX_BATCH_BYTES) {
      throw new SqsError('BatchRequestTooLong', `Batch requests cannot be longer than ${MAX_BATCH_BYTES} bytes. You have sent ${total} bytes.`);
    }
    // Entries are independent, as in SQS: a bad entry fails alone and the others are sent.
    return batchResult(
      batch.map((entry) => {
        const id = requiredString(entry, 'Id');
        return batchEntry(id, () => ({ Id: id, ...store.sendMessage(name, sendInput(entry)) }));
      }),
    );
  },

  async ReceiveMessage(store, { input, signal }) {
    const systemNames = [
      ...(optionalStringList(input, 'AttributeNames') ?? []),
      ...(optionalStringList(input, 'MessageSystemAttributeNames') ?? []),
    ];
    const messages = await store.receiveMessages(
      queueName(input),
      {
        AttributeNames: systemNames,
        MessageAttributeNames: optionalStringList(input, 'MessageAttributeNames'),
        MaxNumberOfMessages: optionalInteger(input, 'MaxNumberOfMessages'),
        VisibilityTimeout: optionalInteger(input, 'VisibilityTimeout'),
        WaitTimeSeconds: optionalInteger(input, 'WaitTimeSeconds'),
      },
      signal,
    );
    return messages.length > 0 ? { Messages: messages } : {};
  },

  DeleteMessage(store, { input }) {
    store.deleteMessage(queueName(input), requiredString(input, 'ReceiptHandle'));
    return {};
  },

  DeleteMessageBatch(store, { input }) {
    const name = queueName(input);
    return batchResult(
      entries(input).map((entry) => {
        const id = requiredString(entry, 'Id');
        return batchEntry(id, () => {
          store.deleteMessage(name, requiredString(entry, 'ReceiptHandle'));
          return { Id: id };
        });
      }),
    );
  },

  ChangeMessageVisibility(store, { input }) {
    store.changeMessageVisibility(
      queueName(input),
      requiredString(input, 'ReceiptHandle'),
      requiredInteger(input, 'VisibilityTimeout'),
    );
    return {};
  },

  ChangeMessageVisibilityBatch(store, { input }) {
    const name = queueName(input);
    return batchResult(
      entries(input).map((entry) => {
        const id = requiredString(entry, 'Id');
        return batchEntry(id, () => {
          store.changeMessageVisibility(name, requiredString(entry, 'ReceiptHandle'), requiredInteger(entry, 'VisibilityTimeout'));
          return { Id: id };
        });
      }),
    );
  },
};

/** The operations the stand-in serves. */
export const SUPPORTED_OPERATIONS: readonly string[] = Object.keys(OPERATIONS);
