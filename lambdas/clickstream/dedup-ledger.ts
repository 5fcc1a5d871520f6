/**
 * The in-memory view of a shard's eventId ledger: which eventIds were committed within the
 * de-duplication horizon. It mirrors the ledger items in DynamoDB and knows how far it has
 * read them, so a warm container only reads what other containers committed since.
 */
export class DedupLedgerCache {
  private readonly expiryById = new Map<string, number>();
  private readonly chunks: { expiresAtMs: number; eventIds: readonly string[] }[] = [];
  /** Sort key of the newest ledger item this cache holds. */
  lastLedgerKey: string | undefined;

  has(eventId: string, nowMs: number): boolean {
    const expiresAtMs = this.expiryById.get(eventId);
    return expiresAtMs !== undefined && expiresAtMs > nowMs;
  }

  add(ledgerKey: string, eventIds: readonly string[], expiresAtMs: number): void {
    for (const eventId of eventIds) this.expiryById.set(eventId, expiresAtMs);
    this.chunks.push({ expiresAtMs, eventIds });
    this.lastLedgerKey = ledgerKey;
  }

  evictExpired(nowMs: number): void {
    while (this.chunks.length > 0 && this.chunks[0]!.expiresAtMs <= nowMs) {
      const chunk = this.chunks.shift()!;
      for (const eventId of chunk.eventIds) {
        if (this.expiryById.get(eventId) === chunk.expiresAtMs) this.expiryById.delete(eventId);
      }
    }
  }

  get size(): number {
    return this.expiryById.size;
  }
}
