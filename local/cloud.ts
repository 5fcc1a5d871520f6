import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DashboardConfig } from '../contracts/dashboard';
import { AGGREGATOR_DEFAULTS } from '../contracts/aggregator-settings';
import { LOCAL_CLOUD_STATE_FILE, type LocalCloudState } from '../contracts/local-cloud';
import { DashboardEnv } from '../contracts/dashboard-settings';
import { CLICKS_SHARDS_CONTEXT, createWatershedApp } from '../lib/app';
import { STACK_NAME } from '../lib/names';
import { CheckpointFile } from './checkpoints';
import { LOCAL_ACCOUNT_ID, localClientConfig } from './clients';
import type { EdgeLimits } from './edge';
import { LocalWebSocketGateway } from './apigateway/websocket-gateway';
import { provisionStack, webSocketStageUrl, type ProvisionedStack } from './cloudformation/provision';
import { readTemplate } from './cloudformation/template';
import { startServices, type LocalServices } from './emulators';
import type { KinesisEngine, LogFn } from './emulators/types';
import { DevIssuer } from './cognito/dev-issuer';
import { startDeliveryStreams, type LocalDeliveryStream, type DeliveryStreamFaults } from './firehose';
import { startLocalDashboard } from './dashboard';
import { LocalContainerRunner, type ServiceEnvironmentOverride } from './containers/runner';
import { DynamoDbStreamEventSource } from './lambda/dynamodb-event-source';
import { lambdaApiHandler } from './lambda/invoke-api';
import { KinesisEventSource } from './lambda/kinesis-event-source';
import { LocalLambdaRuntime } from './lambda/runtime';
import { EmfMetrics } from './metrics';
import { LocalCloudMetrics, METRICS_PATH, queueDepths } from './telemetry/local-cloud-metrics';
import { assertPortsFree } from './ports';
import { PipelineRecovery, type StreamService } from './recovery';

export { STACK_NAME };

export interface LocalCloudOptions {
  /** Edge port; 0 picks a free one. @default 4566, LocalStack's port */
  edgePort?: number;
  /** @default 'kinesalite' */
  kinesisEngine?: KinesisEngine;
  /**
   * Keep emulator data, and each event source mapping's position in each shard, here across
   * restarts (clean or kill -9). Without it every start is fresh. @default - in memory
   */
  persistDirectory?: string;
  /** The edge's timeouts and connection limit (tests make them short). @default - DEFAULT_EDGE_LIMITS */
  edgeLimits?: Partial<EdgeLimits>;
  /** Outputs, logs and checkpoints go here. @default '.watershed' */
  stateDirectory?: string;
  /** Cloud assembly directory. @default 'cdk.out' */
  assemblyDirectory?: string;
  /** Port of the dashboard web app (on 127.0.0.1); 0 picks a free one. @default 3000 */
  dashboardPort?: number;
  /** Shards of the clicks stream, set in the synthesized template (context `clicksShards`). @default 1 */
  clicksShards?: number;
  /** Extra CDK context for the synthesis, e.g. `{ 'watershed:lakehouseBufferingSeconds': 1 }`. */
  context?: Record<string, unknown>;
  /**
   * Variables laid over the environment of an ECS service's container, computed from the
   * template's: e.g. the market-data gateway's GATEWAY_CONFIG pointing at venues on other ports.
   */
  serviceEnvironment?: ServiceEnvironmentOverride;
  log?: LogFn;
}

/** A Kinesis or DynamoDB Streams event source mapping. */
export type LocalEventSource = KinesisEventSource | DynamoDbStreamEventSource;

