// The subset of s3rver 3.x (no bundled types) that the local cloud uses.
declare module 's3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  interface S3rverOptions {
    /** Data directory. */
    directory: string;
    silent?: boolean;
    /** Allow vhost-style access for all buckets. @default true */
    vhostBuckets?: boolean;
    /** Prevent SignatureDoesNotMatch errors for all well-formed signatures. */
    allowMismatchedSignatures?: boolean;
    resetOnClose?: boolean;
  }

  class S3rver {
    constructor(options: S3rverOptions);
    /** A request listener for http.createServer(). */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    reset(): void;
  }

  export default S3rver;
}
