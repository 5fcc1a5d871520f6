import { randomUUID } from 'node:crypto';
import { invalidParameter, queueDoesNotExist, SqsError } from './errors';
import { md5OfBody, md5OfMessageAttributes, type MessageAttributes } from './md5';
import { quoteClientInput } from '../../contracts/client-input';

/** Queue attributes a client may set, with their defaults (the AWS defaults). */
const SETTABLE_DEFAULTS: Readonly<Record<string, string | undefined>> = {
  DelaySeconds: '0',
  MaximumMessageSize: '1048576',
  MessageRetentionPeriod: '345600',
  ReceiveMessageWaitTimeSeconds: '0',
  VisibilityTimeout: '30',
  SqsManagedSseEnabled: 'true',
  Policy: undefined,
  RedrivePolicy: undefined,
  RedriveAllowPolicy: undefined,
  KmsMasterKeyId: undefined,
  KmsDataKeyReusePeriodSeconds: undefined,
};

const INTEGER_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  DelaySeconds: [0, 900],
  MaximumMessageSize: [1024, 1048576],
  MessageRetentionPeriod: [60, 1209600],
  ReceiveMessageWaitTimeSeconds: [0, 20],
  VisibilityTimeout: [0, 43200],
  KmsDataKeyReusePeriodSeconds: [60, 86400],
};

const COMPUTED_ATTRIBUTES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'LastModifiedTimestamp',
  'QueueArn',
] as const;

const MESSAGE_SYSTEM_ATTRIBUTES = [
  'ApproximateFirstReceiveTimestamp',
  'ApproximateReceiveCount',
  'SenderId',
  'SentTimestamp',
  'AWSTraceHeader',
] as const;

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;
/** Characters SQS accepts in a message body and in string attribute values. */
const INVALID_CONTENT = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const MAX_ATTRIBUTES = 10;

export interface SendMessageInput {
  readonly MessageBody: string;
  readonly DelaySeconds?: number;
  readonly MessageAttributes?: MessageAttributes;
  readonly MessageSystemAttributes?: MessageAttributes;
}

/** Undefined fields are left out of the JSON response. */
export interface SendMessageResult {
  readonly MessageId: string;
  readonly MD5OfMessageBody: string;
  readonly MD5OfMessageAttributes?: string;
  readonly MD5OfMessageSystemAttributes?: string;
}

export interface ReceiveMessageInput {
  readonly MaxNumberOfMessages?: number;
  readonly VisibilityTimeout?: number;
  readonly WaitTimeSeconds?: number;
  /** Names of system attributes to return (`All` for every one). */
  readonly AttributeNames?: readonly string[];
  /** Names of message attributes to return: names, `prefix.*`, `All` or `.*`. */
  readonly MessageAttributeNames?: readonly string[];
}

export interface ReceivedMessage {
  readonly MessageId: string;
  readonly ReceiptHandle: string;
  readonly MD5OfBody: string;
  readonly Body: string;
  readonly Attributes?: Record<string, string>;
  readonly MessageAttributes?: MessageAttributes;
  readonly MD5OfMessageAttributes?: string;
}

export interface StoredMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly attributes: MessageAttributes | undefined;
  readonly systemAttributes: MessageAttributes | undefined;
  readonly sentAt: number;
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt: number | undefined;
  receiptHandle: string | undefined;
}

interface Queue {
  readonly name: string;
  readonly createdAt: number;
  modifiedAt: number;
  readonly attributes: Map<string, string>;
  readonly tags: Map<string, string>;
  /** By message id, in the order they were sent. */
  readonly messages: Map<string, StoredMessage>;
  /** Long polls waiting for a message; each is woken when the queue changes. */
  readonly waiters: Set<() => void>;
}

/** A JSON snapshot of every queue and message, for persistence across restarts. */
export interface SqsSnapshot {
  readonly version: 1;
  readonly queues: ReadonlyArray<{
    name: string;
    createdAt: number;
    modifiedAt: number;
    attributes: Record<string, string>;
    tags: Record<string, string>;
    messages: StoredMessage[];
  }>;
}

