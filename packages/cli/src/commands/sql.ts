import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { CairnClient } from '@cairn/client';
import { formatError, formatResult, outputFormats, readStatements, type OutputFormat } from '../output/index.js';
import { clientFor, DEFAULT_HOST, DEFAULT_USER } from './client-options.js';
import { addClientSecurityOptions, certsDirGiven, resolveClientSecurity, type ClientSecurity } from './client-security.js';
import { runWaitedJob, waitedJobType } from './job-watch.js';

interface SqlOptions {
  host: string;
  execute?: string[];
  format: OutputFormat;
  database: string;
  user: string;
  certsDir: string;
  insecure?: boolean;
}

/** Runs one statement and prints its result; returns false (after printing the error) on failure. */
async function runStatement(client: CairnClient, sql: string, format: OutputFormat, host: string, security: ClientSecurity): Promise<boolean> {
  try {
    const jobType = waitedJobType(sql);
    let r;
    if (jobType) {
      // The same user: a non-admin sees only their own jobs, which include this one.
      const watcher = clientFor(host, undefined, client.user, security);
      try {
        r = await runWaitedJob(client, watcher, sql, jobType);
      } finally {
        watcher.close();
      }
    } else {
      r = await client.execute(sql);
    }
    const text = formatResult({ columns: r.columns, rows: r.rows, tag: r.tag }, format);
    if (text) process.stdout.write(text + '\n');
    return true;
  } catch (err) {
    // One line for scripts; people at a terminal also get the statement with a caret.
    process.stderr.write(formatError(err, process.stderr.isTTY ? sql : undefined) + '\n');
    return false;
  }
}

export function registerSql(program: Command): void {
  const sql = program.command('sql');
  addClientSecurityOptions(sql);
  sql
    .description('run statements (-e) or open an interactive shell')
    .option('--host <addr>', 'coordinator gRPC address(es), comma-separated', DEFAULT_HOST)
    .option('-e, --execute <sql...>', 'statement(s) to run; each -e may hold several separated by ;')
    .option('--format <fmt>', `output format (${outputFormats.join('|')})`, process.stdout.isTTY ? 'table' : 'table')
    .option('-d, --database <name>', 'current database', '')
    .option('-u, --user <name>', 'SQL user (secure clusters: client.<user>.crt in --certs-dir, or a password from CAIRN_PASSWORD or a prompt)', DEFAULT_USER)
    .action(async (o: SqlOptions, cmd: Command) => {
      if (!outputFormats.includes(o.format)) {
        throw new Error(`unknown --format "${o.format}": expected one of ${outputFormats.join(', ')}`);
      }
      const security = await resolveClientSecurity(o, o.user, certsDirGiven(cmd));
      const client = clientFor(o.host, undefined, o.user, security);
      client.database = o.database;
      try {
        if (o.execute) {
          for (const text of o.execute) {
            const { statements, rest } = readStatements(text);
            const all = rest.trim() ? [...statements, rest.trim()] : statements;
            for (const stmt of all) {
              if (!(await runStatement(client, stmt, o.format, o.host, security))) {
                process.exitCode = 1;
                return;
              }
            }
          }
          return;
        }
        await repl(client, o.format, o.host, security);
      } finally {
        client.close();
      }
    });
}

async function repl(client: CairnClient, format: OutputFormat, host: string, security: ClientSecurity): Promise<void> {
  const interactive = process.stdin.isTTY === true;
  if (interactive) process.stdout.write(`# Welcome to the cairn SQL shell. Connected to ${host}.\n# Statements end with a semicolon; \\q quits.\n`);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive });
  const prompt = (): void => {
    if (interactive) {
      rl.setPrompt(buffer.trim() ? '              -> ' : `${client.user}@${host}/${client.database || 'defaultdb'}> `);
      rl.prompt();
    }
  };
  let buffer = '';
  let failed = false;
  prompt();
  for await (const line of rl) {
    if (!buffer.trim() && (line.trim() === '\\q' || line.trim() === 'quit' || line.trim() === 'exit')) break;
    buffer += line + '\n';
    const { statements, rest } = readStatements(buffer);
    buffer = rest;
    for (const stmt of statements) if (!(await runStatement(client, stmt, format, host, security))) failed = true;
    prompt();
  }
  if (buffer.trim()) {
    if (!(await runStatement(client, buffer.trim(), format, host, security))) failed = true;
  }
  // Piped input behaves like a script: a failed statement fails the run.
  if (failed && !interactive) process.exitCode = 1;
}
