import { describe, expect, it } from 'vitest';
import {
  dependencyOrder,
  IntrinsicResolver,
  UnsupportedTemplateError,
  type CfnResource,
  type CfnTemplate,
  type ResourceAttributes,
} from '../../local/cloudformation/template';

const PSEUDO = { region: 'us-east-1', accountId: '000000000000', stackName: 'Watershed' };
const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/Watershed-Clicks';
const QUEUE_URL = 'http://localhost:4566/000000000000/Watershed-Failed';
const QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:Watershed-Failed';

const CONDITIONS = {
  InUsEast1: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] },
  InEuWest1: { 'Fn::Equals': ['eu-west-1', { Ref: 'AWS::Region' }] },
  NotInEuWest1: { 'Fn::Not': [{ Condition: 'InEuWest1' }] },
  BothUsEast1AndNotEu: { 'Fn::And': [{ Condition: 'InUsEast1' }, { Condition: 'NotInEuWest1' }] },
  EitherEuOrNever: { 'Fn::Or': [{ Condition: 'InEuWest1' }, { 'Fn::Equals': ['a', 'b'] }] },
};

/** A resolver over three provisioned resources, as provisionStack builds it. */
function resolverFactory(conditions: Record<string, unknown> = CONDITIONS): IntrinsicResolver {
  const resources = new Map<string, ResourceAttributes>([
    ['Clicks', { ref: 'Watershed-Clicks', attributes: { Arn: STREAM_ARN } }],
    ['Failed', { ref: QUEUE_URL, attributes: { Arn: QUEUE_ARN, QueueName: 'Watershed-Failed', QueueUrl: QUEUE_URL } }],
    ['Database', { ref: 'db-1', attributes: { 'Endpoint.Address': 'db-1.local', 'Endpoint.Port': '5432' } }],
  ]);
  return new IntrinsicResolver({ Resources: {}, Conditions: conditions }, PSEUDO, resources);
}

