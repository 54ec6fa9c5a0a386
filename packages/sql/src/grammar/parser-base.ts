import { CairnError, ErrorCode } from '@cairn/errors';
import type { Location, TableName, TablePattern } from '../ast.js';
import { RESERVED_KEYWORDS } from '../keywords.js';
import { tokenize } from '../lexer.js';
import type { Source, Token } from '../lexer.js';

/**
 * The token cursor every statement family parses with, and the small grammar they all share:
 * names, identifiers, `WITH` option lists and backup locations. Each family
 * (`backup-restore.ts`, `show.ts`, ...) is a set of functions over one `Parser`.
 */
export class Parser {
  readonly toks: Token[];
  private i = 0;

  constructor(readonly src: Source) {
    this.toks = tokenize(src);
  }

  // --- tokens ----------------------------------------------------------------------------------

  peek(k = 0): Token {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)] as Token;
  }

  next(): Token {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  isKw(word: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'word' && t.upper === word;
  }

  acceptKw(word: string): Token | undefined {
    return this.isKw(word) ? this.next() : undefined;
  }

  expectKw(word: string, expected: string = word): Token {
    if (!this.isKw(word)) this.expected(expected);
    return this.next();
  }

  isOp(op: string, k = 0): boolean {
    const t = this.peek(k);
    return t.kind === 'op' && t.value === op;
  }

  acceptOp(op: string): Token | undefined {
    return this.isOp(op) ? this.next() : undefined;
  }

  expectOp(op: string): Token {
    if (!this.isOp(op)) this.expected(`"${op}"`);
    return this.next();
  }

  /** A word or quoted identifier spelled exactly `lower` (a column name used as a keyword). */
  expectWord(lower: string, expected: string): Token {
    const t = this.peek();
    if (!((t.kind === 'word' || t.kind === 'ident') && t.value === lower)) this.expected(expected);
    return this.next();
  }

  // --- errors ----------------------------------------------------------------------------------

  fail(tok: Token, detail: string): never {
    throw this.src.error(tok.pos, this.src.near(tok), detail);
  }

  expected(what: string): never {
    this.fail(this.peek(), `expected ${what}`);
  }

  /** A syntax error with a message of its own, ending with the token's line and column. */
  positioned(tok: Token, message: string): CairnError {
    const { line, column } = this.src.lineColumn(tok.pos);
    return new CairnError(ErrorCode.Syntax, `${message} (line ${line}, column ${column})`, { position: tok.pos });
  }

  commaList<T>(item: () => T): T[] {
    const out = [item()];
    while (this.acceptOp(',')) out.push(item());
    return out;
  }

  // --- names -----------------------------------------------------------------------------------

  /** An identifier: a non-reserved word (folded to lower case) or a quoted identifier. */
  ident(what: string): string {
    const t = this.peek();
    if (t.kind === 'ident' || (t.kind === 'word' && !RESERVED_KEYWORDS.has(t.upper))) {
      this.next();
      return t.value;
    }
    this.expected(what);
  }

  /** `(name, ...)`. */
  identList(): string[] {
    this.expectOp('(');
    const out = this.commaList(() => this.ident('column name'));
    this.expectOp(')');
    return out;
  }

  tableName(): TableName {
    const pos = this.peek().pos;
    const parts = [this.ident('table name')];
    while (parts.length < 3 && this.acceptOp('.')) parts.push(this.ident('name'));
    return namesToTable(pos, parts);
  }

  tablePattern(): TablePattern {
    const pos = this.peek().pos;
    if (this.acceptOp('*')) return { kind: 'allTables', pos };
    const parts = [this.ident('table name')];
    while (parts.length < 3 && this.acceptOp('.')) {
      if (this.acceptOp('*')) {
        const all: TablePattern = { kind: 'allTables', pos };
        if (parts.length === 2) {
          all.database = parts[0] as string;
          all.schema = parts[1] as string;
        } else {
          all.database = parts[0] as string;
        }
        return all;
      }
      parts.push(this.ident('name'));
    }
    return { kind: 'table', pos, table: namesToTable(pos, parts) };
  }

  /**
   * A user or role name (CockroachDB's role_spec): an identifier. Reserved keywords such as
   * USER are refused unquoted, as CockroachDB does.
   */
  roleName(): string {
    const t = this.peek();
    if (t.kind === 'word' && RESERVED_KEYWORDS.has(t.upper)) {
      this.fail(t, `expected a user or role name ("${t.value}" is a reserved keyword: quote it as "${t.value}" or choose another name)`);
    }
    return this.ident('a user or role name');
  }

  /** A dotted cluster setting name such as `bulkio.backup.file_size`. */
  settingName(): string {
    const part = (): string => {
      const t = this.peek();
      if (t.kind !== 'word' && t.kind !== 'ident') this.expected('setting name');
      this.next();
      return t.value;
    };
    const parts = [part()];
    while (this.acceptOp('.')) parts.push(part());
    return parts.join('.');
  }

  string(what: string): string {
    const t = this.peek();
    if (t.kind !== 'string') this.expected(what);
    this.next();
    return t.value;
  }

  /** An unsigned integer id (job or schedule), as decimal text. */
  id(what: string): string {
    const t = this.peek();
    if (t.kind !== 'number' || !/^\d+$/.test(t.value)) this.expected(what);
    this.next();
    return t.value;
  }

  smallInt(what: string): number {
    const t = this.peek();
    if (t.kind !== 'number' || !/^\d+$/.test(t.value)) this.expected(what);
    this.next();
    return Number(t.value);
  }

  ifNotExists(): boolean {
    if (!this.isKw('IF')) return false;
    this.next();
    this.expectKw('NOT');
    this.expectKw('EXISTS');
    return true;
  }

  ifExists(): boolean {
    if (!this.acceptKw('IF')) return false;
    this.expectKw('EXISTS');
    return true;
  }

  cascade(): boolean {
    if (this.acceptKw('CASCADE')) return true;
    this.acceptKw('RESTRICT');
    return false;
  }

  // --- option lists ----------------------------------------------------------------------------

  /**
   * `WITH opt [= value], ...` or `WITH OPTIONS (opt [= value], ...)`; calls `each` with the
   * option's name (lower case; `EXECUTION LOCALITY` as `execution locality`) positioned on
   * the `=` or the next option.
   */
  optionList(stmtName: string, each: (name: string, tok: Token) => void): void {
    if (!this.isKw('WITH')) return;
    this.next();
    let paren = false;
    if (this.isKw('OPTIONS') && this.isOp('(', 1)) {
      this.next();
      this.next();
      paren = true;
    }
    this.options(stmtName, each);
    if (paren) this.expectOp(')');
  }

  /** `opt [= value], ...`, refusing an option named twice. */
  options(stmtName: string, each: (name: string, tok: Token) => void): void {
    const seen = new Set<string>();
    do {
      const tok = this.peek();
      const name = this.optionName();
      if (seen.has(name)) {
        throw this.positioned(tok, `option "${name}" specified more than once for ${stmtName}`);
      }
      seen.add(name);
      each(name, tok);
    } while (this.acceptOp(','));
  }

  optionName(): string {
    const tok = this.peek();
    if (tok.kind === 'word' && tok.upper === 'EXECUTION' && this.isKw('LOCALITY', 1)) {
      this.next();
      this.next();
      return 'execution locality';
    }
    if (tok.kind !== 'word' && tok.kind !== 'ident') this.expected('option name');
    this.next();
    return tok.value.toLowerCase();
  }

  unknownOption(tok: Token, name: string, stmtName: string): never {
    throw this.positioned(tok, `unknown option "${name}" for ${stmtName}`);
  }

  /** A flag: absent value means true; `= true|false` (keywords or strings) sets it. */
  flagValue(): boolean {
    if (!this.acceptOp('=')) return true;
    const t = this.peek();
    if (t.kind === 'word' && (t.upper === 'TRUE' || t.upper === 'FALSE')) {
      this.next();
      return t.upper === 'TRUE';
    }
    if (t.kind === 'string' && (t.value.toLowerCase() === 'true' || t.value.toLowerCase() === 'false')) {
      this.next();
      return t.value.toLowerCase() === 'true';
    }
    this.expected('TRUE or FALSE');
  }

  stringValue(): string {
    this.expectOp('=');
    return this.string('string literal');
  }

  /**
   * `= 'name'` or `= name`: a database name as a string or an identifier, as CockroachDB's
   * `new_db_name` and `into_db` take it.
   */
  nameValue(what: string): string {
    this.expectOp('=');
    const t = this.peek();
    if (t.kind === 'string') return this.string(what);
    return this.ident(what);
  }

  uriListValue(): string[] {
    this.expectOp('=');
    return this.uriList().uris;
  }

  /** `= 'value'` (or a bare word) that must be one of `allowed`. */
  enumValue<T extends string>(allowed: readonly T[]): T {
    this.expectOp('=');
    const t = this.peek();
    const v = t.kind === 'string' || t.kind === 'word' ? t.value.toLowerCase() : undefined;
    const found = allowed.find((a) => a === v);
    if (found === undefined) this.fail(t, `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
    this.next();
    return found;
  }

  // --- locations -------------------------------------------------------------------------------

  /** `'uri'`, `('uri', ...)`, `LATEST IN <uris>` or `'subdir' IN <uris>`. */
  location(): Location {
    const t = this.peek();
    if (this.acceptKw('LATEST')) {
      this.expectKw('IN');
      const loc = this.uriList();
      return { pos: t.pos, subdir: { kind: 'latest', pos: t.pos }, uris: loc.uris };
    }
    if (t.kind === 'string' && this.isKw('IN', 1)) {
      this.next();
      this.next();
      const loc = this.uriList();
      return { pos: t.pos, subdir: { kind: 'path', pos: t.pos, path: t.value }, uris: loc.uris };
    }
    return this.uriList();
  }

  /** `'uri'` or `('uri', ...)`. */
  uriList(): Location {
    const pos = this.peek().pos;
    if (this.acceptOp('(')) {
      const uris = this.commaList(() => this.string('URI'));
      this.expectOp(')');
      return { pos, uris };
    }
    return { pos, uris: [this.string('URI')] };
  }
}

function namesToTable(pos: number, parts: string[]): TableName {
  if (parts.length === 1) return { pos, name: parts[0] as string };
  if (parts.length === 2) return { pos, database: parts[0] as string, name: parts[1] as string };
  return { pos, database: parts[0] as string, schema: parts[1] as string, name: parts[2] as string };
}
