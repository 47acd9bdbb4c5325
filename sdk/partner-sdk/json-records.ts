// The rows of an `upsertJson` emit written as Record protobuf bytes straight from their JSON bytes: the
// Update stream's hot path for connectors that hand over pre-serialized rows (replication writes its rows'
// JSON from binary COPY values, read.ts). The general path (json-rows.ts, values.ts, record-encoder.ts) turns
// the batch into a string, JSON.parses it into an object per row and a value per column, converts each value
// to a ValueType object and encodes that: ~6 µs of the gRPC server's ~8.5 µs a row on the orders table, half
// of it garbage collection. Here each member is read where it lies and written as its ValueType bytes:
// - keys are compared with the previous row's key at the same position, with its closing quote and colon
//   (rows of a table repeat their keys, in the same order), and their map-entry key bytes are cached;
// - a plain string (no escape) is copied as it is for string, xml and decimal columns (a decimal's text is
//   checked against the same grammar), parsed in place for timestamps and dates (parseCommonTimestampBytes);
// - integers are read digit by digit for long/int/short/double/float and undeclared columns, booleans and
//   null are written directly.
// Anything else (an escaped string, a nested object or array, a long number literal, a value of a type that
// converts, such as bytes or json) goes the general way for that one value: JSON.parse of its text (long
// numbers quoted first, as json-rows.ts does) and toValueType, so it is the same bytes by construction. A row
// the scan cannot take as it is (a duplicated key, an integer-like key that JSON.parse would move first, text
// that is not JSON) is parsed whole the general way, and a batch that is not valid UTF-8 too (toString would
// replace bytes that a copy keeps). json-records.test.ts compares the bytes of both paths for every type.
// Invalid JSON still fails, but the rows before the bad one are written first (the general path failed the
// whole batch before its first row); the checkpoint after the batch is not reached either way.
import {isUtf8} from 'node:buffer';
import {ProtocolError} from '../errors.js';
import type {ColumnType} from '../types.js';
import {parseJsonRows, quoteLongNumbers} from './json-rows.js';
import {writeInt64, writeTimestampFields, type RecordEncoder} from './record-encoder.js';
import {isDecimalTextBytes, Kind, kindOf, parseCommonTimestampBytes, parsedTimestamp, toValueType} from './values.js';

/** What a table's Records need besides the rows: its names, its declared column types and the selection. */
export interface JsonTable {
  name: string;
  schemaName: string | undefined;
  columnType(column: string): ColumnType | undefined;
  includesColumn(column: string): boolean;
}

interface Column {
  name: string;
  /** the key's JSON bytes after its opening quote, to the colon: `name":` (UTF-8, no escapes) */
  tail: Buffer;
  /** the map entry's key field (record-encoder.ts keyOf) */
  entryKey: Buffer;
  type: ColumnType | undefined;
  kind: Kind;
  included: boolean;
  /** an array-index-like name ("0", "42"): JSON.parse enumerates those first, so the row goes the general way */
  indexLike: boolean;
  /** the row that last had this key (a second one in the same row is a duplicate) */
  seenIn: number;
}

// ValueType fields (common.proto) as tags.
const NULL_TAG = 0x08; // 1, varint
const BOOL_TAG = 0x10; // 2, varint
const SHORT_TAG = 0x18; // 3, varint
const INT_TAG = 0x20; // 4, varint
const LONG_TAG = 0x28; // 5, varint
const FLOAT_TAG = 0x35; // 6, fixed32
const DOUBLE_TAG = 0x39; // 7, fixed64
const NAIVE_DATE_TAG = 0x42; // 8
const NAIVE_DATETIME_TAG = 0x4a; // 9
const UTC_DATETIME_TAG = 0x52; // 10
const DECIMAL_TAG = 0x5a; // 11
const STRING_TAG = 0x6a; // 13
const XML_TAG = 0x7a; // 15
const ENTRY_TAG = 0x22; // Record.data (4)
const ENTRY_VALUE_TAG = 0x12; // the map entry's value (2)

