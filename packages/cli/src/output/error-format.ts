/**
 * Renders errors the way the CLI prints them: one line, plus a pointer into the statement for
 * errors that carry a position.
 */
import { displayWidth } from './display-width.js';

/**
 * `ERROR (<CODE>): <message>` when `err` has a `code` property (string or number),
 * else `ERROR: <message>`. A message spanning lines is joined into one.
 *
 * When `err` has an integer `position` >= 1 (1-based UTF-16 offset into the statement, as
 * `CairnError` carries for syntax errors) and `statement` is given, two lines follow: the
 * statement line holding that position, indented by two spaces, and a `^` under the position.
 * A position past the end points just after the last character. No trailing newline.
 */
export function formatError(err: unknown, statement?: string): string {
  const message = oneLine(messageOf(err));
  const code = codeOf(err);
  const lines = [code === undefined ? `ERROR: ${message}` : `ERROR (${code}): ${message}`];
  const position = positionOf(err);
  if (position !== undefined && statement !== undefined) lines.push(...pointAt(statement, position));
  return lines.join('\n');
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') {
    return err.message;
  }
  try {
    return String(err);
  } catch {
    // Objects without a prototype have no toString.
    return 'unknown error';
  }
}

function oneLine(message: string): string {
  const joined = message.trim().replace(/\s*[\r\n]+\s*/g, ' ');
  return joined === '' ? 'unknown error' : joined;
}

function codeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const { code } = err;
  if (typeof code === 'string' && code !== '') return code;
  if (typeof code === 'number' && Number.isFinite(code)) return String(code);
  return undefined;
}

function positionOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('position' in err)) return undefined;
  const { position } = err;
  return typeof position === 'number' && Number.isInteger(position) && position >= 1 ? position : undefined;
}

function pointAt(statement: string, position: number): [string, string] {
  const offset = Math.min(position - 1, statement.length);
  const lineStart = offset === 0 ? 0 : statement.lastIndexOf('\n', offset - 1) + 1;
  const newline = statement.indexOf('\n', offset);
  const lineEnd = newline < 0 ? statement.length : newline;
  const line = visible(statement.slice(lineStart, lineEnd).replace(/\r$/, ''));
  const before = visible(statement.slice(lineStart, offset));
  return [`  ${line}`, `  ${' '.repeat(displayWidth(before))}^`];
}

/** Tabs and other control characters become one space, so the caret line stays aligned. */
function visible(s: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return s.replace(/[\x00-\x1f\x7f]/g, ' ');
}
