import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/watershed-function';
import { streamTracingContext, type WatershedStack } from '../../lib/watershed-stack';
import { type BareWatershed, bareWatershed, flatten, listOf, statementsOfRole } from './first-deployment-support';

let untraced: BareWatershed;
let traced: BareWatershed;
beforeAll(() => {
  untraced = bareWatershed();
  traced = bareWatershed({ streamTracing: 'active' });
});

/** The functions a stream drives, by name. */
const streamConsumers = (stack: WatershedStack) => ({
  aggregator: stack.clickstream.aggregator,
  scorer: stack.fraud.scorer,
  alertBroadcaster: stack.fraud.alertBroadcaster!,
  dashboardBroadcaster: stack.liveDashboard.broadcaster,
});

const propertiesOf = ({ stack, template }: BareWatershed, fn: lambda.IFunction) =>
  template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction)].Properties;

const xrayActionsOf = ({ stack, template }: BareWatershed, fn: lambda.IFunction) =>
  statementsOfRole(stack, template, fn.role!).flatMap((statement) => listOf(statement.Action)).filter((action) => action.startsWith('xray:')).sort();

/** The reason of the role's AwsSolutions-IAM5[Resource::*] acknowledgement, if it has one. */
function unscopedReasonOf(role: IConstruct): string | undefined {
  const entries = role.node.metadata.filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
  for (const entry of entries) {
    for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
      if (id.replace(/^annotation::/i, '') === 'AwsSolutions-IAM5[Resource::*]') return reason;
    }
  }
  return undefined;
}

describe('X-Ray tracing of stream-driven functions', () => {
  it('is off by default: no tracing config, no X-Ray permissions, the Powertools Tracer disabled', () => {
    for (const [name, fn] of Object.entries(streamConsumers(untraced.stack))) {
      const properties = propertiesOf(untraced, fn);
      expect(properties.TracingConfig, name).toBeUndefined();
      expect(properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED, name).toBe('false');
      expect(xrayActionsOf(untraced, fn), name).toStrictEqual([]);
    }
  });

  it('is Active with -c streamTracing=active, with X-Ray permissions and the Tracer on', () => {
    for (const [name, fn] of Object.entries(streamConsumers(traced.stack))) {
      const properties = propertiesOf(traced, fn);
      expect(properties.TracingConfig, name).toStrictEqual({ Mode: 'Active' });
      expect(properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED, name).toBeUndefined();
      expect(xrayActionsOf(traced, fn), name).toStrictEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    }
  });

  it('follows each construct prop, which wins over the context', () => {
    const { stack, template } = bareWatershed(
      { streamTracing: 'off' },
      { clickstream: { tracing: lambda.Tracing.ACTIVE }, fraud: { tracing: lambda.Tracing.ACTIVE }, liveDashboard: { broadcasterTracing: lambda.Tracing.ACTIVE } },
    );
    for (const [name, fn] of Object.entries(streamConsumers(stack))) {
      expect(propertiesOf({ stack, template }, fn).TracingConfig, name).toStrictEqual({ Mode: 'Active' });
    }
  });

  it('keeps Active tracing on the request-driven dashboard functions', () => {
    for (const fn of [untraced.stack.liveDashboard.authorizerFunction, untraced.stack.liveDashboard.connectionsFunction]) {
      expect(propertiesOf(untraced, fn).TracingConfig).toStrictEqual({ Mode: 'Active' });
    }
  });

  it('acknowledges Resource "*" for X-Ray only where X-Ray is granted, and says what else is unscoped', () => {
    expect(unscopedReasonOf(untraced.stack.clickstream.aggregator.role!)).toBeUndefined();
    expect(unscopedReasonOf(untraced.stack.fraud.scorer.role!)).toBeUndefined();
    const untracedBroadcaster = unscopedReasonOf(untraced.stack.liveDashboard.broadcaster.role!);
    expect(untracedBroadcaster).toContain('dynamodb:ListStreams');
    expect(untracedBroadcaster).not.toContain('xray');
    expect(unscopedReasonOf(traced.stack.clickstream.aggregator.role!)).toContain('xray:PutTraceSegments');
    expect(unscopedReasonOf(traced.stack.liveDashboard.broadcaster.role!)).toMatch(/xray:PutTraceSegments.*dynamodb:ListStreams/);
  });

  it('reads -c streamTracing=active|off and refuses anything else', () => {
    const withContext = (value: unknown) => new Stack(new App({ context: value === undefined ? {} : { streamTracing: value } }), 'S');
    expect(streamTracingContext(withContext(undefined))).toBeUndefined();
    expect(streamTracingContext(withContext('active'))).toBe(lambda.Tracing.ACTIVE);
    expect(streamTracingContext(withContext('off'))).toBe(lambda.Tracing.DISABLED);
    expect(() => streamTracingContext(withContext('on'))).toThrow('Received "on"');
  });
});

/** A CSP as directive name -> sources. */
function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((directive) => directive.trim().split(/\s+/))
      .filter((parts) => parts[0] !== '')
      .map(([name, ...sources]) => [name!, sources]),
  );
}

describe("the dashboard page's Content-Security-Policy header", () => {
  const headerPolicy = () => {
    const { template } = untraced;
    const [policy] = Object.values(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    const csp = policy!.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy;
    expect(csp.Override).toBe(true);
    return directives(flatten(csp.ContentSecurityPolicy));
  };

  it('is the one the distribution sends', () => {
    const { stack, template } = untraced;
    const [distribution] = Object.values(template.findResources('AWS::CloudFront::Distribution'));
    const [policyId] = Object.keys(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    expect(distribution!.Properties.DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId).toStrictEqual({ Ref: policyId });
    expect(stack.liveDashboard.distribution).toBeDefined();
  });

  it('lets the page connect only to its origin, its WebSocket stage and its Cognito domain', () => {
    const { stack } = untraced;
    const live = stack.liveDashboard;
    expect(headerPolicy().get('connect-src')).toStrictEqual([
      "'self'",
      flatten(stack.resolve(live.webSocketUrl)),
      flatten(stack.resolve(live.userPoolDomain.baseUrl())),
    ]);
    // The endpoints are the ones config.json hands the page, spelled out (no scheme-wide sources).
    expect(flatten(stack.resolve(live.webSocketUrl))).toMatch(/^wss:\/\/\$\{LiveDashboardWebSocketApi\w+\}\.execute-api\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}\/live$/);
    expect(flatten(stack.resolve(live.userPoolDomain.baseUrl()))).toMatch(/^https:\/\/\$\{LiveDashboardUserPoolDomain\w+\}\.auth\.\$\{AWS::Region\}\.amazoncognito\.com$/);
    for (const source of headerPolicy().get('connect-src')!) expect(source).not.toMatch(/^(\*|wss?:|https?:)$/);
  });

  it("keeps every other directive of index.html's meta policy, and refuses framing", () => {
    const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(readFileSync(path.join(PROJECT_ROOT, 'web', 'index.html'), 'utf8'))?.[1];
    const fromMeta = directives(meta!);
    const header = headerPolicy();
    for (const [name, sources] of fromMeta) {
      if (name !== 'connect-src') expect(header.get(name), name).toStrictEqual(sources);
    }
    expect(header.get('frame-ancestors')).toStrictEqual(["'none'"]);
  });
});
