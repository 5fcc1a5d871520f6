import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { MAX_DEAD_LETTER_RAW_CHARS, type GatewayDeadLetter } from '../../contracts/market-data-gateway';
import type { TickReject } from '../core/tick-checks';

export interface DeadLetterSinkOptions {
  sqs: SQSClient;
  queueUrl: string;
  onSent?: (letter: GatewayDeadLetter) => void;
  /** Where a letter goes when the queue cannot take it: never dropped silently. */
  log: (message: string) => void;
}

/** FIX messages carry SOH (0x01) between fields; the dead letter shows them as `|`, as FIX logs do. */
export function printableRaw(raw: string): string {
  const text = raw.replaceAll('\x01', '|');
  return text.length > MAX_DEAD_LETTER_RAW_CHARS ? `${text.slice(0, MAX_DEAD_LETTER_RAW_CHARS)}…[truncated ${text.length - MAX_DEAD_LETTER_RAW_CHARS} chars]` : text;
}

/** Sends GatewayDeadLetter messages to the gateway's dead-letter queue. */
export class DeadLetterSink {
  readonly stats = { sent: 0, failed: 0 };

  constructor(private readonly options: DeadLetterSinkOptions) {}

  async send(reject: TickReject, source: string, raw: string): Promise<void> {
    const letter: GatewayDeadLetter = {
      reason: reject.reason,
      detail: reject.detail,
      source,
      position: reject.position,
      raw: printableRaw(raw),
      at: new Date().toISOString(),
    };
    const body = JSON.stringify(letter);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.options.sqs.send(new SendMessageCommand({ QueueUrl: this.options.queueUrl, MessageBody: body }));
        this.stats.sent += 1;
        this.options.onSent?.(letter);
        return;
      } catch (error) {
        if (attempt >= 3) {
          // The queue is unreachable: the letter goes to the log in full, so it is still recoverable.
          this.stats.failed += 1;
          this.options.log(`dead-letter queue unreachable (${(error as Error).message}); dead letter: ${body}`);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }
}
