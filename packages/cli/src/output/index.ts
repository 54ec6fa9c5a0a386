/**
 * The CLI's presentation layer: result formats, error lines, job progress and the REPL's
 * statement splitter.
 */
export { formatResult, outputFormats } from './result-format.js';
export type { OutputFormat, ResultSet } from './result-format.js';
export { formatError } from './error-format.js';
export { JobProgress, formatDuration, formatRate } from './job-progress.js';
export type { JobProgressOptions, JobProgressUpdate, ProgressStream } from './job-progress.js';
export { readStatements } from './statement-splitter.js';
export type { SplitStatements } from './statement-splitter.js';
export { displayWidth } from './display-width.js';
