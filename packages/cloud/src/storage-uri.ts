import { CairnError, ErrorCode, redactUri } from '@cairn/errors';
import { joinPath } from './storage-path.js';

/** Query parameters of `s3://` URIs, named as CockroachDB names them. */
export const S3Param = {
  AccessKeyId: 'AWS_ACCESS_KEY_ID',
  SecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  SessionToken: 'AWS_SESSION_TOKEN',
  Endpoint: 'AWS_ENDPOINT',
  Region: 'AWS_REGION',
  Auth: 'AUTH',
  StorageClass: 'S3_STORAGE_CLASS',
  /** A role ARN to assume through STS, or a comma-separated chain, each assumed with the previous one's keys. */
  AssumeRole: 'ASSUME_ROLE',
  UsePathStyle: 'AWS_USE_PATH_STYLE',
  /** Server-side encryption: `AES256` or `aws:kms`. */
  ServerEncMode: 'AWS_SERVER_ENC_MODE',
  /** The KMS key of `aws:kms` server-side encryption. */
  ServerKmsId: 'AWS_SERVER_KMS_ID',
} as const;

/** Query parameters of `azure://` (`azure-blob://`) URIs, named as CockroachDB names them. */
export const AzureParam = {
  AccountName: 'AZURE_ACCOUNT_NAME',
  AccountKey: 'AZURE_ACCOUNT_KEY',
  Environment: 'AZURE_ENVIRONMENT',
  ClientId: 'AZURE_CLIENT_ID',
  ClientSecret: 'AZURE_CLIENT_SECRET',
  TenantId: 'AZURE_TENANT_ID',
  Auth: 'AUTH',
  /** cairn's own: the blob service URL (an emulator such as Azurite, a private endpoint). */
  Endpoint: 'AZURE_ENDPOINT',
} as const;

/** Query parameters of `gs://` URIs, named as CockroachDB names them. */
export const GcsParam = {
  Auth: 'AUTH',
  /** Base64 of a service-account key JSON file. */
  Credentials: 'CREDENTIALS',
  /** An OAuth2 access token used as is. */
  BearerToken: 'BEARER_TOKEN',
  /** cairn's own: the JSON API's base URL (an emulator, a private endpoint). */
  Endpoint: 'GCS_ENDPOINT',
} as const;

/** Host suffixes of Azure's clouds by CockroachDB's AZURE_ENVIRONMENT names. */
const AZURE_ENVIRONMENTS: Record<string, string> = {
  AzurePublicCloud: 'core.windows.net',
  AzureUSGovernmentCloud: 'core.usgovcloudapi.net',
  AzureChinaCloud: 'core.chinacloudapi.cn',
};

/** How an `s3://` URI authenticates: keys in the URI (`specified`, the default) or the SDK's default chain. */
export type S3Auth = 'specified' | 'implicit';

/** `nodelocal://<node>/<path>`: a node's local extern dir; `self` is whichever node opens it. */
export interface NodelocalLocation {
  readonly scheme: 'nodelocal';
  readonly nodeId: number | 'self';
  /** Relative to the node's extern dir; normalized, may be `''`. */
  readonly path: string;
}

/** `file:///abs/path`: a directory on the local filesystem. */
export interface FileLocation {
  readonly scheme: 'file';
  /** Absolute and normalized. */
  readonly path: string;
}

/** `s3://bucket/prefix?...`. */
export interface S3Location {
  readonly scheme: 's3';
  readonly bucket: string;
  /** Key prefix inside the bucket; normalized, no leading or trailing slash, may be `''`. */
  readonly prefix: string;
  readonly auth: S3Auth;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  readonly sessionToken?: string;
  /** A custom endpoint (`http://127.0.0.1:9000`); path-style addressing is used with it. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly storageClass?: string;
  /** Roles assumed in order through STS, the first with the base credentials (may be empty). */
  readonly assumeRoles: readonly string[];
  /** Path-style addressing (always on with a custom endpoint). */
  readonly usePathStyle: boolean;
  readonly serverEncMode?: 'AES256' | 'aws:kms';
  readonly serverKmsId?: string;
}

/** `azure://container/prefix?AZURE_ACCOUNT_NAME=..&AZURE_ACCOUNT_KEY=..` (also `azure-blob://`). */
export interface AzureLocation {
  readonly scheme: 'azure';
  readonly container: string;
  /** Blob name prefix; normalized, may be `''`. */
  readonly prefix: string;
  readonly accountName: string;
  readonly accountKey: string;
  /** `core.windows.net` unless AZURE_ENVIRONMENT names another cloud. */
  readonly environmentSuffix: string;
  /** A blob service URL that replaces `https://<account>.blob.<suffix>`. */
  readonly endpoint?: string;
}

