import { App, type IResolvable, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { WatershedStack, type WatershedStackProps } from '../../lib/watershed-stack';

export interface BareWatershed {
  readonly stack: WatershedStack;
  readonly template: Template;
}

/**
 * The whole stack without bundling, schema validation or cdk-nag (watershed-app.test.ts runs
 * those): fast enough to synthesize once per variant of a prop or context value.
 */
export function bareWatershed(context: Record<string, unknown> = {}, props: WatershedStackProps = {}): BareWatershed {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], ...context }, builtinCloudFormationValidation: false });
  const stack = new WatershedStack(app, 'Watershed', props);
  return { stack, template: Template.fromStack(stack) };
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

export const listOf = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/** Every statement of the IAM policies attached to a role, by the role's CloudFormation Ref. */
export function statementsOfRole(stack: Stack, template: Template, role: { roleName: string }): Statement[] {
  const roleRef = JSON.stringify(stack.resolve(role.roleName));
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => listOf(policy.Properties.Roles as unknown[]).some((r) => JSON.stringify(r) === roleRef))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

/** The actions a role's policies allow on exactly this resource (a token such as `table.tableArn`). */
export function actionsOn(stack: Stack, statements: Statement[], resource: string | IResolvable): string[] {
  const wanted = JSON.stringify(stack.resolve(resource));
  return statements
    .filter((statement) => statement.Effect === 'Allow' && listOf(statement.Resource).some((r) => JSON.stringify(r) === wanted))
    .flatMap((statement) => listOf(statement.Action))
    .sort();
}

/**
 * A template value as readable text: Fn::Join joined, `${Ref}` and `${Id.Attribute}` for
 * references, so a string built from tokens can be compared as a string.
 */
export function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if ('Fn::Join' in record) {
      const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(separator);
    }
    if ('Ref' in record) return `\${${String(record.Ref)}}`;
    if ('Fn::GetAtt' in record) return `\${${(record['Fn::GetAtt'] as string[]).join('.')}}`;
  }
  return JSON.stringify(value);
}
