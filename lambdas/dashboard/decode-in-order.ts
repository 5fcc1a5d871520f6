import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBRecord, KinesisStreamRecord } from 'aws-lambda';

type StreamRecord = KinesisStreamRecord | DynamoDBRecord;

const isKinesis = (record: StreamRecord): record is KinesisStreamRecord => 'kinesis' in record;
const sequenceNumberOf = (record: StreamRecord): string | undefined =>
  isKinesis(record) ? record.kinesis.sequenceNumber : record.dynamodb?.SequenceNumber;

export interface DecodedInOrder<T> {
  /** What each record decoded to, in order, up to the first record that could not be decoded. */
  decoded: T[];
  /** That record, for the mapping to retry from (then send its range on to the on-failure destination); empty when none. */
  batchItemFailures: { itemIdentifier: string }[];
}

/**
 * The broadcasters' first step: decode a stream batch record by record through Powertools (which
 * isolates a record that throws), and end the batch before the first record that could not be
 * decoded, so nothing after it is posted out of order. That record is logged as a `source` record
 * and counted (UndecodableRecords).
 */
export async function decodeInOrder<R extends StreamRecord, T>(
  records: readonly R[],
  decode: (record: R) => T,
  context: Context,
  deps: { logger: Pick<Logger, 'error'>; metrics: Pick<Metrics, 'addMetric'> },
  source: string,
): Promise<DecodedInOrder<T>> {
  const first = records[0];
  if (first === undefined) return { decoded: [], batchItemFailures: [] };
  const decoded = new Map<R, T>();
  const outcome = await processPartialResponse(
    { Records: [...records] },
    (record: R) => {
      decoded.set(record, decode(record));
    },
    new BatchProcessor(isKinesis(first) ? EventType.KinesisDataStreams : EventType.DynamoDBStreams),
    { context, processInParallel: false },
  );
  // Powertools names a failed record by its sequence number, unique within a stream.
  const indexOfSequence = new Map(records.map((record, index) => [sequenceNumberOf(record), index]));
  const cutoff = Math.min(records.length, ...outcome.batchItemFailures.map((failure) => indexOfSequence.get(failure.itemIdentifier) ?? 0));
  if (cutoff < records.length) {
    deps.logger.error(`A ${source} record could not be decoded; the batch ends before it`, {
      sequenceNumber: sequenceNumberOf(records[cutoff]!),
      undecodable: outcome.batchItemFailures.length,
    });
    deps.metrics.addMetric('UndecodableRecords', MetricUnit.Count, outcome.batchItemFailures.length);
  }
  return {
    decoded: records.slice(0, cutoff).map((record) => decoded.get(record)!),
    batchItemFailures: cutoff < records.length ? [{ itemIdentifier: sequenceNumberOf(records[cutoff]!)! }] : [],
  };
}
