/**
 * The FIX target sequence number that is safe to persist. The engine advances its expected
 * MsgSeqNum as soon as a message arrives; persisting that would lose ticks on a crash between the
 * arrival and the PutRecords acknowledgement, and would skip a gap whose resend has not yet
 * arrived. This keeps the lowest sequence number not yet durable: a message received but whose
 * ticks are not yet on the stream, or a number inside a detected gap that neither a resend nor a
 * SequenceReset-GapFill has covered. A restart resumes from there, and the venue's resend repeats
 * at most messages whose ticks keep their tickIds.
 */
export class SequenceWatermark {
  /** MsgSeqNums received whose ticks are not yet acknowledged. */
  private readonly inFlight = new Set<number>();
  /** MsgSeqNums the venue skipped (a gap), until they arrive or are gap-filled. */
  private readonly missing = new Set<number>();
  private highest: number;

  /** @param nextExpected the target sequence number the session starts from (from the store). */
  constructor(nextExpected: number) {
    this.highest = nextExpected - 1;
  }

  /** A message arrived (new or PossDup); its ticks are on their way. */
  received(seq: number): void {
    this.missing.delete(seq);
    for (let gap = this.highest + 1; gap < seq; gap += 1) this.missing.add(gap);
    if (seq > this.highest) this.highest = seq;
    this.inFlight.add(seq);
  }

  /**
   * Whether `seq` already arrived (its ticks are on the stream or in flight), or lies before where
   * this session started (durable before a restart): a PossDup resend of it adds nothing.
   */
  seen(seq: number): boolean {
    return seq <= this.highest && !this.missing.has(seq);
  }

  /** A session message (heartbeat, logon...) or an application message with no ticks: nothing to wait for. */
  receivedWithoutTicks(seq: number): void {
    this.received(seq);
    this.inFlight.delete(seq);
  }

  /** The message's ticks are on the stream (or dead-lettered). */
  acknowledged(seq: number): void {
    this.inFlight.delete(seq);
  }

  /** SequenceReset-GapFill at `seq` with NewSeqNo `newSeqNo`: seq .. newSeqNo-1 will never come. */
  gapFilled(seq: number, newSeqNo: number): void {
    for (let covered = seq; covered < newSeqNo; covered += 1) this.missing.delete(covered);
    if (newSeqNo - 1 > this.highest) this.highest = newSeqNo - 1;
  }

  /** The next MsgSeqNum a restarted session must ask for. */
  safeNextExpected(): number {
    let lowest = this.highest + 1;
    for (const seq of this.inFlight) if (seq < lowest) lowest = seq;
    for (const seq of this.missing) if (seq < lowest) lowest = seq;
    return lowest;
  }

  get pending(): { inFlight: number; missing: number } {
    return { inFlight: this.inFlight.size, missing: this.missing.size };
  }
}
