/**
 * Words that can never be bare identifiers (CockroachDB's reserved keywords); quote them
 * (`"from"`) to use them as names.
 */
export const RESERVED_KEYWORDS: ReadonlySet<string> = new Set([
  'ALL', 'ANALYSE', 'ANALYZE', 'AND', 'ANY', 'ARRAY', 'AS', 'ASC', 'ASYMMETRIC', 'BOTH', 'CASE',
  'CAST', 'CHECK', 'COLLATE', 'COLUMN', 'CONCURRENTLY', 'CONSTRAINT', 'CREATE', 'CURRENT_CATALOG',
  'CURRENT_DATE', 'CURRENT_ROLE', 'CURRENT_SCHEMA', 'CURRENT_TIME', 'CURRENT_TIMESTAMP',
  'CURRENT_USER', 'DEFAULT', 'DEFERRABLE', 'DESC', 'DISTINCT', 'DO', 'ELSE', 'END', 'EXCEPT',
  'FALSE', 'FETCH', 'FOR', 'FOREIGN', 'FROM', 'GRANT', 'GROUP', 'HAVING', 'IN', 'INITIALLY',
  'INTERSECT', 'INTO', 'LATERAL', 'LEADING', 'LIMIT', 'LOCALTIME', 'LOCALTIMESTAMP', 'NOT', 'NULL',
  'OFFSET', 'ON', 'ONLY', 'OR', 'ORDER', 'PLACING', 'PRIMARY', 'REFERENCES', 'RETURNING', 'SELECT',
  'SESSION_USER', 'SOME', 'SYMMETRIC', 'TABLE', 'THEN', 'TO', 'TRAILING', 'TRUE', 'UNION', 'UNIQUE',
  'USER', 'USING', 'VARIADIC', 'WHEN', 'WHERE', 'WINDOW', 'WITH',
]);

/**
 * Non-reserved words with a meaning somewhere in this grammar. The formatter quotes
 * identifiers spelled like them so that a re-parse can never read a name as a keyword.
 */
export const GRAMMAR_KEYWORDS: ReadonlySet<string> = new Set([
  'ALWAYS', 'BACKUP', 'BACKUPS', 'BETWEEN', 'BY', 'CANCEL', 'CASCADE', 'CLUSTER', 'COMMENT', 'COMPLETE',
  'CONNECTION', 'CONNECTIONS', 'DATABASE', 'DATABASES', 'DELETE', 'DROP', 'ENUM', 'ENUMS', 'EXECUTE', 'EXECUTION',
  'EXISTS', 'EXTERNAL', 'FILES', 'FINGERPRINTS', 'FULL', 'IF', 'IMMEDIATELY', 'INCREMENTAL', 'INDEX', 'IS',
  'INSERT', 'JOB', 'JOBS', 'KEY', 'LATEST', 'LOCALITY', 'NEVER', 'NODES', 'OF', 'OPTION', 'OPTIONS',
  'PAUSE', 'PAUSED', 'PROTECTED', 'RANGES', 'RECURRING', 'RESTORE', 'RESTRICT', 'RESUME', 'REVOKE',
  'RUNNING', 'SCHEDULE', 'SCHEDULES', 'SCHEMA', 'SCHEMAS', 'SEQUENCE', 'SET', 'SETTING', 'SETTINGS', 'SHOW',
  'SYSTEM', 'TABLES', 'TIME', 'TIMESTAMPS', 'TYPE', 'TYPES', 'UPDATE', 'UPSERT', 'USE', 'VALUES', 'VIEW', 'ZONE', 'TIMEZONE',
]);
