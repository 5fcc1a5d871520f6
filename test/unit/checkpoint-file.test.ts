import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckpointFile } from '../../local/checkpoints';

const directories: string[] = [];
function checkpointPath(): string {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-checkpoints-'));
  directories.push(directory);
  return join(directory, 'positions', 'event-source-positions.jsonl');
}
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

describe('CheckpointFile', () => {
  it('gives each mapping the positions the last run wrote, even when that run never closed the file (kill -9)', () => {
    // Prepare: a run that sets positions and dies without closing
    const file = checkpointPath();
    const crashed = CheckpointFile.open(file);
    crashed.forMapping('aggregator').set('shardId-000', '100');
    crashed.forMapping('aggregator').set('shardId-000', '250');
    crashed.forMapping('aggregator').set('shardId-001', '7');
    crashed.forMapping('broadcaster').set('shard-a', '9');
    crashed.forMapping('broadcaster').clear();
    crashed.forMapping('broadcaster').set('shard-b', '11');
    // A write cut off by the crash
    appendFileSync(file, '{"mapping":"aggregator","shard":"shardId-000","posi');

    // Act
    const restarted = CheckpointFile.open(file);

    // Assess
    expect(Object.fromEntries(restarted.forMapping('aggregator'))).toStrictEqual({ 'shardId-000': '250', 'shardId-001': '7' });
    expect(Object.fromEntries(restarted.forMapping('broadcaster'))).toStrictEqual({ 'shard-b': '11' });
    expect(restarted.forMapping('new-mapping').size).toBe(0);
    // Compacted on open: one line per position
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(3);
    restarted.close();
    crashed.close();
  });
});
