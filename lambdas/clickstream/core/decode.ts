import type { z } from 'zod';
import { ClickEvent, isoToEpochMs, unstorableClickFields, type Click, type RejectionReason } from '../../../contracts/clickstream';
import { compileInputValidator } from '../../../contracts/compiled-validator';

const isClickInput = compileInputValidator(ClickEvent);

export interface DecodeLimits {
  maxEventBytes: number;
  maxFutureSkewMs: number;
}

export type Decoded =
  | { ok: true; click: Click }
  | { ok: false; reason: RejectionReason; detail: string };

/** Bytes a base64 string decodes to, without decoding it (oversized records are never materialised). */
export function base64DecodedLength(base64: string): number {
  let padding = 0;
  if (base64.endsWith('==')) padding = 2;
  else if (base64.endsWith('=')) padding = 1;
  return Math.floor((base64.length * 3) / 4) - padding;
}

/**
 * Decodes one Kinesis record's data into a click, or says exactly why it cannot be counted.
 * The future-timestamp check is relative to the record's arrival time, not the wall clock,
 * so a retried batch classifies every record the same way as the first attempt.
 */
export function decodeClick(base64Data: string, arrivalMs: number, limits: DecodeLimits): Decoded {
  const size = base64DecodedLength(base64Data);
  if (size > limits.maxEventBytes) {
    return { ok: false, reason: 'oversized', detail: `record is ${size} bytes; the limit is ${limits.maxEventBytes}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(base64Data, 'base64').toString('utf8'));
  } catch (error) {
    return { ok: false, reason: 'not-json', detail: (error as Error).message };
  }
  const click = isClickInput(json) ? toClick(json) : undefined;
  if (click === undefined) return { ok: false, reason: 'schema', detail: schemaProblems(json) };
  const unstorable = unstorableClickFields(click);
  if (unstorable !== undefined) return { ok: false, reason: 'schema', detail: unstorable };
  if (click.timestamp > arrivalMs + limits.maxFutureSkewMs) {
    const aheadSeconds = Math.round((click.timestamp - arrivalMs) / 1000);
    return {
      ok: false,
      reason: 'future-timestamp',
      detail: `timestamp is ${aheadSeconds} s after the record arrived; at most ${limits.maxFutureSkewMs / 1000} s is allowed`,
    };
  }
  return { ok: true, click };
}

/** Normalises the freshly parsed object in place: this runs once per record on the hot path. */
function toClick(input: z.input<typeof ClickEvent>): Click {
  if (typeof input.timestamp === 'string') (input as { timestamp: number | string }).timestamp = isoToEpochMs(input.timestamp);
  return input as Click;
}

function schemaProblems(json: unknown): string {
  const parsed = ClickEvent.safeParse(json);
  if (parsed.success) return 'rejected by the compiled validator but accepted by the zod contract';
  return parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
}
