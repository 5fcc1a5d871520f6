import { readFileSync } from 'node:fs';

/** The parts of a synthesized CloudFormation template the local cloud reads. */
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Description?: string; Export?: unknown }>;
  Conditions?: Record<string, unknown>;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
}

export function readTemplate(path: string): CfnTemplate {
  const template = JSON.parse(readFileSync(path, 'utf8')) as CfnTemplate;
  if (typeof template.Resources !== 'object' || template.Resources === null) {
    throw new Error(`${path} is not a CloudFormation template: it has no Resources`);
  }
  return template;
}

export class UnsupportedTemplateError extends Error {
  override name = 'UnsupportedTemplateError';
}

/** What a resource resolves to: `Ref` and each `Fn::GetAtt` attribute. */
export interface ResourceAttributes {
  ref: string;
  attributes: Record<string, string>;
}

export interface PseudoParameters {
  region: string;
  accountId: string;
  stackName: string;
}

/**
 * Resolves the intrinsic functions CDK emits (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select,
 * Fn::Split, Fn::If, Fn::Equals) against the local names and ARNs of provisioned resources.
 * Anything else is an error that names the function, never a silent pass-through.
 */
export class IntrinsicResolver {
  constructor(
    private readonly template: CfnTemplate,
    private readonly pseudo: PseudoParameters,
    private readonly resources: Map<string, ResourceAttributes>,
  ) {}

  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((item) => this.resolve(item)).filter((item) => item !== NO_VALUE);
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [name, argument] = entries[0]!;
      if (name === 'Ref') return this.ref(String(argument));
      if (name.startsWith('Fn::') || name === 'Condition') return this.intrinsic(name, argument);
    }
    const resolved: Record<string, unknown> = {};
    for (const [key, item] of entries) {
      const result = this.resolve(item);
      if (result !== NO_VALUE) resolved[key] = result;
    }
    return resolved;
  }

  resolveString(value: unknown, where: string): string {
    const resolved = this.resolve(value);
    if (typeof resolved !== 'string') throw new UnsupportedTemplateError(`${where} did not resolve to a string: ${JSON.stringify(resolved)}`);
    return resolved;
  }

  private ref(name: string): unknown {
    switch (name) {
      case 'AWS::Region':
        return this.pseudo.region;
      case 'AWS::AccountId':
        return this.pseudo.accountId;
      case 'AWS::Partition':
        return 'aws';
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.pseudo.stackName;
      case 'AWS::StackId':
        return `arn:aws:cloudformation:${this.pseudo.region}:${this.pseudo.accountId}:stack/${this.pseudo.stackName}/local`;
      case 'AWS::NoValue':
        return NO_VALUE;
    }
    const resource = this.resources.get(name);
    if (resource === undefined) throw new UnsupportedTemplateError(`Ref to ${name}, which is not provisioned (yet)`);
    return resource.ref;
  }

  private getAtt(logicalId: string, attribute: string): string {
    const resource = this.resources.get(logicalId);
    const value = resource?.attributes[attribute];
    if (value === undefined) {
      throw new UnsupportedTemplateError(`Fn::GetAtt ${logicalId}.${attribute} is not available locally`);
    }
    return value;
  }

  private intrinsic(name: string, argument: unknown): unknown {
    const args = Array.isArray(argument) ? argument : [argument];
    switch (name) {
      case 'Fn::GetAtt': {
        const [logicalId, attribute] = typeof argument === 'string' ? splitAtFirstDot(argument) : (args as string[]);
        return this.getAtt(String(logicalId), String(attribute));
      }
      case 'Fn::Join': {
        const [separator, parts] = args as [string, unknown[]];
        return (this.resolve(parts) as unknown[]).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = args as [unknown, unknown];
        return (this.resolve(list) as unknown[])[Number(this.resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, source] = args as [string, unknown];
        return String(this.resolve(source)).split(separator);
      }
      case 'Fn::Sub': {
        const [text, variables] = typeof argument === 'string' ? [argument, {}] : (args as [string, Record<string, unknown>]);
        return text.replace(/\$\{([^}]*)\}/g, (_match, expression: string) => {
          // `${!Literal}` is written out as `${Literal}`, unresolved.
          if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
          if (variables && expression in variables) return String(this.resolve(variables[expression]));
          const [logicalId, attribute] = splitAtFirstDot(expression);
          return String(attribute === undefined ? this.ref(logicalId) : this.getAtt(logicalId, attribute));
        });
      }
      case 'Fn::If': {
        const [condition, whenTrue, whenFalse] = args as [string, unknown, unknown];
        return this.resolve(this.condition(condition) ? whenTrue : whenFalse);
      }
      case 'Fn::Equals': {
        const [left, right] = args as [unknown, unknown];
        return JSON.stringify(this.resolve(left)) === JSON.stringify(this.resolve(right));
      }
      case 'Fn::Not':
        return !this.resolve(args[0]);
      case 'Fn::And':
        return args.every((item) => this.resolve(item));
      case 'Fn::Or':
        return args.some((item) => this.resolve(item));
      case 'Condition':
        return this.condition(String(argument));
      case 'Fn::GetAZs':
        return [`${this.pseudo.region}a`, `${this.pseudo.region}b`];
      default:
        throw new UnsupportedTemplateError(`${name} is not supported by the local cloud`);
    }
  }

  condition(name: string): boolean {
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) throw new UnsupportedTemplateError(`Condition ${name} is not defined`);
    return Boolean(this.resolve(definition));
  }
}

