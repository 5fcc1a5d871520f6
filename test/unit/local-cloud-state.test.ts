import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOCAL_CLOUD_STATE_FILE, readLocalCloudState, type LocalCloudState } from '../../contracts/local-cloud';

describe('readLocalCloudState', () => {
  let directory: string;
  const state = (pid: number): LocalCloudState => ({
    edgeUrl: 'http://localhost:4577',
    dashboardUrl: '',
    outputsFile: '/tmp/outputs.json',
    pid,
    startedAt: '2026-11-30T00:00:00.000Z',
  });
  const write = (text: string) => writeFileSync(join(directory, LOCAL_CLOUD_STATE_FILE), text);

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'watershed-state-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('returns the state a live process wrote', () => {
    write(JSON.stringify(state(process.pid)));
    expect(readLocalCloudState(directory)).toStrictEqual(state(process.pid));
  });

  it.each([
    ['no file', undefined],
    ['a file cut short during its write', '{"edgeUrl": "http://local'],
    ['a file of another shape', JSON.stringify({ port: 4566 })],
    // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it.
    ['a file left by a process that has gone', JSON.stringify(state(4_194_305))],
  ])('returns undefined for %s', (_case, text) => {
    if (text !== undefined) write(text);
    expect(readLocalCloudState(directory)).toBeUndefined();
  });
});
