/**
 * Finds where statements end in what the user has typed so far, so the REPL knows when to
 * run them. This is a lexer-level scan, not a parse: it only has to know which semicolons
 * are outside string literals, quoted identifiers and comments. The server parses each
 * statement for real.
 */

/** Complete statements found in the input, and the unfinished text after the last one. */
export interface SplitStatements {
  /** Statement texts without their terminating `;`, trimmed. Empty statements are dropped. */
  statements: string[];
  /**
   * The text after the last terminating `;`, leading whitespace removed; `''` when it holds
   * nothing but whitespace and finished comments. The REPL prepends it to the next line.
   */
  rest: string;
}

/**
 * Splits `input` at semicolons outside `'strings'` (with `''` escapes, and backslash escapes
 * in `e'...'`), `"identifiers"`, `$tag$dollar quotes$tag$`, `-- line comments` and nested
 * `/* block comments *\/`.
 */
export function readStatements(input: string): SplitStatements {
  const statements: string[] = [];
  let start = 0;
  // Whether the current statement has anything besides whitespace and comments.
  let hasContent = false;
  let i = 0;
  const n = input.length;

  while (i < n) {
    const ch = input[i];
    const next = input[i + 1];
    if (ch === ';') {
      if (hasContent) statements.push(input.slice(start, i).trim());
      start = i + 1;
      hasContent = false;
      i++;
    } else if (ch === '-' && next === '-') {
      const end = input.indexOf('\n', i + 2);
      // An unterminated line comment is finished by the newline the next line brings.
      i = end < 0 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      const end = skipBlockComment(input, i);
      if (end === undefined) return { statements, rest: input.slice(start).trimStart() };
      i = end;
    } else if (ch === "'") {
      const escapes = isEscapeStringPrefix(input, i);
      const end = skipQuoted(input, i, "'", escapes);
      if (end === undefined) return { statements, rest: input.slice(start).trimStart() };
      hasContent = true;
      i = end;
    } else if (ch === '"') {
      const end = skipQuoted(input, i, '"', false);
      if (end === undefined) return { statements, rest: input.slice(start).trimStart() };
      hasContent = true;
      i = end;
    } else if (ch === '$' && !isIdentChar(input[i - 1])) {
      const tag = dollarTag(input, i);
      hasContent = true;
      if (tag === undefined) {
        i++;
      } else {
        const close = input.indexOf(tag, i + tag.length);
        if (close < 0) return { statements, rest: input.slice(start).trimStart() };
        i = close + tag.length;
      }
    } else {
      if (ch !== undefined && !/\s/.test(ch)) hasContent = true;
      i++;
    }
  }
  return { statements, rest: hasContent ? input.slice(start).trimStart() : '' };
}

function isIdentChar(ch: string | undefined): boolean {
  return ch !== undefined && /[\p{L}\p{N}_$]/u.test(ch);
}

/** `e'...'` / `E'...'`, where the `e` is a prefix rather than the end of an identifier. */
function isEscapeStringPrefix(input: string, quote: number): boolean {
  const prefix = input[quote - 1];
  return (prefix === 'e' || prefix === 'E') && !isIdentChar(input[quote - 2]);
}

/** Index just past the closing quote, or undefined when the literal is unterminated. */
function skipQuoted(input: string, open: number, quote: string, backslashEscapes: boolean): number | undefined {
  let i = open + 1;
  while (i < input.length) {
    const ch = input[i];
    if (backslashEscapes && ch === '\\') {
      i += 2;
    } else if (ch === quote) {
      // A doubled quote is an escaped quote, not the end.
      if (input[i + 1] === quote) i += 2;
      else return i + 1;
    } else {
      i++;
    }
  }
  return undefined;
}

/** Index just past the outermost `*\/`, or undefined when the comment is unterminated. */
function skipBlockComment(input: string, open: number): number | undefined {
  let depth = 0;
  let i = open;
  while (i < input.length) {
    if (input[i] === '/' && input[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (input[i] === '*' && input[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return undefined;
}

/** The opening `$tag$` at `i`, or undefined when `$` starts something else (`$1`, `$x`). */
function dollarTag(input: string, i: number): string | undefined {
  let j = i + 1;
  if (input[j] !== '$') {
    if (!/[\p{L}_]/u.test(input[j] ?? '')) return undefined;
    while (j < input.length && /[\p{L}\p{N}_]/u.test(input[j] ?? '')) j++;
    if (input[j] !== '$') return undefined;
  }
  return input.slice(i, j + 1);
}