const EMPTY = Buffer.alloc(0);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

// What scanValue found.
const Token = {Invalid: 0, PlainString: 1, EscapedString: 2, Integer: 3, Number: 4, True: 5, False: 6, Null: 7, Nested: 8} as const;
type Token = (typeof Token)[keyof typeof Token];

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

const isWhitespace = (byte: number | undefined): boolean => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
const isDigit = (byte: number | undefined): boolean => byte !== undefined && byte >= 48 && byte <= 57;
/** A character of a JSON number literal, as json-rows.ts's scan takes them: 0-9 . e E + - */
const isNumberByte = (byte: number): boolean => (byte >= 48 && byte <= 57) || byte === 46 || byte === 101 || byte === 69 || byte === 43 || byte === 45;

function isIndexLike(name: string): boolean {
  return /^(0|[1-9]\d*)$/.test(name) && Number(name) < 4294967295;
}

/**
 * Reads one `upsertJson` batch row by row: `next()` writes the next row as a Record into the encoder (true),
 * or returns a row the general way must encode (an object), or null after the last row.
 */
export class JsonRecords {
  private readonly columns = new Map<string, Column>();
  /** the columns of the previous row by position: the likely key at each position of the next */
  private readonly order: (Column | undefined)[] = [];
  private bytes: Buffer = EMPTY;
  private pos = 0;
  private end = 0;
  private first = true;
  private row = 0;
  /** rows parsed the general way, waiting to be returned */
  private parsed: Record<string, unknown>[] = [];
  /** what scanValue found last: its kind, its end and, for integers, its value */
  private token: Token = Token.Invalid;
  private tokenEnd = 0;
  private integer = 0;
  /** values written the general way (JSON.parse and toValueType) so far */
  generalValues = 0;

  constructor(
    private readonly encoder: RecordEncoder,
    private readonly table: JsonTable,
  ) {}

  /** Starts on one emit's rows (one or more JSON objects separated by commas). */
  reset(json: string | Buffer): void {
    const bytes = typeof json === 'string' ? Buffer.from(json, 'utf8') : json;
    this.first = true;
    this.parsed = [];
    if (isUtf8(bytes)) {
      this.bytes = bytes;
      this.pos = 0;
      this.end = bytes.length;
    } else {
      this.bytes = EMPTY;
      this.pos = this.end = 0;
      this.parsed = parseJsonRows(bytes).reverse();
    }
  }

  next(): true | Record<string, unknown> | null {
    for (;;) {
      if (this.parsed.length) return this.parsed.pop()!;
      const bytes = this.bytes;
      let pos = this.skipWhitespace(this.pos);
      if (pos >= this.end) {
        // the batch is done: not kept alive until the table's next one
        this.bytes = EMPTY;
        this.pos = this.end = 0;
        return null;
      }
      if (!this.first) {
        // between rows: a comma and another row
        if (bytes[pos] !== 0x2c) this.invalid();
        pos = this.skipWhitespace(pos + 1);
        if (pos >= this.end) this.invalid();
      }
      this.first = false;
      if (bytes[pos] === 0x7b /* { */) {
        const end = this.writeRow(pos);
        if (end >= 0) {
          this.pos = end;
          return true;
        }
      }
      // the general way for this row: parsed alone (an object), skipped as parseJsonRows skips other values
      if (this.scanValue(pos) === Token.Invalid) this.invalid();
      const end = this.tokenEnd;
      this.pos = end;
      const row: unknown = JSON.parse(quoteLongNumbers(bytes.toString('utf8', pos, end)));
      if (typeof row === 'object' && row !== null && !Array.isArray(row)) return row as Record<string, unknown>;
    }
  }

  /**
   * The batch is not JSON (a row not separated by a comma, a trailing comma, an unterminated string or object):
   * the general parse of the whole batch throws the error it always threw.
   */
  private invalid(): never {
    parseJsonRows(this.bytes.subarray(0, this.end));
    throw new ProtocolError('the rows of an upsertJson are not JSON objects separated by commas; fix the connector\'s rows');
  }

