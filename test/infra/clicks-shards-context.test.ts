import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CLICKS_SHARDS_CONTEXT, clicksShardsFromContext, createWatershedApp } from '../../lib/app';

/** The whole app as `cdk synth -c clicksShards=...` builds it, without bundling the functions. */
function clicksStreamOf(context: Record<string, unknown>): Record<string, unknown> {
  const { stack } = createWatershedApp({ context: { 'aws:cdk:bundling-stacks': [], ...context }, validateTemplate: false });
  const streams = Object.entries(Template.fromStack(stack).findResources('AWS::Kinesis::Stream')).filter(([logicalId]) => logicalId.startsWith('ClickstreamClicksStream'));
  expect(streams).toHaveLength(1);
  return streams[0]![1].Properties as Record<string, unknown>;
}

describe('the clicksShards context', () => {
  it.each<[string, Record<string, unknown>, number]>([
    ['unset', {}, 1],
    // `cdk deploy -c clicksShards=4` passes the value as a string.
    ['a string from -c on the CLI', { [CLICKS_SHARDS_CONTEXT]: '4' }, 4],
    ['a number from code (the local cloud)', { [CLICKS_SHARDS_CONTEXT]: 3 }, 3],
  ])('%s gives the clicks stream that many shards in the template', (_name, context, shards) => {
    expect(clicksStreamOf(context)).toMatchObject({ ShardCount: shards, StreamModeDetails: { StreamMode: 'PROVISIONED' } });
  });

  it.each<[unknown, string]>([
    ['0', 'clicksShards must be a whole number of at least 1, e.g. -c clicksShards=4. Received "0"'],
    ['four', 'clicksShards must be a whole number of at least 1, e.g. -c clicksShards=4. Received "four"'],
    ['2.5', 'clicksShards must be a whole number of at least 1, e.g. -c clicksShards=4. Received "2.5"'],
    [-1, 'clicksShards must be a whole number of at least 1, e.g. -c clicksShards=4. Received -1'],
  ])('refuses %j at synth time, naming the value', (value, message) => {
    expect(() => clicksShardsFromContext(value)).toThrow(message);
    expect(() => createWatershedApp({ context: { 'aws:cdk:bundling-stacks': [], [CLICKS_SHARDS_CONTEXT]: value }, validateTemplate: false })).toThrow(message);
  });
});
