import { describe, expect, it } from 'vitest';
import { CairnError, ErrorCode } from '@cairn/errors';
import { formatError } from './error-format.js';

describe('formatError', () => {
  it('prints the code when the error has one', () => {
    const err = new CairnError(ErrorCode.UndefinedObject, 'relation "t" does not exist');
    expect(formatError(err)).toBe('ERROR (UNDEFINED_OBJECT): relation "t" does not exist');
    expect(formatError(err)).toBe(err.toLine());
  });

  it('prints plain errors, strings and odd values on one line', () => {
    expect(formatError(new Error('connection refused'))).toBe('ERROR: connection refused');
    expect(formatError('boom\n  at somewhere')).toBe('ERROR: boom at somewhere');
    expect(formatError(Object.create(null))).toBe('ERROR: unknown error');
    expect(formatError({ message: 'no route', code: 14 })).toBe('ERROR (14): no route');
  });

  it('points a caret at the position in the statement', () => {
    const statement = 'SELEC * FROM t';
    const err = new CairnError(ErrorCode.Syntax, 'syntax error at or near "SELEC"', { position: 1 });
    expect(formatError(err, statement)).toBe(
      ['ERROR (SYNTAX_ERROR): syntax error at or near "SELEC"', '  SELEC * FROM t', '  ^'].join('\n'),
    );
    const mid = new CairnError(ErrorCode.Syntax, 'syntax error at or near "FORM"', { position: 10 });
    expect(formatError(mid, 'SELECT 1 FORM t').split('\n').slice(1)).toEqual(['  SELECT 1 FORM t', '           ^']);
  });

  it('points after the end for an unexpected end of input', () => {
    const err = new CairnError(ErrorCode.Syntax, 'unexpected end of input', { position: 99 });
    expect(formatError(err, 'SELECT (').split('\n').slice(1)).toEqual(['  SELECT (', '          ^']);
  });

  it('shows only the offending line of a multi-line statement', () => {
    const statement = 'SELECT a,\n  b\n  FROM t WHERE';
    const position = statement.indexOf('WHERE') + 1;
    const err = new CairnError(ErrorCode.Syntax, 'bad', { position });
    expect(formatError(err, statement).split('\n').slice(1)).toEqual(['    FROM t WHERE', '           ^']);
  });

  it('keeps the caret under wide characters and tabs', () => {
    const statement = "SELECT '日本'\tx";
    const err = new CairnError(ErrorCode.Syntax, 'bad', { position: statement.indexOf('x') + 1 });
    expect(formatError(err, statement).split('\n').slice(1)).toEqual(["  SELECT '日本' x", '                ^']);
  });

  it('ignores the position without a statement, and a bad position', () => {
    const err = new CairnError(ErrorCode.Syntax, 'bad', { position: 3 });
    expect(formatError(err)).toBe('ERROR (SYNTAX_ERROR): bad');
    expect(formatError({ message: 'bad', position: 0 }, 'x')).toBe('ERROR: bad');
  });
});
