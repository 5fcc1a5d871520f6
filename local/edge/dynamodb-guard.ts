import { isUtf8 } from 'node:buffer';

/**
 * DynamoDB Local answers a body that is not JSON with a 500, and maps lone UTF-16 surrogates in
 * strings (`\ud800`, `\udc00`) to `?` when it stores them, so that `k/\ud800`, `k/\udc00` and
 * `k/?` name the same item. The edge checks the body first and refuses such requests with the
 * 400 DynamoDB itself answers.
 */
export interface DynamoDbRefusal {
  readonly status: 400;
  /** `SerializationException` or `ValidationException`, as DynamoDB names them. */
  readonly type: string;
  readonly message: string;
}

/** DynamoDB's largest request (BatchWriteItem, TransactWriteItems) is 16 MB; anything larger is refused unread. */
export const MAX_DYNAMODB_REQUEST_BYTES = 16 * 1024 * 1024;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why DynamoDB would refuse this JSON body, or undefined when it may go to DynamoDB Local. */
export function dynamoDbBodyProblem(body: Buffer): DynamoDbRefusal | undefined {
  if (body.length === 0) return undefined;
  if (!isUtf8(body)) return serialization('The request body is not valid UTF-8');
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return serialization(`The request body is not valid JSON: ${(error as Error).message.slice(0, 120)}`);
  }
  // Only escapes can carry a lone surrogate into parsed JSON (the UTF-8 check rules out the rest).
  if (text.includes('\\u') && holdsLoneSurrogate(parsed)) {
    return {
      status: 400,
      type: 'ValidationException',
      message: 'One or more parameter values were invalid: a string contains a lone UTF-16 surrogate (\\uD800-\\uDFFF not in a pair), which is not valid Unicode',
    };
  }
  return undefined;
}

function holdsLoneSurrogate(value: unknown): boolean {
  if (typeof value === 'string') return LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(holdsLoneSurrogate);
  if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) if (LONE_SURROGATE.test(key) || holdsLoneSurrogate(member)) return true;
  }
  return false;
}

const serialization = (message: string): DynamoDbRefusal => ({ status: 400, type: 'SerializationException', message });

/** The JSON error body DynamoDB answers with (the SDK reads the shape name after `#`). */
export function dynamoDbErrorBody(refusal: DynamoDbRefusal): string {
  const namespace = refusal.type === 'SerializationException' ? 'com.amazon.coral.service' : 'com.amazon.coral.validate';
  return JSON.stringify({ __type: `${namespace}#${refusal.type}`, message: refusal.message });
}
