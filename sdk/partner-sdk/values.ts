// JavaScript values from a connector's rows → Partner SDK `ValueType`. With the column's declared ColumnType
// the value is converted to that type (decimals as exact strings, timestamps to UTC `Timestamp`s, JSON as
// text); without one the type is inferred from the value. Rows arrive either as objects (`upsert`) or parsed
// from pre-serialized JSON (`upsertJson`), so dates and bytes may also come as text.
import {ProtocolError} from '../errors.js';
import type {ColumnType} from '../types.js';
import type {Timestamp} from './generated/google/protobuf/Timestamp.js';
import type {ValueType} from './generated/fivetran_sdk/v2/ValueType.js';

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const INT16_MIN = -32_768;
const INT16_MAX = 32_767;

// ISO-8601 and PostgreSQL's text forms: `2024-05-01`, `2024-05-01 10:00:00.123456+02`, `...T...Z`, `+05:30`.
const DATE_TIME = /^(\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?(?:\s+BC)?$/i;
const DATE_ONLY = /^\d{4,}-\d{2}-\d{2}$/;
const DATE_TIME_WITH_OFFSET = /^\d{4,}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;
const ISO_NAIVE_DATE_TIME = /^\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?$/;

// PostgreSQL's infinities, pinned to the ends of the range Fivetran stores.
const MAX_TIMESTAMP: Timestamp = {seconds: '253402300799', nanos: 999_999_999};
const MIN_TIMESTAMP: Timestamp = {seconds: '-62135596800', nanos: 0};

/** Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Two ASCII digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const a = text.charCodeAt(at) - 48;
  const b = text.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The common forms without a regex or a Date: `YYYY-MM-DD`, optionally `[T ]HH:MM:SS`, a fraction, and `Z` or
 * `±HH:MM` (what row encoders and to_json write, a few million times a sync). Undefined for anything else,
 * which the general parser below reads; values out of their ranges also go there.
 */
function parseCommonTimestamp(text: string, naive: boolean): Timestamp | undefined {
  const length = text.length;
  if (length !== 10 && length < 19) return undefined;
  const y1 = twoDigits(text, 0);
  const y2 = twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined;
  const year = y1 * 100 + y2;
  // a day past the month's end (2023-02-30) is left to the general parser, which rolls it over as Date does
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31)) return undefined;
  const days = daysFromCivil(year, month, day);
  if (length === 10) return {seconds: String(days * 86400), nanos: 0};
  const separator = text.charCodeAt(10);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  if ((separator !== 84 && separator !== 32) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return undefined;
  }
  let at = 19;
  let nanos = 0;
  if (text.charCodeAt(at) === 46 /* . */) {
    let scale = 100_000_000;
    at++;
    const first = at;
    for (let digit = text.charCodeAt(at) - 48; digit >= 0 && digit <= 9; digit = text.charCodeAt(at) - 48) {
      if (at - first >= 9) return undefined;
      nanos += digit * scale;
      scale /= 10;
      at++;
    }
    if (at === first) return undefined;
  }
  let offset = 0;
  if (at < length) {
    const sign = text.charCodeAt(at);
    if (sign === 90 /* Z */ && at + 1 === length) {
      // UTC
    } else if ((sign === 43 || sign === 45) && at + 6 === length && text.charCodeAt(at + 3) === 58) {
      const offsetHours = twoDigits(text, at + 1);
      const offsetMinutes = twoDigits(text, at + 4);
      if (offsetHours < 0 || offsetMinutes < 0) return undefined;
      if (!naive) offset = (sign === 45 ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
    } else {
      return undefined;
    }
  }
  return {seconds: String(days * 86400 + hour * 3600 + minute * 60 + second - offset), nanos};
}

