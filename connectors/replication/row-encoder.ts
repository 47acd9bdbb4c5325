// Writes a row's JSON text from PostgreSQL's binary COPY fields, so PostgreSQL only sends the values.
//
// Building JSON is most of what a `row_to_json` COPY costs PostgreSQL: on the benchmark's orders table
// (1M rows, 12 columns) `COPY (SELECT row_to_json(t) ...) (FORMAT binary)` takes 3.0 s of the server's
// CPU and `COPY (SELECT t.* ...) (FORMAT binary)` 0.85 s; three timestamps' to_json alone take 0.65 s.
// The server is the one process a sync cannot spread over cores, and the source database is the
// customer's, so the common types travel as binary values and this module writes their JSON:
// - bool, int2, int4, float8 → JSON literals; int8 → a number within ±(2^53-1), else an exact string;
// - numeric → its exact decimal text as a string ("1029.98", "NaN", "Infinity");
// - text, varchar, char, name, enum labels → JSON strings, escaped as PostgreSQL's escape_json does;
// - date, timestamp, timestamptz → ISO 8601 as to_json writes it ("2024-01-15", "2024-01-15T10:30:00.5",
//   "2024-01-15T05:00:00+00:00" in UTC, "infinity", " BC" after years before 1);
// - uuid → its lowercase text; json → its text as it is; jsonb → its text after the format's version byte.
// Binary dates and times are integer days and microseconds, as on every server since PostgreSQL 10 (and by
// default since 8.4; a server built with floating-point datetimes is not supported).
// Every other type (arrays, bytea, interval, float4, ranges, ...) is written by PostgreSQL (`to_json(...)`)
// and arrives as JSON text (kind `json`). row-encoder.test.ts compares the output with PostgreSQL's own
// to_json for edge values of each kind.
import type {SourceColumn} from './discovery.js';

