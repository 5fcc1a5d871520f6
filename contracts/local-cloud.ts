import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';

/** The account, region and credentials every local cloud answers to (also LocalStack's defaults). */
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_ACCOUNT_ID = '000000000000';
export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * The small state file a running local cloud writes into its state directory and removes on a
 * clean stop, so that every tool (simulators, ops, query, bench) finds its port and outputs
 * without being told. A file left by a killed cloud names a pid that is no longer alive.
 */
export const LOCAL_CLOUD_STATE_FILE = 'local-cloud.json';
export const DEFAULT_STATE_DIRECTORY = '.watershed';

export const LocalCloudState = z.object({
  /** The edge, e.g. http://localhost:4566. */
  edgeUrl: z.url(),
  /** The dashboard's URL, or '' when the stack has no dashboard. */
  dashboardUrl: z.string(),
  /** Absolute path of the outputs file (the `cdk deploy --outputs-file` format). */
  outputsFile: z.string(),
  /** The process that runs the local cloud. */
  pid: z.number().int().positive(),
  startedAt: z.iso.datetime(),
});
export type LocalCloudState = z.infer<typeof LocalCloudState>;

/**
 * The running local cloud's state from `stateDirectory`, or undefined when none is running there
 * (no file, an unreadable or malformed one, or the process that wrote it has gone).
 */
export function readLocalCloudState(stateDirectory = DEFAULT_STATE_DIRECTORY): LocalCloudState | undefined {
  let text: string;
  try {
    text = readFileSync(join(stateDirectory, LOCAL_CLOUD_STATE_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // A file cut short by a kill during the write names no cloud anyone can use.
    return undefined;
  }
  const parsed = LocalCloudState.safeParse(json);
  if (!parsed.success || !processIsAlive(parsed.data.pid)) return undefined;
  return parsed.data;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
