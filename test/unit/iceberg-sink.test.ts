import { describe, expect, it } from 'vitest';
import { IcebergTable } from '../../lakehouse/iceberg/table';
import { readLiveRows } from '../../lakehouse/iceberg/scan';
import { MemoryObjectStore } from '../../lakehouse/object-store';
import { checkpointsOf, IcebergSink, SinkStoppedError, type RejectedRecord } from '../../lakehouse/sink/iceberg-sink';
import { lakehouseTableLayout } from '../../lakehouse/tables';

const encoder = new TextEncoder();
const click = (i: number, shardId = 'shard-0') => ({
  shardId,
  sequenceNumber: String(1000 + i),
  data: encoder.encode(JSON.stringify({ eventId: `e${i % 50}`, url: '/a', userId: 'u', timestamp: 1_764_500_000_000 + i })),
  arrivalMs: 1_764_500_000_000,
});

async function newSink(options: { bufferSizeBytes?: number; beforeCommit?: () => Promise<void> } = {}) {
  const store = new MemoryObjectStore();
  const table = await IcebergTable.createIfAbsent(store, { location: 's3://lake/warehouse/user_activity', ...lakehouseTableLayout('user_activity') });
  const rejected: RejectedRecord[] = [];
  const sink = new IcebergSink({
    table,
    checkpointProperty: 'watershed.kinesis.offsets.clicks',
    bufferSizeBytes: options.bufferSizeBytes ?? 1_000_000,
    bufferIntervalMs: 60_000,
    writeRejected: async (records) => void rejected.push(...records),
    beforeCommit: options.beforeCommit,
  });
  return { store, table, sink, rejected };
}

describe('IcebergSink', () => {
  it('flush() commits what is buffered, with the shard checkpoints in the snapshot summary', async () => {
    const { table, sink } = await newSink();
    await sink.accept([0, 1, 2].map((i) => click(i)));
    await sink.accept([click(3, 'shard-1')]);
    expect(sink.stats.commits).toBe(0);
    await sink.flush();
    expect(sink.stats.commits).toBe(1);
    expect(Object.fromEntries(checkpointsOf(table.currentSnapshot, 'watershed.kinesis.offsets.clicks'))).toEqual({ 'shard-0': '1002', 'shard-1': '1003' });
  });

  it('flushes by size, and waits for a flush when twice the buffer is waiting', async () => {
    const { table, sink } = await newSink({ bufferSizeBytes: 2_000 });
    await sink.accept(Array.from({ length: 100 }, (_, i) => click(i)));
    expect(sink.stats.commits).toBeGreaterThanOrEqual(1);
    await sink.flush();
    // 100 records over 50 keys: each key once.
    expect((await readLiveRows(table)).rows).toHaveLength(50);
  });

  it('skips records at or before the committed checkpoint (a re-read after a restart)', async () => {
    const { table, sink } = await newSink();
    await sink.accept([0, 1].map((i) => click(i)));
    await sink.flush();
    const again = new IcebergSink({ table, checkpointProperty: 'watershed.kinesis.offsets.clicks', bufferSizeBytes: 1_000_000, bufferIntervalMs: 60_000, writeRejected: async () => undefined });
    await again.accept([0, 1, 2].map((i) => click(i)));
    expect(again.stats.recordsIn).toBe(1);
  });

  it('a kill before the commit stops the sink and commits nothing', async () => {
    const { table, sink } = await newSink({ beforeCommit: async () => Promise.reject(new SinkStoppedError('killed')) });
    await sink.accept([click(0)]);
    await sink.flush();
    expect(sink.isStopped).toBe(true);
    expect(table.currentSnapshot).toBeUndefined();
    await expect(sink.accept([click(1)])).rejects.toBeInstanceOf(SinkStoppedError);
  });

  it('sends unmappable records to writeRejected with the reason, and commits the rest', async () => {
    const { sink, rejected, table } = await newSink();
    await sink.accept([click(0), { ...click(1), data: encoder.encode('{"eventId":"x"}') }]);
    await sink.flush();
    expect(rejected.map((record) => `${record.errorCode}: ${record.errorMessage}`)).toEqual(['SchemaMismatch: column url (string) is required but the record has no such field']);
    expect((await readLiveRows(table)).rows).toHaveLength(1);
  });
});
