import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SqsJournal, SqsJournalEntry, SqsSnapshot, SqsStore } from './store';

/**
 * The SQS stand-in's persistence: an append-only journal of changes, written synchronously before
 * a change is applied and acknowledged, so that what a client was told is stored survives a
 * kill -9 of the local cloud. (The write reaches the operating system, not necessarily the disk:
 * durable against a crash of the process, not of the machine.)
 *
 * Layout of the folder:
 * - `state.json`: a snapshot and its generation `g`, replaced atomically (write, fsync, rename);
 * - `journal-<g>.jsonl`: the changes made since that snapshot, one JSON line each.
 * On open, the snapshot is loaded, its journal replayed (a torn last line, from a crash in the
 * middle of a write, is dropped: that change was never acknowledged), and a new snapshot of
 * generation g+1 written before the old journal is removed, so a crash at any point loses nothing.
 */
export class SqsFileJournal implements SqsJournal {
  private constructor(
    private fd: number | undefined,
    readonly file: string,
  ) {}

  /** Loads the folder's queues and messages into `store` (which must be empty) and opens a new journal. */
  static open(directory: string, store: SqsStore): { journal: SqsFileJournal; replayed: number } {
    mkdirSync(directory, { recursive: true });
    const stateFile = join(directory, 'state.json');
    let generation = 0;
    if (existsSync(stateFile)) {
      const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { generation: number; snapshot: SqsSnapshot };
      generation = state.generation;
      store.restore(state.snapshot);
    }
    let replayed = 0;
    const previous = journalFile(directory, generation);
    if (existsSync(previous)) {
      for (const line of readFileSync(previous, 'utf8').split('\n')) {
        const entry = parseLine(line);
        if (entry === undefined) continue;
        store.apply(entry);
        replayed += 1;
      }
    }
    const next = generation + 1;
    const temporary = `${stateFile}.tmp`;
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, JSON.stringify({ generation: next, snapshot: store.snapshot() }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, stateFile);
    rmSync(previous, { force: true });
    const file = journalFile(directory, next);
    writeFileSync(file, '');
    return { journal: new SqsFileJournal(openSync(file, 'a'), file), replayed };
  }

  append(entry: SqsJournalEntry): void {
    if (this.fd === undefined) throw new Error(`The SQS journal ${this.file} is closed`);
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function journalFile(directory: string, generation: number): string {
  return join(directory, `journal-${generation}.jsonl`);
}

function parseLine(line: string): SqsJournalEntry | undefined {
  if (line.trim() === '') return undefined;
  try {
    return JSON.parse(line) as SqsJournalEntry;
  } catch {
    return undefined;
  }
}
