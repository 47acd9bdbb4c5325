// Turns pgoutput's text tuple values into the same JSON the keyset path writes (row-encoder.ts: PostgreSQL's
// to_json of the column), so a row that arrives through change data capture lands exactly as the full load
// landed it. The session that peeks the slot runs with DateStyle ISO and TimeZone UTC (the output functions
// run in it), so dates and times arrive in one form.
//
// Common types match to_json byte for byte (cdc.test.ts compares them): bool, int2/4/8 (int8 beyond 2^53 as a
// string), float4/8, numeric (a string), text types, date, timestamp, timestamptz, uuid, json, jsonb. Every
// other type (arrays, intervals, ranges, bytea, composites) arrives as its text form in a JSON string, where
// the full load wrote to_json's: documented in the README as a limit of CDC.
import {copyBytes, writeString} from '../row-encoder.js';
import type {Relation, TextValue, TupleValue} from './pgoutput.js';

const Oid = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const MAX_SAFE = 9007199254740991n;

/** An int8's text of `length` characters is within 2^53 whatever its digits: 15 digits, signed or not. */
const int8Safe = (length: number, negative: boolean) => length <= 15 || (length === 16 && negative);

/** The session settings under which text values have the forms read here. */
export const CDC_SESSION_SETTINGS = {DateStyle: 'ISO, YMD', TimeZone: 'UTC', IntervalStyle: 'postgres', extra_float_digits: '1'} as const;

/** A timestamp's text ("2024-01-15 10:30:00.5", "... BC") in to_json's form ("2024-01-15T10:30:00.5"). */
function isoTimestamp(text: string): string {
  if (text === 'infinity' || text === '-infinity') return text;
  return text.replace(' ', 'T');
}

