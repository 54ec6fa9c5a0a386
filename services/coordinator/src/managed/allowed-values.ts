/**
 * CockroachDB Cloud's choices for managed backups (its docs' frequency and retention lists),
 * shared by the API's validation and its OpenAPI document so the two cannot disagree.
 */
export const FREQUENCY_MINUTES = [5, 10, 30, 60, 240, 1440] as const;
export const RETENTION_DAYS = [2, 7, 30, 90, 365] as const;

/** The roles an API key can carry, CockroachDB Cloud's cluster-scoped ones. */
export const API_KEY_ROLES = ['CLUSTER_ADMIN', 'CLUSTER_OPERATOR_WRITER', 'CLUSTER_VIEWER'] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

/** A new cluster's configuration: the Basic tier's schedule, off until someone enables it. */
export const DEFAULT_FREQUENCY_MINUTES = 1440;
export const DEFAULT_RETENTION_DAYS = 30;
