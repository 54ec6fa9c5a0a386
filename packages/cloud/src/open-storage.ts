import { join } from 'node:path';
import { CairnError, ErrorCode } from '@cairn/errors';
import type { ExternalStorage } from './external-storage.js';
import { LocalDirStorage } from './local-dir-storage.js';
import type { S3StorageOptions } from './s3-storage.js';
import { appendUriPath, parseStorageUri, redactStorageUri } from './storage-uri.js';

/** What opening a URI may need from the process that opens it. */
export interface StorageContext {
  /** This node's ID; `nodelocal://<this id>/...` is then local. */
  nodeId?: number;
  /** This node's extern dir, the root of its `nodelocal://` paths. */
  nodelocalDir?: string;
  /** Reaches another node's extern dir (provided by the node service, over NATS). */
  remoteNodelocal?: (nodeId: number, basePath: string) => ExternalStorage;
  /** Resolves an external connection name to the URI it stands for. */
  resolveExternalConnection?: (name: string) => Promise<string>;
  /** Knobs for S3 storages (retries, timeouts, part size); the retry policy applies to gs:// and azure:// too. */
  s3?: Omit<S3StorageOptions, 'uri'>;
}

/**
 * Opens the storage a URI names. Parsing errors are `InvalidArgument`; a nodelocal dir of
 * another node without a way to reach it, or an external connection without a resolver, is
 * `FailedPrecondition`.
 *
 * A cloud provider's module (and its SDK) loads when a URI of its scheme is first opened, not
 * with this package: the three SDKs hold ~17 MB of heap, nearly half of an idle node's, which
 * a cluster backing up to `nodelocal://` or `file://` never uses and a node's heap limit and
 * old-space floor are sized against (docs/operations.md, "Memory").
 */
export async function openStorage(uri: string, ctx: StorageContext = {}): Promise<ExternalStorage> {
  const loc = parseStorageUri(uri);
  const shown = redactStorageUri(uri);
  switch (loc.scheme) {
    case 'file':
      return new LocalDirStorage(loc.path, { uri: shown });
    case 's3': {
      const { S3Storage } = await import('./s3-storage.js');
      return new S3Storage(loc, { ...ctx.s3, uri: shown });
    }
    case 'azure': {
      const { AzureBlobStorage } = await import('./azure-storage.js');
      return new AzureBlobStorage(loc, { uri: shown, ...(ctx.s3?.retry === undefined ? {} : { retry: ctx.s3.retry }) });
    }
    case 'gs': {
      const { GcsStorage } = await import('./gcs-storage.js');
      return new GcsStorage(loc, { uri: shown, ...(ctx.s3?.retry === undefined ? {} : { retry: ctx.s3.retry }) });
    }
    case 'nodelocal': {
      if (loc.nodeId === 'self' || loc.nodeId === ctx.nodeId) {
        if (ctx.nodelocalDir === undefined) {
          throw new CairnError(ErrorCode.FailedPrecondition, `${shown}: this process has no nodelocal dir configured`);
        }
        // loc.path is normalized and free of "..", so the join stays inside the extern dir.
        return new LocalDirStorage(join(ctx.nodelocalDir, loc.path), { uri: shown });
      }
      if (ctx.remoteNodelocal === undefined) {
        throw new CairnError(ErrorCode.FailedPrecondition, `nodelocal://${String(loc.nodeId)} is not reachable from here`);
      }
      return ctx.remoteNodelocal(loc.nodeId, loc.path);
    }
    case 'external': {
      if (ctx.resolveExternalConnection === undefined) {
        throw new CairnError(
          ErrorCode.FailedPrecondition,
          `${shown}: external connections cannot be resolved here`,
        );
      }
      const target = await ctx.resolveExternalConnection(loc.name);
      if (parseStorageUri(target).scheme === 'external') {
        throw new CairnError(
          ErrorCode.InvalidArgument,
          `external connection "${loc.name}" resolves to another external connection (${redactStorageUri(target)})`,
        );
      }
      return openStorage(appendUriPath(target, loc.path), ctx);
    }
  }
}
