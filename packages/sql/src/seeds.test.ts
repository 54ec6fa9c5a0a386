import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatStatement, parse, parseOne } from './index.js';

// Every example statement of the CockroachDB docs the project is built from must parse and
// survive a format → parse round trip.
// The seed pages themselves are not part of the repo: where they are at hand
// (CAIRN_SEEDS_DIR=<dir of the .txt pages>), the fixture is also checked against them.
const SEEDS_DIR = process.env['CAIRN_SEEDS_DIR'] ?? '';

const STATEMENT_START =
  /^(BACKUP|RESTORE|SHOW|CREATE|ALTER|PAUSE|RESUME|CANCEL|DROP|GRANT|REVOKE|USE|SET|SELECT|INSERT|UPSERT|DELETE|UPDATE)\b/;

/** A URI standing in for the docs' placeholders (`'<backup_location>'`, `'{collectionURI}'`). */
const PLACEHOLDER_URI = 's3://backups/cluster?AWS_ACCESS_KEY_ID=AKIAEXAMPLE&AWS_SECRET_ACCESS_KEY=secret';

/**
 * A user name standing in for the docs' `GRANT ... TO user;` placeholder: USER is a reserved
 * keyword, so CockroachDB (and cairn) refuse it unquoted there.
 */
const PLACEHOLDER_USER = 'maxroach';

interface Example {
  where: string;
  sql: string;
}

/**
 * Statements in the seed pages: lines (optionally prompted with `>`) starting with a statement
 * keyword, continued over following lines (shell `\` continuations removed) up to a `;`.
 * Anything that reaches a blank line or a fence first is output, not a statement.
 */
function extractStatements(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const first = (lines[i] ?? '').replace(/^\s*>\s?/, '').trim();
    if (!STATEMENT_START.test(first)) continue;
    const collected: string[] = [];
    for (let j = i; j < lines.length && j < i + 15; j++) {
      const raw = j === i ? first : (lines[j] ?? '');
      if (raw.trim() === '' || raw.trim().startsWith('~~~')) break;
      const line = raw.replace(/\\\s*$/, '');
      collected.push(line);
      if (line.trimEnd().endsWith(';')) {
        const sql = collected
          .join('\n')
          .replace(/'<[^'>]+>'/g, `'${PLACEHOLDER_URI}'`)
          .replace(/'\{[A-Za-z_]+\}'/g, `'${PLACEHOLDER_URI}'`)
          .replace(/\b(TO|FROM) user;$/, `$1 ${PLACEHOLDER_USER};`);
        out.push({ where: `${file}:${i + 1}`, sql });
        i = j;
        break;
      }
    }
  }
  return out;
}

/** Statements shown as job descriptions / schedule backup_stmt in the seeds' output tables. */
function extractRenderedStatements(file: string, text: string): Example[] {
  const out: Example[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.includes('|')) return;
    for (const cell of line.split('|')) {
      const sql = cell.trim();
      if (sql.startsWith('BACKUP INTO ')) out.push({ where: `${file}:${i + 1}`, sql });
    }
  });
  return out;
}

function withoutPositions<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withoutPositions(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (k !== 'pos') out[k] = withoutPositions(v);
    return out as T;
  }
  return value;
}

/**
 * The statements extracted from the seed pages, kept in the repo: a clone without the seeds
 * beside it (a user's) still runs every example. Where the seeds are present, the fixture is
 * checked against a fresh extraction, so it cannot drift from them.
 */
const FIXTURE = fileURLToPath(new URL('./fixtures/seed-statements.json', import.meta.url));
interface SeedFixture {
  examples: Example[];
  rendered: Example[];
}
const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as SeedFixture;
const { examples, rendered } = fixture;

const seedFiles = SEEDS_DIR !== '' && existsSync(SEEDS_DIR) ? readdirSync(SEEDS_DIR).filter((f) => f.endsWith('.txt')).sort() : [];

describe('seed example statements', () => {
  it('has every example of the seed pages in its fixture, and matches them where they are beside the repo', () => {
    // A change here means the extraction (or a seed) changed: check nothing is silently lost.
    const perFile = Object.fromEntries(['000', '001', '002', '003', '004'].map((n) => [n, examples.filter((e) => e.where.startsWith(n)).length]));
    expect(perFile).toEqual({ '000': 17, '001': 30, '002': 0, '003': 0, '004': 9 });
    expect(rendered.length).toBeGreaterThanOrEqual(4);
    // Without the seeds (a user's clone) the fixture stands on its own.
    if (seedFiles.length > 0) {
      const fresh: SeedFixture = {
        examples: seedFiles.flatMap((f) => extractStatements(f, readFileSync(join(SEEDS_DIR, f), 'utf8'))),
        rendered: seedFiles.flatMap((f) => extractRenderedStatements(f, readFileSync(join(SEEDS_DIR, f), 'utf8'))),
      };
      expect(fresh).toEqual(fixture);
    }
  });

  it.each(examples)('$where parses and round-trips: $sql', ({ sql }) => {
    const stmts = parse(sql);
    expect(stmts).toHaveLength(1);
    const stmt = stmts[0]!;
    const text = formatStatement(stmt);
    const again = parseOne(text);
    expect(withoutPositions(again)).toEqual(withoutPositions(stmt));
    expect(formatStatement(again)).toBe(text);
    // Redacted output must parse too (it is what SHOW JOBS shows).
    expect(() => parseOne(formatStatement(stmt, { redact: true }))).not.toThrow();
  });

  it.each(rendered)('$where renders exactly as CockroachDB shows it: $sql', ({ sql }) => {
    expect(formatStatement(parseOne(sql))).toBe(sql);
  });
});
