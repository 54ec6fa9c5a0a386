import { CairnError, ErrorCode } from '@cairn/errors';

/**
 * Token kinds:
 * - `word`: an unquoted identifier or keyword (`text` as written, `value` folded to lower case);
 * - `ident`: a double-quoted identifier (`value` keeps its case, `""` unescaped);
 * - `string`: a single-quoted string literal (`value` with `''` unescaped);
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

const OPERATORS = ['<=', '>=', '<>', '!=', '(', ')', ',', ';', '.', '*', '=', '<', '>', '[', ']', '-', '+'];

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

/** Splits a statement string into tokens; the last token is always `eof`. */
export function tokenize(src: Source): Token[] {
  const text = src.text;
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  const push = (kind: TokenKind, value: string, start: number, end: number): void => {
    tokens.push({ kind, value, upper: kind === 'word' ? value.toUpperCase() : value, pos: start + 1, end });
  };

  while (i < n) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (c === '-' && text[i + 1] === '-') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) throw src.error(i + 1, text.slice(i, i + 2), 'unterminated comment');
      i = close + 2;
      continue;
    }
    const start = i;
    if (isIdentStart(c)) {
      while (i < n && isIdentPart(text[i] as string)) i++;
      push('word', text.slice(start, i).toLowerCase(), start, i);
      continue;
    }
    if (c === "'" || c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= n) {
          throw src.error(
            start + 1,
            text.slice(start, Math.min(n, start + 20)),
            c === "'" ? 'unterminated string literal' : 'unterminated quoted identifier',
          );
        }
        const d = text[i] as string;
        if (d === c) {
          if (text[i + 1] === c) {
            value += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += d;
        i++;
      }
      if (c === '"' && value === '') throw src.error(start + 1, '""', 'zero-length delimited identifier');
      push(c === "'" ? 'string' : 'ident', value, start, i);
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
        throw src.error(start + 1, text.slice(start, j), 'trailing junk after numeric literal');
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
    throw src.error(start + 1, c, 'unexpected character');
  }
  tokens.push({ kind: 'eof', value: '', upper: '', pos: n + 1, end: n });
  return tokens;
}