describe('IntrinsicResolver', () => {
  describe.each<[string, unknown, unknown]>([
    ['Ref to a resource', { Ref: 'Clicks' }, 'Watershed-Clicks'],
    ['Ref AWS::Region', { Ref: 'AWS::Region' }, 'us-east-1'],
    ['Ref AWS::AccountId', { Ref: 'AWS::AccountId' }, '000000000000'],
    ['Ref AWS::Partition', { Ref: 'AWS::Partition' }, 'aws'],
    ['Ref AWS::URLSuffix', { Ref: 'AWS::URLSuffix' }, 'amazonaws.com'],
    ['Ref AWS::StackName', { Ref: 'AWS::StackName' }, 'Watershed'],
    ['Ref AWS::StackId', { Ref: 'AWS::StackId' }, 'arn:aws:cloudformation:us-east-1:000000000000:stack/Watershed/local'],
    ['Fn::GetAtt, array form', { 'Fn::GetAtt': ['Clicks', 'Arn'] }, STREAM_ARN],
    ['Fn::GetAtt, string form', { 'Fn::GetAtt': 'Failed.QueueName' }, 'Watershed-Failed'],
    ['Fn::GetAtt, string form with a dotted attribute', { 'Fn::GetAtt': 'Database.Endpoint.Address' }, 'db-1.local'],
    ['Fn::GetAtt, array form with a dotted attribute', { 'Fn::GetAtt': ['Database', 'Endpoint.Port'] }, '5432'],
    ['Fn::Join of literals and intrinsics', { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'Clicks' }]] }, 'arn:aws:s3:::Watershed-Clicks'],
    ['Fn::Join with a separator', { 'Fn::Join': [',', ['a', { 'Fn::GetAtt': ['Failed', 'QueueName'] }, 'c']] }, 'a,Watershed-Failed,c'],
    ['Fn::Join of an empty list', { 'Fn::Join': ['-', []] }, ''],
    ['Fn::Sub with ${Resource}, ${Resource.Attr} and a pseudo parameter', { 'Fn::Sub': '${Clicks} at ${Clicks.Arn} in ${AWS::Region}' }, `Watershed-Clicks at ${STREAM_ARN} in us-east-1`],
    ['Fn::Sub with ${Resource.Dotted.Attr}', { 'Fn::Sub': 'postgres://${Database.Endpoint.Address}:${Database.Endpoint.Port}' }, 'postgres://db-1.local:5432'],
    [
      'Fn::Sub with a variables map that shadows nothing and resolves intrinsics',
      { 'Fn::Sub': ['${Name}/${Queue}-${AWS::AccountId}', { Name: 'literal', Queue: { 'Fn::GetAtt': ['Failed', 'Arn'] } }] },
      `literal/${QUEUE_ARN}-000000000000`,
    ],
    ['Fn::Sub variables take precedence over resources', { 'Fn::Sub': ['${Clicks}', { Clicks: 'from-variables' }] }, 'from-variables'],
    ['Fn::Sub ${!Literal} renders ${Literal} unresolved', { 'Fn::Sub': 'echo ${!HOME} > ${Clicks}' }, 'echo ${HOME} > Watershed-Clicks'],
    ['Fn::Sub ${!Res.Attr} renders ${Res.Attr}', { 'Fn::Sub': ['${!Clicks.Arn}', {}] }, '${Clicks.Arn}'],
    ['Fn::Select from a literal list', { 'Fn::Select': [1, ['a', 'b', 'c']] }, 'b'],
    ['Fn::Select with a string index', { 'Fn::Select': ['0', ['a', 'b']] }, 'a'],
    ['Fn::Select of Fn::Split', { 'Fn::Select': [5, { 'Fn::Split': [':', { 'Fn::GetAtt': ['Failed', 'Arn'] }] }] }, 'Watershed-Failed'],
    ['Fn::Split', { 'Fn::Split': ['/', { 'Fn::GetAtt': ['Clicks', 'Arn'] }] }, ['arn:aws:kinesis:us-east-1:000000000000:stream', 'Watershed-Clicks']],
    ['Fn::Equals, true', { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '000000000000'] }, true],
    ['Fn::Equals, false', { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '111111111111'] }, false],
    ['Fn::If on a true condition', { 'Fn::If': ['InUsEast1', { Ref: 'Clicks' }, 'other'] }, 'Watershed-Clicks'],
    ['Fn::If on a false condition', { 'Fn::If': ['InEuWest1', { Ref: 'Clicks' }, { Ref: 'AWS::Region' }] }, 'us-east-1'],
    ['Fn::If on Fn::Not of a condition', { 'Fn::If': ['NotInEuWest1', 'yes', 'no'] }, 'yes'],
    ['Fn::If on Fn::And of conditions', { 'Fn::If': ['BothUsEast1AndNotEu', 'yes', 'no'] }, 'yes'],
    ['Fn::If on Fn::Or of false conditions', { 'Fn::If': ['EitherEuOrNever', 'yes', 'no'] }, 'no'],
    ['Fn::GetAZs', { 'Fn::GetAZs': '' }, ['us-east-1a', 'us-east-1b']],
    [
      'nested properties, keeping literals',
      { Name: { Ref: 'Clicks' }, Count: 3, Enabled: false, Tags: [{ Key: 'stage', Value: { Ref: 'AWS::StackName' } }], Empty: null },
      { Name: 'Watershed-Clicks', Count: 3, Enabled: false, Tags: [{ Key: 'stage', Value: 'Watershed' }], Empty: null },
    ],
    [
      'AWS::NoValue removes the property that holds it',
      { Keep: 'yes', Dropped: { 'Fn::If': ['InEuWest1', 'eu', { Ref: 'AWS::NoValue' }] }, Direct: { Ref: 'AWS::NoValue' } },
      { Keep: 'yes' },
    ],
    [
      'AWS::NoValue removes the list item that holds it',
      { Actions: ['sqs:SendMessage', { 'Fn::If': ['InEuWest1', 'kms:Decrypt', { Ref: 'AWS::NoValue' }] }] },
      { Actions: ['sqs:SendMessage'] },
    ],
  ])('%s', (_name, input, expected) => {
    it('resolves to the local value', () => {
      // Prepare
      const resolver = resolverFactory();

      // Act
      const resolved = resolver.resolve(input);

      // Assess
      expect(resolved).toStrictEqual(expected);
    });
  });

  describe.each<[string, unknown, string]>([
    ['an unsupported function', { 'Fn::ImportValue': 'SharedVpcId' }, 'Fn::ImportValue is not supported by the local cloud'],
    ['an unsupported function nested in a property', { UserData: { 'Fn::Base64': 'echo hi' } }, 'Fn::Base64 is not supported by the local cloud'],
    ['a Ref to a resource that is not provisioned', { Ref: 'Missing' }, 'Ref to Missing, which is not provisioned (yet)'],
    ['a Fn::GetAtt of an attribute the resource lacks', { 'Fn::GetAtt': ['Clicks', 'ConsumerArn'] }, 'Fn::GetAtt Clicks.ConsumerArn is not available locally'],
    ['a Fn::Sub of a resource that is not provisioned', { 'Fn::Sub': 'x-${Missing}' }, 'Ref to Missing, which is not provisioned (yet)'],
    ['a Fn::If on an undefined condition', { 'Fn::If': ['Undefined', 'a', 'b'] }, 'Condition Undefined is not defined'],
  ])('%s', (_name, input, message) => {
    it('fails with an UnsupportedTemplateError that names it', () => {
      // Prepare
      const resolver = resolverFactory();

      // Act
      const act = () => resolver.resolve(input);

      // Assess
      expect(act).toThrow(UnsupportedTemplateError);
      expect(act).toThrow(message);
    });
  });

  it('evaluates a named condition', () => {
    // Prepare
    const resolver = resolverFactory();

    // Act
    const results = Object.keys(CONDITIONS).map((name) => [name, resolver.condition(name)]);

    // Assess
    expect(Object.fromEntries(results)).toStrictEqual({
      InUsEast1: true,
      InEuWest1: false,
      NotInEuWest1: true,
      BothUsEast1AndNotEu: true,
      EitherEuOrNever: false,
    });
  });

  it('resolveString rejects a value that does not resolve to a string, naming where it came from', () => {
    // Prepare
    const resolver = resolverFactory();

    // Act
    const act = () => resolver.resolveString({ 'Fn::Split': [',', 'a,b'] }, 'Queue name');

    // Assess
    expect(act).toThrow(new UnsupportedTemplateError('Queue name did not resolve to a string: ["a","b"]'));
  });

  it('names its errors UnsupportedTemplateError', () => {
    expect(new UnsupportedTemplateError('x').name).toBe('UnsupportedTemplateError');
  });
});

