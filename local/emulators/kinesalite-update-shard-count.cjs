'use strict';
// UpdateShardCount for kinesalite, which has SplitShard and MergeShards but not UpdateShardCount.
// It does what Kinesis documents it does: uniform scaling by splits and merges of individual
// shards (the short-lived shards in between are real, closed shards with parents, as on AWS).
// The final shards cover the hash key space in N equal ranges, the ranges CreateStream gives a
// stream of N shards (to within a few keys of rounding, see ALIGNED_WITHIN). Runs inside the kinesalite process (see kinesalite-main.cjs) and calls
// kinesalite's own API on its own port, so the shards and their lineage are kinesalite's.
const { createRequire } = require('node:module');

const TARGET = 'Kinesis_20131202.UpdateShardCount';
const HASH_SPACE = 2n ** 128n;
const AMZ_JSON = 'application/x-amz-json-1.1';
const AMZ_CBOR = 'application/x-amz-cbor-1.1';
// AWS's defaults; the 10-updates-per-24-hours quota is not applied locally.
const MAX_SHARDS_PER_UPDATE = 10_000;
const ACTIVE_WAIT_MS = 30_000;

class KinesisError extends Error {
  constructor(type, message) {
    super(message);
    this.name = 'KinesisError';
    this.type = type;
  }
}

/** The starting hash key of each of `count` uniform ranges, as CreateStream computes them (kinesalite's createStream). */
function uniformStartingHashKeys(count) {
  const width = HASH_SPACE / BigInt(count);
  return Array.from({ length: count }, (_, index) => width * BigInt(index));
}

/** Calls kinesalite's JSON API on its own port. */
function kinesaliteApi(endpoint) {
  return async (operation, body) => {
    const now = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': AMZ_JSON,
        'x-amz-target': `Kinesis_20131202.${operation}`,
        'x-amz-date': now,
        // kinesalite checks the header's shape, not the signature.
        authorization: `AWS4-HMAC-SHA256 Credential=local/${now.slice(0, 8)}/us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, Signature=0`,
      },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text === '' ? {} : JSON.parse(text);
    if (!response.ok) throw new KinesisError(String(parsed.__type ?? 'InternalFailure').split('#').pop(), `${operation}: ${parsed.message ?? text}`);
    return parsed;
  };
}

