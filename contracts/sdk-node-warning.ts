/**
 * The AWS SDK for JavaScript v3 warns once per process, on Node.js < 22, that SDK versions
 * published after the first week of January 2027 will require Node.js 22. It is handled where the
 * runtime is known, and only that warning, through the SDK's own switch for it:
 *
 * - a function declared for Node.js 22 or later (the template's `Runtime`) would never see it on
 *   AWS; locally it runs on the host's Node.js, so the warning would describe the host, not the
 *   function, and is turned off in its execution environment;
 * - Watershed's own tools (`npm start`, `npm run simulate`, `npm run bench`) run the SDK versions
 *   pinned in package-lock.json, which support the Node.js versions package.json's `engines`
 *   allows; the README's "Node.js versions" note is the user's path to Node.js 22.
 *
 * Every other warning still shows.
 */
export const SDK_NODE_WARNING_SWITCH = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/** The Node.js major version the SDK's warning asks for. */
export const SDK_FUTURE_NODE_MAJOR = 22;

/** Turns the SDK's Node.js version warning off for this process (unless the user set the switch). */
export function silenceSdkNodeWarningForTools(env: NodeJS.ProcessEnv = process.env): void {
  env[SDK_NODE_WARNING_SWITCH] ??= 'true';
}

/**
 * The switch for a function's execution environment: on when the function is declared for a
 * Node.js runtime the SDK does not warn about (`nodejs22.x` and later), absent otherwise.
 */
export function sdkNodeWarningEnvironment(runtime: string): Record<string, string> {
  const major = /^nodejs(\d+)\./.exec(runtime)?.[1];
  return major !== undefined && Number(major) >= SDK_FUTURE_NODE_MAJOR ? { [SDK_NODE_WARNING_SWITCH]: 'true' } : {};
}