/** Two ASCII digits at `at` of UTF-8 bytes as a number, or -1. */
function twoDigitBytes(bytes: Uint8Array, at: number): number {
  const a = bytes[at]! - 48;
  const b = bytes[at + 1]! - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** Where parseCommonTimestampBytes leaves what it read: seconds since the epoch and nanoseconds. */
export const parsedTimestamp = {seconds: 0, nanos: 0};

/**
 * parseCommonTimestamp over the UTF-8 bytes [start, end) of a JSON string (json-records.ts), without making
 * the string: the same forms and the same rules, so a text either parses to the same seconds and nanos
 * (left in `parsedTimestamp`) or is refused by both (false: the caller takes the general path). Every byte
 * of an accepted text is checked to be ASCII, so byte and character positions are the same; values.test.ts
 * compares the two on edge texts.
 */
export function parseCommonTimestampBytes(bytes: Uint8Array, start: number, end: number, naive: boolean): boolean {
  const length = end - start;
  if (length !== 10 && length < 19) return false;
  const y1 = twoDigitBytes(bytes, start);
  const y2 = twoDigitBytes(bytes, start + 2);
  const month = twoDigitBytes(bytes, start + 5);
  const day = twoDigitBytes(bytes, start + 8);
  if (y1 < 0 || y2 < 0 || month < 1 || month > 12 || day < 1 || bytes[start + 4] !== 45 || bytes[start + 7] !== 45) return false;
  const year = y1 * 100 + y2;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31)) return false;
  const days = daysFromCivil(year, month, day);
  if (length === 10) {
    parsedTimestamp.seconds = days * 86400;
    parsedTimestamp.nanos = 0;
    return true;
  }
  const separator = bytes[start + 10];
  const hour = twoDigitBytes(bytes, start + 11);
  const minute = twoDigitBytes(bytes, start + 14);
  const second = twoDigitBytes(bytes, start + 17);
  if ((separator !== 84 && separator !== 32) || bytes[start + 13] !== 58 || bytes[start + 16] !== 58 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return false;
  }
  let at = start + 19;
  let nanos = 0;
  if (at < end && bytes[at] === 46 /* . */) {
    let scale = 100_000_000;
    at++;
    const first = at;
    for (let digit = at < end ? bytes[at]! - 48 : -1; digit >= 0 && digit <= 9; digit = at < end ? bytes[at]! - 48 : -1) {
      if (at - first >= 9) return false;
      nanos += digit * scale;
      scale /= 10;
      at++;
    }
    if (at === first) return false;
  }
  let offset = 0;
  if (at < end) {
    const sign = bytes[at];
    if (sign === 90 /* Z */ && at + 1 === end) {
      // UTC
    } else if ((sign === 43 || sign === 45) && at + 6 === end && bytes[at + 3] === 58) {
      const offsetHours = twoDigitBytes(bytes, at + 1);
      const offsetMinutes = twoDigitBytes(bytes, at + 4);
      if (offsetHours < 0 || offsetMinutes < 0) return false;
      if (!naive) offset = (sign === 45 ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
    } else {
      return false;
    }
  }
  parsedTimestamp.seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset;
  parsedTimestamp.nanos = nanos;
  return true;
}

/** Parses a date/time text; `naive` ignores any offset (local wall time stored as if UTC). Null when not a date. */
export function parseTimestamp(text: string, naive = false): Timestamp | null {
  const common = parseCommonTimestamp(text, naive);
  if (common) return common;
  const trimmed = text.trim();
  if (/^\+?infinity$/i.test(trimmed)) return MAX_TIMESTAMP;
  if (/^-infinity$/i.test(trimmed)) return MIN_TIMESTAMP;
  const match = DATE_TIME.exec(trimmed);
  if (!match || /\sBC$/i.test(trimmed)) return null;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', offset] = match;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  let seconds = Math.floor(date.getTime() / 1000);
  if (Number.isNaN(seconds)) return null;
  if (offset && !naive && offset.toUpperCase() !== 'Z') {
    const sign = offset.startsWith('-') ? -1 : 1;
    const digits = offset.slice(1).replace(/:/g, '');
    const offsetSeconds = Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2, 4) || '0') * 60 + Number(digits.slice(4, 6) || '0');
    seconds -= sign * offsetSeconds;
  }
  return {seconds: String(seconds), nanos: Number(fraction.padEnd(9, '0') || '0')};
}

function fromDate(date: Date): Timestamp {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new ProtocolError('a row holds an invalid Date');
  const seconds = Math.floor(ms / 1000);
  return {seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000};
}