async function openShards(api, streamName) {
  const shards = [];
  let nextToken;
  do {
    const page = await api('ListShards', nextToken === undefined ? { StreamName: streamName } : { NextToken: nextToken });
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return shards
    .filter((shard) => shard.SequenceNumberRange.EndingSequenceNumber === undefined)
    .map((shard) => ({ shardId: shard.ShardId, start: BigInt(shard.HashKeyRange.StartingHashKey), end: BigInt(shard.HashKeyRange.EndingHashKey) }))
    .sort((a, b) => (a.start < b.start ? -1 : 1));
}

async function waitUntilActive(api, streamName) {
  const deadline = Date.now() + ACTIVE_WAIT_MS;
  for (;;) {
    const { StreamDescriptionSummary } = await api('DescribeStreamSummary', { StreamName: streamName });
    if (StreamDescriptionSummary.StreamStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new KinesisError('InternalFailure', `stream ${streamName} did not become ACTIVE within ${ACTIVE_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * How far an existing shard boundary may be from a target boundary and still be taken as it. The
 * uniform boundaries of different shard counts, each rounded down, differ by a few keys (N/3 and
 * 2N/6 need not be equal), and a split cannot cut one key off a shard.
 */
const ALIGNED_WITHIN = 2n ** 32n;

/**
 * Rescales `streamName` to `target` uniform shards: first splits every shard that straddles a
 * target boundary at that boundary, then merges the shards inside each target range, left to
 * right. Returns the number of open shards before.
 */
async function rescale(api, streamName, target) {
  const before = await openShards(api, streamName);
  const current = before.length;
  if (target > current * 2) {
    throw new KinesisError('LimitExceededException', `UpdateShardCount cannot scale ${streamName} up to more than double its current shard count (${current}). Received TargetShardCount ${target}; scale in steps of at most ${current * 2}`);
  }
  if (target * 2 < current) {
    throw new KinesisError('LimitExceededException', `UpdateShardCount cannot scale ${streamName} down below half its current shard count (${current}). Received TargetShardCount ${target}; scale in steps of at least ${Math.ceil(current / 2)}`);
  }
  const starts = [0n];
  for (const boundary of uniformStartingHashKeys(target).slice(1)) {
    const shards = await openShards(api, streamName);
    const aligned = shards.find((shard) => (shard.start > boundary ? shard.start - boundary : boundary - shard.start) <= ALIGNED_WITHIN);
    if (aligned !== undefined) {
      starts.push(aligned.start);
      continue;
    }
    const straddling = shards.find((shard) => shard.start < boundary && boundary <= shard.end);
    await api('SplitShard', { StreamName: streamName, ShardToSplit: straddling.shardId, NewStartingHashKey: boundary.toString() });
    await waitUntilActive(api, streamName);
    starts.push(boundary);
  }
  for (const [index, start] of starts.entries()) {
    const end = index + 1 < starts.length ? starts[index + 1] - 1n : HASH_SPACE - 1n;
    for (;;) {
      const inRange = (await openShards(api, streamName)).filter((shard) => shard.start >= start && shard.end <= end);
      if (inRange.length < 2) break;
      await api('MergeShards', { StreamName: streamName, ShardToMerge: inRange[0].shardId, AdjacentShardToMerge: inRange[1].shardId });
      await waitUntilActive(api, streamName);
    }
  }
  return current;
}

/**
 * Wraps kinesalite's request listener: UpdateShardCount requests are served here, everything
 * else goes to kinesalite untouched.
 */
function withUpdateShardCount(server, endpointOf) {
  const kinesaliteListener = server.listeners('request')[0];
  const rescaling = new Set();
  // kinesalite reads CBOR with this library; we answer CBOR clients (the Java SDK) with it too.
  const cbor = createRequire(require.resolve('kinesalite'))('cbor');
  server.removeAllListeners('request');
  server.on('request', (req, res) => {
    if (req.method !== 'POST' || req.headers['x-amz-target'] !== TARGET) return kinesaliteListener(req, res);
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      const contentType = String(req.headers['content-type'] ?? '').split(';')[0].trim();
      const encoding = contentType === AMZ_CBOR ? 'cbor' : 'json';
      const reply = (status, body) => {
        const payload = encoding === 'cbor' ? cbor.encode(body) : Buffer.from(JSON.stringify(body));
        res.writeHead(status, { 'content-type': encoding === 'cbor' ? AMZ_CBOR : AMZ_JSON, 'content-length': payload.length });
        res.end(payload);
      };
      let streamName;
      try {
        const raw = Buffer.concat(chunks);
        const data = encoding === 'cbor' ? cbor.decodeFirstSync(raw) : JSON.parse(raw.toString('utf8') || '{}');
        streamName = data.StreamName ?? (typeof data.StreamARN === 'string' ? data.StreamARN.split('/').pop() : undefined);
        const target = data.TargetShardCount;
        if (typeof streamName !== 'string' || streamName === '') {
          throw new KinesisError('ValidationException', 'UpdateShardCount needs StreamName or StreamARN');
        }
        if (!Number.isInteger(target) || target < 1 || target > MAX_SHARDS_PER_UPDATE) {
          throw new KinesisError('ValidationException', `TargetShardCount must be an integer between 1 and ${MAX_SHARDS_PER_UPDATE}. Received ${JSON.stringify(target)}`);
        }
        if (data.ScalingType !== 'UNIFORM_SCALING') {
          throw new KinesisError('ValidationException', `ScalingType must be UNIFORM_SCALING. Received ${JSON.stringify(data.ScalingType)}`);
        }
        if (rescaling.has(streamName)) {
          throw new KinesisError('ResourceInUseException', `Stream ${streamName} is being resharded by another UpdateShardCount; retry when it is ACTIVE`);
        }
        rescaling.add(streamName);
        const api = kinesaliteApi(endpointOf());
        try {
          const { StreamDescriptionSummary } = await api('DescribeStreamSummary', { StreamName: streamName });
          if (StreamDescriptionSummary.StreamStatus !== 'ACTIVE') {
            throw new KinesisError('ResourceInUseException', `Stream ${streamName} is not ACTIVE, instead in state ${StreamDescriptionSummary.StreamStatus}`);
          }
          const current = await rescale(api, streamName, target);
          reply(200, { StreamName: streamName, CurrentShardCount: current, TargetShardCount: target, StreamARN: StreamDescriptionSummary.StreamARN });
        } finally {
          rescaling.delete(streamName);
        }
      } catch (error) {
        const type = error instanceof KinesisError ? error.type : error instanceof SyntaxError ? 'SerializationException' : 'InternalFailure';
        reply(type === 'InternalFailure' ? 500 : 400, { __type: type, message: error.message });
      }
    });
  });
}

module.exports = { withUpdateShardCount, uniformStartingHashKeys };
