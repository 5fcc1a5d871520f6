import { randomBytes } from 'node:crypto';
import { UnsupportedTemplateError } from './template';

/**
 * Provisioning for the container side of a template: Secrets Manager secrets (their values made
 * locally, as CloudFormation would generate them), ECS task definitions and services (collected
 * into the specs the local container runner starts), and the EC2 networking around them, which
 * locally is the host's own and so is recorded with ids other resources can reference.
 */

/** A container of an ECS service, ready to run as a local process. */
export interface ContainerSpec {
  name: string;
  /** The container's command (the image's entry point is not known locally, so it must be set). */
  command: string[];
  /** The task definition's environment with its `Secrets` resolved to their values. */
  environment: Record<string, string>;
  /** Names of the variables that came from Secrets Manager (not printed). */
  secretNames: string[];
  stopTimeoutSeconds: number;
}

export interface ContainerServiceSpec {
  logicalId: string;
  serviceName: string;
  serviceArn: string;
  desiredCount: number;
  taskDefinitionArn: string;
  containers: ContainerSpec[];
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

function randomString(length: number, alphabet: string): string {
  return [...randomBytes(length)].map((byte) => alphabet[byte % alphabet.length]).join('');
}

/** A value made the way GenerateSecretString describes (length, exclusions, template + key). */
export function generateSecretValue(spec: Record<string, unknown>): string {
  const exclude = typeof spec.ExcludeCharacters === 'string' ? spec.ExcludeCharacters : '';
  let alphabet = ALPHANUMERIC + (spec.ExcludePunctuation === true ? '' : PUNCTUATION);
  if (spec.ExcludeUppercase === true) alphabet = alphabet.replace(/[A-Z]/g, '');
  if (spec.ExcludeLowercase === true) alphabet = alphabet.replace(/[a-z]/g, '');
  if (spec.ExcludeNumbers === true) alphabet = alphabet.replace(/[0-9]/g, '');
  alphabet = [...alphabet].filter((character) => !exclude.includes(character)).join('');
  const password = randomString(Number(spec.PasswordLength ?? 32), alphabet);
  if (typeof spec.SecretStringTemplate === 'string' && typeof spec.GenerateStringKey === 'string') {
    return JSON.stringify({ ...(JSON.parse(spec.SecretStringTemplate) as object), [spec.GenerateStringKey]: password });
  }
  return password;
}

/** Local ids and GetAtt attributes of the EC2 types around a Fargate service. */
export function networkRecord(type: string, logicalId: string): { ref: string; attributes: Record<string, string> } | undefined {
  const id = (prefix: string) => `${prefix}-${randomString(17, '0123456789abcdef')}`;
  switch (type) {
    case 'AWS::EC2::VPC': {
      const vpcId = id('vpc');
      return { ref: vpcId, attributes: { VpcId: vpcId, CidrBlock: '10.0.0.0/16', DefaultSecurityGroup: id('sg'), DefaultNetworkAcl: id('acl') } };
    }
    case 'AWS::EC2::Subnet': {
      const subnetId = id('subnet');
      return { ref: subnetId, attributes: { SubnetId: subnetId, AvailabilityZone: 'us-east-1a', VpcId: '', NetworkAclAssociationId: id('aclassoc') } };
    }
    case 'AWS::EC2::SecurityGroup': {
      const groupId = id('sg');
      return { ref: groupId, attributes: { GroupId: groupId, VpcId: '' } };
    }
    case 'AWS::EC2::EIP':
      return { ref: '127.0.0.1', attributes: { AllocationId: id('eipalloc'), PublicIp: '127.0.0.1' } };
    case 'AWS::EC2::RouteTable':
    case 'AWS::EC2::SubnetRouteTableAssociation':
    case 'AWS::EC2::Route':
    case 'AWS::EC2::InternetGateway':
    case 'AWS::EC2::VPCGatewayAttachment':
    case 'AWS::EC2::NatGateway':
    case 'AWS::EC2::FlowLog':
    case 'AWS::EC2::SecurityGroupIngress':
    case 'AWS::EC2::SecurityGroupEgress':
      return { ref: id(type.split('::')[2]!.toLowerCase()), attributes: { Id: logicalId } };
    default:
      return undefined;
  }
}

/** Secrets of the template with their local values; ARNs are what `Ref` gives, as on AWS. */
export class LocalSecrets {
  private readonly values = new Map<string, string>();

