import { createServer } from 'node:net';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export interface RequiredPort {
  /** 0 means "any free port" and is never checked. */
  readonly port: number;
  /** Named in the message, e.g. `The edge`. */
  readonly what: string;
  /** The flag that changes it, e.g. `--port`. */
  readonly flag: string;
}

/**
 * Fails with one message naming every taken port and the flag that moves it. Checked by binding
 * 127.0.0.1, where the local cloud listens, so a port held by another local cloud, LocalStack or
 * any other server shows up before the seconds spent synthesizing and bundling.
 */
export async function assertPortsFree(ports: readonly RequiredPort[], host = '127.0.0.1'): Promise<void> {
  const taken: RequiredPort[] = [];
  for (const required of ports) {
    if (required.port !== 0 && !(await isFree(required.port, host))) taken.push(required);
  }
  if (taken.length === 0) return;
  throw new PortInUseError(
    taken
      .map(({ port, what, flag }) => `${what} cannot listen on ${host}:${port}: the port is in use (is LocalStack or another local cloud running? \`${flag} N\` picks another port)`)
      .join('\n'),
  );
}

async function isFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(false) : reject(error)));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
