/**
 * Where the warehouse's files live, as the Iceberg writer and readers need it: whole objects
 * addressed by `s3://bucket/key` URIs. Implemented over S3 (./s3-object-store.ts) and in memory
 * for unit tests; the Iceberg core never imports an SDK.
 */
export interface ObjectStore {
  /** The object's bytes, or undefined when there is no such object. */
  get(uri: string): Promise<Uint8Array | undefined>;
  put(uri: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /**
   * Creates the object only if none exists at `uri`; false when one did. Commits rely on it: a
   * metadata version is claimed by exactly one writer.
   */
  putIfAbsent(uri: string, body: Uint8Array | string, contentType?: string): Promise<boolean>;
  /** URIs of the objects whose URI starts with `prefix`, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
  delete(uris: string[]): Promise<void>;
  /** Releases connections, where the store holds any. */
  destroy?(): void;
}

export class ObjectStoreError extends Error {
  override readonly name = 'ObjectStoreError';
}

export function parseS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3a?:\/\/([^/]+)\/(.*)$/.exec(uri);
  if (match === null) throw new ObjectStoreError(`not an s3:// URI: ${uri}`);
  return { bucket: match[1]!, key: match[2]! };
}

const encoder = new TextEncoder();

export function toBytes(body: Uint8Array | string): Uint8Array {
  return typeof body === 'string' ? encoder.encode(body) : body;
}

/** An ObjectStore in memory: unit tests, and benchmarks that leave S3 out. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Uint8Array>();

  async get(uri: string): Promise<Uint8Array | undefined> {
    return this.objects.get(uri);
  }

  async put(uri: string, body: Uint8Array | string): Promise<void> {
    this.objects.set(uri, toBytes(body));
  }

  async putIfAbsent(uri: string, body: Uint8Array | string): Promise<boolean> {
    if (this.objects.has(uri)) return false;
    this.objects.set(uri, toBytes(body));
    return true;
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((uri) => uri.startsWith(prefix)).sort();
  }

  async delete(uris: string[]): Promise<void> {
    for (const uri of uris) this.objects.delete(uri);
  }
}