/** `Res.Attr.With.Dots` -> [`Res`, `Attr.With.Dots`]: attribute names may contain dots (Endpoint.Address). */
function splitAtFirstDot(text: string): [string, string | undefined] {
  const dot = text.indexOf('.');
  return dot === -1 ? [text, undefined] : [text.slice(0, dot), text.slice(dot + 1)];
}

/** Marks `Ref: AWS::NoValue`, which removes the property that holds it. */
export const NO_VALUE = Symbol('AWS::NoValue');

/** Logical ids in an order where every resource comes after the resources it references. */
export function dependencyOrder(template: CfnTemplate): string[] {
  const ids = Object.keys(template.Resources);
  const dependencies = new Map(ids.map((id) => [id, referencedResources(template.Resources[id]!, new Set(ids))]));
  const ordered: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]) => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') throw new UnsupportedTemplateError(`circular dependency: ${[...path, id].join(' -> ')}`);
    state.set(id, 'visiting');
    for (const dependency of dependencies.get(id) ?? []) visit(dependency, [...path, id]);
    state.set(id, 'done');
    ordered.push(id);
  };
  for (const id of ids) visit(id, []);
  return ordered;
}

function referencedResources(resource: CfnResource, known: Set<string>): Set<string> {
  const found = new Set<string>();
  const dependsOn = resource.DependsOn === undefined ? [] : [resource.DependsOn].flat();
  for (const id of dependsOn) if (known.has(id)) found.add(id);
  const walk = (value: unknown) => {
    if (Array.isArray(value)) return value.forEach(walk);
    if (value === null || typeof value !== 'object') return;
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'Ref' && typeof item === 'string' && known.has(item)) found.add(item);
      else if (key === 'Fn::GetAtt') {
        const logicalId = typeof item === 'string' ? item.split('.')[0] : (item as string[])[0];
        if (logicalId !== undefined && known.has(logicalId)) found.add(logicalId);
      } else if (key === 'Fn::Sub') {
        const text = typeof item === 'string' ? item : (item as [string])[0];
        for (const match of text.matchAll(/\$\{([^}!.]+)/g)) if (known.has(match[1]!)) found.add(match[1]!);
        walk(item);
      } else walk(item);
    }
  };
  walk(resource.Properties);
  return found;
}