  private skipWhitespace(pos: number): number {
    const bytes = this.bytes;
    while (pos < this.end && isWhitespace(bytes[pos])) pos++;
    return pos;
  }

  /** The column of the key at bytes [start, end), which becomes the one expected at `index` in the next row. */
  private columnAt(index: number, start: number, end: number): Column {
    const bytes = this.bytes;
    const name = bytes.toString('utf8', start, end);
    let column = this.columns.get(name);
    if (!column) {
      const type = this.table.columnType(name);
      column = {
        name, tail: Buffer.from(`${name}":`, 'utf8'), entryKey: this.encoder.keyOf(name), type, kind: kindOf(type),
        included: this.table.includesColumn(name), indexLike: isIndexLike(name), seenIn: -1,
      };
      this.columns.set(name, column);
    }
    this.order[index] = column;
    return column;
  }

  /** Writes the object at `pos` as a Record; its end, or -1 when the row must go the general way. */
  private writeRow(pos: number): number {
    const bytes = this.bytes;
    const end = this.end;
    const row = ++this.row;
    this.encoder.begin(this.table.name, this.table.schemaName, 'UPSERT');
    pos = this.skipWhitespace(pos + 1);
    if (bytes[pos] === 0x7d /* } */) return pos + 1;
    for (let index = 0; ; index++) {
      if (bytes[pos] !== QUOTE) return -1;
      let column = this.order[index];
      const tail = column?.tail;
      // the key the previous row had here, with its closing quote and colon: the common case in one compare
      let same = tail !== undefined && pos + 1 + tail.length <= end;
      if (same) {
        for (let i = 0, at = pos + 1; i < tail!.length; i++, at++) {
          if (tail![i] !== bytes[at]) {
            same = false;
            break;
          }
        }
      }
      if (same) {
        pos += 1 + tail!.length;
      } else {
        const keyStart = pos + 1;
        let keyEnd = keyStart;
        while (keyEnd < end) {
          const byte = bytes[keyEnd]!;
          if (byte === QUOTE) break;
          if (byte === BACKSLASH || byte < 0x20) return -1;
          keyEnd++;
        }
        if (keyEnd >= end) return -1;
        column = this.columnAt(index, keyStart, keyEnd);
        pos = this.skipWhitespace(keyEnd + 1);
        if (bytes[pos] !== 0x3a /* : */) return -1;
        pos++;
      }
      if (column!.indexLike || column!.seenIn === row) return -1;
      column!.seenIn = row;
      if (isWhitespace(bytes[pos])) pos = this.skipWhitespace(pos);
      const token = this.scanValue(pos);
      if (token === Token.Invalid) return -1;
      const valueEnd = this.tokenEnd;
      if (column!.included) this.writeEntry(column!, token, pos, valueEnd);
      else if (token === Token.EscapedString || token === Token.Number || token === Token.Nested) JSON.parse(bytes.toString('utf8', pos, valueEnd)); // not sent, but must be JSON
      pos = valueEnd;
      let next = bytes[pos];
      if (isWhitespace(next)) {
        pos = this.skipWhitespace(pos);
        next = bytes[pos];
      }
      if (next === 0x7d /* } */) return pos + 1;
      if (next !== 0x2c /* , */) return -1;
      pos++;
      if (isWhitespace(bytes[pos])) pos = this.skipWhitespace(pos);
    }
  }

