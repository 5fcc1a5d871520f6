import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag (AwsSolutions) acknowledgements that every Watershed function shares, written once.
 * cdk-nag v3 reads CDK's own `Validations.of(scope).acknowledge()`; a finding with a detail is
 * acknowledged by its full id, `Rule[Finding]`, so no other finding is hidden.
 */

/** AwsSolutions-L1 on a function: its runtime is the one the design requires, not the newest. */
export function acknowledgeNodeRuntime(fn: IConstruct): void {
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason:
      'Node.js 22 is the runtime the design requires (DESIGN.md §5): the esbuild target, the local ' +
      'cloud Lambda runtime and the tested Powertools versions are all node22.',
  });
}

/**
 * AwsSolutions-IAM5[Resource::*] on a function's role: actions without resource-level permissions.
 * @param others - further such actions the role has beyond X-Ray's, with what adds them
 * @param grants - what the role's data-plane grants cover, each naming its ARN
 */
export function acknowledgeUnscopedActions(role: IConstruct, grants: string, others = ''): void {
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      `Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords${others}, which support no ` +
      'resource-level permissions and so require Resource "*". Every data-plane grant ' +
      `(${grants}) names its resource ARN; test/infra asserts that.`,
  });
}
