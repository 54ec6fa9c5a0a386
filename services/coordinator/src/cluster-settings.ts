import type { KV, NatsConnection } from 'nats';
import { CairnError, ErrorCode } from '@cairn/errors';
import { FEATURE_FLAGS } from './feature-flags.js';
import { DEFAULT_GC_INTERVAL, DEFAULT_GC_TTL_SECONDS, GC_INTERVAL_SETTING, GC_TTL_SETTING, KvMirror, parseDurationMs } from '@cairn/cluster';

type SettingType = 'int' | 'bytes' | 'duration' | 'bool' | 'string';

interface SettingDef {
  type: SettingType;
  default: string;
  description: string;
}

/** The cluster settings cairn knows; `SET CLUSTER SETTING` refuses any other name. */
export const SETTINGS: Record<string, SettingDef> = {
  'bulkio.backup.file_size': { type: 'bytes', default: '134217728', description: 'target size of individual backup data files' },
  'kv.range.max_bytes': { type: 'bytes', default: '67108864', description: 'a range larger than this is split' },
  'kv.replication_factor': { type: 'int', default: '3', description: 'replicas per range (capped by the number of nodes)' },
  [GC_TTL_SETTING]: {
    type: 'int',
    default: String(DEFAULT_GC_TTL_SECONDS),
    description: 'age after which overwritten MVCC revisions may be garbage collected (unless a protected timestamp still needs them)',
  },
  [GC_INTERVAL_SETTING]: { type: 'duration', default: DEFAULT_GC_INTERVAL, description: 'how often each node garbage-collects the MVCC revisions of its replicas' },
  'jobs.scheduler.poll_interval': { type: 'duration', default: '1s', description: 'how often the scheduler looks for due schedules' },
  [FEATURE_FLAGS.BACKUP]: { type: 'bool', default: 'true', description: 'set to true to enable backups, false to disable; default is true' },
  [FEATURE_FLAGS.RESTORE]: { type: 'bool', default: 'true', description: 'set to true to enable restore, false to disable; default is true' },
  [FEATURE_FLAGS.SCHEDULES]: { type: 'bool', default: 'true', description: 'set to true to enable CREATE, ALTER, PAUSE, RESUME and DROP of schedules, false to disable; default is true' },
};

/** Cluster settings in their KV bucket, cached and kept fresh by a watch. */
export class ClusterSettings {
  private constructor(
    private readonly kv: KV,
    private readonly values: KvMirror<string>,
  ) {}

  /** Opens the settings; resolves once the stored values are loaded, so `get()` sees them. */
  static async open(nc: NatsConnection, kv: KV): Promise<ClusterSettings> {
    return new ClusterSettings(kv, await KvMirror.open(nc, kv, (_key, value) => new TextDecoder().decode(value)));
  }

  stop(): void {
    this.values.stop();
  }

  get(name: string): string {
    const def = requireSetting(name);
    return this.values.get(name) ?? def.default;
  }

  getNumber(name: string): number {
    return Number(this.get(name));
  }

  async set(name: string, raw: string | undefined): Promise<void> {
    const def = requireSetting(name);
    if (raw === undefined) {
      await this.kv.delete(name);
      this.values.apply(name, undefined);
      return;
    }
    const value = normalize(name, def.type, raw);
    await this.kv.put(name, new TextEncoder().encode(value));
    this.values.apply(name, value);
  }

  list(): Array<{ variable: string; value: string; type: string; description: string }> {
    return Object.entries(SETTINGS)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([variable, def]) => ({ variable, value: this.get(variable), type: def.type, description: def.description }));
  }
}

function requireSetting(name: string): SettingDef {
  const def = SETTINGS[name];
  if (!def) throw new CairnError(ErrorCode.InvalidArgument, `unknown cluster setting "${name}"`);
  return def;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

function normalize(name: string, type: SettingType, raw: string): string {
  const bad = () => new CairnError(ErrorCode.InvalidArgument, `invalid value "${raw}" for cluster setting "${name}" (${type})`);
  const text = raw.trim().toLowerCase();
  switch (type) {
    case 'int': {
      if (!/^\d+$/.test(text)) throw bad();
      return text;
    }
    case 'bytes': {
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(text);
      const unit = SIZE_UNITS[m?.[2] || 'b'];
      if (!m || unit === undefined) throw bad();
      return String(Math.round(Number(m[1]) * unit));
    }
    case 'duration': {
      if (!/^\d+(ms|s|m|h)$/.test(text)) throw bad();
      return text;
    }
    case 'bool': {
      if (text !== 'true' && text !== 'false') throw bad();
      return text;
    }
    case 'string':
      return raw;
  }
}

export function durationMs(text: string): number {
  return parseDurationMs(text) ?? 1000;
}