/** `gs://bucket/prefix?AUTH=specified&CREDENTIALS=<base64 JSON>` or `AUTH=implicit`. */
export interface GcsLocation {
  readonly scheme: 'gs';
  readonly bucket: string;
  readonly prefix: string;
  /** `specified`: CREDENTIALS or BEARER_TOKEN in the URI; `implicit`: application default credentials. */
  readonly auth: 'specified' | 'implicit';
  /** The decoded service-account key JSON. */
  readonly credentials?: string;
  readonly bearerToken?: string;
  readonly endpoint?: string;
}

/** `external://<name>[/<extra path>]`: a named connection resolved to another URI. */
export interface ExternalLocation {
  readonly scheme: 'external';
  readonly name: string;
  /** Appended to the resolved URI's path; normalized, may be `''`. */
  readonly path: string;
}

/** A parsed storage URI. */
export type StorageLocation =
  | NodelocalLocation
  | FileLocation
  | S3Location
  | AzureLocation
  | GcsLocation
  | ExternalLocation;

/** The raw pieces of `<scheme>://<host><path>?<query>`, nothing decoded. */
export interface UriParts {
  scheme: string;
  host: string;
  path: string;
  query: string | undefined;
}

const URI_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/;

const S3_PARAMS = new Set<string>(Object.values(S3Param));

function invalid(message: string): CairnError {
  return new CairnError(ErrorCode.InvalidArgument, message);
}

/** Splits a storage URI into its raw parts; errors name the redacted URI. */
export function splitUri(uri: string): UriParts {
  const m = URI_SHAPE.exec(uri);
  if (m === null) {
    throw invalid(`invalid storage URI ${JSON.stringify(redactStorageUri(uri))}: expected <scheme>://<host>/<path>`);
  }
  if (m[5] !== undefined) {
    throw invalid(
      `storage URI ${JSON.stringify(redactStorageUri(uri))} has a fragment ("#..."); percent-encode "#" in parameter values as %23`,
    );
  }
  return { scheme: (m[1] ?? '').toLowerCase(), host: m[2] ?? '', path: m[3] ?? '', query: m[4] };
}

function decodePath(rawPath: string, uri: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw invalid(`invalid percent-encoding in the path of ${redactStorageUri(uri)}`);
  }
  if (decoded.split('/').some((s) => s === '..')) {
    throw invalid(`storage URI path must not contain ".." segments: ${redactStorageUri(uri)}`);
  }
  return decoded;
}

function parseQuery(query: string | undefined, uri: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === undefined || query === '') return out;
  for (const [key, value] of new URLSearchParams(query)) {
    if (out.has(key)) throw invalid(`duplicate query parameter ${key} in ${redactStorageUri(uri)}`);
    out.set(key, value);
  }
  return out;
}

function rejectUnknown(params: Map<string, string>, allowed: ReadonlySet<string>, what: string): void {
  const unknown = [...params.keys()].filter((k) => !allowed.has(k));
  if (unknown.length > 0) throw invalid(`unknown ${what} query parameters: ${unknown.join(', ')}`);
}

function nonEmpty(params: Map<string, string>, key: string): string | undefined {
  const v = params.get(key);
  return v === undefined || v === '' ? undefined : v;
}

/**
 * Parses a storage URI (`nodelocal://`, `file://`, `s3://`, `external://`) without touching
 * the storage. Errors are `InvalidArgument` and never show secrets. As in CockroachDB, unknown
 * query parameters are refused rather than ignored, so a typo cannot silently drop a setting.
 */
export function parseStorageUri(uri: string): StorageLocation {
  const parts = splitUri(uri);
  const params = parseQuery(parts.query, uri);
  switch (parts.scheme) {
    case 'nodelocal':
      return parseNodelocal(parts, params, uri);
    case 'file':
      return parseFile(parts, params, uri);
    case 's3':
      return parseS3(parts, params, uri);
    case 'azure':
    case 'azure-blob':
      return parseAzure(parts, params, uri);
    case 'gs':
      return parseGcs(parts, params, uri);
    case 'external':
      return parseExternal(parts, params, uri);
    default:
      throw invalid(
        `unsupported storage scheme ${JSON.stringify(parts.scheme)} in ${redactStorageUri(uri)}: use nodelocal://, file://, s3://, gs://, azure:// or external://`,
      );
  }
}

function parseNodelocal(parts: UriParts, params: Map<string, string>, uri: string): NodelocalLocation {
  rejectUnknown(params, new Set(), 'nodelocal');
  const path = joinPath(decodePath(parts.path, uri));
  if (parts.host === 'self') return { scheme: 'nodelocal', nodeId: 'self', path };
  if (/^[0-9]+$/.test(parts.host)) {
    const nodeId = Number(parts.host);
    if (nodeId >= 1 && Number.isSafeInteger(nodeId)) return { scheme: 'nodelocal', nodeId, path };
  }
  throw invalid(
    `host component of nodelocal URI must be a node ID or "self" (nodelocal://1/path, nodelocal://self/path), got ${JSON.stringify(parts.host)} in ${redactStorageUri(uri)}`,
  );
}

