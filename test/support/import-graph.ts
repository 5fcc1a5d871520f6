import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Folders that are not the project's source: dependencies, build output, state, tests. */
const NOT_SOURCE = new Set(['node_modules', 'cdk.out', 'test', 'test-artifacts', 'docs']);
const SOURCE_FILE = /\.(ts|tsx|cjs|mjs|js)$/;
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Every source file under the project's top-level folders, as paths relative to the root. */
export function sourceFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(path.join(root, relative), { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!NOT_SOURCE.has(entry.name)) walk(child);
      } else if (relative !== '' && SOURCE_FILE.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        files.push(child);
      }
    }
  };
  walk('');
  return files.sort();
}

/** The project files a file imports (relative specifiers only; packages are not folders of ours). */
export function importsOf(root: string, file: string): string[] {
  const source = readFileSync(path.join(root, file), 'utf8');
  const resolved: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[1]!;
    if (!specifier.startsWith('.')) continue;
    const target = resolve(root, path.posix.join(path.posix.dirname(file), specifier));
    if (target !== undefined) resolved.push(target);
  }
  return resolved;
}

function resolve(root: string, base: string): string | undefined {
  const candidates = [base, ...['.ts', '.tsx', '.cjs', '.mjs', '.js'].map((ext) => base + ext), `${base}/index.ts`];
  return candidates.find((candidate) => existsSync(path.join(root, candidate)) && statSync(path.join(root, candidate)).isFile());
}

/** One folder-level dependency, with a file import that makes it. */
export type FolderEdges = Map<string, Map<string, string>>;

/** The top-level folder graph: folder -> folder it imports from -> an example `file -> file`. */
export function folderGraph(root: string, files = sourceFiles(root)): FolderEdges {
  const edges: FolderEdges = new Map();
  for (const file of files) {
    const from = file.split('/')[0]!;
    for (const target of importsOf(root, file)) {
      const to = target.split('/')[0]!;
      if (to === from) continue;
      const out = edges.get(from) ?? new Map<string, string>();
      if (!out.has(to)) out.set(to, `${file} -> ${target}`);
      edges.set(from, out);
    }
  }
  return edges;
}

/** Every cycle of folders, each as the imports that close it; empty when the graph is acyclic. */
export function folderCycles(edges: FolderEdges): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const folders = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((out) => [...out.keys()])])].sort();
  for (const start of folders) {
    // Depth-first from each folder, looking only for paths back to it through folders after it in
    // order, so each cycle is reported once (from its smallest folder).
    const stack: { folder: string; via: string[] }[] = [{ folder: start, via: [] }];
    const visited = new Set<string>();
    while (stack.length > 0) {
      const { folder, via } = stack.pop()!;
      for (const [next, example] of edges.get(folder) ?? []) {
        if (next === start) {
          const cycle = [...via, example];
          const key = cycle.join('|');
          if (!seen.has(key)) {
            seen.add(key);
            cycles.push(cycle);
          }
        } else if (next > start && !visited.has(next)) {
          visited.add(next);
          stack.push({ folder: next, via: [...via, example] });
        }
      }
    }
  }
  return cycles;
}

/**
 * The chains of imports from `entries` to a file whose text matches `forbidden`, one per such
 * file: `[entry, ..., offending file]`. Empty when nothing reachable matches.
 */
export function reachableMatching(root: string, entries: readonly string[], forbidden: RegExp): string[][] {
  const parent = new Map<string, string | undefined>(entries.map((entry) => [entry, undefined]));
  const queue = [...entries];
  const chains: string[][] = [];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (forbidden.test(readFileSync(path.join(root, file), 'utf8'))) {
      const chain = [file];
      for (let up = parent.get(file); up !== undefined; up = parent.get(up)) chain.unshift(up);
      chains.push(chain);
    }
    for (const target of importsOf(root, file)) {
      if (parent.has(target)) continue;
      parent.set(target, file);
      queue.push(target);
    }
  }
  return chains;
}
