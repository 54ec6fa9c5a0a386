import { parse, type Statement } from '@cairn/sql';
import { describe, expect, it } from 'vitest';
import { readStatements } from './index.js';

/** Statements without positions: the splitter's pieces start at other offsets than the whole. */
function shape(stmts: Statement[]): unknown {
  return JSON.parse(JSON.stringify(stmts, (k, v: unknown) => (k === 'pos' ? undefined : v)));
}

/**
 * The REPL sends what `readStatements` cuts; the server parses each piece. These inputs put
 * `;` and quote characters where a splitter and a parser with different lexers used to read
 * them differently: the pieces must parse to exactly what the server reads from the whole.
 */
const AGREEING: Array<[string, string]> = [
  ['line comments', "SELECT * FROM t -- not; the end\n; SELECT a FROM t -- 'quote\n;"],
  ['nested block comments', 'SELECT * FROM t /* a; /* b; */ c; */; /* lead */ SHOW JOBS;'],
  ['strings with doubled quotes', "INSERT INTO t VALUES ('x;''y'), ('--;'); DELETE FROM t WHERE a = '/*';"],
  ['escape strings', "INSERT INTO t VALUES (e'\\';'), (E'a\\nb;'); SHOW JOBS;"],
  ['dollar quotes', 'INSERT INTO t VALUES ($$;$$), ($tag$ $$; $tag$), ($a$--$a$); SHOW JOBS;'],
  ['quoted identifiers', 'CREATE TABLE "a;b" ("c;--" INT, """q;""" STRING); SELECT "c;--" FROM "a;b";'],
  ['backup options', "BACKUP INTO 's3://b/p?AUTH=implicit;x' WITH encryption_passphrase = $$p;w$$; SHOW BACKUPS IN 's3://b/p';"],
];

describe('the CLI splitter and the server parser read statements alike', () => {
  for (const [what, input] of AGREEING) {
    it(what, () => {
      const { statements, rest } = readStatements(input);
      expect(rest).toBe('');
      const whole = parse(input);
      expect(statements).toHaveLength(whole.length);
      expect(shape(statements.flatMap((s) => parse(s)))).toEqual(shape(whole));
    });
  }

  it('reads string and identifier values the same way', () => {
    const [insert] = parse("INSERT INTO \"a;b\" VALUES (e'x\\';'), ($t$'$t$), ('''')");
    expect(insert).toMatchObject({
      kind: 'insert',
      table: { name: 'a;b' },
      rows: [[{ value: "x';" }], [{ value: "'" }], [{ value: "'" }]],
    });
  });

  for (const [what, input, error] of [
    ['a string', "SELECT * FROM t WHERE a = 'x;", 'unterminated string literal'],
    ['an escape string', "SELECT * FROM t WHERE a = e'x\\';", 'unterminated string literal'],
    ['a quoted identifier', 'SELECT * FROM "t;', 'unterminated quoted identifier'],
    ['a dollar quote', 'SELECT * FROM t WHERE a = $q$ ;', 'unterminated dollar-quoted string'],
    ['a nested block comment', 'SELECT * FROM t /* a /* b */ ;', 'unterminated comment'],
  ] as const) {
    it(`both see ${what} still open at the end`, () => {
      expect(readStatements(input)).toEqual({ statements: [], rest: input });
      expect(() => parse(input)).toThrow(error);
    });
  }
});
