import { describe, expect, it } from 'vitest';
import { readStatements } from './statement-splitter.js';

describe('readStatements', () => {
  it('splits at semicolons and returns the unfinished rest', () => {
    expect(readStatements('SELECT 1; SELECT 2;\nSELECT')).toEqual({
      statements: ['SELECT 1', 'SELECT 2'],
      rest: 'SELECT',
    });
  });

  it('returns nothing until a statement is finished', () => {
    expect(readStatements('CREATE TABLE t (\n  a INT\n')).toEqual({
      statements: [],
      rest: 'CREATE TABLE t (\n  a INT\n',
    });
    expect(readStatements('CREATE TABLE t (\n  a INT\n);  ')).toEqual({
      statements: ['CREATE TABLE t (\n  a INT\n)'],
      rest: '',
    });
  });

  it('ignores semicolons in strings, identifiers and dollar quotes', () => {
    const input = `INSERT INTO "a;b" VALUES ('x;''y'), (e'\\';'), ($$;$$), ($tag$ $$; $tag$);`;
    expect(readStatements(input).statements).toEqual([input.slice(0, -1)]);
  });

  it('keeps an unterminated string pending', () => {
    expect(readStatements("SELECT 'a;\nb")).toEqual({ statements: [], rest: "SELECT 'a;\nb" });
    expect(readStatements("SELECT e'a\\';")).toEqual({ statements: [], rest: "SELECT e'a\\';" });
    expect(readStatements('SELECT $q$ ;')).toEqual({ statements: [], rest: 'SELECT $q$ ;' });
  });

  it('does not treat a word ending in e or placeholders as quote openers', () => {
    expect(readStatements("SELECT name'\\'; SELECT $1;").statements).toEqual(["SELECT name'\\'", 'SELECT $1']);
  });

  it('ignores semicolons in comments, including nested block comments', () => {
    expect(readStatements('SELECT 1 -- not; the end\n; /* a; /* b; */ c; */ SELECT 2;')).toEqual({
      statements: ['SELECT 1 -- not; the end', '/* a; /* b; */ c; */ SELECT 2'],
      rest: '',
    });
    expect(readStatements('SELECT 1 /* open;')).toEqual({ statements: [], rest: 'SELECT 1 /* open;' });
    expect(readStatements('/* still open;')).toEqual({ statements: [], rest: '/* still open;' });
  });

  it('drops empty statements and comment-only leftovers', () => {
    expect(readStatements(';; -- nothing\n;\n  -- trailing')).toEqual({ statements: [], rest: '' });
  });
});
