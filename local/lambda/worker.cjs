// One Lambda execution environment: its own thread, env and module scope. Plain CommonJS so it
// loads the bundled asset exactly as the Node.js runtime on AWS would, with no TypeScript loader.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { join } = require('node:path');

const { codeDirectory, handler, functionName, functionArn, memorySize } = workerData;
const separator = handler.lastIndexOf('.');
const modulePath = join(codeDirectory, handler.slice(0, separator));
const exportName = handler.slice(separator + 1);

let handlerFunction;
function loadHandler() {
  if (handlerFunction === undefined) {
    const loaded = require(modulePath);
    handlerFunction = loaded[exportName];
    if (typeof handlerFunction !== 'function') {
      throw Object.assign(new Error(`${modulePath} does not export a function named ${exportName}`), { name: 'Runtime.HandlerNotFound' });
    }
  }
  return handlerFunction;
}

parentPort.on('message', async ({ invocationId, requestId, event, deadlineMs }) => {
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: functionArn,
    memoryLimitInMB: String(memorySize),
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${process.pid}`,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
  };
  try {
    const result = await loadHandler()(event, context);
    parentPort.postMessage({ invocationId, ok: true, payload: result === undefined ? null : result });
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    parentPort.postMessage({
      invocationId,
      ok: false,
      errorType: err.name,
      errorMessage: err.message,
      trace: (err.stack || '').split('\n'),
    });
  }
});
