/**
 * @cairn/sql: the lexer, recursive-descent parser, typed AST and canonical formatter of
 * cairn's statement dialect (CockroachDB's BACKUP / RESTORE / schedule / job statements and a
 * small data plane).
 */
export type * from './ast.js';
export { parse, parseOne } from './parser.js';
export { formatStatement, quoteIdent, quoteString } from './format.js';
export type { FormatOptions } from './format.js';
export { REDACTED, redactUri } from './redact.js';
