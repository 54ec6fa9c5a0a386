import type { S3ServerHandle } from '@cairn/testing';

/**
 * Object access to the test's s3rver over the plain S3 REST API (ListObjectsV2, GetObject,
 * PutObject). s3rver serves requests without an Authorization header, so the test needs no
 * signing library: these are the same HTTP calls any S3 client makes.
 */

function unescapeXml(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}

function objectUrl(s3: S3ServerHandle, bucket: string, key: string): string {
  return `${s3.endpoint}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** Every key in `bucket` starting with `prefix`, in S3's (lexicographic) order. */
export async function listKeys(s3: S3ServerHandle, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (;;) {
    const params = new URLSearchParams({ 'list-type': '2', prefix });
    if (token !== undefined) params.set('continuation-token', token);
    const res = await fetch(`${s3.endpoint}/${bucket}?${params.toString()}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`ListObjectsV2 ${bucket}/${prefix}: HTTP ${res.status}: ${text}`);
    for (const m of text.matchAll(/<Key>([^<]*)<\/Key>/g)) keys.push(unescapeXml(m[1]!));
    if (!/<IsTruncated>true<\/IsTruncated>/.test(text)) return keys;
    token = unescapeXml(/<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(text)?.[1] ?? '');
    if (token === '') throw new Error(`ListObjectsV2 ${bucket}/${prefix}: truncated listing without a continuation token`);
  }
}

export async function getObject(s3: S3ServerHandle, bucket: string, key: string): Promise<Uint8Array> {
  const res = await fetch(objectUrl(s3, bucket, key));
  if (!res.ok) throw new Error(`GetObject ${bucket}/${key}: HTTP ${res.status}: ${await res.text()}`);
  return new Uint8Array(await res.arrayBuffer());
}

export async function putObject(s3: S3ServerHandle, bucket: string, key: string, body: Uint8Array): Promise<void> {
  const res = await fetch(objectUrl(s3, bucket, key), { method: 'PUT', body });
  if (!res.ok) throw new Error(`PutObject ${bucket}/${key}: HTTP ${res.status}: ${await res.text()}`);
}

export async function deleteObject(s3: S3ServerHandle, bucket: string, key: string): Promise<void> {
  const res = await fetch(objectUrl(s3, bucket, key), { method: 'DELETE' });
  if (!res.ok) throw new Error(`DeleteObject ${bucket}/${key}: HTTP ${res.status}: ${await res.text()}`);
}