  /**
   * Finds the end of the value at `pos` (in `tokenEnd`) and what it is. Integers (an optional minus and at most
   * 15 digits, no leading zero) leave their value in `integer`; a longer literal is a Number (json-rows.ts
   * quotes those that a double cannot hold, so they go the general way).
   */
  private scanValue(pos: number): Token {
    const bytes = this.bytes;
    const end = this.end;
    const first = bytes[pos];
    if (first === QUOTE) {
      let escaped = false;
      for (let at = pos + 1; at < end; at++) {
        const byte = bytes[at]!;
        if (byte === QUOTE) {
          this.tokenEnd = at + 1;
          return (this.token = escaped ? Token.EscapedString : Token.PlainString);
        }
        if (byte === BACKSLASH) {
          escaped = true;
          at++;
        } else if (byte < 0x20) {
          // not JSON: JSON.parse refuses it
          escaped = true;
        }
      }
      return (this.token = Token.Invalid);
    }
    if (first === MINUS || isDigit(first)) {
      let at = pos + 1;
      while (at < end && isNumberByte(bytes[at]!)) at++;
      this.tokenEnd = at;
      const digitsFrom = first === MINUS ? pos + 1 : pos;
      const digits = at - digitsFrom;
      if (digits === 0 || digits > 15 || (bytes[digitsFrom] === 48 && digits > 1)) return (this.token = Token.Number);
      let value = 0;
      for (let i = digitsFrom; i < at; i++) {
        const digit = bytes[i]! - 48;
        if (digit < 0 || digit > 9) return (this.token = Token.Number);
        value = value * 10 + digit;
      }
      this.integer = first === MINUS ? -value : value;
      return (this.token = Token.Integer);
    }
    if (first === 0x74 /* t */ && bytes[pos + 1] === 0x72 && bytes[pos + 2] === 0x75 && bytes[pos + 3] === 0x65) {
      this.tokenEnd = pos + 4;
      return (this.token = Token.True);
    }
    if (first === 0x66 /* f */ && bytes[pos + 1] === 0x61 && bytes[pos + 2] === 0x6c && bytes[pos + 3] === 0x73 && bytes[pos + 4] === 0x65) {
      this.tokenEnd = pos + 5;
      return (this.token = Token.False);
    }
    if (first === 0x6e /* n */ && bytes[pos + 1] === 0x75 && bytes[pos + 2] === 0x6c && bytes[pos + 3] === 0x6c) {
      this.tokenEnd = pos + 4;
      return (this.token = Token.Null);
    }
    if (first === 0x7b /* { */ || first === 0x5b /* [ */) {
      // to the matching bracket, stepping over strings; JSON.parse checks the inside
      let depth = 0;
      for (let at = pos; at < end; at++) {
        const byte = bytes[at]!;
        if (byte === QUOTE) {
          for (at++; at < end && bytes[at] !== QUOTE; at++) if (bytes[at] === BACKSLASH) at++;
        } else if (byte === 0x7b || byte === 0x5b) {
          depth++;
        } else if (byte === 0x7d || byte === 0x5d) {
          if (--depth === 0) {
            this.tokenEnd = at + 1;
            return (this.token = Token.Nested);
          }
        }
      }
    }
    return (this.token = Token.Invalid);
  }

  /**
   * One `data` map entry: the column's key and the value's ValueType, written straight into the encoder's
   * buffer (room for the entry is made once: no value of the cases below takes more than its JSON text + 24
   * bytes), with one-byte lengths filled in after (the general endLength when a length needs more).
   */
  private writeEntry(column: Column, token: Token, start: number, end: number): void {
    const writer = this.encoder.writer;
    const key = column.entryKey;
    writer.ensure(key.length + (end - start) + 32);
    let out = writer.buffer;
    let pos = writer.pos;
    out[pos++] = ENTRY_TAG;
    const entryAt = pos++;
    for (let i = 0; i < key.length; i++) out[pos++] = key[i]!;
    out[pos++] = ENTRY_VALUE_TAG;
    const valueAt = pos++;
    const written = this.writeValue(out, pos, column, token, start, end);
    if (written >= 0) {
      writer.pos = written;
    } else {
      // the general way: the value JSON.parse gives (long numbers quoted first) through toValueType
      this.generalValues++;
      writer.pos = pos;
      const value: unknown = JSON.parse(quoteLongNumbers(this.bytes.toString('utf8', start, end)));
      writer.valueType(toValueType(value, column.type, column.name));
      out = writer.buffer;
    }
    const valueLength = writer.pos - valueAt - 1;
    if (valueLength < 128) out[valueAt] = valueLength;
    else writer.endLength(valueAt, 1);
    const entryLength = writer.pos - entryAt - 1;
    if (entryLength < 128) writer.buffer[entryAt] = entryLength;
    else writer.endLength(entryAt, 1);
  }

