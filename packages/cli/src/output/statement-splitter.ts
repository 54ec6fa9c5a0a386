/**
 * The REPL splits what the user types with @cairn/sql's splitter, which runs the parser's
 * own scanner: the CLI and the server cannot disagree on where a statement ends.
 */
export { readStatements } from '@cairn/sql';
export type { SplitStatements } from '@cairn/sql';
