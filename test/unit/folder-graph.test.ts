import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderCycles, folderGraph, reachableMatching, sourceFiles } from '../support/import-graph';

const ROOT = path.resolve(__dirname, '../..');
/** Reading the environment: what a browser bundle must never do (esbuild leaves `process` undefined there). */
const READS_PROCESS_ENV = /\bprocess\.env\b/;

describe('the project\'s top-level folders', () => {
  it('import each other without a cycle (contracts, lambdas, lib, local, simulator, web, bench, ...)', () => {
    const graph = folderGraph(ROOT);

    expect(graph.size).toBeGreaterThan(5);
    expect(folderCycles(graph)).toStrictEqual([]);
  });

  it('keep contracts/ a leaf: it imports from no other folder of the project', () => {
    expect([...(folderGraph(ROOT).get('contracts') ?? new Map()).values()]).toStrictEqual([]);
  });

  it.each(['local', 'lib'])('keep %s/ off lambdas/: function code is reached through the synthesized template, shared names through contracts/', (folder) => {
    expect(folderGraph(ROOT).get(folder)?.get('lambdas')).toBeUndefined();
  });

  it('never let the web bundle (web/src) reach a module that reads process.env', () => {
    const webEntries = sourceFiles(ROOT).filter((file) => file.startsWith('web/src/'));

    expect(webEntries).toContain('web/src/main.ts');
    expect(reachableMatching(ROOT, webEntries, READS_PROCESS_ENV)).toStrictEqual([]);
  });
});

describe('the checks themselves, on a made-up project', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'watershed-folder-graph-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (file: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  };
  write('local/cli.ts', "import { run } from '../simulator/run';\n");
  write('simulator/run.ts', "import { LOCAL_REGION } from '../local/clients';\nexport const run = () => LOCAL_REGION;\n");
  write('local/clients.ts', "export const LOCAL_REGION = 'us-east-1';\n");
  write('contracts/settings.ts', 'export const fromEnv = () => process.env.X;\n');
  write('web/src/main.ts', "import { state } from './state';\n");
  write('web/src/state.ts', "import { fromEnv } from '../../contracts/settings';\nexport const state = fromEnv;\n");
  write('test/ignored.ts', "import '../local/cli';\n");

  it('finds a cycle between two folders, naming the imports that close it', () => {
    expect(folderCycles(folderGraph(root))).toStrictEqual([['local/cli.ts -> simulator/run.ts', 'simulator/run.ts -> local/clients.ts']]);
  });

  it('finds a cycle through three folders once', () => {
    write('a/x.ts', "import '../b/y';\n");
    write('b/y.ts', "import '../c/z';\n");
    write('c/z.ts', "import '../a/x';\n");
    const cycles = folderCycles(folderGraph(root));
    expect(cycles).toContainEqual(['a/x.ts -> b/y.ts', 'b/y.ts -> c/z.ts', 'c/z.ts -> a/x.ts']);
    expect(cycles).toHaveLength(2);
  });

  it('finds the chain from a web entry to a module that reads process.env', () => {
    expect(reachableMatching(root, ['web/src/main.ts'], READS_PROCESS_ENV)).toStrictEqual([
      ['web/src/main.ts', 'web/src/state.ts', 'contracts/settings.ts'],
    ]);
  });
});