/**
 * One change to the store, as the journal records it. Each is the effect of an operation, not the
 * operation, so replaying a journal gives the same state: a redrive is a delete plus a send.
 * Receives are not recorded: after a restart a received message is visible again (at least once).
 */
export type SqsJournalEntry =
  | { op: 'createQueue'; name: string; createdAt: number; attributes: Record<string, string>; tags: Record<string, string> }
  | { op: 'deleteQueue'; name: string }
  | { op: 'queueSettings'; name: string; modifiedAt: number; attributes: Record<string, string>; tags: Record<string, string> }
  | { op: 'purge'; name: string }
  | { op: 'send'; queue: string; message: StoredMessage }
  | { op: 'delete'; queue: string; messageId: string };

/** Receives every change before it is applied; a write it throws on is not applied (nor acknowledged). */
export interface SqsJournal {
  append(entry: SqsJournalEntry): void;
}

export interface SqsStoreOptions {
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** Where changes are recorded before they are applied (and acknowledged). @default - none, in memory only */
  readonly journal?: SqsJournal;
}

/**
 * Standard SQS queues in memory: at-least-once delivery with visibility timeouts, delays,
 * long polling, retention and redrive to a dead-letter queue. FIFO queues are not supported.
 */
export class SqsStore {
  readonly region: string;
  readonly accountId: string;
  private readonly queues = new Map<string, Queue>();
  private closed = false;
  private readonly journal: SqsJournal | undefined;

  constructor(options: SqsStoreOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.accountId = options.accountId ?? '000000000000';
    this.journal = options.journal;
  }

  /** Applies a journal entry (when replaying a journal); nothing is recorded. */
  apply(entry: SqsJournalEntry): void {
    switch (entry.op) {
      case 'createQueue':
        if (this.queues.has(entry.name)) return;
        this.queues.set(entry.name, {
          name: entry.name,
          createdAt: entry.createdAt,
          modifiedAt: entry.createdAt,
          attributes: new Map(Object.entries(entry.attributes)),
          tags: new Map(Object.entries(entry.tags)),
          messages: new Map(),
          waiters: new Set(),
        });
        return;
      case 'deleteQueue':
        this.queues.delete(entry.name);
        return;
      case 'queueSettings': {
        const queue = this.queues.get(entry.name);
        if (queue === undefined) return;
        queue.modifiedAt = entry.modifiedAt;
        queue.attributes.clear();
        for (const [key, value] of Object.entries(entry.attributes)) queue.attributes.set(key, value);
        queue.tags.clear();
        for (const [key, value] of Object.entries(entry.tags)) queue.tags.set(key, value);
        return;
      }
      case 'purge':
        this.queues.get(entry.name)?.messages.clear();
        return;
      case 'send':
        this.queues.get(entry.queue)?.messages.set(entry.message.messageId, { ...entry.message });
        return;
      case 'delete':
        this.queues.get(entry.queue)?.messages.delete(entry.messageId);
        return;
    }
  }

  private record(entry: SqsJournalEntry): void {
    this.journal?.append(entry);
  }

  /** Records a queue's attributes and tags as they are after a change. */
  private recordSettings(queue: Queue, attributes: Map<string, string>, tags: Map<string, string>, modifiedAt: number): void {
    this.record({ op: 'queueSettings', name: queue.name, modifiedAt, attributes: Object.fromEntries(attributes), tags: Object.fromEntries(tags) });
  }

