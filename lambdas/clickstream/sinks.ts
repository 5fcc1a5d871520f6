import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SendFailure, SinkMessage } from './core/sink-messages';

const SQS_BATCH_ENTRIES = 10;

/**
 * Sends messages in record order and stops at the first failure, so the caller can commit
 * only the records before it and report it as the batch item failure: nothing is lost, and
 * a retry re-sends at most what this attempt already sent.
 */
export async function sendInRecordOrder(sqs: SQSClient, queueUrl: string, messages: readonly SinkMessage[]): Promise<SendFailure | undefined> {
  const ordered = [...messages].sort((a, b) => a.recordIndex - b.recordIndex);
  for (let start = 0; start < ordered.length; start += SQS_BATCH_ENTRIES) {
    const entries = ordered.slice(start, start + SQS_BATCH_ENTRIES);
    try {
      const result = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: entries.map((message) => ({ Id: String(message.recordIndex), MessageBody: message.body })),
        }),
      );
      const failed = [...(result.Failed ?? [])].sort((a, b) => Number(a.Id) - Number(b.Id))[0];
      if (failed !== undefined) return { recordIndex: Number(failed.Id), cause: `${failed.Code}: ${failed.Message ?? 'no message'}` };
    } catch (error) {
      return { recordIndex: entries[0]!.recordIndex, cause: `${(error as Error).name}: ${(error as Error).message}` };
    }
  }
  return undefined;
}