function toTimestamp(value: unknown, naive: boolean): Timestamp | null {
  if (value instanceof Date) return fromDate(value);
  if (typeof value === 'string') return parseTimestamp(value, naive);
  if (typeof value === 'number' && Number.isFinite(value)) return fromDate(new Date(value));
  return null;
}

function toBytes(value: unknown): Buffer | null {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (typeof value !== 'string') return null;
  // PostgreSQL's hex output (`\x0a0b`, also what row_to_json gives); otherwise base64, how rows serialize bytes.
  if (/^\\x([0-9a-f]{2})*$/i.test(value)) return Buffer.from(value.slice(2), 'hex');
  return Buffer.from(value, 'base64');
}

function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^[+-]?(infinity|inf)$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
    if (/^nan$/i.test(text)) return NaN;
    if (text !== '' && Number.isFinite(Number(text))) return Number(text);
  }
  return null;
}

function toBoolean(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (['true', 't', 'yes', 'y', '1', 'on'].includes(text)) return true;
    if (['false', 'f', 'no', 'n', '0', 'off'].includes(text)) return false;
  }
  return null;
}

function toIntegerText(value: unknown): string | null {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isInteger(value)) return String(value);
  if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) return BigInt(value.trim()).toString();
  return null;
}

function jsonText(value: unknown): string {
  if (typeof value === 'string') {
    try {
      JSON.parse(value);
      return value;
    } catch {
      return JSON.stringify(value);
    }
  }
  return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner));
}

function decimalText(value: unknown): string | null {
  if (typeof value === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value.trim())) return value.trim();
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

const isDigitByte = (byte: number | undefined): boolean => byte !== undefined && byte >= 48 && byte <= 57;

/**
 * Whether the UTF-8 bytes [from, to) are decimal text as decimalText takes it (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i),
 * with nothing to trim: the text a decimal column's ValueType carries as it is.
 */
export function isDecimalTextBytes(bytes: Uint8Array, from: number, to: number): boolean {
  let at = from;
  if (bytes[at] === 0x2b || bytes[at] === 0x2d) at++;
  const integerFrom = at;
  while (at < to && isDigitByte(bytes[at])) at++;
  const integerDigits = at - integerFrom;
  let fractionDigits = 0;
  let dot = false;
  if (at < to && bytes[at] === 0x2e) {
    dot = true;
    at++;
    const fractionFrom = at;
    while (at < to && isDigitByte(bytes[at])) at++;
    fractionDigits = at - fractionFrom;
  }
  if (integerDigits === 0 && !(dot && fractionDigits > 0)) return false;
  if (at < to && (bytes[at] === 0x65 || bytes[at] === 0x45)) {
    at++;
    if (at < to && (bytes[at] === 0x2b || bytes[at] === 0x2d)) at++;
    const exponentFrom = at;
    while (at < to && isDigitByte(bytes[at])) at++;
    if (at === exponentFrom) return false;
  }
  return at === to;
}

function mismatch(column: string, type: string): ProtocolError {
  return new ProtocolError(`column "${column}" is declared ${type} but a row holds a value that is not one; fix the connector's column type or its rows`);
}