export const Kind = {
  Bool: 0,
  Int2: 1,
  Int4: 2,
  Int8: 3,
  Float8: 4,
  Numeric: 5,
  Text: 6,
  Date: 7,
  Timestamp: 8,
  TimestampTz: 9,
  Uuid: 10,
  /** JSON text as it is: a json column, or PostgreSQL's to_json(...) of any other type */
  Json: 11,
  Jsonb: 12,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const BASE_KINDS: Readonly<Record<string, Kind>> = {
  bool: Kind.Bool,
  int2: Kind.Int2,
  int4: Kind.Int4,
  int8: Kind.Int8,
  float8: Kind.Float8,
  numeric: Kind.Numeric,
  text: Kind.Text,
  varchar: Kind.Text,
  bpchar: Kind.Text,
  name: Kind.Text,
  date: Kind.Date,
  timestamp: Kind.Timestamp,
  timestamptz: Kind.TimestampTz,
  uuid: Kind.Uuid,
  json: Kind.Json,
  jsonb: Kind.Jsonb,
};

/** The kind a column's binary value is written as, or null when PostgreSQL should write its JSON. */
export function binaryKind(column: Pick<SourceColumn, 'baseType' | 'category' | 'builtinType'>): Kind | null {
  if (column.category === 'E') return Kind.Text; // an enum's binary form is its label
  if (column.category === 'A' || !column.builtinType) return null;
  return BASE_KINDS[column.baseType] ?? null;
}

/**
 * The type a column of a binary kind is selected as (`t.col::<type>`): its own built-in type, so the bytes
 * are that type's binary form even if the column's type changed after discovery (PostgreSQL casts it, or
 * refuses), and a domain arrives as its base type; an enum as text (the same bytes as its label).
 */
export function binaryCast(column: Pick<SourceColumn, 'baseType' | 'category'>): string {
  return `pg_catalog.${column.category === 'E' ? 'text' : column.baseType}`;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const NULL_BYTES = Buffer.from('null', 'latin1');
const TRUE_BYTES = Buffer.from('true', 'latin1');
const FALSE_BYTES = Buffer.from('false', 'latin1');
/** JSON escapes of bytes below 0x20 and of `"` and `\`, as escape_json writes them (0 where none is needed) */
const SHORT_ESCAPES = new Uint8Array(256);
SHORT_ESCAPES[0x08] = 0x62; // \b
SHORT_ESCAPES[0x0c] = 0x66; // \f
SHORT_ESCAPES[0x0a] = 0x6e; // \n
SHORT_ESCAPES[0x0d] = 0x72; // \r
SHORT_ESCAPES[0x09] = 0x74; // \t
SHORT_ESCAPES[QUOTE] = QUOTE;
SHORT_ESCAPES[BACKSLASH] = BACKSLASH;
/** 1 for bytes a JSON string cannot hold as they are */
const NEEDS_ESCAPE = new Uint8Array(256);
for (let b = 0; b < 0x20; b++) NEEDS_ESCAPE[b] = 1;
NEEDS_ESCAPE[QUOTE] = 1;
NEEDS_ESCAPE[BACKSLASH] = 1;

// Big-endian integers read byte by byte: Buffer#readInt32BE and its kin validate their offset on every call,
// which costs more than the read on a path that runs a dozen times per row.
export const int32 = (b: Uint8Array, at: number): number => (b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!;
export const uint32 = (b: Uint8Array, at: number): number => int32(b, at) >>> 0;
export const int16 = (b: Uint8Array, at: number): number => (((b[at]! << 8) | b[at + 1]!) << 16) >> 16;
export const uint16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

/**
 * The most bytes a field can take once written: a string escaped as \u00XX throughout is 6 bytes per byte, and
 * every fixed-size type stays under 48 bytes; a numeric's text follows its weight and display scale.
 */
export function encodedBound(kind: Kind, row: Buffer, start: number, size: number): number {
  if (kind === Kind.Numeric && size >= 8) return 4 * Math.max(1, int16(row, start + 2) + 1) + uint16(row, start + 6) + 8;
  return 6 * Math.max(0, size) + 48;
}

const MICROS_PER_DAY = 86_400_000_000;
/** days from 0000-03-01 (the civil algorithm's epoch) to 2000-01-01 (PostgreSQL's) */
const PG_EPOCH_DAYS = 730_425;
const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/**
 * Copies bytes [from, to) of `source` to `out` at `at`; returns the end. Short runs (names, most values) go
 * byte by byte: Buffer#copy costs a native call and a view allocation, more than copying a few dozen bytes.
 */
export function copyBytes(source: Uint8Array, from: number, to: number, out: Buffer, at: number): number {
  if (to - from > 64) {
    out.set(source.subarray(from, to), at);
    return at + (to - from);
  }
  for (let i = from; i < to; i++) out[at++] = source[i]!;
  return at;
}

/** "00" to "99": two digits per lookup */
const PAIRS = Buffer.from(Array.from({length: 100}, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');

function digitCount(value: number): number {
  if (value < 100_000) return value < 10 ? 1 : value < 100 ? 2 : value < 1000 ? 3 : value < 10_000 ? 4 : 5;
  if (value < 10_000_000_000) return value < 1_000_000 ? 6 : value < 10_000_000 ? 7 : value < 100_000_000 ? 8 : value < 1_000_000_000 ? 9 : 10;
  let digits = 11;
  for (let v = value / 1e11; v >= 1; v /= 10) digits++;
  return digits;
}

/** Writes a non-negative integer (at most 2^53) in `digits` digits, zero-padded, at `at`; returns the end. */
function writeDigitsIn(out: Buffer, at: number, value: number, digits: number): number {
  const end = at + digits;
  let i = end;
  let v = value;
  while (v >= 2_147_483_648) {
    const next = Math.floor(v / 100);
    const pair = 2 * (v - next * 100);
    out[--i] = PAIRS[pair + 1]!;
    out[--i] = PAIRS[pair]!;
    v = next;
  }
  while (i - at >= 2) {
    const next = (v / 100) | 0;
    const pair = 2 * (v - next * 100);
    out[--i] = PAIRS[pair + 1]!;
    out[--i] = PAIRS[pair]!;
    v = next;
  }
  if (i > at) out[--i] = 48 + (v % 10);
  return end;
}

/** Writes a non-negative integer's digits at `at`; returns the end. */
function writeDigits(out: Buffer, at: number, value: number): number {
  return writeDigitsIn(out, at, value, digitCount(value));
}

function writeInt(out: Buffer, at: number, value: number): number {
  if (value < 0) {
    out[at++] = 0x2d;
    return writeDigits(out, at, -value);
  }
  return writeDigits(out, at, value);
}

/** Writes `value` with at least `width` digits (zero-padded). */
function writePadded(out: Buffer, at: number, value: number, width: number): number {
  return writeDigitsIn(out, at, value, Math.max(width, digitCount(value)));
}

/** Two digits of 0..99. */
function writePair(out: Buffer, at: number, value: number): number {
  out[at] = PAIRS[2 * value]!;
  out[at + 1] = PAIRS[2 * value + 1]!;
  return at + 2;
}

function writeAscii(out: Buffer, at: number, text: string): number {
  return at + out.write(text, at, 'latin1');
}

/** A JSON string of UTF-8 bytes, escaped as PostgreSQL's escape_json does (and JSON.stringify, for valid UTF-8). */
export function writeString(out: Buffer, at: number, row: Buffer, start: number, end: number): number {
  out[at++] = QUOTE;
  for (let i = start; i < end; i++) {
    const byte = row[i]!;
    if (NEEDS_ESCAPE[byte] === 0) {
      out[at++] = byte;
      continue;
    }
    out[at++] = BACKSLASH;
    const short = SHORT_ESCAPES[byte]!;
    if (short !== 0) {
      out[at++] = short;
    } else {
      out[at++] = 0x75; // \u00XX
      out[at++] = 48;
      out[at++] = 48;
      out[at++] = HEX[byte >> 4]!;
      out[at++] = HEX[byte & 15]!;
    }
  }
  out[at++] = QUOTE;
  return at;
}

/** year, month, day of a day count from 2000-01-01 (proleptic Gregorian, as PostgreSQL's j2date). */
function civil(days: number, into: Int32Array): void {
  const z = days + PG_EPOCH_DAYS;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const month = mp < 10 ? mp + 3 : mp - 9;
  into[0] = yoe + era * 400 + (month <= 2 ? 1 : 0);
  into[1] = month;
  into[2] = doy - Math.floor((153 * mp + 2) / 5) + 1;
}

const ymd = new Int32Array(3);
/** whether the date writeDate wrote last is before year 1 (its " BC" follows the time and zone) */
let beforeChrist = false;

/**
 * Dates written lately, by day count: rows' timestamps cluster on few days, and a hit is a 10-byte copy
 * instead of the calendar arithmetic. Only years 1 to 9999 (always 10 bytes) are kept.
 */
const DATE_SLOTS = 1024;
const cachedDays = new Int32Array(DATE_SLOTS).fill(-0x80000000);
const cachedDates = new Uint8Array(DATE_SLOTS * 10);

/** YYYY-MM-DD of a day count from 2000-01-01; years before 1 as PostgreSQL writes them, e.g. 0044 (BC follows). */
function writeDate(out: Buffer, at: number, days: number): number {
  const slot = days & (DATE_SLOTS - 1);
  if (cachedDays[slot] === days) {
    beforeChrist = false;
    return copyBytes(cachedDates, slot * 10, slot * 10 + 10, out, at);
  }
  civil(days, ymd);
  const year = ymd[0]!;
  beforeChrist = year <= 0;
  const begin = at;
  at = writePadded(out, at, beforeChrist ? 1 - year : year, 4);
  out[at++] = 0x2d;
  at = writePair(out, at, ymd[1]!);
  out[at++] = 0x2d;
  at = writePair(out, at, ymd[2]!);
  if (year >= 1 && year <= 9999) {
    cachedDays[slot] = days;
    for (let i = 0; i < 10; i++) cachedDates[slot * 10 + i] = out[begin + i]!;
  }
  return at;
}

const BC = Buffer.from(' BC', 'latin1');
const UTC = Buffer.from('+00:00', 'latin1');

/** The ISO 8601 text of microseconds since 2000-01-01 00:00, as to_json writes it, with +00:00 when `zone`. */
function writeTimestamp(out: Buffer, at: number, row: Buffer, start: number, zone: boolean): number {
  const high = int32(row, start);
  const low = uint32(row, start + 4);
  let days: number;
  let micros: number;
  if (high >= -0x100000 && high < 0x100000) {
    // |value| < 2^52: exact as a double
    const value = high * TWO_32 + low;
    days = Math.floor(value / MICROS_PER_DAY);
    micros = value - days * MICROS_PER_DAY;
  } else {
    const value = row.readBigInt64BE(start);
    if (value === 0x7fffffffffffffffn) return writeAscii(out, at, '"infinity"');
    if (value === -0x8000000000000000n) return writeAscii(out, at, '"-infinity"');
    let bigDays = value / 86_400_000_000n;
    if (value % 86_400_000_000n < 0n) bigDays -= 1n;
    days = Number(bigDays);
    micros = Number(value - bigDays * 86_400_000_000n);
  }
  out[at++] = QUOTE;
  at = writeDate(out, at, days);
  const bc = beforeChrist;
  out[at++] = 0x54; // T
  const seconds = Math.floor(micros / 1_000_000);
  let fraction = micros - seconds * 1_000_000;
  const minutes = (seconds / 60) | 0;
  at = writePair(out, at, (minutes / 60) | 0);
  out[at++] = 0x3a;
  at = writePair(out, at, minutes % 60);
  out[at++] = 0x3a;
  at = writePair(out, at, seconds - minutes * 60);
  if (fraction !== 0) {
    // six digits, trailing zeros dropped
    out[at++] = 0x2e;
    let width = 6;
    while (fraction % 10 === 0) {
      fraction /= 10;
      width--;
    }
    at = writePadded(out, at, fraction, width);
  }
  if (zone) at = copyBytes(UTC, 0, UTC.length, out, at);
  if (bc) at = copyBytes(BC, 0, BC.length, out, at);
  out[at++] = QUOTE;
  return at;
}

/** A numeric's binary form (base-10000 digits, weight, sign, display scale) as its exact decimal text, quoted. */
function writeNumeric(out: Buffer, at: number, row: Buffer, start: number): number {
  const count = uint16(row, start);
  const weight = int16(row, start + 2);
  const sign = uint16(row, start + 4);
  const scale = uint16(row, start + 6);
  if (sign === 0xc000) return writeAscii(out, at, '"NaN"');
  if (sign === 0xd000) return writeAscii(out, at, '"Infinity"');
  if (sign === 0xf000) return writeAscii(out, at, '"-Infinity"');
  const digits = start + 8;
  out[at++] = QUOTE;
  if (sign === 0x4000) out[at++] = 0x2d;
  // the integer part: its first base-10000 digit without leading zeros, the others with four digits
  if (weight < 0) {
    out[at++] = 48;
  } else {
    at = writeDigits(out, at, count > 0 ? uint16(row, digits) : 0);
    for (let i = 1; i <= weight; i++) at = writePadded(out, at, i < count ? uint16(row, digits + 2 * i) : 0, 4);
  }
  if (scale > 0) {
    out[at++] = 0x2e;
    let written = 0;
    for (let i = weight + 1; written < scale; i++) {
      const d = i >= 0 && i < count ? uint16(row, digits + 2 * i) : 0;
      // four decimal digits of this base-10000 digit, as many as the scale still wants
      for (let divisor = 1000; divisor >= 1 && written < scale; divisor /= 10) {
        out[at++] = 48 + (Math.floor(d / divisor) % 10);
        written++;
      }
    }
  }
  out[at++] = QUOTE;
  return at;
}

function writeInt8(out: Buffer, at: number, row: Buffer, start: number): number {
  const high = int32(row, start);
  if (high >= -0x200000 && high < 0x200000) {
    const value = high * TWO_32 + uint32(row, start + 4);
    if (value >= -MAX_SAFE && value <= MAX_SAFE) return writeInt(out, at, value);
  }
  // beyond ±(2^53-1): an exact string, as JSON readers would round the number
  out[at++] = QUOTE;
  at = writeAscii(out, at, row.readBigInt64BE(start).toString());
  out[at++] = QUOTE;
  return at;
}

function writeFloat8(out: Buffer, at: number, row: Buffer, start: number): number {
  const value = row.readDoubleBE(start);
  if (Number.isFinite(value)) return writeAscii(out, at, Object.is(value, -0) ? '-0' : String(value));
  // PostgreSQL's to_json quotes what is not a JSON number
  return writeAscii(out, at, Number.isNaN(value) ? '"NaN"' : value > 0 ? '"Infinity"' : '"-Infinity"');
}

function writeUuid(out: Buffer, at: number, row: Buffer, start: number): number {
  out[at++] = QUOTE;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out[at++] = 0x2d;
    const byte = row[start + i]!;
    out[at++] = HEX[byte >> 4]!;
    out[at++] = HEX[byte & 15]!;
  }
  out[at++] = QUOTE;
  return at;
}

/**
 * Writes one field's JSON value: `size` bytes of `row` from `start` in the binary form of `kind`, or null
 * when size is -1. Returns the end in `out`, which must have encodedBound(...) bytes free.
 */
export function writeValue(kind: Kind, out: Buffer, at: number, row: Buffer, start: number, size: number): number {
  if (size < 0) return copyBytes(NULL_BYTES, 0, 4, out, at);
  switch (kind) {
    case Kind.Text:
      return writeString(out, at, row, start, start + size);
    case Kind.Int4:
      return writeInt(out, at, int32(row, start));
    case Kind.Int8:
      return writeInt8(out, at, row, start);
    case Kind.TimestampTz:
      return writeTimestamp(out, at, row, start, true);
    case Kind.Timestamp:
      return writeTimestamp(out, at, row, start, false);
    case Kind.Numeric:
      return writeNumeric(out, at, row, start);
    case Kind.Json:
      return copyBytes(row, start, start + size, out, at);
    case Kind.Bool:
      return row[start] ? copyBytes(TRUE_BYTES, 0, 4, out, at) : copyBytes(FALSE_BYTES, 0, 5, out, at);
    case Kind.Int2:
      return writeInt(out, at, int16(row, start));
    case Kind.Float8:
      return writeFloat8(out, at, row, start);
    case Kind.Date: {
      const days = int32(row, start);
      if (days === 0x7fffffff) return writeAscii(out, at, '"infinity"');
      if (days === -0x80000000) return writeAscii(out, at, '"-infinity"');
      out[at++] = QUOTE;
      at = writeDate(out, at, days);
      if (beforeChrist) at = copyBytes(BC, 0, BC.length, out, at);
      out[at++] = QUOTE;
      return at;
    }
    case Kind.Uuid:
      return writeUuid(out, at, row, start);
    case Kind.Jsonb:
      // jsonb's binary form is a version byte (1) and the text
      if (row[start] !== 1) throw new Error(`jsonb value has an unknown binary format version ${row[start]}`);
      return copyBytes(row, start + 1, start + size, out, at);
  }
}