/** A timestamptz's text in UTC ("2024-01-15 05:00:00+00", "... BC") in to_json's form ("...+00:00"). */
function isoTimestampTz(text: string): string {
  if (text === 'infinity' || text === '-infinity') return text;
  const bc = text.endsWith(' BC');
  const body = bc ? text.slice(0, -3) : text;
  const match = /^(.*)([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(body.replace(' ', 'T'));
  if (!match) return text;
  const [, local, sign, hours, minutes = '00', secs] = match;
  return `${local}${sign}${hours}:${minutes}${secs ? `:${secs}` : ''}${bc ? ' BC' : ''}`;
}

function floatJson(text: string): string {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return JSON.stringify(text);
  return text;
}

/** The JSON text of one value of a column of type `typeOid`, from its text form. */
export function valueJson(typeOid: number, text: string): string {
  switch (typeOid) {
    case Oid.bool:
      return text === 't' ? 'true' : 'false';
    case Oid.int2:
    case Oid.int4:
      return text;
    case Oid.int8: {
      if (int8Safe(text.length, text.charCodeAt(0) === 45)) return text;
      const value = BigInt(text);
      return value > MAX_SAFE || value < -MAX_SAFE ? `"${text}"` : text;
    }
    case Oid.float4:
    case Oid.float8:
      return floatJson(text);
    case Oid.numeric:
      return JSON.stringify(text);
    case Oid.date:
      return JSON.stringify(text);
    case Oid.timestamp:
      return JSON.stringify(isoTimestamp(text));
    case Oid.timestamptz:
      return JSON.stringify(isoTimestampTz(text));
    case Oid.json:
    case Oid.jsonb:
      return text;
    default:
      return JSON.stringify(text);
  }
}

/**
 * A tuple as the JSON text of a row object. Unchanged values (TOASTed columns an update did not touch) are
 * left out; `columns` limits the row to those names (the key of a delete).
 */
export function tupleJson(relation: Relation, tuple: readonly TupleValue[], columns?: ReadonlySet<string>): string {
  let out = '{';
  for (let i = 0; i < tuple.length; i++) {
    const column = relation.columns[i];
    const value = tuple[i]!;
    if (!column || value.kind === 'unchanged') continue;
    if (columns && !columns.has(column.name)) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(column.name)}:${value.kind === 'null' ? 'null' : valueJson(column.typeOid, value.text)}`;
  }
  return `${out}}`;
}

const QUOTE = 0x22;
const SLAB_BYTES = 1024 * 1024;
const TIMESTAMPTZ_UTC_END = Buffer.from('+00:00"');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

/**
 * Rows' JSON written as bytes straight from the tuples' text values (the same JSON as valueJson and
 * tupleJson, which pgoutput.test.ts compares for every type), each row a view of a 1 MiB slab: a row keeps
 * its slab alive, and a full slab is left to the rows in it. No string is made for a value, or for the row.
 */
export class RowJsonWriter {
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private at = 0;
  private start = 0;

  /** Room for `bytes` more of the row being written (moved to a new slab, whole, when this one is full). */
  private room(bytes: number): void {
    if (this.at + bytes <= this.slab.length) return;
    const written = this.at - this.start;
    const next = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (written + bytes)));
    this.slab.copy(next, 0, this.start, this.at);
    this.slab = next;
    this.start = 0;
    this.at = written;
  }

  begin(): void {
    this.start = this.at;
  }

  /** Bytes as they are (member names, punctuation). */
  raw(bytes: Buffer): void {
    this.copy(bytes, 0, bytes.length);
  }

  /** ASCII text as it is (a row hash). */
  ascii(text: string): void {
    this.room(text.length);
    this.at += this.slab.write(text, this.at, 'latin1');
  }

  null(): void {
    this.raw(NULL);
  }

  comma(): void {
    this.room(1);
    this.slab[this.at++] = 0x2c;
  }

  /** One value of a column of type `typeOid`, as valueJson writes it. */
  value(typeOid: number, value: TextValue): void {
    const {bytes, start, end} = value;
    const length = end - start;
    switch (typeOid) {
      case Oid.bool:
        return this.raw(bytes[start] === 0x74 ? TRUE : FALSE);
      case Oid.int2:
      case Oid.int4:
        return this.copy(bytes, start, end);
      case Oid.int8:
        if (int8Safe(length, bytes[start] === 45)) return this.copy(bytes, start, end);
        break;
      case Oid.float4:
      case Oid.float8: {
        // NaN, Infinity and -Infinity are strings in JSON
        const first = bytes[start];
        if (first !== 0x4e && first !== 0x49 && !(first === 45 && bytes[start + 1] === 0x49)) return this.copy(bytes, start, end);
        break;
      }
      case Oid.numeric:
      case Oid.date:
      case Oid.uuid:
        // digits, signs, points, dashes, hex, 'NaN', 'infinity', ' BC': nothing to escape
        return this.quoted(bytes, start, end);
      case Oid.timestamp: {
        // to_json's form: the first space a 'T'
        this.room(length + 2);
        const slab = this.slab;
        let at = this.at;
        slab[at++] = QUOTE;
        let spaced = false;
        for (let i = start; i < end; i++) {
          const byte = bytes[i]!;
          slab[at++] = byte === 0x20 && !spaced ? ((spaced = true), 0x54) : byte;
        }
        slab[at++] = QUOTE;
        this.at = at;
        return;
      }
      case Oid.timestamptz:
        // the common form, in the UTC session: "2024-01-15 05:00:00[.ffffff]+00" → "2024-01-15T05:00:00[.ffffff]+00:00"
        if (length >= 22 && bytes[start + 10] === 0x20 && bytes[start + 4] === 45 && bytes[end - 3] === 0x2b && bytes[end - 2] === 0x30 && bytes[end - 1] === 0x30) {
          this.room(length + 6);
          this.slab[this.at++] = QUOTE;
          this.put(bytes, start, start + 10);
          this.slab[this.at++] = 0x54;
          this.put(bytes, start + 11, end - 3);
          this.put(TIMESTAMPTZ_UTC_END, 0, TIMESTAMPTZ_UTC_END.length);
          return;
        }
        break;
      case Oid.json:
      case Oid.jsonb:
        return this.copy(bytes, start, end);
      case Oid.text:
      case Oid.varchar:
      case Oid.bpchar:
      case Oid.name:
        this.room(6 * length + 2);
        this.at = writeString(this.slab, this.at, bytes, start, end);
        return;
      default:
        break;
    }
    const json = valueJson(typeOid, value.text);
    this.room(3 * json.length);
    this.at += this.slab.write(json, this.at, 'utf8');
  }

  /** Bytes [start, end) of `bytes` (short runs byte by byte: row-encoder.ts copyBytes). */
  private copy(bytes: Buffer, start: number, end: number): void {
    this.room(end - start);
    this.put(bytes, start, end);
  }

  /** `copy` into room already made */
  private put(bytes: Buffer, start: number, end: number): void {
    this.at = copyBytes(bytes, start, end, this.slab, this.at);
  }

  private quoted(bytes: Buffer, start: number, end: number): void {
    this.room(end - start + 2);
    this.slab[this.at++] = QUOTE;
    this.put(bytes, start, end);
    this.slab[this.at++] = QUOTE;
  }

  /** The row written since begin(). */
  end(): Buffer {
    return this.slab.subarray(this.start, this.at);
  }
}
