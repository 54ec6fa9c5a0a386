import type { Command } from 'commander';
import { CairnError, ErrorCode } from '@cairn/errors';
import { ScheduleStatus, type CairnClient, type Schedule } from '@cairn/client';
import { formatResult, outputFormats, type OutputFormat } from '../output/index.js';
import { clientFor, DEFAULT_HOST, DEFAULT_USER } from './client-options.js';
import { DEFAULT_CERTS_DIR } from './cert.js';
import { addClientSecurityOptions, resolveClientSecurity } from './client-security.js';

export interface CommonOptions {
  host: string;
  user: string;
  format: OutputFormat;
  certsDir: string;
  insecure?: boolean;
}

/** SHOW SCHEDULES' columns. */
const COLUMNS = ['id', 'label', 'schedule_status', 'next_run', 'state', 'recurrence', 'jobsrunning', 'owner', 'created', 'command'];

function row(s: Schedule): (string | null)[] {
  return [
    String(s.scheduleId),
    s.label,
    s.status === ScheduleStatus.PAUSED ? 'PAUSED' : 'ACTIVE',
    s.nextRun?.toISOString() ?? null,
    s.state || null,
    s.recurrence,
    String(s.jobsRunning),
    s.owner,
    s.created?.toISOString() ?? null,
    s.command,
  ];
}

function print(schedules: Schedule[], format: OutputFormat): void {
  const text = formatResult({ columns: COLUMNS, rows: schedules.map(row) }, format);
  if (text) process.stdout.write(text + '\n');
}

export async function withClient(o: CommonOptions, fn: (c: CairnClient) => Promise<void>): Promise<void> {
  if (!outputFormats.includes(o.format)) throw new CairnError(ErrorCode.InvalidArgument, `unknown --format "${o.format}"`);
  // Secure clusters: TLS with client.<user>.crt or a password, as cairn sql connects.
  const client = clientFor(o.host, undefined, o.user, await resolveClientSecurity(o, o.user, o.certsDir !== DEFAULT_CERTS_DIR));
  try {
    await fn(client);
  } finally {
    client.close();
  }
}

/** `cairn schedule list|show|pause|resume|drop`: thin commands over ScheduleService. */
export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('list and control backup schedules (ScheduleService)');
  const common = (c: Command) =>
    addClientSecurityOptions(c)
      .option('--host <addr>', 'coordinator gRPC address(es), comma-separated', DEFAULT_HOST)
      .option('-u, --user <name>', 'SQL user the call runs as (schedules need the admin role)', DEFAULT_USER)
      .option('--format <fmt>', `output format (${outputFormats.join('|')})`, 'table');

  common(schedule.command('list').description('schedules, oldest first'))
    .option('--label <label>', 'only schedules with this label')
    .option('--status <status>', 'only active or paused schedules')
    .action(async (o: CommonOptions & { label?: string; status?: string }) => {
      const status = o.status === undefined ? ScheduleStatus.UNSPECIFIED : o.status.toLowerCase() === 'paused' ? ScheduleStatus.PAUSED : o.status.toLowerCase() === 'active' ? ScheduleStatus.ACTIVE : undefined;
      if (status === undefined) throw new CairnError(ErrorCode.InvalidArgument, `--status must be active or paused, got "${o.status}"`);
      await withClient(o, async (c) => {
        const all: Schedule[] = [];
        let pageToken = '';
        do {
          const page = await c.listSchedules({ label: o.label ?? '', status, pageToken });
          all.push(...page.schedules);
          pageToken = page.nextPageToken;
        } while (pageToken !== '');
        print(all, o.format);
      });
    });
  common(schedule.command('show <schedule_id>').description('one schedule')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => print([await c.getSchedule(id)], o.format));
  });
  common(schedule.command('pause <schedule_id>').description('PAUSE SCHEDULE')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => print([await c.pauseSchedule(id)], o.format));
  });
  common(schedule.command('resume <schedule_id>').description('RESUME SCHEDULE')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => print([await c.resumeSchedule(id)], o.format));
  });
  common(schedule.command('drop <schedule_id>').description('DROP SCHEDULE (running jobs go on, as in CockroachDB)')).action(async (id: string, o: CommonOptions) => {
    await withClient(o, async (c) => {
      await c.dropSchedule(id);
      process.stdout.write('DROP SCHEDULES 1\n');
    });
  });
}
