import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_STATE_DIRECTORY, readLocalCloudState } from '../contracts/local-cloud';
import { STACK_NAME } from '../lib/names';
import { LOCAL_REGION, localClientConfig } from '../local/clients';
import { LOCAL_ENDPOINT } from '../simulator/producer';
import type { TargetFlags } from '../simulator/args';

/** A failure the user can fix (nothing running, no credentials, an unknown name): exit code 1, the message says what to do. */
export class OpsError extends Error {
  override name = 'OpsError';
}

/** The deployment an ops command works on, resolved from the target flags. */
export interface OpsTarget {
  readonly kind: TargetFlags['target'];
  /** Where the requests go; undefined for AWS's regional endpoints. */
  readonly endpoint?: string;
  /** The stack outputs, flattened (the Watershed stack's win), or {} without an outputs file. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly outputsFile?: string;
  readonly kinesis: KinesisClient;
  readonly sqs: SQSClient;
  readonly lambda: LambdaClient;
  destroy(): void;
}

export interface ResolveTargetOptions {
  /** Where the local cloud writes local-cloud.json. @default '.watershed' */
  readonly stateDirectory?: string;
}

/** Where a target's requests go and the stack's outputs: what any client of the target needs. */
export interface TargetEnvironment {
  readonly kind: TargetFlags['target'];
  /** Where the requests go; undefined for AWS's regional endpoints. */
  readonly endpoint?: string;
  /** The stack outputs, flattened (the Watershed stack's win), or {} without an outputs file. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly outputsFile?: string;
  /** The configuration every SDK client of this target is created with. */
  readonly clientConfig: Partial<ReturnType<typeof localClientConfig>>;
}

/**
 * Resolves the target: `local` follows the running local cloud (`readLocalCloudState()`), so its
 * port and outputs need no flags; `localstack` uses the LocalStack endpoint and test credentials;
 * `aws` the default credential chain and region.
 */
export function resolveTargetEnvironment(flags: TargetFlags, options: ResolveTargetOptions = {}): TargetEnvironment {
  let endpoint = flags.endpoint;
  let outputsFile = flags.outputsFile;
  if (flags.target === 'local') {
    const state = readLocalCloudState(options.stateDirectory ?? DEFAULT_STATE_DIRECTORY);
    if (state === undefined && endpoint === undefined) {
      throw new OpsError(
        `No local cloud is running (no live ${DEFAULT_STATE_DIRECTORY}/local-cloud.json): start it with \`npm start\`, pass --endpoint URL, or use --target localstack|aws`,
      );
    }
    endpoint ??= state?.edgeUrl;
    outputsFile ??= state?.outputsFile;
  } else if (flags.target === 'localstack') {
    endpoint ??= LOCAL_ENDPOINT;
  }
  const outputs = outputsFile === undefined ? {} : readOutputs(outputsFile);
  const clientConfig =
    flags.target === 'aws'
      ? { ...(flags.region !== undefined ? { region: flags.region } : {}), ...(endpoint !== undefined ? { endpoint } : {}) }
      : { ...localClientConfig(endpoint ?? LOCAL_ENDPOINT), region: flags.region ?? LOCAL_REGION };
  return { kind: flags.target, ...(endpoint !== undefined ? { endpoint } : {}), outputs, ...(outputsFile !== undefined ? { outputsFile } : {}), clientConfig };
}

/** The target with the ops tools' clients (Kinesis, SQS, Lambda); see resolveTargetEnvironment. */
export function resolveTarget(flags: TargetFlags, options: ResolveTargetOptions = {}): OpsTarget {
  const { clientConfig: config, ...environment } = resolveTargetEnvironment(flags, options);
  const kinesis = new KinesisClient(config);
  const sqs = new SQSClient(config);
  const lambda = new LambdaClient(config);
  return {
    ...environment,
    kinesis,
    sqs,
    lambda,
    destroy: () => {
      kinesis.destroy();
      sqs.destroy();
      lambda.destroy();
    },
  };
}

/** `{ "Watershed": { "Key": "value" }, "Other": {...} }` -> `{ Key: value, ... }`, the Watershed stack's keys winning. */
export function flattenOutputs(document: unknown): Record<string, string> {
  if (typeof document !== 'object' || document === null) return {};
  const stacks = Object.entries(document as Record<string, unknown>).sort(([a], [b]) => Number(a === STACK_NAME) - Number(b === STACK_NAME));
  const outputs: Record<string, string> = {};
  for (const [, values] of stacks) {
    if (typeof values !== 'object' || values === null) continue;
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) if (typeof value === 'string') outputs[key] = value;
  }
  return outputs;
}

function readOutputs(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (error) {
    throw new OpsError(`Cannot read the outputs file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): pass --outputs-file PATH (written by \`cdk deploy --outputs-file PATH\`)`);
  }
  try {
    return flattenOutputs(JSON.parse(text));
  } catch (error) {
    throw new OpsError(`The outputs file ${file} is not JSON (${(error as Error).message}): pass the file \`cdk deploy --outputs-file\` wrote`);
  }
}

/** The AWS SDK's errors, turned into what the user should do. Anything else is passed through. */
export function explainAwsError(error: unknown, target: Pick<TargetEnvironment, 'kind' | 'endpoint'>, what: string): Error {
  const failure = error as { name?: string; message?: string; code?: string };
  const name = failure.name ?? '';
  if (name === 'CredentialsProviderError' || /Could not load credentials/.test(failure.message ?? '')) {
    return new OpsError(`No AWS credentials for --target ${target.kind}: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or run \`aws sso login\`), then retry`);
  }
  if (name === 'ExpiredTokenException' || name === 'UnrecognizedClientException' || name === 'InvalidSignatureException') {
    return new OpsError(`AWS refused the credentials (${name}) while ${what}: refresh them (aws sso login, or new keys) and retry`);
  }
  if (failure.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(failure.message ?? '')) {
    return new OpsError(`Nothing answers at ${target.endpoint ?? 'the AWS endpoint'} while ${what}: is the ${target.kind === 'local' ? 'local cloud (`npm start`)' : target.kind === 'localstack' ? 'LocalStack container' : 'network'} up?`);
  }
  if (name === 'ResourceNotFoundException' || name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue') {
    return new OpsError(`${what}: ${failure.message ?? name}`);
  }
  return error instanceof Error ? error : new Error(String(error));
}