  queueArn(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  createQueue(
    name: string,
    attributes: Readonly<Record<string, string>> = {},
    tags: Readonly<Record<string, string>> = {},
  ): void {
    if (name.endsWith('.fifo') || attributes.FifoQueue === 'true') {
      throw new SqsError(
        'UnsupportedOperation',
        `FIFO queues are not supported by the local SQS stand-in. Received queue name ${quoteClientInput(name)}`,
      );
    }
    if (!QUEUE_NAME.test(name)) {
      throw invalidParameter(
        `Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length. Received queue name ${quoteClientInput(name)}`,
      );
    }
    const validated = validateQueueAttributes(attributes);
    const existing = this.queues.get(name);
    if (existing) {
      for (const [key, value] of Object.entries(validated)) {
        if (existing.attributes.get(key) !== value) {
          throw new SqsError(
            'QueueNameExists',
            `A queue already exists with the same name and a different value for attribute ${key}: ${name}`,
          );
        }
      }
      return;
    }
    const now = Date.now();
    const queue: Queue = {
      name,
      createdAt: now,
      modifiedAt: now,
      attributes: new Map(),
      tags: new Map(Object.entries(tags)),
      messages: new Map(),
      waiters: new Set(),
    };
    for (const [key, value] of Object.entries(SETTABLE_DEFAULTS)) {
      if (value !== undefined) queue.attributes.set(key, value);
    }
    for (const [key, value] of Object.entries(validated)) queue.attributes.set(key, value);
    this.record({ op: 'createQueue', name, createdAt: now, attributes: Object.fromEntries(queue.attributes), tags: Object.fromEntries(queue.tags) });
    this.queues.set(name, queue);
  }

  hasQueue(name: string): boolean {
    return this.queues.has(name);
  }

  /** Queue names in creation order, optionally only those starting with `prefix`. */
  listQueues(prefix = ''): string[] {
    return [...this.queues.keys()].filter((name) => name.startsWith(prefix));
  }

  deleteQueue(name: string): void {
    const queue = this.queue(name);
    this.record({ op: 'deleteQueue', name });
    this.queues.delete(name);
    wake(queue);
  }

  purgeQueue(name: string): void {
    const queue = this.queue(name);
    this.record({ op: 'purge', name });
    queue.messages.clear();
  }

  getQueueAttributes(name: string, requested: readonly string[] = []): Record<string, string> {
    const queue = this.queue(name);
    const all = requested.includes('All');
    for (const attribute of requested) {
      if (attribute !== 'All' && !isQueueAttribute(attribute)) {
        throw new SqsError('InvalidAttributeName', `Unknown Attribute ${attribute}.`);
      }
    }
    const result: Record<string, string> = {};
    const wanted = (attribute: string): boolean => all || requested.includes(attribute);
    for (const [key, value] of queue.attributes) if (wanted(key)) result[key] = value;
    if (COMPUTED_ATTRIBUTES.some(wanted)) {
      const counts = this.countMessages(queue);
      const computed: Record<(typeof COMPUTED_ATTRIBUTES)[number], string> = {
        ApproximateNumberOfMessages: String(counts.visible),
        ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
        ApproximateNumberOfMessagesDelayed: String(counts.delayed),
        CreatedTimestamp: String(Math.floor(queue.createdAt / 1000)),
        LastModifiedTimestamp: String(Math.floor(queue.modifiedAt / 1000)),
        QueueArn: this.queueArn(name),
      };
      for (const key of COMPUTED_ATTRIBUTES) if (wanted(key)) result[key] = computed[key];
    }
    return result;
  }

  setQueueAttributes(name: string, attributes: Readonly<Record<string, string>>): void {
    const queue = this.queue(name);
    const changed = new Map(queue.attributes);
    for (const [key, value] of Object.entries(validateQueueAttributes(attributes))) {
      if (value === '') changed.delete(key);
      else changed.set(key, value);
    }
    const modifiedAt = Date.now();
    this.recordSettings(queue, changed, queue.tags, modifiedAt);
    queue.attributes.clear();
    for (const [key, value] of changed) queue.attributes.set(key, value);
    queue.modifiedAt = modifiedAt;
  }

  tagQueue(name: string, tags: Readonly<Record<string, string>>): void {
    const queue = this.queue(name);
    const changed = new Map([...queue.tags, ...Object.entries(tags)]);
    this.recordSettings(queue, queue.attributes, changed, queue.modifiedAt);
    for (const [key, value] of Object.entries(tags)) queue.tags.set(key, value);
  }

  untagQueue(name: string, keys: readonly string[]): void {
    const queue = this.queue(name);
    const changed = new Map(queue.tags);
    for (const key of keys) changed.delete(key);
    this.recordSettings(queue, queue.attributes, changed, queue.modifiedAt);
    for (const key of keys) queue.tags.delete(key);
  }

  listQueueTags(name: string): Record<string, string> {
    return Object.fromEntries(this.queue(name).tags);
  }

  /** Validates a message without storing it; throws the error SQS would return. */
  validateMessage(name: string, input: SendMessageInput): void {
    const queue = this.queue(name);
    if (input.MessageBody.length === 0) {
      throw missing('MessageBody');
    }
    if (INVALID_CONTENT.test(input.MessageBody)) {
      throw new SqsError(
        'InvalidMessageContents',
        'Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF',
      );
    }
    validateMessageAttributes(input.MessageAttributes);
    const limit = Number(queue.attributes.get('MaximumMessageSize'));
    const size = Buffer.byteLength(input.MessageBody, 'utf8') + attributesSize(input.MessageAttributes);
    if (size > limit) {
      throw invalidParameter(
        `One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes. Received ${size} bytes`,
      );
    }
    if (input.DelaySeconds !== undefined) checkRange('DelaySeconds', input.DelaySeconds, 0, 900);
  }

  sendMessage(name: string, input: SendMessageInput): SendMessageResult {
    this.validateMessage(name, input);
    const queue = this.queue(name);
    const now = Date.now();
    const delaySeconds = input.DelaySeconds ?? Number(queue.attributes.get('DelaySeconds'));
    const message: StoredMessage = {
      messageId: randomUUID(),
      body: input.MessageBody,
      md5OfBody: md5OfBody(input.MessageBody),
      attributes: nonEmpty(input.MessageAttributes),
      systemAttributes: nonEmpty(input.MessageSystemAttributes),
      sentAt: now,
      visibleAt: now + delaySeconds * 1000,
      receiveCount: 0,
      firstReceivedAt: undefined,
      receiptHandle: undefined,
    };
    this.record({ op: 'send', queue: name, message });
    queue.messages.set(message.messageId, message);
    wake(queue);
    return {
      MessageId: message.messageId,
      MD5OfMessageBody: message.md5OfBody,
      MD5OfMessageAttributes: md5OfMessageAttributes(message.attributes),
      MD5OfMessageSystemAttributes: md5OfMessageAttributes(message.systemAttributes),
    };
  }

  /**
   * Receives up to MaxNumberOfMessages visible messages and hides them for the visibility
   * timeout. With WaitTimeSeconds > 0 (or the queue's ReceiveMessageWaitTimeSeconds), waits until
   * at least one message is available, the wait ends, or `signal` aborts (the client went away).
   */
  async receiveMessages(
    name: string,
    input: ReceiveMessageInput,
    signal?: AbortSignal,
  ): Promise<ReceivedMessage[]> {
    const queue = this.queue(name);
    const max = input.MaxNumberOfMessages ?? 1;
    checkRange('MaxNumberOfMessages', max, 1, 10);
    const visibilityTimeout = input.VisibilityTimeout ?? Number(queue.attributes.get('VisibilityTimeout'));
    checkRange('VisibilityTimeout', visibilityTimeout, 0, 43200);
    const waitSeconds = input.WaitTimeSeconds ?? Number(queue.attributes.get('ReceiveMessageWaitTimeSeconds'));
    checkRange('WaitTimeSeconds', waitSeconds, 0, 20);
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      if (this.closed || signal?.aborted || this.queues.get(name) !== queue) return [];
      const taken = this.take(queue, max, visibilityTimeout);
      const now = Date.now();
      if (taken.length > 0 || now >= deadline) {
        return taken.map((message) => this.toReceived(message, input));
      }
      await waitForChange(queue, Math.min(deadline, nextVisibleAt(queue, now)), signal);
    }
  }

