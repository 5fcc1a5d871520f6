/**
 * Records put on each Kinesis shard, read from PutRecord and PutRecords exchanges as they pass
 * the edge: the request names the stream, the answer names the shard of every record stored.
 * Pure: it sees bytes, not sockets.
 */

export interface ShardPuts {
  readonly stream: string;
  /** Shard id -> records stored on it by this exchange. Failed entries of PutRecords are not counted. */
  readonly records: ReadonlyMap<string, number>;
}

const PUT_TARGETS = new Set(['Kinesis_20131202.PutRecord', 'Kinesis_20131202.PutRecords']);

/** Whether an exchange with this `X-Amz-Target` header stores records. */
export function isPutTarget(target: string | string[] | undefined): boolean {
  return typeof target === 'string' && PUT_TARGETS.has(target);
}

/**
 * The records an exchange stored, by shard; undefined when it stored none or is not a put. The
 * request body can be megabytes of base64, so the stream name is found without parsing it: a
 * JSON string member `"StreamName":"..."` (or `"StreamARN":"...stream/<name>"`) cannot occur
 * inside another string, where its quotes would be escaped.
 */
export function shardPutsOf(target: string | string[] | undefined, requestBody: Buffer, status: number, responseBody: Buffer): ShardPuts | undefined {
  if (!isPutTarget(target) || status !== 200) return undefined;
  const stream = streamNameOf(requestBody.toString('utf8'));
  if (stream === undefined) return undefined;
  let answer: PutAnswerEntry & { Records?: PutAnswerEntry[] };
  try {
    answer = JSON.parse(responseBody.toString('utf8')) as typeof answer;
  } catch {
    return undefined;
  }
  const records = new Map<string, number>();
  const entries: PutAnswerEntry[] = target === 'Kinesis_20131202.PutRecord' ? [answer] : (answer.Records ?? []);
  for (const entry of entries) {
    if (typeof entry?.ShardId !== 'string' || entry.ErrorCode !== undefined) continue;
    records.set(entry.ShardId, (records.get(entry.ShardId) ?? 0) + 1);
  }
  return records.size === 0 ? undefined : { stream, records };
}

/** A PutRecord answer, or one entry of a PutRecords answer (failed entries carry ErrorCode). */
interface PutAnswerEntry {
  ShardId?: unknown;
  ErrorCode?: unknown;
}

function streamNameOf(body: string): string | undefined {
  const byName = /"StreamName"\s*:\s*"([^"\\]+)"/.exec(body);
  if (byName !== null) return byName[1];
  const byArn = /"StreamARN"\s*:\s*"arn:[^"\\]*:stream\/([^"\\/]+)"/.exec(body);
  return byArn?.[1];
}
