import type { ObjectStore } from '../../lakehouse/object-store';

/**
 * Reads an Iceberg table with icebird, the independent reader. icebird fetches `s3://b/k` as
 * `https://b.s3.amazonaws.com/k`; while it runs, those requests are answered from `store` (the
 * in-memory store, or S3 on the local cloud), so only the transport is bridged: icebird parses
 * the metadata, manifests, Parquet and delete files itself.
 */
export async function readWithIcebird(store: ObjectStore, tableUri: string, options: { metadataFileName?: string } = {}): Promise<Record<string, unknown>[]> {
  const { icebergRead } = await import('icebird');
  const original = globalThis.fetch;
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const match = /^https:\/\/([^/.]+)\.s3\.amazonaws\.com\/(.*)$/.exec(url);
    if (match === null) return original(input, init);
    const bytes = await store.get(`s3://${match[1]}/${decodeURIComponent(match[2]!)}`);
    if (bytes === undefined) return new Response('NoSuchKey', { status: 404, statusText: 'Not Found' });
    return new Response(new Uint8Array(bytes), { status: 200, headers: { 'content-length': String(bytes.byteLength) } });
  });
  try {
    return await icebergRead({ tableUrl: tableUri, ...(options.metadataFileName === undefined ? {} : { metadataFileName: options.metadataFileName }) });
  } finally {
    globalThis.fetch = original;
  }
}
