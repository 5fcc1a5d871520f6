import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { STACK_NAME } from './names';
import { WatershedStack } from './watershed-stack';

export interface WatershedAppOptions {
  /**
   * Cloud assembly directory.
   * @default - CDK_OUTDIR when run by the CDK CLI, otherwise a temporary directory
   */
  readonly outdir?: string;
  /**
   * Extra context, e.g. `{ 'aws:cdk:enable-asset-metadata': true }` for the local cloud.
   * @default - none beyond cdk.json and the CLI's
   */
  readonly context?: Record<string, unknown>;
  /**
   * Run CDK's built-in CloudFormation schema validation at synthesis. It costs several seconds;
   * the local cloud turns it off to start quickly, while `cdk synth` and the tests keep it on.
   * @default true
   */
  readonly validateTemplate?: boolean;
}

/**
 * Builds the Watershed CDK app. The CLI (bin/watershed.ts) and the local cloud, which
 * synthesizes in-process, both call this, so they deploy exactly the same thing.
 * The stack is environment-agnostic: synthesis needs no AWS credentials.
 */
export function createWatershedApp(options: WatershedAppOptions = {}): { app: App; stack: WatershedStack } {
  const app = new App({
    outdir: options.outdir,
    context: options.context,
    ...(options.validateTemplate === false ? { builtinCloudFormationValidation: false } : {}),
  });
  // cdk-nag v3 is a CDK policy-validation plugin (v2's Aspect API is gone). Any unacknowledged
  // AwsSolutions finding, error or warning, fails synthesis; the report is written to
  // <outdir>/validation-report.json.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const shardCount = clicksShardsFromContext(app.node.tryGetContext(CLICKS_SHARDS_CONTEXT));
  const stack = new WatershedStack(app, STACK_NAME, {
    stackName: STACK_NAME,
    description: 'Watershed: real-time analytics on Amazon Kinesis',
    ...(shardCount === undefined ? {} : { clickstream: { shardCount } }),
  });
  return { app, stack };
}

/**
 * Context key for the clicks stream's shard count: `npx cdk deploy -c clicksShards=4`, and what
 * `npm start -- --shards 4` sets for the local cloud. Unset, the stream has 1 shard.
 */
export const CLICKS_SHARDS_CONTEXT = 'clicksShards';

/** The shard count the context asks for: a number from code, a string from `-c` on the CLI. */
export function clicksShardsFromContext(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const count = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`${CLICKS_SHARDS_CONTEXT} must be a whole number of at least 1, e.g. -c ${CLICKS_SHARDS_CONTEXT}=4. Received ${JSON.stringify(value)}`);
  }
  return count;
}
