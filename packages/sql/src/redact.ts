/**
 * The SQL formatter's redaction is the cluster's one redactor (`@cairn/errors`' redact.ts):
 * one list of secrets for statements, URIs, logs and errors.
 */
export { REDACTED, redactUri } from '@cairn/errors';
