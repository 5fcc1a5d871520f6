import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux architecture Node.js supports). */
const TICKS_PER_SECOND = 100;

interface ProcessTimes {
  readonly pid: number;
  readonly ppid: number;
  readonly ticks: number;
  readonly command: string;
}

function readProcess(pid: number): ProcessTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]), command };
  } catch {
    return undefined;
  }
}

/**
 * CPU use of this process's descendants whose command line matches `pattern`, as a fraction of one
 * core between two calls of `sample()`. Linux only (/proc); elsewhere `sample()` returns undefined.
 * Used to say why the local cloud falls behind: an emulator at its CPU limit.
 */
export class DescendantCpu {
  private last: { at: number; ticks: number } | undefined;

  constructor(private readonly pattern: RegExp) {}

  sample(now = Date.now()): number | undefined {
    let entries: string[];
    try {
      entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
    } catch {
      return undefined;
    }
    const processes = entries.map((name) => readProcess(Number(name))).filter((entry): entry is ProcessTimes => entry !== undefined);
    const children = new Map<number, ProcessTimes[]>();
    for (const entry of processes) children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), entry]);
    let ticks = 0;
    const visit = (pid: number, matched: boolean): void => {
      for (const child of children.get(pid) ?? []) {
        const hit = matched || this.pattern.test(child.command);
        if (hit) ticks += child.ticks;
        visit(child.pid, hit);
      }
    };
    visit(process.pid, false);
    const previous = this.last;
    this.last = { at: now, ticks };
    if (previous === undefined || now <= previous.at) return undefined;
    return Math.max(0, (ticks - previous.ticks) / TICKS_PER_SECOND / ((now - previous.at) / 1000));
  }
}
