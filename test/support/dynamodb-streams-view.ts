import type { EdgeHandler } from '../../local/edge';

/** A table stream of DynamoDB Local, seen as one shard of the view; `parent` names another member. */
export interface StreamViewMember {
  streamArn: string;
  parent?: string;
}

const TARGET_PREFIX = 'DynamoDBStreams_20120810.';

/**
 * An edge route for the `dynamodb` service that shows several real DynamoDB Local table streams
 * as the shards of one stream, `viewArn`, with the parent links a test chooses. DynamoDB Local
 * gives every table stream a single shard, so this is how a test gets a DynamoDB stream with
 * several shards, and with a closed parent (a member whose table stream was disabled) and its
 * child. Records, iterators and sequence numbers are DynamoDB Local's own; only DescribeStream and
 * GetShardIterator on `viewArn` are answered or rewritten here, everything else passes through.
 */
export function dynamoDbStreamsView(upstream: string, viewArn: string, members: Readonly<Record<string, StreamViewMember>>): EdgeHandler {
  const call = async (target: string, headers: Record<string, string>, body: string) => {
    const response = await fetch(upstream, { method: 'POST', headers: { ...headers, 'x-amz-target': target }, body });
    return { status: response.status, contentType: response.headers.get('content-type') ?? 'application/x-amz-json-1.0', body: await response.text() };
  };
  /** Each member's one shard id, by member name. */
  const shardOf = async (headers: Record<string, string>): Promise<Map<string, Record<string, unknown>>> => {
    const shards = new Map<string, Record<string, unknown>>();
    for (const [name, member] of Object.entries(members)) {
      const described = await call(`${TARGET_PREFIX}DescribeStream`, headers, JSON.stringify({ StreamArn: member.streamArn }));
      const shard = (JSON.parse(described.body) as { StreamDescription: { Shards: Record<string, unknown>[] } }).StreamDescription.Shards[0];
      if (shard === undefined) throw new Error(`the stream of view member ${name} has no shard`);
      shards.set(name, shard);
    }
    return shards;
  };
  return async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = String(req.headers['x-amz-target'] ?? '');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!name.startsWith(':') && typeof value === 'string' && !['host', 'connection', 'content-length', 'x-amz-target'].includes(name)) headers[name] = value;
    }
    const request = body === '' ? {} : (JSON.parse(body) as { StreamArn?: string; ShardId?: string });
    let answer: { status: number; contentType: string; body: string };
    if (request.StreamArn === viewArn && target === `${TARGET_PREFIX}DescribeStream`) {
      const shards = await shardOf(headers);
      const shardIdOf = (name: string) => String(shards.get(name)!.ShardId);
      answer = {
        status: 200,
        contentType: 'application/x-amz-json-1.0',
        body: JSON.stringify({
          StreamDescription: {
            StreamArn: viewArn,
            StreamStatus: 'ENABLED',
            Shards: Object.entries(members).map(([name, member]) => ({
              ...shards.get(name),
              ...(member.parent === undefined ? {} : { ParentShardId: shardIdOf(member.parent) }),
            })),
          },
        }),
      };
    } else if (request.StreamArn === viewArn && target === `${TARGET_PREFIX}GetShardIterator`) {
      const shards = await shardOf(headers);
      const owner = Object.keys(members).find((name) => shards.get(name)!.ShardId === request.ShardId);
      if (owner === undefined) throw new Error(`no member of the view has shard ${request.ShardId}`);
      answer = await call(target, headers, JSON.stringify({ ...request, StreamArn: members[owner]!.streamArn }));
    } else {
      answer = await call(target, headers, body);
    }
    res.writeHead(answer.status, { 'content-type': answer.contentType });
    res.end(answer.body);
  };
}
