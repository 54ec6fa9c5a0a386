import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * CockroachDB's feature flags for backup users: each cluster setting, default true, turns a
 * family of statements off; a statement of a family that is off fails before doing anything.
 */
export const FEATURE_FLAGS = {
  BACKUP: 'feature.backup.enabled',
  RESTORE: 'feature.restore.enabled',
  SCHEDULES: 'feature.schedule.enabled',
} as const;

export type Feature = keyof typeof FEATURE_FLAGS;

/** Refuses `feature` when its flag is off, with CockroachDB's message. */
export function requireFeature(settings: { get(name: string): string }, feature: Feature): void {
  if (settings.get(FEATURE_FLAGS[feature]) === 'false') {
    throw new CairnError(ErrorCode.FailedPrecondition, `feature ${feature} was disabled by the database administrator`);
  }
}
