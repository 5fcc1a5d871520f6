import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/watershed-function';
import { type BareWatershed, bareWatershed } from './first-deployment-support';

let watershed: BareWatershed;
beforeAll(() => {
  watershed = bareWatershed();
});

const readme = () => readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');

/** The backticked construct paths in the first column of the table that follows `label` in the README's "Queues and alarms". */
function readmeTablePaths(label: 'Queues:' | 'Alarms:'): string[] {
  const text = readme();
  const section = text.slice(text.indexOf('### Queues and alarms'));
  const afterLabel = section.slice(section.indexOf(`\n${label}\n`) + label.length + 2);
  const table = afterLabel.slice(0, afterLabel.search(/\n\n(?!\|)/));
  return [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1]!).sort();
}

/** Construct paths below the stack of every construct of this kind whose resource is in the template. */
function templatePaths(kind: typeof sqs.Queue | typeof cloudwatch.Alarm): string[] {
  const { stack, template } = watershed;
  const resources = template.toJSON().Resources as Record<string, unknown>;
  return stack.node
    .findAll()
    .filter((construct: IConstruct) => construct instanceof kind)
    .filter((construct) => stack.getLogicalId(construct.node.defaultChild as never) in resources)
    .map((construct) => construct.node.path.slice(`${stack.node.path}/`.length))
    .sort();
}

describe('README "Queues and alarms"', () => {
  it('lists every SQS queue the stack creates, and no other', () => {
    const listed = readmeTablePaths('Queues:');
    expect(listed.length).toBeGreaterThan(0);
    expect(listed).toStrictEqual(templatePaths(sqs.Queue));
    expect(listed).toHaveLength(Object.keys(watershed.template.findResources('AWS::SQS::Queue')).length);
  });

  it('lists every CloudWatch alarm the stack creates, and no other', () => {
    const listed = readmeTablePaths('Alarms:');
    expect(listed.length).toBeGreaterThan(0);
    expect(listed).toStrictEqual(templatePaths(cloudwatch.Alarm));
    expect(listed).toHaveLength(Object.keys(watershed.template.findResources('AWS::CloudWatch::Alarm')).length);
  });

  it('says that cdk deploy asks to approve IAM changes, and how CI skips that', () => {
    expect(readme()).toContain('--require-approval never');
  });

  it('runs the AWS simulator example without malformed records, so the dead-letter alarm stays quiet', () => {
    const awsExamples = readme().split('\n').filter((line) => /npm run simulate -- .*--target aws/.test(line));
    expect(awsExamples.length).toBeGreaterThan(0);
    for (const line of awsExamples) expect(line).toContain('--malformed 0');
  });
});