  deleteMessage(name: string, receiptHandle: string): void {
    const queue = this.queue(name);
    const messageId = parseReceiptHandle(receiptHandle);
    const message = queue.messages.get(messageId);
    // A stale handle (the message was received again since) succeeds without deleting, as in SQS.
    if (message?.receiptHandle === receiptHandle) {
      this.record({ op: 'delete', queue: name, messageId });
      queue.messages.delete(messageId);
    }
  }

  changeMessageVisibility(name: string, receiptHandle: string, visibilityTimeout: number): void {
    checkRange('VisibilityTimeout', visibilityTimeout, 0, 43200);
    const queue = this.queue(name);
    const messageId = parseReceiptHandle(receiptHandle);
    const message = queue.messages.get(messageId);
    const now = Date.now();
    if (!message || message.receiptHandle !== receiptHandle) {
      throw new SqsError('ReceiptHandleIsInvalid', `The receipt handle has expired or the message was deleted: ${quoteClientInput(receiptHandle, 200)}`);
    }
    if (message.visibleAt <= now) {
      throw new SqsError('MessageNotInflight', `Message ${messageId} is not in flight.`);
    }
    message.visibleAt = now + visibilityTimeout * 1000;
    if (visibilityTimeout === 0) wake(queue);
  }

  /** Ends every long poll; later receives return no messages. */
  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) wake(queue);
  }

  snapshot(): SqsSnapshot {
    return {
      version: 1,
      queues: [...this.queues.values()].map((queue) => ({
        name: queue.name,
        createdAt: queue.createdAt,
        modifiedAt: queue.modifiedAt,
        attributes: Object.fromEntries(queue.attributes),
        tags: Object.fromEntries(queue.tags),
        messages: [...queue.messages.values()],
      })),
    };
  }

  restore(snapshot: SqsSnapshot): void {
    if (snapshot.version !== 1) {
      throw new Error(`Unsupported SQS snapshot version. Received ${String(snapshot.version)}; expected 1`);
    }
    for (const saved of snapshot.queues) {
      this.queues.set(saved.name, {
        name: saved.name,
        createdAt: saved.createdAt,
        modifiedAt: saved.modifiedAt,
        attributes: new Map(Object.entries(saved.attributes)),
        tags: new Map(Object.entries(saved.tags)),
        messages: new Map(saved.messages.map((message) => [message.messageId, { ...message }])),
        waiters: new Set(),
      });
    }
  }

  private queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw queueDoesNotExist(name);
    return queue;
  }

  private countMessages(queue: Queue): { visible: number; inFlight: number; delayed: number } {
    const now = Date.now();
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of queue.messages.values()) {
      if (message.visibleAt <= now) visible++;
      else if (message.receiveCount > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /** Takes visible messages in send order, dropping expired ones and redriving exhausted ones. */
  private take(queue: Queue, max: number, visibilityTimeout: number): StoredMessage[] {
    const now = Date.now();
    const retentionMs = Number(queue.attributes.get('MessageRetentionPeriod')) * 1000;
    const redrive = this.redriveTarget(queue);
    const taken: StoredMessage[] = [];
    for (const message of queue.messages.values()) {
      if (message.visibleAt > now) continue;
      if (now - message.sentAt > retentionMs) {
        this.record({ op: 'delete', queue: queue.name, messageId: message.messageId });
        queue.messages.delete(message.messageId);
        continue;
      }
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        const moved: StoredMessage = { ...message, visibleAt: now, receiveCount: 0, firstReceivedAt: undefined, receiptHandle: undefined };
        // Sent to the dead-letter queue first: a crash between the two leaves it in both (at least once), never in neither.
        this.record({ op: 'send', queue: redrive.queue.name, message: moved });
        this.record({ op: 'delete', queue: queue.name, messageId: message.messageId });
        queue.messages.delete(message.messageId);
        redrive.queue.messages.set(message.messageId, moved);
        wake(redrive.queue);
        continue;
      }
      message.receiveCount++;
      message.firstReceivedAt ??= now;
      message.visibleAt = now + visibilityTimeout * 1000;
      message.receiptHandle = Buffer.from(`${message.messageId}#${randomUUID()}`).toString('base64url');
      taken.push(message);
      if (taken.length === max) break;
    }
    return taken;
  }

  private redriveTarget(queue: Queue): { queue: Queue; maxReceiveCount: number } | undefined {
    const policy = queue.attributes.get('RedrivePolicy');
    if (!policy) return undefined;
    const { deadLetterTargetArn, maxReceiveCount } = parseRedrivePolicy(policy);
    const target = this.queues.get(deadLetterTargetArn.split(':').pop() ?? '');
    return target ? { queue: target, maxReceiveCount } : undefined;
  }

  private toReceived(message: StoredMessage, input: ReceiveMessageInput): ReceivedMessage {
    const systemNames = input.AttributeNames ?? [];
    const all = systemNames.includes('All');
    const system: Record<string, string> = {};
    const values: Record<(typeof MESSAGE_SYSTEM_ATTRIBUTES)[number], string | undefined> = {
      ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.sentAt),
      ApproximateReceiveCount: String(message.receiveCount),
      SenderId: this.accountId,
      SentTimestamp: String(message.sentAt),
      AWSTraceHeader: message.systemAttributes?.AWSTraceHeader?.StringValue,
    };
    for (const key of MESSAGE_SYSTEM_ATTRIBUTES) {
      const value = values[key];
      if (value !== undefined && (all || systemNames.includes(key))) system[key] = value;
    }
    const attributes = selectAttributes(message.attributes, input.MessageAttributeNames ?? []);
    return {
      MessageId: message.messageId,
      ReceiptHandle: message.receiptHandle ?? '',
      MD5OfBody: message.md5OfBody,
      Body: message.body,
      ...(Object.keys(system).length > 0 ? { Attributes: system } : {}),
      ...(attributes
        ? { MessageAttributes: attributes, MD5OfMessageAttributes: md5OfMessageAttributes(attributes) }
        : {}),
    };
  }
}

