import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack, type CfnResource, type IResolvable } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createWatershedApp } from '../../lib/app';
import { ClickstreamPipeline, type ClickstreamPipelineProps } from '../../lib/clickstream-pipeline';
import type { WatershedStack } from '../../lib/watershed-stack';

/** Context the local cloud synthesizes with: resources carry `aws:asset:path` metadata. */
export const LOCAL_CLOUD_CONTEXT = { 'aws:cdk:enable-asset-metadata': true } as const;

/** A Docker binary that cannot run: any attempt to bundle in Docker fails the synth. */
export const NO_DOCKER = path.join(tmpdir(), 'watershed-no-docker', 'docker');

export interface SynthesizedWatershed {
  readonly app: App;
  readonly stack: WatershedStack;
  readonly template: Template;
  readonly outdir: string;
}

/**
 * Runs `fn` with every AWS_* variable unset and CDK_DOCKER pointing at a missing binary, so a
 * synth that needs credentials or falls back to Docker bundling fails instead of passing.
 */
export function withoutCredentialsOrDocker<T>(fn: () => T): T {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) {
    if (name.startsWith('AWS_')) delete process.env[name];
  }
  process.env.CDK_DOCKER = NO_DOCKER;
  try {
    return fn();
  } finally {
    for (const name of Object.keys(process.env)) {
      if (!(name in saved)) delete process.env[name];
    }
    Object.assign(process.env, saved);
  }
}

/** The whole app as the local cloud builds it, synthesized once (bundling the aggregator). */
export function synthesizeWatershed(): SynthesizedWatershed {
  const outdir = mkdtempSync(path.join(tmpdir(), 'watershed-cdk-'));
  return withoutCredentialsOrDocker(() => {
    const { app, stack } = createWatershedApp({ outdir, context: LOCAL_CLOUD_CONTEXT });
    app.synth();
    return { app, stack, template: Template.fromStack(stack), outdir };
  });
}

/**
 * A stack for tests of props, which need neither the aggregator's code nor the built-in
 * CloudFormation schema validation (about 10 s on first use; the app tests keep it on).
 */
export function propsTestStack(): Stack {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  return new Stack(app, 'Test');
}

/** A bare pipeline in a props-test stack. */
export function pipelineWith(props: ClickstreamPipelineProps = {}): { stack: Stack; pipeline: ClickstreamPipeline } {
  const stack = propsTestStack();
  const pipeline = new ClickstreamPipeline(stack, 'Clickstream', props);
  return { stack, pipeline };
}

/** The template form of a token, e.g. `{ 'Fn::GetAtt': [...] }` for `table.tableArn`. */
export function resolved(stack: Stack, value: string | IResolvable): unknown {
  return stack.resolve(value);
}

/** The logical id of an L2 construct's CloudFormation resource. */
export function logicalIdOf(stack: Stack, resource: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(resource.node.defaultChild as CfnResource);
}