const resource = (properties: Record<string, unknown> = {}, dependsOn?: string | string[]): CfnResource => ({
  Type: 'AWS::SQS::Queue',
  Properties: properties,
  ...(dependsOn === undefined ? {} : { DependsOn: dependsOn }),
});

describe('dependencyOrder', () => {
  describe.each<[string, CfnTemplate['Resources'], string[]]>([
    ['independent resources keep their declaration order', { A: resource(), B: resource(), C: resource() }, ['A', 'B', 'C']],
    ['DependsOn as a string', { A: resource({}, 'B'), B: resource() }, ['B', 'A']],
    ['DependsOn as a list', { A: resource({}, ['C', 'B']), B: resource(), C: resource() }, ['C', 'B', 'A']],
    ['Ref', { A: resource({ Target: { Ref: 'B' } }), B: resource() }, ['B', 'A']],
    ['Fn::GetAtt, array form', { A: resource({ Arn: { 'Fn::GetAtt': ['B', 'Arn'] } }), B: resource() }, ['B', 'A']],
    ['Fn::GetAtt, string form', { A: resource({ Arn: { 'Fn::GetAtt': 'B.Arn' } }), B: resource() }, ['B', 'A']],
    ['Fn::Sub ${Res} and ${Res.Attr}', { A: resource({ Name: { 'Fn::Sub': '${B}-${C.Arn}' } }), B: resource(), C: resource() }, ['B', 'C', 'A']],
    ['Fn::Sub variables map', { A: resource({ Name: { 'Fn::Sub': ['${X}', { X: { Ref: 'B' } }] } }), B: resource() }, ['B', 'A']],
    ['Fn::Sub ${!Literal} is no reference', { A: resource({ Name: { 'Fn::Sub': '${!B}' } }), B: resource() }, ['A', 'B']],
    ['pseudo parameters are no references', { A: resource({ Name: { 'Fn::Sub': '${AWS::Region}' }, Account: { Ref: 'AWS::AccountId' } }), B: resource() }, ['A', 'B']],
    [
      'references deep in lists and intrinsics',
      { A: resource({ Policy: [{ Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['C', 'Arn'] }, '/*']] } }] }), B: resource({}, 'A'), C: resource() },
      ['C', 'A', 'B'],
    ],
    ['a chain declared backwards', { D: resource({ X: { Ref: 'C' } }), C: resource({ X: { Ref: 'B' } }), B: resource({}, 'A'), A: resource() }, ['A', 'B', 'C', 'D']],
  ])('%s', (_name, resources, expected) => {
    it('orders every resource after those it references', () => {
      // Prepare
      const template: CfnTemplate = { Resources: resources };

      // Act
      const order = dependencyOrder(template);

      // Assess
      expect(order).toStrictEqual(expected);
    });
  });

  describe.each<[string, CfnTemplate['Resources'], string]>([
    ['a resource that references itself', { A: resource({ X: { Ref: 'A' } }) }, 'circular dependency: A -> A'],
    ['a two-resource cycle through Ref and DependsOn', { A: resource({ X: { Ref: 'B' } }), B: resource({}, 'A') }, 'circular dependency: A -> B -> A'],
    [
      'a three-resource cycle through Ref, Fn::GetAtt and Fn::Sub',
      { Ok: resource(), A: resource({ X: { Ref: 'B' } }), B: resource({ Y: { 'Fn::GetAtt': ['C', 'Arn'] } }), C: resource({ Z: { 'Fn::Sub': '${A}' } }) },
      'circular dependency: A -> B -> C -> A',
    ],
  ])('%s', (_name, resources, message) => {
    it('fails with an error that names the cycle', () => {
      // Prepare
      const template: CfnTemplate = { Resources: resources };

      // Act
      const act = () => dependencyOrder(template);

      // Assess
      expect(act).toThrow(new UnsupportedTemplateError(message));
    });
  });
});