export interface LocalCloud {
  edgeUrl: string;
  /** Where outputs.json, the function logs and the built dashboard are. */
  stateDirectory: string;
  /** The emulators and the edge, e.g. to register another service or a fault-injecting route. */
  services: LocalServices;
  stack: ProvisionedStack;
  outputs: Record<string, string>;
  runtime: LocalLambdaRuntime;
  /** Every event source mapping of the template: Kinesis and DynamoDB Streams (`kind` says which). */
  eventSources: LocalEventSource[];
  metrics: EmfMetrics;
  /** Metrics of streams, functions, mappings and queues: the status line's source, served at `<edge>/_watershed/metrics`. */
  telemetry: LocalCloudMetrics;
  /** The template's WebSocket APIs, served on the edge at `ws://<edge>/_ws/<apiId>/<stage>`, and their @connections API. */
  webSocket: LocalWebSocketGateway;
  /** The WebSocket URL of the dashboard's API stage (what config.json names); empty when the template has none. */
  webSocketUrl: string;
  /** The template's ECS services, running as supervised local processes. */
  containers: LocalContainerRunner;
  /** The development issuer standing in for the template's Cognito user pools. */
  devIssuer: DevIssuer;
  /** `http://127.0.0.1:<port>/`: the dashboard web app with the local config.json; empty when the template has no WebSocket API. */
  dashboardUrl: string;
  /** The template's delivery streams, run by the local Firehose stand-in (Kinesis into Iceberg). */
  deliveryStreams: LocalDeliveryStream[];
  /**
   * Stops the delivery streams without flushing and starts them again from the checkpoints in
   * their tables' snapshots, as after a crash; `faults` applies to the new ones.
   */
  restartDeliveryStreams(faults?: DeliveryStreamFaults): Promise<void>;
  /**
   * Gets the pipelines through an emulator's death: paused at their checkpoints while it restarts,
   * the template provisioned again when it came back empty, then resumed (see ./recovery.ts).
   */
  recovery: PipelineRecovery;
  /** Stops the event source mappings and the functions, then starts them again from their checkpoints. */
  restartFunctions(options?: { forgetCheckpoints?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** Synthesizes the CDK app in-process, with the asset metadata the local cloud needs. */
export function synthesize(assemblyDirectory: string, options: { clicksShards?: number; context?: Record<string, unknown> } = {}): string {
  const { app, stack } = createWatershedApp({
    outdir: assemblyDirectory,
    context: {
      ...options.context,
      'aws:cdk:enable-asset-metadata': true,
      ...(options.clicksShards === undefined ? {} : { [CLICKS_SHARDS_CONTEXT]: options.clicksShards }),
    },
    validateTemplate: false,
  });
  app.synth();
  return join(assemblyDirectory, `${stack.artifactId}.template.json`);
}

/**
 * Brings up the whole system locally: synthesizes the app, starts the emulators behind one edge,
 * provisions what the template declares, and runs its functions with their event source mappings.
 */
export async function startLocalCloud(options: LocalCloudOptions = {}): Promise<LocalCloud> {
  const log = options.log ?? (() => undefined);
  const stateDirectory = resolve(options.stateDirectory ?? '.watershed');
  const assemblyDirectory = resolve(options.assemblyDirectory ?? 'cdk.out');
  mkdirSync(stateDirectory, { recursive: true });
  // Before the seconds of synthesis and bundling: a taken port is reported at once.
  await assertPortsFree([
    { port: options.edgePort ?? 4566, what: 'The edge', flag: '--port' },
    { port: options.dashboardPort ?? 3000, what: 'The dashboard', flag: '--dashboard-port' },
  ]);

  let started = Date.now();
  const [templatePath, services] = await Promise.all([
    Promise.resolve().then(() => synthesize(assemblyDirectory, { clicksShards: options.clicksShards, context: options.context })),
    startServices({ edgePort: options.edgePort ?? 4566, kinesisEngine: options.kinesisEngine ?? 'kinesalite', persistDir: options.persistDirectory, edgeLimits: options.edgeLimits, log }),
  ]);
  log(`synthesized ${STACK_NAME} and started the emulators in ${Date.now() - started} ms`);
  const { edgeUrl } = services;

  const cleanup: (() => Promise<void>)[] = [() => services.stop()];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: Error) => log(`while stopping: ${error.message}`));
    cleanup.length = 0;
  };
  try {
    started = Date.now();
    log('provisioning the synthesized template:');
    const template = readTemplate(templatePath);
    const stack = await provisionStack({
      template,
      stackName: STACK_NAME,
      assemblyDirectory,
      edgeUrl,
      // Queue URLs on the edge's own origin: the functions' SQS clients resolve AWS_ENDPOINT_URL (the
      // edge) and would log a QueueUrl/endpoint mismatch for every send if the hosts differed.
      publicEdgeUrl: edgeUrl,
      log,
    });
    log(`provisioned in ${Date.now() - started} ms`);

    const metrics = new EmfMetrics();
    const telemetry = new LocalCloudMetrics({ emf: metrics, mappings: () => eventSources, queues: () => queueDepths(services.sqs.store) });
    services.edge.observe('kinesis', telemetry.observeKinesis);
    services.edge.routePath(METRICS_PATH, telemetry.handler);
    const runtime = new LocalLambdaRuntime(stack.functions, {
      edgeUrl,
      logDirectory: join(stateDirectory, 'logs'),
      onLogLine: (functionName, line) => metrics.ingest(functionName, line),
      onInvoked: (functionName, event, result) => telemetry.recordInvocation(functionName, event, result),
    });
    cleanup.push(() => runtime.stop());
    // Lambda's Invoke, ListFunctions and GetFunctionConfiguration, for operators' tools (npm run ops).
    services.edge.register('lambda', lambdaApiHandler({ functions: stack.functions, invoke: (functionName, event) => runtime.invoke(functionName, event) }));

    // Cognito: a development issuer per user pool, its JWKS and the dev-token endpoint on the edge.
    const devIssuer = new DevIssuer(edgeUrl);
    for (const pool of stack.userPools) devIssuer.addUserPool(pool);
    devIssuer.attach(services.edge);

    // API Gateway: WebSocket handshakes under /_ws/ and the @connections API (service execute-api).
    const webSocket = new LocalWebSocketGateway({ apis: stack.webSocketApis, invoke: (functionName, event) => runtime.invoke(functionName, event), log });
    webSocket.attach(services.edge);
    cleanup.push(() => webSocket.stop());

    const config = localClientConfig(edgeUrl);
    const kinesis = new KinesisClient(config);
    const streams = new DynamoDBStreamsClient(config);
    const sqs = new SQSClient(config);
    cleanup.push(async () => {
      kinesis.destroy();
      streams.destroy();
      sqs.destroy();
    });
    // With --persist, positions are written through to a file, so a restart resumes where the mappings were.
    const positions = options.persistDirectory === undefined ? undefined : CheckpointFile.open(join(resolve(options.persistDirectory), 'event-source-positions.jsonl'));
    if (positions !== undefined) cleanup.push(async () => positions.close());
    const checkpoints = new Map(stack.eventSourceMappings.map((mapping) => [mapping.uuid, positions?.forMapping(mapping.uuid) ?? new Map<string, string>()]));
    const eventSources: LocalEventSource[] = [];
    /** Mappings whose stream was created again empty (an engine lost its data): they read it from its start. */
    const onNewStream = new Set<string>();
    const startEventSources = async () => {
      for (const declared of stack.eventSourceMappings) {
        const mapping = onNewStream.has(declared.uuid) ? { ...declared, properties: { ...declared.properties, StartingPosition: 'TRIM_HORIZON' } } : declared;
        const common = {
          sqs,
          invoke: (functionName: string, event: unknown) => runtime.invoke(functionName, event),
          queueUrlForArn: (arn: string) => `${edgeUrl}/${LOCAL_ACCOUNT_ID}/${arn.split(':').at(-1)}`,
          checkpoints: checkpoints.get(mapping.uuid),
          log,
        };
        let source: LocalEventSource;
        if (mapping.eventSourceArn.startsWith('arn:aws:kinesis:')) {
          source = new KinesisEventSource(mapping, { ...common, kinesis });
        } else if (/^arn:aws:dynamodb:[^:]*:[^:]*:table\/[^/]+\/stream\//.test(mapping.eventSourceArn)) {
          source = new DynamoDbStreamEventSource(mapping, { ...common, streams });
        } else {
          log(`event source ${mapping.logicalId} (${mapping.eventSourceArn}) is not supported locally: only Kinesis and DynamoDB Streams are`);
          continue;
        }
        await source.start();
        eventSources.push(source);
      }
    };
    const stopEventSources = async () => {
      await Promise.all(eventSources.map((source) => source.stop()));
      telemetry.retire(eventSources);
      eventSources.length = 0;
    };
    cleanup.push(stopEventSources);
    await startEventSources();

    // Firehose: each delivery stream reads its Kinesis stream into its Iceberg table.
    const deliveryStreams: LocalDeliveryStream[] = [];
    const startFirehose = async (faults?: DeliveryStreamFaults) => {
      deliveryStreams.push(...(await startDeliveryStreams(stack, { edgeUrl, kinesis, sqs, log, faults })));
    };
    const stopFirehose = async () => {
      await Promise.all(deliveryStreams.map((stream) => stream.stop()));
      deliveryStreams.length = 0;
    };
    cleanup.push(stopFirehose);
    await startFirehose();
    const readsFrom = (service: StreamService, arn: string) => (service === 'kinesis' ? arn.startsWith('arn:aws:kinesis:') : /^arn:aws:dynamodb:[^:]*:[^:]*:table\/[^/]+\/stream\//.test(arn));
    const recovery = new PipelineRecovery({
      // Firehose reads Kinesis too: it pauses and resumes with the mappings.
      pausePipelines: async () => {
        await stopEventSources();
        await stopFirehose();
      },
      resumePipelines: async () => {
        await startEventSources();
        await startFirehose();
      },
      log,
      async reprovision() {
        const lines: string[] = [];
        const again = await provisionStack({
          template,
          stackName: STACK_NAME,
          assemblyDirectory,
          edgeUrl,
          publicEdgeUrl: edgeUrl,
          // Only what changed: resources created again, or found to differ.
          log: (line) => {
            if (/^ {2}(kinesis stream|dynamodb table|sqs queue|s3 bucket) /.test(line) && !/\(kept\)$/.test(line)) lines.push(`re-provisioned ${line.trim()}`);
            else if (line.startsWith('  !')) lines.push(line.trim());
          },
        });
        // A table created again has a new stream, with a new ARN: its mapping reads that one now.
        for (const mapping of again.eventSourceMappings) {
          const current = stack.eventSourceMappings.find((candidate) => candidate.uuid === mapping.uuid);
          if (current !== undefined) current.eventSourceArn = mapping.eventSourceArn;
        }
        return lines;
      },
      forgetPositions(service) {
        return stack.eventSourceMappings
          .filter((mapping) => readsFrom(service, mapping.eventSourceArn))
          .map((mapping) => {
            checkpoints.get(mapping.uuid)?.clear();
            onNewStream.add(mapping.uuid);
            return `event source ${mapping.logicalId}: its stream is new and empty; it reads it from the start (records not processed before the crash are lost)`;
          });
      },
    });
    const unsubscribe = services.onSupervisionEvent((event) => recovery.handle(event));
    // Runs before the mappings stop (cleanup runs in reverse): no restart resumes them after that.
    cleanup.push(async () => {
      unsubscribe();
      await recovery.settled();
    });

    // The dashboard web app, with a config.json naming the local stage and the dev-token endpoint.
    const webSocketUrl = dashboardWebSocketUrl(stack, edgeUrl);
    let dashboardUrl = '';
    if (webSocketUrl === undefined) {
      log('dashboard: not served, the template has no WebSocket API');
    } else {
      // The broadcaster's lateness, as the template sets it, so the page marks windows final when the server does.
      const lateness = stack.functions.map((fn) => fn.environment[DashboardEnv.allowedLatenessSeconds]).find((value) => value !== undefined);
      const dashboardConfig: DashboardConfig = {
        webSocketUrl,
        auth: { mode: 'dev', tokenUrl: devIssuer.tokenUrl },
        allowedLatenessSeconds: lateness === undefined ? AGGREGATOR_DEFAULTS.allowedLatenessSeconds : Number(lateness),
      };
      const dashboard = await startLocalDashboard({ directory: join(stateDirectory, 'web'), config: dashboardConfig, port: options.dashboardPort ?? 3000, log });
      cleanup.push(() => dashboard.stop());
      dashboardUrl = `${dashboard.url}/`;
    }
    // ECS services: each task's container runs its task-definition command as a local process.
    const containers = new LocalContainerRunner(stack.containerServices, {
      edgeUrl,
      projectRoot: resolve(__dirname, '..'),
      logDirectory: join(stateDirectory, 'logs'),
      environmentOverrides: options.serviceEnvironment,
      onLogLine: (serviceName, line) => metrics.ingest(serviceName, line),
      log,
    });
    containers.start();
    cleanup.push(() => containers.stop());

    const outputs = localOutputs(stack, dashboardUrl);
    const outputsFile = join(stateDirectory, 'outputs.json');
    writeFileSync(outputsFile, `${JSON.stringify({ [STACK_NAME]: outputs }, null, 2)}\n`);
    // Written last, once everything answers, and removed first on stop: tools that find it can use it.
    const stateFile = join(stateDirectory, LOCAL_CLOUD_STATE_FILE);
    const state: LocalCloudState = { edgeUrl, dashboardUrl, outputsFile, pid: process.pid, startedAt: new Date().toISOString() };
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
    cleanup.push(async () => rmSync(stateFile, { force: true }));

    return {
      edgeUrl,
      stateDirectory,
      services,
      stack,
      outputs,
      runtime,
      eventSources,
      metrics,
      telemetry,
      webSocket,
      webSocketUrl: webSocketUrl ?? '',
      devIssuer,
      dashboardUrl,
      deliveryStreams,
      async restartDeliveryStreams(faults) {
        await stopFirehose();
        await startFirehose(faults);
      },
      recovery,
      containers,
      async restartFunctions({ forgetCheckpoints = false } = {}) {
        await stopEventSources();
        await Promise.all(runtime.functionNames.map((name) => runtime.crash(name)));
        if (forgetCheckpoints) for (const map of checkpoints.values()) map.clear();
        await startEventSources();
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The WebSocket URL the dashboard connects to: the `WebSocketUrl` output (already in its local
 * form) when it names a local stage, else the first stage of the first WebSocket API.
 */
function dashboardWebSocketUrl(stack: ProvisionedStack, edgeUrl: string): string | undefined {
  const output = stack.outputs.WebSocketUrl;
  if (output?.startsWith('ws://')) return output;
  const api = stack.webSocketApis.find((candidate) => candidate.stages.length > 0);
  return api === undefined ? undefined : webSocketStageUrl(edgeUrl, api.apiId, api.stages[0]!);
}

/**
 * The stack outputs as the local cloud serves them. A CloudFront distribution's domain means
 * nothing locally, so an output naming one (the dashboard's URL) names the local dashboard
 * instead; WebSocket stage URLs were already made local by provisioning.
 */
function localOutputs(stack: ProvisionedStack, dashboardUrl: string): Record<string, string> {
  const domains = [...stack.resources.values()].filter((resource) => resource.type === 'AWS::CloudFront::Distribution').map((resource) => resource.attributes.DomainName!);
  const outputs: Record<string, string> = {};
  for (const [key, value] of Object.entries(stack.outputs)) {
    const domain = domains.find((candidate) => value.startsWith(`https://${candidate}`));
    if (domain === undefined || dashboardUrl === '') {
      outputs[key] = value;
      continue;
    }
    const path = value.slice(`https://${domain}`.length).replace(/^\//, '');
    outputs[key] = `${dashboardUrl}${path}`;
  }
  return outputs;
}