function isQueueAttribute(name: string): boolean {
  return name in SETTABLE_DEFAULTS || (COMPUTED_ATTRIBUTES as readonly string[]).includes(name);
}

function validateQueueAttributes(attributes: Readonly<Record<string, string>>): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (!(key in SETTABLE_DEFAULTS)) {
      throw new SqsError('InvalidAttributeName', `Unknown Attribute ${key}.`);
    }
    const range = INTEGER_RANGES[key];
    if (range && !(/^\d+$/.test(value) && Number(value) >= range[0] && Number(value) <= range[1])) {
      throw new SqsError(
        'InvalidAttributeValue',
        `Invalid value for the parameter ${key}. Received ${quoteClientInput(value)}; expected an integer from ${range[0]} to ${range[1]}`,
      );
    }
    if (key === 'RedrivePolicy' && value !== '') parseRedrivePolicy(value);
    result[key] = value;
  }
  return result;
}

function parseRedrivePolicy(value: string): { deadLetterTargetArn: string; maxReceiveCount: number } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  const policy = parsed as { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown } | undefined;
  const maxReceiveCount = Number(policy?.maxReceiveCount);
  if (
    typeof policy?.deadLetterTargetArn !== 'string' ||
    !Number.isInteger(maxReceiveCount) ||
    maxReceiveCount < 1 ||
    maxReceiveCount > 1000
  ) {
    throw new SqsError(
      'InvalidAttributeValue',
      `Invalid value for the parameter RedrivePolicy: expected {"deadLetterTargetArn": "<arn>", "maxReceiveCount": 1..1000}. Received ${quoteClientInput(value)}`,
    );
  }
  return { deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount };
}

