import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** Repository root: the bundler's project root and where the lock file lives. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
/**
 * X-Ray tracing of the functions a stream drives (the clickstream aggregator, the fraud scorer and
 * alert broadcaster, the dashboard broadcaster): off. With Active tracing Lambda samples each
 * function's invocations at X-Ray's default rate, the first each second plus 5% of the rest, and
 * the Lambda developer guide (X-Ray section) says that rate cannot be configured for functions; the
 * X-Ray guide lists API Gateway, AppSync, Step Functions and SDK-instrumented hosts as what sampling
 * rules govern. So the stack defines no AWS::XRay::SamplingRule: it would suggest a control that
 * does not apply to these functions. On or off is the control.
 * A stream consumer invoked about once a second per shard is therefore traced nearly every time:
 * about 2.6 million traces a month per function (some $13 at $5 per million). Turn it on per
 * pipeline (`tracing: lambda.Tracing.ACTIVE`) or for all with `-c streamTracing=active` while
 * investigating. PassThrough records nothing here: a stream invocation carries no upstream trace
 * header. Request-driven functions (the $connect authorizer, the connection routes) keep Active
 * tracing: they run at the rate users connect.
 */
export const STREAM_CONSUMER_TRACING_DEFAULT = lambda.Tracing.DISABLED;

/** Namespace of every function's Powertools (EMF) metrics; each adds its `service` dimension. */
export const METRICS_NAMESPACE = 'Watershed';

export interface WatershedFunctionOptions {
  /** Handler file, relative to the repository root; it exports `handler`. */
  readonly entry: string;
  readonly description: string;
  /** Powertools service name. */
  readonly service: string;
  readonly roleDescription: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Record<string, string>;
  readonly removalPolicy: RemovalPolicy;
  /**
   * X-Ray tracing of the function. ACTIVE also grants the role xray:PutTraceSegments and
   * xray:PutTelemetryRecords (Resource "*"); DISABLED grants nothing and turns the Powertools
   * Tracer off (POWERTOOLS_TRACE_ENABLED=false), so the code's captured clients are plain clients.
   */
  readonly tracing: lambda.Tracing;
}

export interface WatershedFunction {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
}

/**
 * A Watershed Lambda function: Node.js 22 on ARM64, bundled locally with esbuild (CommonJS,
 * minified, source maps, the SDK included so the asset runs standalone in the local cloud), with
 * Powertools settings and a role of its own. The default role would attach the
 * AWSLambdaBasicExecutionRole managed policy (logs on every log group in the account); this one
 * may write only to the function's own log group. Ids: `<id>`, `<id>Role`, `<id>LogGroup`.
 */
export function watershedFunction(scope: Construct, id: string, options: WatershedFunctionOptions): WatershedFunction {
  const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
    retention: logs.RetentionDays.ONE_MONTH,
    removalPolicy: options.removalPolicy,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: options.roleDescription,
  });
  logGroup.grantWrite(role);
  const fn = new NodejsFunction(scope, id, {
    entry: path.join(PROJECT_ROOT, options.entry),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: options.memorySize,
    timeout: options.timeout,
    tracing: options.tracing,
    role,
    logGroup,
    loggingFormat: lambda.LoggingFormat.JSON,
    description: options.description,
    bundling: {
      minify: true,
      sourceMap: true,
      target: 'node22',
      format: OutputFormat.CJS,
      externalModules: [],
      forceDockerBundling: false,
      // esbuild's size table flags every bundle over 1 MB with a warning sign, at every synth and
      // every `npm start`: nothing to act on (the functions bundle the SDK on purpose). Real
      // warnings and errors still print.
      logLevel: LogLevel.WARNING,
    },
    environment: {
      ...options.environment,
      POWERTOOLS_SERVICE_NAME: options.service,
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      // Stack traces point into the TypeScript sources through the bundled source map.
      NODE_OPTIONS: '--enable-source-maps',
      ...(options.tracing === lambda.Tracing.DISABLED ? { POWERTOOLS_TRACE_ENABLED: 'false' } : {}),
    },
  });
  return { fn, role, logGroup };
}
