import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * Joins storage-relative path parts into one normalized path: no leading slash, no `//`,
 * no `.` segments. `..` pops a segment; popping past the root is refused, because a storage
 * path must never reach outside the location it was opened on (a nodelocal dir, a bucket
 * prefix).
 */
export function joinPath(...parts: string[]): string {
  const out: string[] = [];
  for (const part of parts) {
    for (const segment of part.split('/')) {
      if (segment === '' || segment === '.') continue;
      if (segment === '..') {
        if (out.length === 0) {
          throw new CairnError(
            ErrorCode.InvalidArgument,
            `path ${JSON.stringify(parts.join('/'))} escapes the storage root`,
          );
        }
        out.pop();
        continue;
      }
      out.push(segment);
    }
  }
  return out.join('/');
}

/** A file path inside a storage: normalized, and never the root itself. */
export function filePath(path: string, uri: string): string {
  const rel = joinPath(path);
  if (rel === '') {
    throw new CairnError(ErrorCode.InvalidArgument, `empty file path in ${uri}`);
  }
  return rel;
}

/**
 * A listing prefix: unlike a file path it keeps a trailing `/` (and any partial last
 * segment), because `data/` and `data` select different keys. `..` segments are refused.
 */
export function listPrefix(prefix: string): string {
  const stripped = prefix.replace(/^\/+/, '');
  if (stripped.split('/').some((s) => s === '..')) {
    throw new CairnError(ErrorCode.InvalidArgument, `listing prefix ${JSON.stringify(prefix)} must not contain ".."`);
  }
  return stripped.replace(/\/{2,}/g, '/');
}
