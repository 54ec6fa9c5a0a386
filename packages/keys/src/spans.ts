import { CairnError, ErrorCode } from '@cairn/errors';

/** A key range `[start, end)`. An empty `end` means +infinity (no upper bound). */
export interface Span {
  start: Uint8Array;
  end: Uint8Array;
}

/** The smallest key. */
export const KEY_MIN: Uint8Array = new Uint8Array(0);
/** A key above every table key (a length byte 0xff never starts a valid table prefix). */
export const KEY_MAX: Uint8Array = Uint8Array.of(0xff, 0xff);

/** Bytewise comparison: negative, zero or positive like `Array.prototype.sort` wants. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function keysEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = a.length - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The smallest key greater than every key that starts with `prefix`. Empty (+infinity) when
 * the prefix is empty or all 0xff.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const out = prefix.slice(0, i + 1);
      out[i] = (out[i] as number) + 1;
      return out;
    }
  }
  return new Uint8Array(0);
}

/** Compares two span ends, where an empty end is +infinity. */
function compareEnds(a: Uint8Array, b: Uint8Array): number {
  if (a.length === 0) return b.length === 0 ? 0 : 1;
  if (b.length === 0) return -1;
  return compareKeys(a, b);
}

/** Is `key` below the (possibly unbounded) end? */
function beforeEnd(key: Uint8Array, end: Uint8Array): boolean {
  return end.length === 0 || compareKeys(key, end) < 0;
}

export function spanIsEmpty(span: Span): boolean {
  return span.end.length !== 0 && compareKeys(span.start, span.end) >= 0;
}

export function spanContains(span: Span, key: Uint8Array): boolean {
  return compareKeys(key, span.start) >= 0 && beforeEnd(key, span.end);
}

/** True when the spans share at least one key. */
export function spansOverlap(a: Span, b: Span): boolean {
  if (spanIsEmpty(a) || spanIsEmpty(b)) return false;
  return beforeEnd(a.start, b.end) && beforeEnd(b.start, a.end);
}

/** The common part of two spans, or undefined when they do not overlap. */
export function intersectSpans(a: Span, b: Span): Span | undefined {
  if (!spansOverlap(a, b)) return undefined;
  const start = compareKeys(a.start, b.start) >= 0 ? a.start : b.start;
  const end = compareEnds(a.end, b.end) <= 0 ? a.end : b.end;
  return { start, end };
}

/** Lowercase hex of a key (no prefix). */
export function keyToHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex');
}

/** Parses the output of `keyToHex` (an optional `0x` prefix is accepted). */
export function hexToKey(hex: string): Uint8Array {
  const h = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (h.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(h)) {
    throw new CairnError(ErrorCode.InvalidArgument, `invalid hex key ${JSON.stringify(hex)}`);
  }
  return new Uint8Array(Buffer.from(h, 'hex'));
}

/**
 * A normalized set of spans: sorted, disjoint, with touching spans merged. Used to track
 * which parts of the keyspace a job has covered.
 */
export class SpanSet {
  private spans: Span[] = [];

  constructor(spans: Iterable<Span> = []) {
    for (const s of spans) this.add(s);
  }

  get size(): number {
    return this.spans.length;
  }

  isEmpty(): boolean {
    return this.spans.length === 0;
  }

  /** Adds a span, merging it with every span it overlaps or touches. */
  add(span: Span): this {
    if (spanIsEmpty(span)) return this;
    let start = span.start;
    let end = span.end;
    const out: Span[] = [];
    let placed = false;
    for (const s of this.spans) {
      // Disjoint and not touching: s entirely before, or entirely after, the new span.
      if (s.end.length !== 0 && compareKeys(s.end, start) < 0) {
        out.push(s);
      } else if (end.length !== 0 && compareKeys(s.start, end) > 0) {
        if (!placed) {
          out.push({ start, end });
          placed = true;
        }
        out.push(s);
      } else {
        if (compareKeys(s.start, start) < 0) start = s.start;
        if (compareEnds(s.end, end) > 0) end = s.end;
      }
    }
    if (!placed) out.push({ start, end });
    this.spans = out;
    return this;
  }

  /** Removes every key in `span` from the set. */
  subtract(span: Span): this {
    if (spanIsEmpty(span)) return this;
    const out: Span[] = [];
    for (const s of this.spans) {
      if (!spansOverlap(s, span)) {
        out.push(s);
        continue;
      }
      if (compareKeys(s.start, span.start) < 0) out.push({ start: s.start, end: span.start });
      if (span.end.length !== 0 && compareEnds(s.end, span.end) > 0) out.push({ start: span.end, end: s.end });
    }
    this.spans = out;
    return this;
  }

  contains(key: Uint8Array): boolean {
    // Binary search for the last span starting at or before key.
    let lo = 0;
    let hi = this.spans.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (compareKeys((this.spans[mid] as Span).start, key) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && beforeEnd(key, (this.spans[found] as Span).end);
  }

  /** True when every key of `span` is in the set. */
  covers(span: Span): boolean {
    if (spanIsEmpty(span)) return true;
    return this.spans.some((s) => compareKeys(s.start, span.start) <= 0 && compareEnds(s.end, span.end) >= 0);
  }

  /** The sorted, disjoint spans (copies of the span objects). */
  toArray(): Span[] {
    return this.spans.map((s) => ({ start: s.start, end: s.end }));
  }

  [Symbol.iterator](): Iterator<Span> {
    return this.toArray()[Symbol.iterator]();
  }
}
