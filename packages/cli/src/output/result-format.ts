/**
 * Renders statement results the way `cockroach sql` does, for each `--format`.
 */
import { displayWidth } from './display-width.js';

/** The `--format` values the CLI accepts (pass to commander's `Option.choices`). */
export const outputFormats = ['table', 'json', 'csv', 'tsv'] as const;
export type OutputFormat = (typeof outputFormats)[number];

/** One statement's result as the CLI receives it. */
export interface ResultSet {
  columns: string[];
  /** Values as text; `null` is SQL NULL. A row shorter than `columns` reads as NULL. */
  rows: (string | null)[][];
  /** Command tag (`CREATE TABLE`, `INSERT 0 3`), printed for statements without result columns. */
  tag?: string;
}

type Alignment = 'left' | 'right' | 'center';

/**
 * Formats one result. The text has no trailing newline.
 *
 * - Statements without result columns print their `tag` in every format.
 * - `table`: cockroach's layout (olekukonko/tablewriter without borders): centered column
 *   names, numeric columns right-aligned, `(N rows)` footer; multi-line values span several
 *   table lines; NULL shows as `NULL`.
 * - `json`: an array with one object per row, one row per line, values as strings or null.
 * - `csv` / `tsv`: a header row, then rows; fields holding the separator, a quote, CR or LF
 *   are quoted RFC 4180 style; NULL shows as `NULL`; lines end with `\n`.
 */
export function formatResult(result: ResultSet, format: OutputFormat): string {
  if (result.columns.length === 0 && result.tag !== undefined) return result.tag;
  switch (format) {
    case 'table':
      return formatTable(result);
    case 'json':
      return formatJson(result);
    case 'csv':
      return formatDelimited(result, ',');
    case 'tsv':
      return formatDelimited(result, '\t');
    default: {
      const unknown: never = format;
      throw new TypeError(`unknown output format: ${String(unknown)}`);
    }
  }
}

function cell(row: readonly (string | null)[], i: number): string | null {
  return row[i] ?? null;
}

function rowCountFooter(n: number): string {
  return `(${n} row${n === 1 ? '' : 's'})`;
}

function formatTable({ columns, rows }: ResultSet): string {
  const footer = rowCountFooter(rows.length);
  if (columns.length === 0) return `--\n${footer}`;

  const header = columns.map((name) => tableLines(name));
  const body = rows.map((row) => columns.map((_, i) => tableLines(cell(row, i) ?? 'NULL')));
  const widths = header.map((lines) => maxWidth(lines));
  for (const row of body) {
    row.forEach((lines, i) => {
      widths[i] = Math.max(widths[i] ?? 0, maxWidth(lines));
    });
  }
  const bodyAlign = columns.map((_, i): Alignment => (isNumericColumn(rows, i) ? 'right' : 'left'));
  const headerAlign = columns.map((): Alignment => 'center');

  const out = renderTableRow(header, widths, headerAlign);
  out.push(`-${widths.map((w) => '-'.repeat(w + 2)).join('+')}-`);
  for (const row of body) out.push(...renderTableRow(row, widths, bodyAlign));
  out.push(footer);
  return out.join('\n');
}

/** One logical row, as many terminal lines as its tallest cell needs. */
function renderTableRow(
  cells: readonly (readonly string[])[],
  widths: readonly number[],
  align: readonly Alignment[],
): string[] {
  const height = Math.max(1, ...cells.map((lines) => lines.length));
  const out: string[] = [];
  for (let k = 0; k < height; k++) {
    const parts = cells.map((lines, i) => ` ${pad(lines[k] ?? '', widths[i] ?? 0, align[i] ?? 'left')} `);
    // tablewriter trims whitespace at end of line; only ASCII spaces, which padding adds.
    out.push(` ${parts.join('|')}`.replace(/ +$/, ''));
  }
  return out;
}

function pad(s: string, width: number, align: Alignment): string {
  const gap = Math.max(0, width - displayWidth(s));
  switch (align) {
    case 'left':
      return s + ' '.repeat(gap);
    case 'right':
      return ' '.repeat(gap) + s;
    case 'center': {
      const left = Math.floor(gap / 2);
      return ' '.repeat(left) + s + ' '.repeat(gap - left);
    }
  }
}

function maxWidth(lines: readonly string[]): number {
  let w = 0;
  for (const line of lines) w = Math.max(w, displayWidth(line));
  return w;
}

const numericValue = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?Infinity$|^NaN$/;

/** A column is right-aligned when it has values and every non-NULL one is a number. */
function isNumericColumn(rows: readonly (readonly (string | null)[])[], i: number): boolean {
  let sawValue = false;
  for (const row of rows) {
    const value = cell(row, i);
    if (value === null) continue;
    if (!numericValue.test(value)) return false;
    sawValue = true;
  }
  return sawValue;
}

const tabStop = 4;

/**
 * Splits a value into display lines: CRLF and LF break lines, tabs expand to the next
 * 4-column stop, and other control characters show as `\xNN` so they cannot move the cursor.
 */
function tableLines(value: string): string[] {
  return value.split(/\r?\n/).map((line) => {
    let out = '';
    let width = 0;
    for (const ch of line) {
      const code = ch.codePointAt(0) ?? 0;
      if (ch === '\t') {
        const spaces = tabStop - (width % tabStop);
        out += ' '.repeat(spaces);
        width += spaces;
      } else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) {
        const escaped = `\\x${code.toString(16).padStart(2, '0')}`;
        out += escaped;
        width += escaped.length;
      } else {
        out += ch;
        width += displayWidth(ch);
      }
    }
    return out;
  });
}

function formatJson({ columns, rows }: ResultSet): string {
  if (rows.length === 0) return '[\n]';
  // Built by hand rather than through an object so column order survives (integer-like
  // names would otherwise move first) and a column named `__proto__` stays a column.
  const objects = rows.map(
    (row) => `  {${columns.map((name, i) => `${JSON.stringify(name)}:${JSON.stringify(cell(row, i))}`).join(',')}}`,
  );
  return `[\n${objects.join(',\n')}\n]`;
}

function formatDelimited({ columns, rows }: ResultSet, separator: ',' | '\t'): string {
  // cockroach prints these markers for a result without columns, where a header row and
  // data rows would all be empty lines.
  if (columns.length === 0) return ['# no columns', ...rows.map(() => '# empty')].join('\n');
  const records = [columns, ...rows.map((row) => columns.map((_, i) => cell(row, i) ?? 'NULL'))];
  return records.map((fields) => fields.map((f) => quoteField(f, separator, fields.length)).join(separator)).join('\n');
}

function quoteField(field: string, separator: string, fieldCount: number): string {
  const needsQuotes =
    field.includes(separator) ||
    field.includes('"') ||
    field.includes('\n') ||
    field.includes('\r') ||
    // An empty single-field record would be an empty line, which readers skip.
    (field === '' && fieldCount === 1);
  return needsQuotes ? `"${field.replaceAll('"', '""')}"` : field;
}