function parseFile(parts: UriParts, params: Map<string, string>, uri: string): FileLocation {
  rejectUnknown(params, new Set(), 'file');
  if (parts.host !== '' && parts.host !== 'localhost') {
    throw invalid(
      `file URI must name an absolute path as file:///abs/path, got host ${JSON.stringify(parts.host)} in ${redactStorageUri(uri)}`,
    );
  }
  return { scheme: 'file', path: `/${joinPath(decodePath(parts.path, uri))}` };
}

function parseS3(parts: UriParts, params: Map<string, string>, uri: string): S3Location {
  if (parts.host === '') throw invalid(`s3 uri missing bucket name: ${redactStorageUri(uri)}`);
  rejectUnknown(params, S3_PARAMS, 'S3');
  const authRaw = nonEmpty(params, S3Param.Auth) ?? 'specified';
  if (authRaw !== 'specified' && authRaw !== 'implicit') {
    throw invalid(`unsupported value ${JSON.stringify(authRaw)} for ${S3Param.Auth} (use "specified" or "implicit")`);
  }
  const accessKeyId = nonEmpty(params, S3Param.AccessKeyId);
  // Secrets often contain '+', which a query string turns into a space unless escaped; AWS
  // secrets are base64 and never contain spaces, so the original can be recovered.
  const secretAccessKey = nonEmpty(params, S3Param.SecretAccessKey)?.replaceAll(' ', '+');
  if (authRaw === 'specified') {
    if (accessKeyId === undefined) throw invalid(`s3 uri missing "${S3Param.AccessKeyId}" parameter`);
    if (secretAccessKey === undefined) throw invalid(`s3 uri missing "${S3Param.SecretAccessKey}" parameter`);
  }
  const endpoint = nonEmpty(params, S3Param.Endpoint);
  if (endpoint !== undefined && !/^https?:\/\/[^/?#]+/i.test(endpoint)) {
    throw invalid(`${S3Param.Endpoint} must be an http:// or https:// URL, got ${JSON.stringify(endpoint)}`);
  }
  const assumeRoles = (nonEmpty(params, S3Param.AssumeRole) ?? '').split(',').map((r) => r.trim()).filter((r) => r !== '');
  const pathStyleRaw = nonEmpty(params, S3Param.UsePathStyle)?.toLowerCase();
  if (pathStyleRaw !== undefined && pathStyleRaw !== 'true' && pathStyleRaw !== 'false') {
    throw invalid(`${S3Param.UsePathStyle} must be true or false, got ${JSON.stringify(pathStyleRaw)}`);
  }
  const encMode = nonEmpty(params, S3Param.ServerEncMode);
  const kmsId = nonEmpty(params, S3Param.ServerKmsId);
  if (encMode !== undefined && encMode !== 'AES256' && encMode !== 'aws:kms') {
    throw invalid(`unsupported server encryption mode ${JSON.stringify(encMode)} in ${S3Param.ServerEncMode} (use AES256 or aws:kms)`);
  }
  if (encMode === 'aws:kms' && kmsId === undefined) {
    throw invalid(`${S3Param.ServerKmsId} must be set when using aws:kms server side encryption mode`);
  }
  if (kmsId !== undefined && encMode !== 'aws:kms') {
    throw invalid(`${S3Param.ServerKmsId} is only used with ${S3Param.ServerEncMode}=aws:kms`);
  }
  return {
    scheme: 's3',
    bucket: parts.host,
    prefix: joinPath(decodePath(parts.path, uri)),
    assumeRoles,
    usePathStyle: pathStyleRaw === 'true',
    ...(encMode === undefined ? {} : { serverEncMode: encMode }),
    ...(kmsId === undefined ? {} : { serverKmsId: kmsId }),
    auth: authRaw,
    accessKeyId,
    secretAccessKey,
    sessionToken: nonEmpty(params, S3Param.SessionToken),
    endpoint,
    region: nonEmpty(params, S3Param.Region),
    storageClass: nonEmpty(params, S3Param.StorageClass),
  };
}

function httpUrl(value: string | undefined, param: string): string | undefined {
  if (value !== undefined && !/^https?:\/\/[^/?#]+/i.test(value)) {
    throw invalid(`${param} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  return value?.replace(/\/+$/, '');
}

function parseAzure(parts: UriParts, params: Map<string, string>, uri: string): AzureLocation {
  if (parts.host === '') throw invalid(`azure uri missing container name: ${redactStorageUri(uri)}`);
  rejectUnknown(params, new Set(Object.values(AzureParam)), 'azure');
  const auth = nonEmpty(params, AzureParam.Auth) ?? 'specified';
  if (auth !== 'specified') {
    throw invalid(`azure: AUTH=${auth} is not supported; give ${AzureParam.AccountName} and ${AzureParam.AccountKey}`);
  }
  for (const p of [AzureParam.ClientId, AzureParam.ClientSecret, AzureParam.TenantId]) {
    if (params.has(p)) {
      throw invalid(`azure: ${p} (Entra ID client credentials) is not supported; give ${AzureParam.AccountName} and ${AzureParam.AccountKey}`);
    }
  }
  const accountName = nonEmpty(params, AzureParam.AccountName);
  // Account keys are base64; '+' arrives as a space when not percent-encoded.
  const accountKey = nonEmpty(params, AzureParam.AccountKey)?.replaceAll(' ', '+');
  if (accountName === undefined) throw invalid(`azure uri missing "${AzureParam.AccountName}" parameter`);
  if (accountKey === undefined) throw invalid(`azure uri missing "${AzureParam.AccountKey}" parameter`);
  const environment = nonEmpty(params, AzureParam.Environment) ?? 'AzurePublicCloud';
  const environmentSuffix = AZURE_ENVIRONMENTS[environment];
  if (environmentSuffix === undefined) {
    throw invalid(`azure: unknown ${AzureParam.Environment} ${JSON.stringify(environment)} (use ${Object.keys(AZURE_ENVIRONMENTS).join(', ')})`);
  }
  return {
    scheme: 'azure',
    container: parts.host,
    prefix: joinPath(decodePath(parts.path, uri)),
    accountName,
    accountKey,
    environmentSuffix,
    endpoint: httpUrl(nonEmpty(params, AzureParam.Endpoint), AzureParam.Endpoint),
  };
}

function parseGcs(parts: UriParts, params: Map<string, string>, uri: string): GcsLocation {
  if (parts.host === '') throw invalid(`gs uri missing bucket name: ${redactStorageUri(uri)}`);
  rejectUnknown(params, new Set(Object.values(GcsParam)), 'gs');
  const auth = nonEmpty(params, GcsParam.Auth) ?? 'specified';
  if (auth !== 'specified' && auth !== 'implicit') {
    throw invalid(`unsupported value ${JSON.stringify(auth)} for ${GcsParam.Auth} (use "specified" or "implicit")`);
  }
  let credentials: string | undefined;
  const raw = nonEmpty(params, GcsParam.Credentials)?.replaceAll(' ', '+');
  if (raw !== undefined) {
    credentials = Buffer.from(raw, 'base64').toString('utf8');
    try {
      JSON.parse(credentials);
    } catch {
      throw invalid(`gs: ${GcsParam.Credentials} must be the base64 encoding of a service account key JSON file`);
    }
  }
  const bearerToken = nonEmpty(params, GcsParam.BearerToken);
  if (auth === 'specified' && credentials === undefined && bearerToken === undefined) {
    throw invalid(`gs uri with AUTH=specified needs "${GcsParam.Credentials}" (base64 of a key file) or "${GcsParam.BearerToken}"`);
  }
  return {
    scheme: 'gs',
    bucket: parts.host,
    prefix: joinPath(decodePath(parts.path, uri)),
    auth,
    credentials,
    bearerToken,
    endpoint: httpUrl(nonEmpty(params, GcsParam.Endpoint), GcsParam.Endpoint),
  };
}

function parseExternal(parts: UriParts, params: Map<string, string>, uri: string): ExternalLocation {
  rejectUnknown(params, new Set(), 'external');
  if (parts.host === '') throw invalid(`external URI missing the connection name: ${redactStorageUri(uri)}`);
  let name: string;
  try {
    name = decodeURIComponent(parts.host);
  } catch {
    throw invalid(`invalid percent-encoding in the connection name of ${redactStorageUri(uri)}`);
  }
  return { scheme: 'external', name, path: joinPath(decodePath(parts.path, uri)) };
}

/**
 * A storage URI with its credentials replaced by `redacted`: the cluster's one redactor
 * (`redactUri` of `@cairn/errors`), under the name this package's callers know.
 */
export function redactStorageUri(uri: string): string {
  return redactUri(uri);
}

/**
 * Appends a storage-relative path to a URI's path, keeping its scheme, host and query
 * (CockroachDB's JoinURLPath): `s3://b/base?K=V` + `2024/01` → `s3://b/base/2024/01?K=V`.
 */
export function appendUriPath(uri: string, path: string): string {
  const parts = splitUri(uri);
  const extra = joinPath(path);
  if (extra === '') return uri;
  const encoded = extra
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
  const basePath = parts.path.replace(/\/+$/, '');
  const query = parts.query === undefined ? '' : `?${parts.query}`;
  return `${uri.slice(0, uri.indexOf('://'))}://${parts.host}${basePath}/${encoded}${query}`;
}
