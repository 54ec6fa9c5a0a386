import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * Token kinds:
 * - `word`: an unquoted identifier or keyword (`text` as written, `value` folded to lower case);
 * - `ident`: a double-quoted identifier (`value` keeps its case, `""` unescaped);
 * - `string`: a string literal: `'...'` (`''` unescaped), `e'...'` (backslash escapes
 *   decoded) or `$tag$...$tag$` (taken as written);
 * - `number`: an unsigned integer or decimal literal (`value` is the source text);
 * - `op`: punctuation and operators (`value` is the operator, `<>` normalised to `!=`);
 * - `eof`: the end of the input.
 */
export type TokenKind = 'word' | 'ident' | 'string' | 'number' | 'op' | 'eof';

export interface Token {
  kind: TokenKind;
  value: string;
  /** Upper-cased `value` for words, so keyword checks are case-insensitive. */
  upper: string;
  /** 1-based character offset of the token's first character. */
  pos: number;
  /** 0-based offset one past the token's last character (for raw source spans). */
  end: number;
}

/**
 * Text the lexer could not read as a token. `incomplete` marks a string, identifier, dollar
 * quote or block comment still open at the end of the input: the parser refuses it, the
 * CLI's statement splitter waits for more lines.
 */
export interface LexProblem {
  kind: 'problem';
  /** 1-based offset of the first character, as in `Token`. */
  pos: number;
  /** 0-based offset one past the text the problem covers; scanning resumes there. */
  end: number;
  /** The text to show after `at or near`. */
  near: string;
  detail: string;
  incomplete: boolean;
}

/** One item of a lenient scan: a token, or a problem the scan stepped over. */
export type Lexeme = Token | LexProblem;

const OPERATORS = ['<=', '>=', '<>', '!=', '(', ')', ',', ';', '.', '*', '=', '<', '>', '[', ']', '-', '+', '@'];

/** The source of one parse: keeps the text so errors can report line and column. */
export class Source {
  constructor(readonly text: string) {}

  /** 1-based line and column of a 1-based offset. */
  lineColumn(pos: number): { line: number; column: number } {
    let line = 1;
    let lineStart = 0;
    const upto = Math.min(pos - 1, this.text.length);
    for (let i = 0; i < upto; i++) {
      if (this.text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    return { line, column: pos - lineStart };
  }

  /** A syntax error in the house format: `at or near "X": syntax error: detail (line L, column C)`. */
  error(pos: number, near: string, detail: string): CairnError {
    const { line, column } = this.lineColumn(pos);
    const shown = near.length > 40 ? `${near.slice(0, 40)}...` : near;
    return new CairnError(
      ErrorCode.Syntax,
      `at or near "${shown}": syntax error: ${detail} (line ${line}, column ${column})`,
      { position: pos },
    );
  }

  /** The source text of a token, as shown in error messages. */
  near(tok: Token): string {
    return tok.kind === 'eof' ? 'EOF' : this.text.slice(tok.pos - 1, tok.end);
  }
}

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c.charCodeAt(0) > 127;
}

function isIdentPart(c: string): boolean {
  return isIdentStart(c) || isDigit(c) || c === '$';
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

/**
 * Splits a statement string into tokens; the last token is always `eof`. Throws the first
 * problem as a syntax error.
 */
export function tokenize(src: Source): Token[] {
  const tokens: Token[] = [];
  for (const lexeme of scan(src.text)) {
    if (lexeme.kind === 'problem') throw src.error(lexeme.pos, lexeme.near, lexeme.detail);
    tokens.push(lexeme);
  }
  return tokens;
}

/**
 * The one scanner of cairn's SQL, shared by the parser (through `tokenize`) and the CLI's
 * statement splitter, so both agree on where comments, strings, quoted identifiers and
 * dollar quotes begin and end. Never throws: what it cannot read becomes a `LexProblem`
 * and the scan goes on after it. The last item is always an `eof` token.
 *
 * As in CockroachDB: `--` comments run to the end of the line; `/* *\/` comments nest;
 * `e'...'` takes backslash escapes; `$$...$$` and `$tag$...$tag$` quote text as written.
 */
export function scan(text: string): Lexeme[] {
  const out: Lexeme[] = [];
  let i = 0;
  const n = text.length;
  const push = (kind: TokenKind, value: string, start: number, end: number): void => {
    out.push({ kind, value, upper: kind === 'word' ? value.toUpperCase() : value, pos: start + 1, end });
  };
  const problem = (start: number, end: number, near: string, detail: string, incomplete = false): void => {
    out.push({ kind: 'problem', pos: start + 1, end, near, detail, incomplete });
  };

  while (i < n) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    const start = i;
    if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const close = blockCommentEnd(text, i);
      if (close === undefined) {
        problem(start, n, text.slice(i, i + 2), 'unterminated comment', true);
        i = n;
      } else {
        i = close;
      }
      continue;
    }
    if ((c === 'e' || c === 'E') && text[i + 1] === "'") {
      const lit = escapeString(text, i + 1);
      if (lit === undefined) {
        problem(start, n, text.slice(start, Math.min(n, start + 20)), 'unterminated string literal', true);
        i = n;
      } else {
        i = lit.end;
        push('string', lit.value, start, i);
      }
      continue;
    }
    if (isIdentStart(c)) {
      while (i < n && isIdentPart(text[i] as string)) i++;
      push('word', text.slice(start, i).toLowerCase(), start, i);
      continue;
    }
    if (c === "'" || c === '"') {
      const lit = quoted(text, i, c);
      if (lit === undefined) {
        const detail = c === "'" ? 'unterminated string literal' : 'unterminated quoted identifier';
        problem(start, n, text.slice(start, Math.min(n, start + 20)), detail, true);
        i = n;
      } else if (c === '"' && lit.value === '') {
        i = lit.end;
        problem(start, i, '""', 'zero-length delimited identifier');
      } else {
        i = lit.end;
        push(c === "'" ? 'string' : 'ident', lit.value, start, i);
      }
      continue;
    }
    if (c === '$') {
      const tag = dollarTag(text, i);
      if (tag === undefined) {
        i++;
        problem(start, i, c, 'unexpected character');
        continue;
      }
      const close = text.indexOf(tag, i + tag.length);
      if (close < 0) {
        problem(start, n, text.slice(start, Math.min(n, start + 20)), 'unterminated dollar-quoted string', true);
        i = n;
      } else {
        i = close + tag.length;
        push('string', text.slice(start + tag.length, close), start, i);
      }
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(text[i + 1] ?? ''))) {
      while (i < n && isDigit(text[i] as string)) i++;
      if (text[i] === '.' && isDigit(text[i + 1] ?? '')) {
        i++;
        while (i < n && isDigit(text[i] as string)) i++;
      } else if (text[i] === '.' && !isIdentStart(text[i + 1] ?? '')) {
        i++;
      }
      if ((text[i] === 'e' || text[i] === 'E') && (isDigit(text[i + 1] ?? '') || ((text[i + 1] === '+' || text[i + 1] === '-') && isDigit(text[i + 2] ?? '')))) {
        i += 2;
        while (i < n && isDigit(text[i] as string)) i++;
      }
      if (i < n && isIdentStart(text[i] as string)) {
        let j = i;
        while (j < n && isIdentPart(text[j] as string)) j++;
        problem(start, j, text.slice(start, j), 'trailing junk after numeric literal');
        i = j;
        continue;
      }
      push('number', text.slice(start, i), start, i);
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op !== undefined) {
      i += op.length;
      push('op', op === '<>' ? '!=' : op, start, i);
      continue;
    }
    i++;
    problem(start, i, c, 'unexpected character');
  }
  out.push({ kind: 'eof', value: '', upper: '', pos: n + 1, end: n });
  return out;
}

