import { randomBytes } from 'node:crypto';
import type { CairnClient } from '@cairn/client';
import { encodeRowKey, encodeRowValue } from '@cairn/catalog';

/** The bank workload of `cockroach workload`: accounts whose total balance never changes. */
export const BANK_DB = 'bank';
export const BANK_TABLE = 'bank';
export const INITIAL_BALANCE = 1000;

export interface BankInitOptions {
  rows: number;
  payloadBytes: number;
  batchSize?: number;
  concurrency?: number;
  onProgress?: (rowsLoaded: number) => void;
}

export interface LoadStats {
  rows: number;
  bytes: number;
  seconds: number;
}

/** `count` printable random payloads of exactly `bytes` characters, from one random draw. */
function payloadBatch(bytes: number, count: number): string[] {
  const hex = randomBytes(Math.ceil((bytes * count) / 2)).toString('hex');
  return Array.from({ length: count }, (_, i) => hex.slice(i * bytes, (i + 1) * bytes));
}

/** Creates bank.bank and loads `rows` accounts in batched INSERTs, several in flight. */
export async function initBank(client: CairnClient, o: BankInitOptions): Promise<LoadStats> {
  await client.execute(`DROP DATABASE IF EXISTS ${BANK_DB} CASCADE`);
  await client.execute(`CREATE DATABASE ${BANK_DB}`);
  await client.execute(`CREATE TABLE ${BANK_DB}.${BANK_TABLE} (id INT PRIMARY KEY, balance INT NOT NULL, payload STRING)`);
  const batch = o.batchSize ?? Math.max(1, Math.min(1000, Math.floor(256_000 / (o.payloadBytes + 40))));
  const concurrency = o.concurrency ?? 4;
  // Like CockroachDB's IMPORT: rows are encoded here and written as key/values in one
  // atomic batch each, skipping SQL parsing (the table was just created, empty).
  const table = await client.getTable(BANK_DB, BANK_TABLE);
  const started = performance.now();
  let next = 0;
  let loaded = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < o.rows) {
      const from = next;
      const to = Math.min(o.rows, from + batch);
      next = to;
      const ops = [];
      const payloads = payloadBatch(o.payloadBytes, to - from);
      for (let id = from; id < to; id++) {
        const row = [BigInt(id), BigInt(INITIAL_BALANCE), payloads[id - from]!];
        ops.push({ key: encodeRowKey(table, row), value: encodeRowValue(table, row) });
        bytes += 16 + o.payloadBytes;
      }
      await client.write({ ops });
      loaded += to - from;
      o.onProgress?.(loaded);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { rows: loaded, bytes, seconds: (performance.now() - started) / 1000 };
}

export interface BankRunOptions {
  durationMs: number;
  concurrency?: number;
  maxTransfer?: number;
  signal?: AbortSignal;
  onTick?: (transfers: number, errors: number) => void;
}

/**
 * Transfers random amounts between random accounts with CockroachDB's bank statement: one
 * UPDATE changes both balances atomically, so the total stays constant whatever fails.
 */
export async function runBank(client: CairnClient, o: BankRunOptions): Promise<{ transfers: number; errors: number; seconds: number }> {
  const rows = Number((await client.execute(`SELECT count(*) FROM ${BANK_DB}.${BANK_TABLE}`)).rows[0]?.[0] ?? 0);
  if (rows < 2) throw new Error('bank has fewer than 2 accounts: run `cairn workload init bank` first');
  const until = Date.now() + o.durationMs;
  let transfers = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < until && !o.signal?.aborted) {
      const from = Math.floor(Math.random() * rows);
      let to = Math.floor(Math.random() * (rows - 1));
      if (to >= from) to++;
      const amount = 1 + Math.floor(Math.random() * (o.maxTransfer ?? 100));
      try {
        await client.execute(
          `UPDATE ${BANK_DB}.${BANK_TABLE} SET balance = CASE id WHEN ${from} THEN balance - ${amount} WHEN ${to} THEN balance + ${amount} END WHERE id IN (${from}, ${to})`,
        );
        transfers++;
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 200));
      }
      o.onTick?.(transfers, errors);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  return { transfers, errors, seconds: (performance.now() - started) / 1000 };
}

export async function bankTotal(client: CairnClient, asOf?: string): Promise<bigint> {
  const r = await client.execute(`SELECT sum(balance) FROM ${BANK_DB}.${BANK_TABLE}${asOf ? ` AS OF SYSTEM TIME '${asOf}'` : ''}`);
  return BigInt(r.rows[0]?.[0] ?? '0');
}
