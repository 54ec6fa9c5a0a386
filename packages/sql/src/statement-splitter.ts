import { scan } from './lexer.js';

/** Complete statements found in the input, and the unfinished text after the last one. */
export interface SplitStatements {
  /** Statement texts without their terminating `;`, trimmed. Empty statements are dropped. */
  statements: string[];
  /**
   * The text after the last terminating `;`, leading whitespace removed; `''` when it holds
   * nothing but whitespace and finished comments. A REPL prepends it to the next line.
   */
  rest: string;
}

/**
 * Finds where statements end in what a user has typed so far, so a REPL knows when to send
 * them. It runs the parser's own scanner, so a `;` inside a string, quoted identifier,
 * dollar quote or comment never ends a statement here when the server would read on. Text
 * the scanner cannot read is left for the server to refuse; only something still open at
 * the end (a string, a comment) keeps the rest pending.
 */
export function readStatements(input: string): SplitStatements {
  const statements: string[] = [];
  let start = 0;
  // Whether the current statement has anything besides whitespace and comments.
  let hasContent = false;
  for (const lexeme of scan(input)) {
    if (lexeme.kind === 'eof') break;
    if (lexeme.kind === 'problem' && lexeme.incomplete) return { statements, rest: input.slice(start).trimStart() };
    if (lexeme.kind === 'op' && lexeme.value === ';') {
      if (hasContent) statements.push(input.slice(start, lexeme.pos - 1).trim());
      start = lexeme.end;
      hasContent = false;
    } else {
      hasContent = true;
    }
  }
  return { statements, rest: hasContent ? input.slice(start).trimStart() : '' };
}
