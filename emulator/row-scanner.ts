// Reads the rows of one `insert` table straight from the bytes of a response, in one pass and without a
// JavaScript object per row: it checks that the text is strict JSON, that each row is an object, notes which
// columns each row has a value for (the primary-key check), and folds every value into its column's type
// exactly as the warehouse's inferType/widen would on the parsed rows. The warehouse then hands the same bytes
// to DuckDB's read_json, which parses and converts them in C++ (parsing, checking and re-serialising 8 MiB of
// rows in JavaScript was most of a response's apply; see docs/local-fivetran.md).
//
// Anything it does not read with certainty gives up on the table ("doubt"): a nested value (JSON columns), a
// number a double may round (the exact-number path), a key spelled twice, a _fivetran_ column, an escape or a
// literal it does not know, a row that is not an object. The caller then parses that table's rows with
// parseExactJson and checks and applies them as objects, so every answer and every message stays that of the
// object path.
import {inferType, widen, type ColumnSqlType} from './warehouse.js';

export interface ScannedColumn {
  /** the name as first spelled in the response (DuckDB's identifiers are case-insensitive) */
  name: string;
  /** the type its values suggest, undefined when all were null */
  type: ColumnSqlType | undefined;
}

/** One spelling of a key, as rows write it. */
interface KeySpelling {
  raw: Uint8Array;
  name: string;
  column: ScannedColumn;
  /** the row attempt that last had it: a second time in one row is a key written twice */
  stamp: number;
  nonNull: number;
  integers: number;
  min: number;
  max: number;
  last: number;
  ascending: boolean;
  /** the value of the row being read: not null, and its integer (NaN when it is none) */
  pendingNonNull: boolean;
  pendingInteger: number;
}

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
/** Column names Fivetran keeps for itself (_fivetran_synced, _fivetran_deleted, ...): a response may not send them. */
export const RESERVED_COLUMN = /^_fivetran_/i;
/** the characters JSON allows after a backslash, besides u */
const SIMPLE_ESCAPES = new Set([QUOTE, BACKSLASH, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const TRUE_TEXT = new TextEncoder().encode('true');
const FALSE_TEXT = new TextEncoder().encode('false');
const NULL_TEXT = new TextEncoder().encode('null');

/** 1 for a byte a string holds as it is: not a quote, a backslash, a control character or a non-ASCII byte */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;

// most bytes tested are not whitespace: one comparison says so
const isSpace = (c: number) => c <= 0x20 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09);
const isHex = (c: number) => (c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);

/** the outcome of reading a row: its end, or one of these */
const INCOMPLETE = -1;
const DOUBT = -2;

type ScanState = 'rows' | 'incomplete' | 'doubt' | 'done';

export class RowScanner {
  state: ScanState = 'rows';
  count = 0;
  readonly columns: ScannedColumn[] = [];
  private readonly byLower = new Map<string, ScannedColumn>();
  private readonly spellings: KeySpelling[] = [];
  /** the spelling at each position of the previous row: rows usually repeat their keys in order */
  private readonly order: (KeySpelling | undefined)[] = [];
  /** the spellings the row being read has, in its first `touchedCount` places (kept, not emptied, between rows) */
  private readonly touched: KeySpelling[] = [];
  private touchedCount = 0;
  private attempt = 0;
  /** 0: after "[" (a row or "]"), 1: after a row ("," or "]"), 2: after "," (a row) */
  private expect = 0;
  /** where each row read starts and ends ("{" and just past "}"), as offsets in the body (scan's `offset`) */
  private starts = new Int32Array(1024);
  private ends = new Int32Array(1024);

  /**
   * Reads rows of `buf` from `from` (just after the list's "[", or where the last call stopped). Returns where
   * it stopped: past the closing "]" (state done), at the start of an unfinished row (incomplete: call again with
   * the bytes from there and more), or at the start of the row it cannot read with certainty (doubt).
   */
  scan(buf: Buffer, from: number, offset = 0): number {
    // indexing a plain Uint8Array is about three times faster than indexing the Buffer
    const b = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    const n = b.length;
    let i = from;
    for (;;) {
      while (i < n && isSpace(b[i]!)) i++;
      if (i >= n) {
        this.state = 'incomplete';
        return i;
      }
      const c = b[i]!;
      if (this.expect === 1) {
        if (c === COMMA) {
          this.expect = 2;
          i++;
          continue;
        }
        if (c === CLOSE_BRACKET) {
          this.state = 'done';
          return i + 1;
        }
        this.state = 'doubt';
        return i;
      }
      if (c === CLOSE_BRACKET && this.expect === 0) {
        this.state = 'done';
        return i + 1;
      }
      if (c !== OPEN_BRACE) {
        this.state = 'doubt';
        return i;
      }
      const end = this.row(buf, b, i);
      if (end === INCOMPLETE) {
        this.state = 'incomplete';
        return i;
      }
      if (end === DOUBT) {
        this.state = 'doubt';
        return i;
      }
      this.commitRow(offset + i, offset + end);
      this.expect = 1;
      i = end;
    }
  }

  /** Rows in which `key` (as spelled) has a value other than null. */
  nonNull(key: string): number {
    return this.spellings.find((s) => s.name === key)?.nonNull ?? 0;
  }

  /** The smallest and largest value of `key`, and whether they ascend strictly, when every row has an integer there. */
  integerRange(key: string): {min: number; max: number; ascending: boolean} | undefined {
    const spelling = this.spellings.find((s) => s.name === key);
    if (!spelling || spelling.integers !== this.count || this.count === 0) return undefined;
    return {min: spelling.min, max: spelling.max, ascending: spelling.ascending};
  }

  /**
   * Rows [from, to) as newline-delimited JSON, for DuckDB's read_json (which reads it a sixth faster than a
   * list, and without the list's brackets): a copy of their bytes in `body` (the buffer scan's offsets are
   * in) from the first row's "{" to the last row's "}", each separator between two rows (a comma and any
   * whitespace) turned into a newline and spaces. The copy is a view of `into` when that is large enough.
   */
  lines(body: Buffer, from: number, to: number, into?: Buffer): Buffer {
    if (to <= from) return Buffer.alloc(0);
    const start = this.starts[from]!;
    const length = this.ends[to - 1]! - start;
    // written into `into` when it is large enough (the caller's buffer, used again for the next rows); otherwise
    // a buffer of its own, never a slice of the shared pool, since the caller may keep it to write into
    const out = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafeSlow(length);
    body.copy(out, 0, start, start + length);
    for (let row = from + 1; row < to; row++) {
      const end = this.ends[row - 1]! - start;
      out[end] = NEWLINE;
      out.fill(SPACE, end + 1, this.starts[row]! - start);
    }
    return out;
  }

  private commitRow(start: number, end: number): void {
    const row = this.count;
    if (row === this.starts.length) {
      const starts = new Int32Array(row * 2);
      starts.set(this.starts);
      this.starts = starts;
      const ends = new Int32Array(row * 2);
      ends.set(this.ends);
      this.ends = ends;
    }
    this.starts[row] = start;
    this.ends[row] = end;
    const touched = this.touched;
    for (let t = 0; t < this.touchedCount; t++) {
      const s = touched[t]!;
      if (s.pendingNonNull) s.nonNull++;
      const value = s.pendingInteger;
      if (value === value) {
        if (s.integers === 0) {
          s.min = s.max = value;
        } else {
          if (value <= s.last) s.ascending = false;
          if (value < s.min) s.min = value;
          if (value > s.max) s.max = value;
        }
        s.last = value;
        s.integers++;
      }
    }
    this.count++;
  }

  /** The spelling of the key [start, end), found or added; undefined when the table must take the object path. */
  private spelling(buf: Buffer, b: Uint8Array, start: number, end: number, escaped: boolean, position: number): KeySpelling | undefined {
    for (const s of this.spellings) {
      if (sameBytes(s.raw, b, start, end)) {
        this.order[position] = s;
        return s;
      }
    }
    let name: string;
    try {
      name = escaped ? (JSON.parse(buf.toString('utf8', start - 1, end + 1)) as string) : buf.toString('utf8', start, end);
    } catch {
      return undefined;
    }
    // the checks word a system column; the same key spelled two ways is a key twice, which JSON.parse collapses
    if (RESERVED_COLUMN.test(name) || this.spellings.some((s) => s.name === name)) return undefined;
    const lower = name.toLowerCase();
    let column = this.byLower.get(lower);
    if (!column) {
      column = {name, type: undefined};
      this.byLower.set(lower, column);
      this.columns.push(column);
    }
    const s: KeySpelling = {
      raw: b.slice(start, end), name, column, stamp: 0, nonNull: 0, integers: 0, min: 0, max: 0, last: 0, ascending: true, pendingNonNull: false, pendingInteger: NaN,
    };
    this.spellings.push(s);
    this.order[position] = s;
    return s;
  }

  /** Reads the row object starting at `at`; returns its end, INCOMPLETE or DOUBT. */
  private row(buf: Buffer, b: Uint8Array, at: number): number {
    const n = b.length;
    const attempt = ++this.attempt;
    this.touchedCount = 0;
    let i = at + 1;
    while (i < n && isSpace(b[i]!)) i++;
    if (i >= n) return INCOMPLETE;
    if (b[i] === CLOSE_BRACE) return i + 1;
    for (let position = 0; ; position++) {
      if (b[i] !== QUOTE) return DOUBT;
      // the key: usually the previous row's at this position, closing quote included (its raw bytes end where
      // an unescaped quote follows, so the same bytes and a quote are the same key)
      const keyStart = i + 1;
      const predicted = this.order[position];
      let j: number;
      let s: KeySpelling | undefined;
      if (predicted !== undefined && keyStart + predicted.raw.length < n && b[keyStart + predicted.raw.length] === QUOTE && sameBytes(predicted.raw, b, keyStart, keyStart + predicted.raw.length)) {
        j = keyStart + predicted.raw.length;
        s = predicted;
      } else {
        j = keyStart;
        let escaped = false;
        for (; j < n; j++) {
          const c = b[j]!;
          if (c === QUOTE) break;
          if (c === BACKSLASH) {
            escaped = true;
            j++;
          } else if (c < 0x20) return DOUBT;
        }
        if (j >= n) return INCOMPLETE;
        s = this.spelling(buf, b, keyStart, j, escaped, position);
      }
      if (s === undefined || s.stamp === attempt) return DOUBT;
      s.stamp = attempt;
      this.touched[this.touchedCount++] = s;
      i = j + 1;
      while (i < n && isSpace(b[i]!)) i++;
      if (i >= n) return INCOMPLETE;
      if (b[i] !== COLON) return DOUBT;
      i++;
      while (i < n && isSpace(b[i]!)) i++;
      if (i >= n) return INCOMPLETE;
      // the value
      const column = s.column;
      const c = b[i]!;
      let type: ColumnSqlType | undefined;
      s.pendingNonNull = true;
      s.pendingInteger = NaN;
      if (c === QUOTE) {
        const start = i + 1;
        let k = start;
        let stringEscaped = false;
        let high = false;
        for (; k < n; k++) {
          // most bytes are plain: one table look-up each
          while (k < n && PLAIN[b[k]!] === 1) k++;
          if (k >= n) break;
          const d = b[k]!;
          if (d === QUOTE) break;
          if (d === BACKSLASH) {
            if (k + 1 >= n) return INCOMPLETE;
            const e = b[k + 1]!;
            if (e === 0x75 /* u */) {
              if (k + 5 >= n) return INCOMPLETE;
              if (!isHex(b[k + 2]!) || !isHex(b[k + 3]!) || !isHex(b[k + 4]!) || !isHex(b[k + 5]!)) return DOUBT;
              k += 5;
            } else if (SIMPLE_ESCAPES.has(e)) {
              k++;
            } else {
              return DOUBT;
            }
            stringEscaped = true;
          } else if (d < 0x20) {
            return DOUBT;
          } else if (d >= 0x80) {
            high = true;
          }
        }
        if (k >= n) return INCOMPLETE;
        // nothing widens VARCHAR: its values need no inference; non-ASCII text is never a date
        if (column.type !== 'VARCHAR') {
          if (high) type = 'VARCHAR';
          else if (stringEscaped) type = inferType(JSON.parse(buf.toString('latin1', i, k + 1)));
          else type = stringType(b, start, k);
        }
        i = k + 1;
      } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
        // strict JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?
        const start = i;
        let k = c === MINUS ? i + 1 : i;
        if (k >= n) return INCOMPLETE;
        const first = b[k]!;
        if (first < ZERO || first > NINE) return DOUBT;
        let value = 0;
        let digits = 0;
        if (first === ZERO) {
          k++;
          digits = 1;
        } else {
          while (k < n && b[k]! >= ZERO && b[k]! <= NINE) {
            value = value * 10 + (b[k]! - ZERO);
            digits++;
            k++;
          }
        }
        let integer = true;
        let mantissa = digits;
        if (k < n && b[k] === DOT) {
          integer = false;
          k++;
          const fractionStart = k;
          while (k < n && b[k]! >= ZERO && b[k]! <= NINE) k++;
          if (k < n && k === fractionStart) return DOUBT;
          mantissa += 1 + k - fractionStart;
        }
        let exponentDigits = 0;
        if (k < n && (b[k] === 0x65 || b[k] === 0x45)) {
          integer = false;
          k++;
          if (k < n && (b[k] === 0x2b || b[k] === MINUS)) k++;
          const exponentStart = k;
          while (k < n && b[k]! >= ZERO && b[k]! <= NINE) k++;
          if (k < n && k === exponentStart) return DOUBT;
          exponentDigits = k - exponentStart;
        }
        if (k >= n) return INCOMPLETE;
        // a number a double may round takes the exact-number path (emulator/exact-json.ts)
        if (mantissa >= 16 || exponentDigits >= 3) return DOUBT;
        if (integer) {
          type = 'BIGINT';
          s.pendingInteger = c === MINUS ? -value : value;
        } else if (column.type !== 'DOUBLE' && column.type !== 'VARCHAR') {
          type = inferType(Number(buf.toString('latin1', start, k)));
          // 1.0 or 1e3 would be a BIGINT value written as a decimal: left to the object path
          if (type === 'BIGINT') return DOUBT;
        }
        i = k;
      } else {
        // true, false or null; anything else is a nested object or list (a JSON column), or not JSON
        const text = c === 0x6e ? NULL_TEXT : c === 0x74 ? TRUE_TEXT : c === 0x66 ? FALSE_TEXT : undefined;
        if (text === undefined) return DOUBT;
        if (i + text.length > n) return INCOMPLETE;
        if (!sameBytes(text, b, i, i + text.length)) return DOUBT;
        i += text.length;
        if (text === NULL_TEXT) s.pendingNonNull = false;
        else type = 'BOOLEAN';
      }
      if (type !== undefined && type !== column.type) column.type = column.type === undefined ? type : widen(column.type, type);
      while (i < n && isSpace(b[i]!)) i++;
      if (i >= n) return INCOMPLETE;
      const next = b[i]!;
      if (next === CLOSE_BRACE) return i + 1;
      if (next !== COMMA) return DOUBT;
      i++;
      while (i < n && isSpace(b[i]!)) i++;
      if (i >= n) return INCOMPLETE;
    }
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const digit = (c: number) => c >= ZERO && c <= NINE;
const two = (b: Uint8Array, at: number) => (b[at]! - ZERO) * 10 + b[at + 1]! - ZERO;

/** True when b[at, at + 10) is a calendar date YYYY-MM-DD from year 0001 (as the warehouse's validDate). */
function dateAt(b: Uint8Array, at: number): boolean {
  if (!digit(b[at]!) || !digit(b[at + 1]!) || !digit(b[at + 2]!) || !digit(b[at + 3]!) || b[at + 4] !== MINUS) return false;
  if (!digit(b[at + 5]!) || !digit(b[at + 6]!) || b[at + 7] !== MINUS || !digit(b[at + 8]!) || !digit(b[at + 9]!)) return false;
  const year = two(b, at) * 100 + two(b, at + 2);
  const month = two(b, at + 5);
  const day = two(b, at + 8);
  if (year === 0 || month < 1 || month > 12 || day < 1) return false;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0);
}

/** hours 00-23 at b[at, at + 2) */
const hoursAt = (b: Uint8Array, at: number) => digit(b[at]!) && digit(b[at + 1]!) && two(b, at) <= 23;
/** minutes or seconds 00-59 at b[at, at + 2) */
const sixtyAt = (b: Uint8Array, at: number) => b[at]! >= ZERO && b[at]! <= 0x35 && digit(b[at + 1]!);

/**
 * The type inferType gives the ASCII string b[start, end) without escapes, read from its bytes (a string and two
 * regular expressions per value were a third of the scan): DATE for YYYY-MM-DD, TIMESTAMP or TIMESTAMPTZ for
 * ISO-8601 date-times with seconds, VARCHAR for anything else. emulator/row-scanner.test.ts checks it against inferType.
 */
function stringType(b: Uint8Array, start: number, end: number): ColumnSqlType {
  const length = end - start;
  if (length === 10) return dateAt(b, start) ? 'DATE' : 'VARCHAR';
  // YYYY-MM-DDTHH:MM:SS is 19 long; inferType looks at 16 to 40
  if (length < 19 || length > 40 || !dateAt(b, start)) return 'VARCHAR';
  const t = b[start + 10];
  if (t !== 0x54 /* T */ && t !== 0x20) return 'VARCHAR';
  if (!hoursAt(b, start + 11) || b[start + 13] !== COLON || !sixtyAt(b, start + 14) || b[start + 16] !== COLON || !sixtyAt(b, start + 17)) return 'VARCHAR';
  let i = start + 19;
  if (i < end && b[i] === DOT) {
    const fraction = ++i;
    while (i < end && digit(b[i]!)) i++;
    if (i === fraction || i - fraction > 9) return 'VARCHAR';
  }
  if (i === end) return 'TIMESTAMP';
  const zone = b[i]!;
  if (zone === 0x5a /* Z */) return i + 1 === end ? 'TIMESTAMPTZ' : 'VARCHAR';
  if (zone !== 0x2b && zone !== MINUS) return 'VARCHAR';
  if (i + 3 > end || !hoursAt(b, i + 1)) return 'VARCHAR';
  i += 3;
  if (i === end) return 'TIMESTAMPTZ';
  if (b[i] === COLON) i++;
  return i + 2 === end && sixtyAt(b, i) ? 'TIMESTAMPTZ' : 'VARCHAR';
}

function sameBytes(raw: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  const length = raw.length;
  if (end - start !== length) return false;
  for (let i = 0; i < length; i++) if (raw[i] !== b[start + i]) return false;
  return true;
}
