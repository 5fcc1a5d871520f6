import { describe, expect, it } from 'vitest';
import { compareFailedBatches, type KinesisFailedBatch } from '../../ops/core/messages';

function failedBatchFactory(shardId: string, startSequenceNumber: string, functionArn = 'arn:aws:lambda:us-east-1:000000000000:function:Aggregator'): KinesisFailedBatch {
  return {
    requestContext: { functionArn, condition: 'RetryAttemptsExhausted' },
    KinesisBatchInfo: { shardId, startSequenceNumber, endSequenceNumber: startSequenceNumber, batchSize: 1, streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/clicks' },
  };
}

describe('ops replay order', () => {
  it('re-drives each shard in sequence order, comparing sequence numbers as numbers, not text', () => {
    // Prepare: received in an arbitrary order; 9... is shorter text but a smaller number than 10...
    const batches = [
      failedBatchFactory('shardId-000000000001', '49660000000000000000000000000000000000000000000000000002'),
      failedBatchFactory('shardId-000000000000', '100000000000000000000000000000000000000000000000000000000'),
      failedBatchFactory('shardId-000000000000', '99999999999999999999999999999999999999999999999999999999'),
      failedBatchFactory('shardId-000000000001', '49660000000000000000000000000000000000000000000000000001'),
    ];

    // Act
    const ordered = [...batches].sort(compareFailedBatches).map((batch) => [batch.KinesisBatchInfo.shardId, batch.KinesisBatchInfo.startSequenceNumber.slice(-3)]);

    // Assess
    expect(ordered).toStrictEqual([
      ['shardId-000000000000', '999'],
      ['shardId-000000000000', '000'],
      ['shardId-000000000001', '001'],
      ['shardId-000000000001', '002'],
    ]);
  });
});