/** The ValueType of `value` for a column declared as `type` (or inferred when `type` is undefined). */
export function toValueType(value: unknown, type: ColumnType | undefined, column = '?'): ValueType {
  if (value === null || value === undefined) return {null: true};
  if (type === undefined) return inferValueType(value);
  if (typeof type === 'object') {
    const text = decimalText(value);
    // NaN and the infinities are legal PostgreSQL numerics but not decimals: send them as text.
    if (text === null) {
      if (typeof value === 'string' && /^[+-]?(nan|infinity)$/i.test(value.trim())) return {string: value};
      throw mismatch(column, 'decimal');
    }
    return {decimal: text};
  }
  switch (type) {
    case 'boolean': {
      const bool = toBoolean(value);
      if (bool === null) throw mismatch(column, type);
      return {bool};
    }
    case 'short':
    case 'int': {
      const number = toNumber(value);
      const [min, max] = type === 'short' ? [INT16_MIN, INT16_MAX] : [INT32_MIN, INT32_MAX];
      if (number === null || !Number.isInteger(number) || number < min || number > max) throw mismatch(column, type);
      return type === 'short' ? {short: number} : {int: number};
    }
    case 'long': {
      const text = toIntegerText(value);
      if (text === null) throw mismatch(column, type);
      return {long: text};
    }
    case 'float':
    case 'double': {
      const number = toNumber(value);
      if (number === null) throw mismatch(column, type);
      return type === 'float' ? {float: number} : {double: number};
    }
    case 'naive_date':
    case 'naive_datetime':
    case 'utc_datetime': {
      const timestamp = toTimestamp(value, type !== 'utc_datetime');
      if (timestamp === null) {
        // Dates outside what a Timestamp holds (BC dates) go through as text rather than failing the sync.
        if (typeof value === 'string') return {string: value};
        throw mismatch(column, type);
      }
      if (type === 'naive_date') {
        // the day's midnight; seconds are within ±2^38, exact as a double
        const seconds = Number(timestamp.seconds);
        return {naive_date: {seconds: String(seconds - (((seconds % 86400) + 86400) % 86400)), nanos: 0}};
      }
      return type === 'naive_datetime' ? {naive_datetime: timestamp} : {utc_datetime: timestamp};
    }
    case 'binary': {
      const bytes = toBytes(value);
      if (bytes === null) throw mismatch(column, type);
      return {binary: bytes};
    }
    case 'xml':
      return {xml: typeof value === 'string' ? value : String(value)};
    case 'json':
      return {json: jsonText(value)};
    case 'string':
      if (typeof value === 'string') return {string: value};
      if (value instanceof Date) return {string: value.toISOString()};
      if (typeof value === 'object') return {string: jsonText(value)};
      return {string: String(value)};
  }
}

/** The ValueType a value implies when its column has no declared type. */
export function inferValueType(value: unknown): ValueType {
  if (value === null || value === undefined) return {null: true};
  if (typeof value === 'boolean') return {bool: value};
  if (typeof value === 'bigint') return {long: value.toString()};
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return value >= INT32_MIN && value <= INT32_MAX ? {int: value} : {long: String(value)};
    return {double: value};
  }
  if (value instanceof Date) return {utc_datetime: fromDate(value)};
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return {binary: Buffer.from(value)};
  if (typeof value === 'string') {
    if (DATE_TIME_WITH_OFFSET.test(value)) {
      const timestamp = parseTimestamp(value);
      if (timestamp) return {utc_datetime: timestamp};
    } else if (DATE_ONLY.test(value)) {
      const timestamp = parseTimestamp(value, true);
      if (timestamp) return {naive_date: timestamp};
    } else if (ISO_NAIVE_DATE_TIME.test(value)) {
      const timestamp = parseTimestamp(value, true);
      if (timestamp) return {naive_datetime: timestamp};
    }
    return {string: value};
  }
  if (typeof value === 'object') return {json: jsonText(value)};
  return {string: String(value)};
}

/**
 * How the fast paths (json-records.ts, record-rows.ts) write a column's values, from its declared type: each
 * kind as its ValueType directly; General, every value the general way (toValueType: binary, json, values that convert).
 */
export const Kind = {
  Inferred: 0, String: 1, Xml: 2, Decimal: 3, Long: 4, Int: 5, Short: 6, Double: 7, Float: 8, Bool: 9,
  UtcDatetime: 10, NaiveDatetime: 11, NaiveDate: 12,
  General: 13,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const KINDS: Readonly<Record<string, Kind>> = {
  string: Kind.String, xml: Kind.Xml, long: Kind.Long, int: Kind.Int, short: Kind.Short, double: Kind.Double, float: Kind.Float,
  boolean: Kind.Bool, utc_datetime: Kind.UtcDatetime, naive_datetime: Kind.NaiveDatetime, naive_date: Kind.NaiveDate,
};

export function kindOf(type: ColumnType | undefined): Kind {
  if (type === undefined) return Kind.Inferred;
  // toValueType takes any object type as a decimal
  if (typeof type === 'object') return Kind.Decimal;
  return (typeof type === 'string' && Object.hasOwn(KINDS, type) ? KINDS[type] : undefined) ?? Kind.General;
}
