import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (this file is test/support/project-sandbox.ts). */
export const PROJECT_ROOT = resolve(__dirname, '..', '..');

/** Generated folders a sandbox gets fresh instead of sharing with the checkout. */
const LOCAL_STATE = new Set(['.git', '.watershed', 'cdk.out', 'test-artifacts', '.scratch']);

/**
 * A temporary folder that looks like a fresh checkout to the commands a user types: every
 * top-level file and folder of the repository is symlinked into it (sources, package.json,
 * node_modules), and `.watershed/` and `cdk.out/` start empty. `npm start`, `npm run ...` and the
 * README's snippets run in it as in the checkout, without touching the state of a local cloud a
 * developer may be running in the checkout itself.
 */
export function createProjectSandbox(): { directory: string; dispose: () => void } {
  const directory = mkdtempSync(join(tmpdir(), 'watershed-sandbox-'));
  for (const entry of readdirSync(PROJECT_ROOT)) {
    if (!LOCAL_STATE.has(entry)) symlinkSync(join(PROJECT_ROOT, entry), join(directory, entry));
  }
  return { directory, dispose: () => rmSync(directory, { recursive: true, force: true }) };
}