  create(props: Record<string, unknown>, name: string, region: string, account: string): string {
    const arn = `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${randomString(6, ALPHANUMERIC)}`;
    const value = typeof props.SecretString === 'string'
      ? props.SecretString
      : generateSecretValue((props.GenerateSecretString as Record<string, unknown> | undefined) ?? {});
    this.values.set(arn, value);
    return arn;
  }

  /** `ValueFrom` of an ECS secret: `<arn>`, or `<arn>:<json-key>:<version-stage>:<version-id>`. */
  resolve(valueFrom: string, what: string): string {
    for (const [arn, value] of this.values) {
      if (valueFrom !== arn && !valueFrom.startsWith(`${arn}:`)) continue;
      const [jsonKey = ''] = valueFrom.slice(arn.length + 1).split(':');
      if (jsonKey === '') return value;
      const field = (JSON.parse(value) as Record<string, unknown>)[jsonKey];
      if (field === undefined) throw new UnsupportedTemplateError(`${what}: the secret ${arn} has no key ${jsonKey}`);
      return typeof field === 'string' ? field : JSON.stringify(field);
    }
    throw new UnsupportedTemplateError(`${what}: ValueFrom ${valueFrom} names no secret of the template (SSM parameters are not supported locally)`);
  }
}

interface ContainerDefinitionProps {
  Name?: string;
  Command?: string[];
  EntryPoint?: string[];
  Environment?: { Name: string; Value: string }[];
  Secrets?: { Name: string; ValueFrom: string }[];
  StopTimeout?: number;
}

/** Joins task definitions and services as they are provisioned (in dependency order). */
export class ContainerServiceCollector {
  private readonly taskDefinitions = new Map<string, { logicalId: string; containers: ContainerSpec[] }>();
  readonly services: ContainerServiceSpec[] = [];

  constructor(private readonly secrets: LocalSecrets, private readonly region: string, private readonly account: string) {}

  addTaskDefinition(logicalId: string, props: Record<string, unknown>, family: string): string {
    const arn = `arn:aws:ecs:${this.region}:${this.account}:task-definition/${family}:1`;
    const definitions = (props.ContainerDefinitions as ContainerDefinitionProps[] | undefined) ?? [];
    const containers = definitions.map((definition, index) => {
      const name = definition.Name ?? `container${index}`;
      const command = [...(definition.EntryPoint ?? []), ...(definition.Command ?? [])];
      if (command.length === 0) {
        throw new UnsupportedTemplateError(`${logicalId} container ${name} sets no Command: locally the image is not built, so the task definition must name the command it runs`);
      }
      const environment: Record<string, string> = {};
      for (const variable of definition.Environment ?? []) environment[variable.Name] = String(variable.Value);
      for (const secret of definition.Secrets ?? []) environment[secret.Name] = this.secrets.resolve(String(secret.ValueFrom), `${logicalId} container ${name} secret ${secret.Name}`);
      return { name, command, environment, secretNames: (definition.Secrets ?? []).map((secret) => secret.Name), stopTimeoutSeconds: Number(definition.StopTimeout ?? 30) };
    });
    this.taskDefinitions.set(arn, { logicalId, containers });
    return arn;
  }

  addService(logicalId: string, props: Record<string, unknown>, serviceName: string): ContainerServiceSpec {
    const taskDefinitionArn = String(props.TaskDefinition);
    const taskDefinition = this.taskDefinitions.get(taskDefinitionArn);
    if (taskDefinition === undefined) throw new UnsupportedTemplateError(`${logicalId} runs task definition ${taskDefinitionArn}, which is not in the template`);
    const spec: ContainerServiceSpec = {
      logicalId,
      serviceName,
      serviceArn: `arn:aws:ecs:${this.region}:${this.account}:service/local/${serviceName}`,
      desiredCount: Number(props.DesiredCount ?? 1),
      taskDefinitionArn,
      containers: taskDefinition.containers,
    };
    this.services.push(spec);
    return spec;
  }
}