function validateMessageAttributes(attributes: MessageAttributes | undefined): void {
  if (!attributes) return;
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) {
    throw invalidParameter(`Number of message attributes [${names.length}] exceeds the allowed maximum [${MAX_ATTRIBUTES}].`);
  }
  for (const name of names) {
    const value = attributes[name];
    const type = value?.DataType ?? '';
    const base = type.split('.')[0];
    if (!value || (base !== 'String' && base !== 'Number' && base !== 'Binary')) {
      throw invalidParameter(`The type of message (user) attribute '${name}' is invalid. Received ${quoteClientInput(type)}`);
    }
    if (base === 'Binary' ? !value.BinaryValue : !value.StringValue) {
      throw invalidParameter(`Message (user) attribute '${name}' must contain a non-empty value of type '${base}'.`);
    }
    if (base === 'Number' && !Number.isFinite(Number(value.StringValue))) {
      throw invalidParameter(`Can't cast the value of message (user) attribute '${name}' to a number.`);
    }
    if (value.StringValue !== undefined && INVALID_CONTENT.test(value.StringValue)) {
      throw new SqsError('InvalidMessageContents', `Message (user) attribute '${name}' contains invalid characters.`);
    }
  }
}

function attributesSize(attributes: MessageAttributes | undefined): number {
  let size = 0;
  for (const [name, value] of Object.entries(attributes ?? {})) {
    size += Buffer.byteLength(name) + Buffer.byteLength(value.DataType);
    size += value.BinaryValue !== undefined
      ? Buffer.byteLength(value.BinaryValue, 'base64')
      : Buffer.byteLength(value.StringValue ?? '');
  }
  return size;
}

