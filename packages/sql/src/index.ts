/**
 * @cairn/sql: the lexer, recursive-descent parser, typed AST and canonical formatter of
 * cairn's statement dialect (CockroachDB's BACKUP / RESTORE / schedule / job statements and a
 * small data plane), and the statement splitter a REPL uses, built on the same lexer.
 */
export type * from './ast.js';
export { parse, parseOne } from './parser.js';
export { formatStatement, quoteIdent, quoteString } from './format.js';
export type { FormatOptions } from './format.js';
export { REDACTED, redactUri } from './redact.js';
export { readStatements } from './statement-splitter.js';
export type { SplitStatements } from './statement-splitter.js';
export { scan } from './lexer.js';
export type { Lexeme, LexProblem, Token, TokenKind } from './lexer.js';
export { STATEMENT_OPTIONS } from './grammar/options.js';
export { checkBackupStatement, checkRestoreStatement, checkShowBackupStatement } from './backup-checks.js';
