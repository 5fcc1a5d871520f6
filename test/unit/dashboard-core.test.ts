import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../../contracts/aggregator-settings';
import { DashboardEnv } from '../../contracts/dashboard-settings';
import { parseClientMessage } from '../../lambdas/dashboard/core/client-message';
import { forEachWithConcurrency } from '../../lambdas/dashboard/core/concurrency';
import { allowConnect, cognitoIssuer, denyConnect, tokenOf } from '../../lambdas/dashboard/core/authorize';
import { snapshotCutoff } from '../../lambdas/dashboard/core/windows';
import {
  AuthorizerSettings,
  BroadcasterSettings,
  ConnectionsSettings,
  requireManagementApiEndpoint,
  settingsFromEnv,
} from '../../lambdas/dashboard/settings';

const METHOD_ARN = 'arn:aws:execute-api:us-east-1:000000000000:abc123/live/$connect';

describe('the JWT issuer', () => {
  it.each([
    ['Cognito on AWS', { region: 'eu-west-1' }, 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc'],
    ['the edge of the local cloud', { endpoint: 'http://localhost:4566', region: 'us-east-1' }, 'http://localhost:4566/eu-west-1_abc'],
    ['a Cognito-specific endpoint first', { cognitoEndpoint: 'http://localhost:4567/', endpoint: 'http://localhost:4566' }, 'http://localhost:4567/eu-west-1_abc'],
  ])('is %s', (_name, env, issuer) => {
    expect(cognitoIssuer('eu-west-1_abc', env)).toBe(issuer);
  });

  it('cannot be known without a region or an endpoint', () => {
    expect(() => cognitoIssuer('pool', {})).toThrow(/AWS_REGION/);
  });
});

describe('authorizer policies', () => {
  it('allow exactly the $connect method, with the subject as principal and context', () => {
    expect(allowConnect('user-1', METHOD_ARN)).toStrictEqual({
      principalId: 'user-1',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: METHOD_ARN }] },
      context: { sub: 'user-1' },
    });
  });

  it('deny without any context', () => {
    expect(denyConnect(METHOD_ARN)).toStrictEqual({
      principalId: 'anonymous',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: METHOD_ARN }] },
    });
  });

  it.each([
    [{ token: 'abc' }, 'abc'],
    [{ token: '  abc ' }, 'abc'],
    [{ token: '' }, undefined],
    [{}, undefined],
    [null, undefined],
  ])('read the token from the query string %j', (query, token) => {
    expect(tokenOf({ queryStringParameters: query })).toBe(token);
  });
});

describe('client messages', () => {
  it.each([
    ['{"v":1,"type":"subscribe"}', { v: 1, type: 'subscribe' }],
    ['{"v":1,"type":"ping","extra":true}', { v: 1, type: 'ping' }],
  ])('accepts %s', (body, message) => {
    expect(parseClientMessage(body)).toStrictEqual({ ok: true, message });
  });

  it.each([null, undefined, '   ', 'null', '"subscribe"', '{"type":"subscribe"}'])('rejects %j with a reason', (body) => {
    const result = parseClientMessage(body);
    expect(result.ok).toBe(false);
  });
});

describe('snapshot cutoff', () => {
  it.each([
    ['mid-minute', '2026-01-01T00:10:30.000Z', '2025-12-31T23:41:00.000Z'],
    ['on a minute boundary', '2026-01-01T00:10:00.000Z', '2025-12-31T23:41:00.000Z'],
  ])('covers 30 windows including the current one, %s', (_name, now, cutoff) => {
    expect(snapshotCutoff(Date.parse(now), 30)).toBe(cutoff);
  });
});

describe('bounded concurrency', () => {
  it('never runs more than the limit at once, and runs every task', async () => {
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachWithConcurrency([...Array(20).keys()], 3, async (item) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      done.push(item);
    });
    expect(peak).toBe(3);
    expect(done.sort((a, b) => a - b)).toStrictEqual([...Array(20).keys()]);
  });

  it('finishes the other tasks before reporting one that threw', async () => {
    const done: number[] = [];
    const run = forEachWithConcurrency([1, 2, 3, 4], 2, async (item) => {
      if (item === 1) throw new Error('boom');
      done.push(item);
    });
    await expect(run).rejects.toThrow('boom');
    expect(done.sort()).toStrictEqual([2, 3, 4]);
  });

  it.each([0, 1.5, -1])('rejects a limit of %d', async (limit) => {
    await expect(forEachWithConcurrency([1], limit, async () => undefined)).rejects.toThrow(RangeError);
  });
});

describe('settings from the environment', () => {
  it('reads the connections handler settings, with defaults', () => {
    const env = { [DashboardEnv.connectionsTableName]: 'connections', [DashboardEnv.windowTableName]: 'windows' };
    expect(settingsFromEnv(ConnectionsSettings, 'connections handler', env)).toStrictEqual({
      connectionsTableName: 'connections',
      windowTableName: 'windows',
      allowedLatenessSeconds: 60,
      connectionTtlSeconds: 7200,
      // The market panel's quotes table is optional: a stack without the panel sends no prices snapshot.
      quotesTableName: undefined,
    });
    expect(settingsFromEnv(ConnectionsSettings, 'connections handler', { ...env, [DashboardEnv.quotesTableName]: 'quotes' }).quotesTableName).toBe('quotes');
  });

  it('names every missing or invalid variable', () => {
    const env = { [DashboardEnv.postConcurrency]: '0' };
    expect(() => settingsFromEnv(BroadcasterSettings, 'broadcaster', env)).toThrow(ConfigurationError);
    expect(() => settingsFromEnv(BroadcasterSettings, 'broadcaster', env)).toThrow(/CONNECTIONS_TABLE_NAME: .*POST_CONCURRENCY: /);
    expect(() => settingsFromEnv(AuthorizerSettings, 'authorizer', { USER_POOL_ID: 'p', USER_POOL_CLIENT_ID: '' })).toThrow(
      /Invalid authorizer configuration: USER_POOL_CLIENT_ID/,
    );
  });

  it.each([
    [{ AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI: 'https://abc.execute-api.us-east-1.amazonaws.com/live' }, 'https://abc.execute-api.us-east-1.amazonaws.com/live'],
    [{ AWS_ENDPOINT_URL: 'http://localhost:4566' }, 'http://localhost:4566'],
  ])('finds the @connections endpoint in %j', (env, endpoint) => {
    expect(requireManagementApiEndpoint(env)).toBe(endpoint);
  });

  it('fails fast without an @connections endpoint', () => {
    expect(() => requireManagementApiEndpoint({})).toThrow(/AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI/);
  });
});
