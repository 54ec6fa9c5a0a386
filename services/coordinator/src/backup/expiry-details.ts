/** What a BACKUP EXPIRY job does, fixed when it is created (the job's spec payload). */
export interface ExpiryDetails {
  /** The collection's URIs as the schedule's BACKUP names them, credentials included (never shown). */
  collection: string[];
  /** The retention as the schedule shows it (`'720h'`). */
  retention: string;
  retentionMs: number;
}
