import { clipClientInput } from '../../contracts/client-input';

/**
 * SQS errors in the AWS JSON 1.0 shape that @aws-sdk/client-sqs decodes:
 * body `{ "__type": "com.amazonaws.sqs#<Shape>", "message": "..." }` plus the header
 * `x-amzn-query-error: <query code>;Sender` (SQS is "awsQueryCompatible"). The SDK throws the
 * modelled exception class named by <Shape> (for example `QueueDoesNotExist`), with
 * `error.Code` set to the query code (for example `AWS.SimpleQueueService.NonExistentQueue`).
 */
const ERRORS = {
  BatchEntryIdsNotDistinct: ['AWS.SimpleQueueService.BatchEntryIdsNotDistinct', 400],
  BatchRequestTooLong: ['AWS.SimpleQueueService.BatchRequestTooLong', 400],
  EmptyBatchRequest: ['AWS.SimpleQueueService.EmptyBatchRequest', 400],
  InvalidAddress: ['InvalidAddress', 404],
  InvalidAttributeName: ['InvalidAttributeName', 400],
  InvalidAttributeValue: ['InvalidAttributeValue', 400],
  InvalidBatchEntryId: ['AWS.SimpleQueueService.InvalidBatchEntryId', 400],
  InvalidMessageContents: ['InvalidMessageContents', 400],
  MessageNotInflight: ['AWS.SimpleQueueService.MessageNotInflight', 400],
  QueueDoesNotExist: ['AWS.SimpleQueueService.NonExistentQueue', 400],
  QueueNameExists: ['QueueAlreadyExists', 400],
  ReceiptHandleIsInvalid: ['ReceiptHandleIsInvalid', 404],
  TooManyEntriesInBatchRequest: ['AWS.SimpleQueueService.TooManyEntriesInBatchRequest', 400],
  UnsupportedOperation: ['AWS.SimpleQueueService.UnsupportedOperation', 400],
  // Not modelled as classes in the SDK; it raises SQSServiceException named after the code.
  InvalidParameterValue: ['InvalidParameterValue', 400],
  MissingParameter: ['MissingParameter', 400],
  SerializationException: ['SerializationException', 400],
} as const satisfies Record<string, readonly [string, number]>;

export type SqsErrorShape = keyof typeof ERRORS;

export class SqsError extends Error {
  override name = 'SqsError';
  readonly queryCode: string;
  readonly statusCode: number;

  constructor(
    readonly shape: SqsErrorShape,
    message: string,
  ) {
    super(message);
    [this.queryCode, this.statusCode] = ERRORS[shape];
  }

  /** The `__type` of the JSON error body. */
  get type(): string {
    return `com.amazonaws.sqs#${this.shape}`;
  }
}

export const queueDoesNotExist = (name: string): SqsError =>
  new SqsError('QueueDoesNotExist', `The specified queue does not exist: ${clipClientInput(name, 80)}`);

export const missingParameter = (name: string): SqsError =>
  new SqsError('MissingParameter', `The request must contain the parameter ${name}.`);

export const invalidParameter = (message: string): SqsError =>
  new SqsError('InvalidParameterValue', message);