function selectAttributes(
  attributes: MessageAttributes | undefined,
  requested: readonly string[],
): MessageAttributes | undefined {
  if (!attributes || requested.length === 0) return undefined;
  const selected: Record<string, MessageAttributes[string]> = {};
  for (const [name, value] of Object.entries(attributes)) {
    const wanted = requested.some((pattern) =>
      pattern === 'All' || pattern === '.*'
        ? true
        : pattern.endsWith('.*')
          ? name.startsWith(pattern.slice(0, -1))
          : pattern === name,
    );
    if (wanted) selected[name] = value;
  }
  return Object.keys(selected).length > 0 ? selected : undefined;
}

function parseReceiptHandle(receiptHandle: string): string {
  const decoded = Buffer.from(receiptHandle, 'base64url').toString('utf8');
  const messageId = decoded.split('#')[0] ?? '';
  if (!/^[0-9a-f-]{36}$/.test(messageId) || !decoded.includes('#')) {
    throw new SqsError('ReceiptHandleIsInvalid', `The input receipt handle ${quoteClientInput(receiptHandle, 200)} is not a valid receipt handle.`);
  }
  return messageId;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(`Value ${value} for parameter ${name} is invalid. Reason: Must be between ${min} and ${max}.`);
  }
}

function missing(name: string): SqsError {
  return new SqsError('MissingParameter', `The request must contain the parameter ${name}.`);
}

function nonEmpty(attributes: MessageAttributes | undefined): MessageAttributes | undefined {
  return attributes && Object.keys(attributes).length > 0 ? attributes : undefined;
}

function wake(queue: Queue): void {
  for (const waiter of [...queue.waiters]) waiter();
}

/** When the next hidden message of `queue` becomes visible; Infinity when none is hidden. */
function nextVisibleAt(queue: Queue, now: number): number {
  let next = Number.POSITIVE_INFINITY;
  for (const message of queue.messages.values()) {
    if (message.visibleAt > now && message.visibleAt < next) next = message.visibleAt;
  }
  return next;
}

/** Resolves when the queue changes, at `until` (epoch ms), or when `signal` aborts. */
function waitForChange(queue: Queue, until: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      queue.waiters.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, until - Date.now()));
    queue.waiters.add(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
