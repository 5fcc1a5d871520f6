import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { parseS3Uri, toBytes, type ObjectStore } from './object-store';

const isMissing = (error: unknown) => {
  const name = (error as { name?: string }).name;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return name === 'NoSuchKey' || name === 'NotFound' || status === 404;
};

/**
 * The warehouse on S3 (or the local cloud's s3rver through the edge). Path-style addressing, as
 * the local emulator requires and AWS accepts.
 */
export class S3ObjectStore implements ObjectStore {
  readonly client: S3Client;

  constructor(config: S3ClientConfig) {
    this.client = new S3Client({ ...config, forcePathStyle: true });
  }

  async get(uri: string): Promise<Uint8Array | undefined> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await response.Body!.transformToByteArray();
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
  }

  async put(uri: string, body: Uint8Array | string, contentType = 'application/octet-stream'): Promise<void> {
    const { bucket, key } = parseS3Uri(uri);
    await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: toBytes(body), ContentType: contentType }));
  }

  /**
   * S3 conditional write (If-None-Match: *) makes the create atomic on AWS. s3rver ignores the
   * header, so a HEAD first keeps the local guarantee to "no overwrite unless two writers race
   * within the same few milliseconds"; the local cloud runs one sink per table, and compaction
   * retries on conflict.
   */
  async putIfAbsent(uri: string, body: Uint8Array | string, contentType = 'application/octet-stream'): Promise<boolean> {
    const { bucket, key } = parseS3Uri(uri);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return false;
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    try {
      await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: toBytes(body), ContentType: contentType, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || (error as { name?: string }).name === 'PreconditionFailed') return false;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const { bucket, key } = parseS3Uri(prefix);
    const uris: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }));
      for (const object of page.Contents ?? []) uris.push(`s3://${bucket}/${object.Key}`);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return uris.sort();
  }

  async delete(uris: string[]): Promise<void> {
    const byBucket = new Map<string, string[]>();
    for (const uri of uris) {
      const { bucket, key } = parseS3Uri(uri);
      byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), key]);
    }
    for (const [bucket, keys] of byBucket) {
      for (let start = 0; start < keys.length; start += 1000) {
        await this.client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(start, start + 1000).map((Key) => ({ Key })), Quiet: true } }));
      }
    }
  }

  destroy(): void {
    this.client.destroy();
  }
}