/** `'...'` or `"..."` opening at `open`, a doubled quote standing for itself; undefined when unterminated. */
function quoted(text: string, open: number, quote: string): { value: string; end: number } | undefined {
  let value = '';
  let i = open + 1;
  while (i < text.length) {
    const d = text[i] as string;
    if (d === quote) {
      if (text[i + 1] !== quote) return { value, end: i + 1 };
      value += quote;
      i += 2;
      continue;
    }
    value += d;
    i++;
  }
  return undefined;
}

const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

/** The `'...'` of an `e'...'` string opening at `open`, with backslash escapes decoded. */
function escapeString(text: string, open: number): { value: string; end: number } | undefined {
  let value = '';
  let i = open + 1;
  while (i < text.length) {
    const d = text[i] as string;
    if (d === '\\') {
      const e = text[i + 1];
      if (e === undefined) return undefined;
      const hex = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      const digits = hex > 0 ? /^[0-9a-fA-F]+/.exec(text.slice(i + 2, i + 2 + hex))?.[0] : undefined;
      if (digits !== undefined && (e === 'x' || digits.length === hex)) {
        value += String.fromCodePoint(parseInt(digits, 16));
        i += 2 + digits.length;
      } else if (e >= '0' && e <= '7') {
        const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1))?.[0] ?? e;
        value += String.fromCharCode(parseInt(oct, 8));
        i += 1 + oct.length;
      } else {
        value += SIMPLE_ESCAPES[e] ?? e;
        i += 2;
      }
      continue;
    }
    if (d === "'") {
      if (text[i + 1] !== "'") return { value, end: i + 1 };
      value += "'";
      i += 2;
      continue;
    }
    value += d;
    i++;
  }
  return undefined;
}

/** Offset just past the `*\/` closing the (nested) block comment at `open`; undefined when unterminated. */
function blockCommentEnd(text: string, open: number): number | undefined {
  let depth = 0;
  let i = open;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return undefined;
}

/** The opening `$tag$` (or `$$`) at `i`, or undefined when `$` starts something else (`$1`). */
function dollarTag(text: string, i: number): string | undefined {
  let j = i + 1;
  if (text[j] !== '$') {
    if (!isIdentStart(text[j] ?? '0')) return undefined;
    while (j < text.length && isIdentPart(text[j] as string) && text[j] !== '$') j++;
    if (text[j] !== '$') return undefined;
  }
  return text.slice(i, j + 1);
}
