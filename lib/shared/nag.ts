import { Validations } from 'aws-cdk-lib';
import { Tracing } from 'aws-cdk-lib/aws-lambda';
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
 * The reason names only what the role really has: X-Ray's actions when the function is traced
 * (lib/watershed-function.ts), and `others`. With neither there is nothing to acknowledge, so any
 * unscoped action that appears later fails cdk-nag instead of hiding behind a stale reason.
 * @param grants - what the role's data-plane grants cover, each naming its ARN
 * @param others - further such actions the role has, with what adds them (e.g. "dynamodb:ListStreams, added by a DynamoDB stream trigger")
 */
export function acknowledgeUnscopedActions(role: IConstruct, options: { grants: string; tracing: Tracing; others?: string }): void {
  const unscoped = [
    ...(options.tracing === Tracing.DISABLED ? [] : ['xray:PutTraceSegments and xray:PutTelemetryRecords, added by X-Ray tracing']),
    ...(options.others === undefined ? [] : [options.others]),
  ];
  if (unscoped.length === 0) return;
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      `${unscoped.join('; ')}: these actions support no resource-level permissions and so require ` +
      `Resource "*". Every data-plane grant (${options.grants}) names its resource ARN; test/infra asserts that.`,
  });
}
