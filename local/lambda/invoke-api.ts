import type { EdgeHandler } from '../edge';
import type { FunctionSpec } from '../cloudformation/provision';
import { readBody, sendJson } from '../http';
import type { InvokeResult } from './runtime';

/** Lambda's synchronous payload limit. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface LambdaApiOptions {
  readonly functions: readonly FunctionSpec[];
  readonly invoke: (functionName: string, event: unknown) => Promise<InvokeResult>;
}

/**
 * The part of the Lambda API that operators' tools use, on the edge (service `lambda`):
 * `Invoke` (RequestResponse), `ListFunctions` and `GetFunctionConfiguration`. `npm run ops --
 * replay` re-drives failed batches through it exactly as it does through AWS's Lambda API.
 */
export function lambdaApiHandler(options: LambdaApiOptions): EdgeHandler {
  const byName = new Map(options.functions.map((spec) => [spec.functionName, spec]));
  const find = (raw: string): FunctionSpec | undefined => {
    const name = decodeURIComponent(raw);
    // A name, a full ARN or a partial ARN (`123456789012:function:name`) name the same function.
    return byName.get(name) ?? byName.get(name.split(':function:').at(-1)?.split(':')[0] ?? name);
  };
  const notFound = (res: Parameters<EdgeHandler>[1], raw: string) =>
    sendJson(res, 404, { Type: 'User', message: `Function not found: ${decodeURIComponent(raw)}. Known functions: ${[...byName.keys()].join(', ') || 'none'}` }, { 'x-amzn-errortype': 'ResourceNotFoundException' });

  return async (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const invoke = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (invoke !== null && req.method === 'POST') {
      const spec = find(invoke[1]!);
      if (spec === undefined) return notFound(res, invoke[1]!);
      const type = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
      if (type !== 'RequestResponse') {
        return sendJson(res, 400, { Type: 'User', message: `The local Lambda API runs RequestResponse invocations only. Received ${String(type)}` }, { 'x-amzn-errortype': 'InvalidParameterValueException' });
      }
      const body = await readBody(req, MAX_PAYLOAD_BYTES);
      if (body === undefined) {
        return sendJson(res, 413, { Type: 'User', message: `Request payload is larger than ${MAX_PAYLOAD_BYTES} bytes` }, { 'x-amzn-errortype': 'RequestTooLargeException' });
      }
      let event: unknown;
      try {
        event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        return sendJson(res, 400, { Type: 'User', message: 'Could not parse request body into json' }, { 'x-amzn-errortype': 'InvalidRequestContentException' });
      }
      const result = await options.invoke(spec.functionName, event);
      if (result.ok) return sendJson(res, 200, result.payload ?? null, { 'x-amz-executed-version': '$LATEST' });
      return sendJson(res, 200, { errorType: result.errorType, errorMessage: result.errorMessage }, { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' });
    }
    const configuration = /^\/2015-03-31\/functions\/([^/]+)\/configuration$/.exec(path);
    if (configuration !== null && req.method === 'GET') {
      const spec = find(configuration[1]!);
      return spec === undefined ? notFound(res, configuration[1]!) : sendJson(res, 200, configurationOf(spec));
    }
    if (/^\/2015-03-31\/functions\/?$/.test(path) && req.method === 'GET') {
      return sendJson(res, 200, { Functions: options.functions.map(configurationOf) });
    }
    sendJson(res, 400, { Type: 'User', message: `The local Lambda API serves Invoke, ListFunctions and GetFunctionConfiguration. Received ${req.method ?? '?'} ${path}` }, { 'x-amzn-errortype': 'InvalidRequestException' });
  };
}

function configurationOf(spec: FunctionSpec): Record<string, unknown> {
  return {
    FunctionName: spec.functionName,
    FunctionArn: spec.functionArn,
    Runtime: spec.runtime,
    Handler: spec.handler,
    Timeout: spec.timeoutSeconds,
    MemorySize: spec.memorySize,
    State: 'Active',
    LastUpdateStatus: 'Successful',
  };
}
