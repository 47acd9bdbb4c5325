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

/** Parses a date/time text; `naive` ignores any offset (local wall time stored as if UTC). Null when not a date. */
export function parseTimestamp(text: string, naive = false): Timestamp | null {
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
        const seconds = BigInt(timestamp.seconds as string);
        return {naive_date: {seconds: (seconds - (((seconds % 86400n) + 86400n) % 86400n)).toString(), nanos: 0}};
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

/** Rough serialized size of a value, for the per-batch byte cap (exact sizes would cost an encode per record). */
export function approximateSize(value: ValueType): number {
  for (const key in value) {
    const inner = (value as Record<string, unknown>)[key];
    if (inner === undefined) continue;
    if (typeof inner === 'string') return Buffer.byteLength(inner) + 4;
    if (Buffer.isBuffer(inner)) return inner.length + 4;
    if (typeof inner === 'object') return 16;
    return 10;
  }
  return 2;
}
