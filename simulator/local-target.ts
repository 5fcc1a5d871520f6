import { DEFAULT_STATE_DIRECTORY, LOCAL_CLOUD_STATE_FILE, readLocalCloudState } from '../contracts/local-cloud';
import type { TargetKind } from './producer';

export class NoLocalCloudError extends Error {
  override name = 'NoLocalCloudError';
}

export interface LocalTargetLookup {
  readonly target: TargetKind;
  readonly endpoint?: string;
  readonly stream?: string;
  readonly outputsFile?: string;
  /** Where the running local cloud writes its state file. @default '.watershed' */
  readonly stateDirectory?: string;
}

/**
 * For `--target local`, the running local cloud's edge and outputs file, from the state file it
 * writes (`npm start -- --port 4577` is followed without telling the simulator). Flags win over
 * the state file; other targets are returned unchanged.
 */
export function resolveLocalTarget(lookup: LocalTargetLookup): { endpoint?: string; outputsFile?: string } {
  const { target, endpoint, stream, outputsFile, stateDirectory = DEFAULT_STATE_DIRECTORY } = lookup;
  if (target !== 'local' || (endpoint !== undefined && (stream !== undefined || outputsFile !== undefined))) return { endpoint, outputsFile };
  const state = readLocalCloudState(stateDirectory);
  if (state === undefined) {
    // Told where to look: the stream lookup and the producer say what is missing there.
    if (endpoint !== undefined || outputsFile !== undefined) return { endpoint, outputsFile };
    throw new NoLocalCloudError(
      `No local cloud is running here: ${stateDirectory}/${LOCAL_CLOUD_STATE_FILE} is missing or names a process that has stopped. ` +
        'Start one with `npm start` (in this folder), or pass --endpoint URL and --stream NAME.',
    );
  }
  return { endpoint: endpoint ?? state.edgeUrl, outputsFile: outputsFile ?? state.outputsFile };
}
