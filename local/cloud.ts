import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createWatershedApp } from '../lib/app';
import { LOCAL_ACCOUNT_ID, localClientConfig } from './clients';
import { provisionStack, type ProvisionedStack } from './cloudformation/provision';
import { readTemplate } from './cloudformation/template';
import { startServices, type LocalServices } from './emulators';
import type { KinesisEngine, LogFn } from './emulators/types';
import { KinesisEventSource } from './lambda/kinesis-event-source';
import { LocalLambdaRuntime } from './lambda/runtime';
import { EmfMetrics } from './metrics';

export { STACK_NAME } from '../lib/names';
import { STACK_NAME } from '../lib/names';

export interface LocalCloudOptions {
  /** Edge port; 0 picks a free one. @default 4566, LocalStack's port */
  edgePort?: number;
  /** @default 'kinesalite' */
  kinesisEngine?: KinesisEngine;
  /** Keep emulator data here across restarts. @default - in memory */
  persistDirectory?: string;
  /** Outputs, logs and checkpoints go here. @default '.watershed' */
  stateDirectory?: string;
  /** Cloud assembly directory. @default 'cdk.out' */
  assemblyDirectory?: string;
  log?: LogFn;
}

export interface LocalCloud {
  edgeUrl: string;
  /** The emulators and the edge, e.g. to register another service or a fault-injecting route. */
  services: LocalServices;
  stack: ProvisionedStack;
  outputs: Record<string, string>;
  runtime: LocalLambdaRuntime;
  eventSources: KinesisEventSource[];
  metrics: EmfMetrics;
  /** Stops the event source mappings and the functions, then starts them again from their checkpoints. */
  restartFunctions(options?: { forgetCheckpoints?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

/** Synthesizes the CDK app in-process, with the asset metadata the local cloud needs. */
export function synthesize(assemblyDirectory: string): string {
  const { app, stack } = createWatershedApp({
    outdir: assemblyDirectory,
    context: { 'aws:cdk:enable-asset-metadata': true },
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

  let started = Date.now();
  const [templatePath, services] = await Promise.all([
    Promise.resolve().then(() => synthesize(assemblyDirectory)),
    startServices({ edgePort: options.edgePort ?? 4566, kinesisEngine: options.kinesisEngine ?? 'kinesalite', persistDir: options.persistDirectory, log }),
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
    const stack = await provisionStack({
      template: readTemplate(templatePath),
      stackName: STACK_NAME,
      assemblyDirectory,
      edgeUrl,
      log,
    });
    log(`provisioned in ${Date.now() - started} ms`);
    writeFileSync(join(stateDirectory, 'outputs.json'), `${JSON.stringify({ [STACK_NAME]: stack.outputs }, null, 2)}\n`);

    const metrics = new EmfMetrics();
    const runtime = new LocalLambdaRuntime(stack.functions, {
      edgeUrl,
      logDirectory: join(stateDirectory, 'logs'),
      onLogLine: (functionName, line) => metrics.ingest(functionName, line),
    });
    cleanup.push(() => runtime.stop());

    const config = localClientConfig(edgeUrl);
    const kinesis = new KinesisClient(config);
    const sqs = new SQSClient(config);
    cleanup.push(async () => {
      kinesis.destroy();
      sqs.destroy();
    });
    const checkpoints = new Map(stack.eventSourceMappings.map((mapping) => [mapping.uuid, new Map<string, string>()]));
    const eventSources: KinesisEventSource[] = [];
    const startEventSources = async () => {
      for (const mapping of stack.eventSourceMappings) {
        if (!mapping.eventSourceArn.startsWith('arn:aws:kinesis:')) {
          log(`event source ${mapping.logicalId} (${mapping.eventSourceArn}) is not supported locally yet`);
          continue;
        }
        const source = new KinesisEventSource(mapping, {
          kinesis,
          sqs,
          invoke: (functionName, event) => runtime.invoke(functionName, event),
          queueUrlForArn: (arn) => `${edgeUrl}/${LOCAL_ACCOUNT_ID}/${arn.split(':').at(-1)}`,
          checkpoints: checkpoints.get(mapping.uuid),
          log,
        });
        await source.start();
        eventSources.push(source);
      }
    };
    const stopEventSources = async () => {
      await Promise.all(eventSources.map((source) => source.stop()));
      eventSources.length = 0;
    };
    cleanup.push(stopEventSources);
    await startEventSources();

    return {
      edgeUrl,
      services,
      stack,
      outputs: stack.outputs,
      runtime,
      eventSources,
      metrics,
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