  /**
   * Writes the ValueType of the common cases at `pos` of `out` (which has room); returns the end, or -1 for
   * the others (nothing written).
   */
  private writeValue(out: Buffer, pos: number, column: Column, token: Token, start: number, end: number): number {
    const kind = column.kind;
    switch (token) {
      case Token.Null:
        out[pos] = NULL_TAG;
        out[pos + 1] = 1;
        return pos + 2;
      case Token.True:
      case Token.False:
        if (kind !== Kind.Bool && kind !== Kind.Inferred) return -1;
        out[pos] = BOOL_TAG;
        out[pos + 1] = token === Token.True ? 1 : 0;
        return pos + 2;
      case Token.Integer: {
        const value = this.integer;
        switch (kind) {
          case Kind.Long:
            out[pos] = LONG_TAG;
            return writeInt64(out, pos + 1, value);
          case Kind.Inferred:
          case Kind.Int:
            if (value < INT32_MIN || value > INT32_MAX) {
              if (kind === Kind.Int) return -1; // out of range: toValueType says so
              out[pos] = LONG_TAG;
              return writeInt64(out, pos + 1, value);
            }
            out[pos] = INT_TAG;
            return writeInt64(out, pos + 1, value);
          case Kind.Short:
            if (value < -32_768 || value > 32_767) return -1;
            out[pos] = SHORT_TAG;
            return writeInt64(out, pos + 1, value);
          case Kind.Double:
            out[pos] = DOUBLE_TAG;
            out.writeDoubleLE(value, pos + 1);
            return pos + 9;
          case Kind.Float:
            out[pos] = FLOAT_TAG;
            out.writeFloatLE(value, pos + 1);
            return pos + 5;
          default:
            return -1;
        }
      }
      case Token.PlainString: {
        const from = start + 1;
        const to = end - 1;
        switch (kind) {
          case Kind.String:
            out[pos] = STRING_TAG;
            return this.copyString(out, pos + 1, from, to);
          case Kind.Xml:
            out[pos] = XML_TAG;
            return this.copyString(out, pos + 1, from, to);
          case Kind.Decimal:
            if (!isDecimalTextBytes(this.bytes, from, to)) return -1;
            out[pos] = DECIMAL_TAG;
            return this.copyString(out, pos + 1, from, to);
          case Kind.UtcDatetime:
          case Kind.NaiveDatetime:
          case Kind.NaiveDate: {
            if (!parseCommonTimestampBytes(this.bytes, from, to, kind !== Kind.UtcDatetime)) return -1;
            let seconds = parsedTimestamp.seconds;
            let nanos = parsedTimestamp.nanos;
            if (kind === Kind.NaiveDate) {
              // the day's midnight, as toValueType makes it
              seconds -= ((seconds % 86400) + 86400) % 86400;
              nanos = 0;
            }
            out[pos] = kind === Kind.UtcDatetime ? UTC_DATETIME_TAG : kind === Kind.NaiveDate ? NAIVE_DATE_TAG : NAIVE_DATETIME_TAG;
            const lengthAt = pos + 1;
            // the Timestamp is at most 16 bytes, its length one byte
            const at = writeTimestampFields(out, pos + 2, seconds, nanos);
            out[lengthAt] = at - lengthAt - 1;
            return at;
          }
          default:
            return -1;
        }
      }
      default:
        return -1;
    }
  }

  /** A string's length and bytes [from, to) as they are (valid UTF-8, no escapes: the string's own bytes). */
  private copyString(out: Buffer, pos: number, from: number, to: number): number {
    pos = writeInt64(out, pos, to - from);
    const bytes = this.bytes;
    if (to - from <= 48) {
      for (let i = from; i < to; i++) out[pos++] = bytes[i]!;
      return pos;
    }
    bytes.copy(out, pos, from, to);
    return pos + (to - from);
  }
}
