import { CairnError, ErrorCode } from '@cairn/errors';
import { formatDatum, type Datum } from '@cairn/catalog';
import type { TableDescriptor } from '@cairn/proto';
import { columnOrdinal, compareDatums } from './row-predicates.js';

/** One aggregate (count, min, max, sum, avg) folded over rows one at a time. */
export class Aggregate {
  private readonly ordinal: number | undefined;
  private readonly type: TableDescriptor['columns'][number]['type'] | undefined;
  private count = 0;
  private best: Datum | null = null;
  /** Exact while every value is an integer; the float sum takes over at the first that is not. */
  private allInts = true;
  private intSum = 0n;
  private floatSum = 0;

  constructor(
    table: TableDescriptor,
    private readonly fn: string,
    arg: string | undefined,
  ) {
    if (arg === undefined && fn !== 'count') throw new CairnError(ErrorCode.InvalidArgument, `${fn}(*) is not valid`);
    this.ordinal = arg === undefined ? undefined : columnOrdinal(table, arg);
    this.type = this.ordinal === undefined ? undefined : table.columns[this.ordinal]!.type;
  }

  add(row: Datum[]): void {
    if (this.ordinal === undefined) {
      this.count++;
      return;
    }
    const v = row[this.ordinal] ?? null;
    if (v === null) return;
    this.count++;
    if (this.fn === 'min' || this.fn === 'max') {
      if (this.best === null || compareDatums(v, this.best) * (this.fn === 'min' ? -1 : 1) > 0) this.best = v;
    } else if (this.fn === 'sum' || this.fn === 'avg') {
      if (typeof v === 'bigint') this.intSum += v;
      else this.allInts = false;
      this.floatSum += Number(v);
    }
  }

  result(): string | null {
    if (this.fn === 'count') return String(this.count);
    if (this.count === 0) return null;
    if (this.fn === 'min' || this.fn === 'max') return formatDatum(this.best!, this.type!);
    if (this.allInts) return this.fn === 'sum' ? String(this.intSum) : String(Number(this.intSum) / this.count);
    return String(this.fn === 'sum' ? this.floatSum : this.floatSum / this.count);
  }
}
