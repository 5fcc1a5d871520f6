import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Where each event source mapping is in each shard (the last sequence number it checkpointed),
 * kept in a file so that with `--persist` a restart, clean or after kill -9, resumes there. The
 * mappings see plain `Map<shardId, sequenceNumber>`s (their `checkpoints` option); each `set`
 * is appended to the file synchronously before it returns.
 *
 * The file holds one JSON line per change, `{"mapping","shard","position"}` (position null: the
 * mapping forgot its positions). On open it is read, a torn last line dropped, and rewritten
 * compacted (write, fsync, rename).
 */
export class CheckpointFile {
  private readonly maps = new Map<string, Map<string, string>>();
  private fd: number | undefined;

  private constructor(readonly file: string) {}

  static open(file: string): CheckpointFile {
    const store = new CheckpointFile(file);
    mkdirSync(dirname(file), { recursive: true });
    const positions = new Map<string, Map<string, string>>();
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        let change: { mapping?: unknown; shard?: unknown; position?: unknown };
        try {
          change = JSON.parse(line) as typeof change;
        } catch {
          continue;
        }
        if (typeof change.mapping !== 'string') continue;
        const map = positions.get(change.mapping) ?? new Map<string, string>();
        positions.set(change.mapping, map);
        if (change.position === null) map.clear();
        else if (typeof change.shard === 'string' && typeof change.position === 'string') map.set(change.shard, change.position);
      }
    }
    const temporary = `${file}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      for (const [mapping, map] of positions) for (const [shard, position] of map) writeSync(fd, `${JSON.stringify({ mapping, shard, position })}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
    store.fd = openSync(file, 'a');
    for (const [mapping, map] of positions) store.maps.set(mapping, store.durableMap(mapping, map));
    return store;
  }

  /** The positions of one mapping (by its id): a Map whose changes are written through to the file. */
  forMapping(mapping: string): Map<string, string> {
    let map = this.maps.get(mapping);
    if (map === undefined) {
      map = this.durableMap(mapping, new Map());
      this.maps.set(mapping, map);
    }
    return map;
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }

  private append(change: { mapping: string; shard?: string; position: string | null }): void {
    if (this.fd === undefined) throw new Error(`The checkpoint file ${this.file} is closed`);
    writeSync(this.fd, `${JSON.stringify(change)}\n`);
  }

  private durableMap(mapping: string, initial: Map<string, string>): Map<string, string> {
    const append = (change: { mapping: string; shard?: string; position: string | null }): void => this.append(change);
    const map = new (class extends Map<string, string> {
      override set(shard: string, position: string): this {
        append({ mapping, shard, position });
        return super.set(shard, position);
      }
      override delete(shard: string): boolean {
        // A forgotten shard falls back to the mapping's starting position, as after `clear`.
        const had = super.delete(shard);
        append({ mapping, position: null });
        for (const [kept, position] of this) append({ mapping, shard: kept, position });
        return had;
      }
      override clear(): void {
        append({ mapping, position: null });
        super.clear();
      }
    })();
    // Loaded positions go in without being written again.
    for (const [shard, position] of initial) Map.prototype.set.call(map, shard, position);
    return map;
  }
}
