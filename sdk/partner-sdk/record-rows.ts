// Rows written by the connector straight into Partner SDK `Record` bytes (`ctx.records`, the `upsertRecords`
// emit): the Update stream's hot path for a connector whose values come in a binary form of their own
// (replication's binary COPY fields, connectors/replication/row-records.ts), with no JSON text in between.
// Behind `upsertJson`, replication wrote each row's JSON from its binary values and json-records.ts read that
// JSON back into Record bytes: two passes over every value, ~2 µs of the gRPC server's ~6 µs a row.
//
// The connector asks `ctx.records.rows(table, columns)` for a writer of one batch, calls `begin()`, one method
// per column value, `end()` for each row, and yields `upsertRecords(writer.take())`. Each method writes the
// bytes the general path (toValueType → record-encoder.ts) writes for the JavaScript value it stands for in
// the column's declared type: `integer(i, 42)` those of toValueType(42, type), `utf8(i, bytes, ...)` those of
// the decoded string, `timestamp(...)` those of a date/time text of that instant (false where the declared
// type is not a date/time, nothing written: the caller writes the value another way), `json(i, ...)` those of
// JSON.parse of the text (long numbers kept exact, as json-rows.ts does). The natural pairs (a long for a long
// column, a string for a string column, ...) are written directly; any other goes through toValueType, so the
// bytes are the general path's by construction. Values of excluded columns (the selection) are dropped.
// record-rows.test.ts compares the bytes with the general path's for every type.
import {isUtf8} from 'node:buffer';
import {ProtocolError} from '../errors.js';
import type {ColumnType} from '../types.js';
import {quoteLongNumbers} from './json-rows.js';
import {ProtoWriter, writeInt64} from './record-encoder.js';
import {isDecimalTextBytes, toValueType} from './values.js';

/** One column of a table's rows, as the adapter resolved it: its declared type and its map-entry key (null: excluded). */
interface RecordColumn {
  readonly name: string;
  readonly type: ColumnType | undefined;
  /** the `data` map entry's key field (record-encoder.ts keyOf), or null when the selection excludes the column */
  readonly key: Buffer | null;
}

/** How one table's Records are written: the header (schema_name, table_name, type UPSERT) and the columns in order. */
export interface RecordLayout {
  readonly table: string;
  readonly header: Buffer;
  readonly columns: readonly RecordColumn[];
  /** the declaration it was made for (update.ts checks that the rows reach it unchanged) */
  readonly declaration: object;
}

/** What `ctx.records` offers: only the Partner SDK adapter gives it; on the Function path it is undefined. */
export interface RecordsOutput {
  /**
   * A writer of one batch of `table`'s rows (a declared table), whose values come in the order of `columns`;
   * `expectedBytes` sizes its first buffer.
   */
  rows(table: string, columns: readonly string[], expectedBytes?: number): RecordRows;
}

/** A batch of rows written as Records: the entries of a `Records` message (field 1, length, Record) one after another. */
export interface RecordsChunk {
  readonly layout: RecordLayout;
  readonly bytes: Buffer;
  readonly count: number;
}

// ValueType fields (common.proto) as tags, and the Record and map-entry fields around them.
const NULL_TAG = 0x08;
const BOOL_TAG = 0x10;
const SHORT_TAG = 0x18;
const INT_TAG = 0x20;
const LONG_TAG = 0x28;
const FLOAT_TAG = 0x35;
const DOUBLE_TAG = 0x39;
const NAIVE_DATE_TAG = 0x42;
const NAIVE_DATETIME_TAG = 0x4a;
const UTC_DATETIME_TAG = 0x52;
const DECIMAL_TAG = 0x5a;
const STRING_TAG = 0x6a;
const XML_TAG = 0x7a;
const RECORD_TAG = 0x0a; // Records.records (1)
const ENTRY_TAG = 0x22; // Record.data (4)
const ENTRY_VALUE_TAG = 0x12; // the map entry's value (2)

// How a column's natural values are written (from its declared type).
const Kind = {Inferred: 0, String: 1, Xml: 2, Decimal: 3, Long: 4, Int: 5, Short: 6, Double: 7, Float: 8, Bool: 9, UtcDatetime: 10, NaiveDatetime: 11, NaiveDate: 12, Other: 13} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

const KINDS: Readonly<Record<string, Kind>> = {
  string: Kind.String, xml: Kind.Xml, long: Kind.Long, int: Kind.Int, short: Kind.Short, double: Kind.Double, float: Kind.Float,
  boolean: Kind.Bool, utc_datetime: Kind.UtcDatetime, naive_datetime: Kind.NaiveDatetime, naive_date: Kind.NaiveDate,
};

function kindOf(type: ColumnType | undefined): Kind {
  if (type === undefined) return Kind.Inferred;
  // toValueType takes any object type as a decimal
  if (typeof type === 'object') return Kind.Decimal;
  return (Object.hasOwn(KINDS, type) ? KINDS[type] : undefined) ?? Kind.Other;
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const varintSize = (value: number): number => (value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5);
const EMPTY = Buffer.alloc(0);

/** Writes one batch of a table's rows as Records entries; see the module comment. Not reused after `take()`. */
export class RecordRows {
  private readonly writer: ProtoWriter;
  private readonly keys: (Buffer | null)[];
  private readonly kinds: Kind[];
  private count = 0;
  /** where the current Record's entry starts, and the bytes reserved for its length */
  private recordAt = 0;
  private lengthBytes = 2;
  /** where the current map entry's length and its value's length are (one byte each, reserved) */
  private entryAt = 0;
  private valueAt = 0;
  private taken = false;

  constructor(
    readonly layout: RecordLayout,
    expectedBytes = 0,
  ) {
    this.writer = new ProtoWriter(Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.ceil(expectedBytes))));
    this.keys = layout.columns.map((column) => column.key);
    this.kinds = layout.columns.map((column) => kindOf(column.type));
  }

  /** Whether the selection sends column `i` (values of the others are dropped: no need to prepare them). */
  included(i: number): boolean {
    return this.keys[i] !== null;
  }

  /** Bytes written so far (the Records entries). */
  get bytes(): number {
    return this.writer.pos;
  }

  /** Starts a row's Record. */
  begin(): void {
    if (this.taken) throw new Error('RecordRows: written after take()');
    const writer = this.writer;
    const header = this.layout.header;
    writer.ensure(header.length + 6);
    this.recordAt = writer.pos;
    writer.buffer[writer.pos] = RECORD_TAG;
    // the length takes as many bytes as the previous row's did (rows of a table are alike); moved if not
    writer.pos += 1 + this.lengthBytes;
    writer.bytes(header);
  }

  /** Ends the row's Record. */
  end(): void {
    const writer = this.writer;
    const start = this.recordAt + 1 + this.lengthBytes;
    const length = writer.pos - start;
    const size = varintSize(length);
    if (size !== this.lengthBytes) {
      writer.ensure(size - this.lengthBytes);
      writer.buffer.copyWithin(this.recordAt + 1 + size, start, writer.pos);
      writer.pos += size - this.lengthBytes;
      this.lengthBytes = size;
    }
    const out = writer.buffer;
    let at = this.recordAt + 1;
    let value = length;
    while (value > 0x7f) {
      out[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    out[at] = value;
    this.count++;
  }

  /** The rows written, for `upsertRecords`; the writer is done. */
  take(): RecordsChunk {
    this.taken = true;
    const bytes = this.count ? this.writer.buffer.subarray(0, this.writer.pos) : EMPTY;
    return {layout: this.layout, bytes, count: this.count};
  }

  /** Opens column i's map entry with room for `room` bytes of ValueType; false when the column is excluded. */
  private open(i: number, room: number): boolean {
    const key = this.keys[i];
    if (key === null || key === undefined) return false;
    const writer = this.writer;
    writer.ensure(key.length + room + 8);
    const out = writer.buffer;
    let pos = writer.pos;
    out[pos++] = ENTRY_TAG;
    this.entryAt = pos++;
    for (let k = 0; k < key.length; k++) out[pos++] = key[k]!;
    out[pos++] = ENTRY_VALUE_TAG;
    this.valueAt = pos++;
    writer.pos = pos;
    return true;
  }

  /** Closes the entry: its lengths, one byte each when they fit (moved over when not). */
  private close(): void {
    const writer = this.writer;
    const valueLength = writer.pos - this.valueAt - 1;
    if (valueLength < 128) writer.buffer[this.valueAt] = valueLength;
    else writer.endLength(this.valueAt, 1);
    const entryLength = writer.pos - this.entryAt - 1;
    if (entryLength < 128) writer.buffer[this.entryAt] = entryLength;
    else writer.endLength(this.entryAt, 1);
  }

  /** A varint ValueType field (short, int, long) of a safe integer, into an open entry. */
  private varint(tag: number, value: number): void {
    const writer = this.writer;
    writer.buffer[writer.pos] = tag;
    writer.pos = writeInt64(writer.buffer, writer.pos + 1, value);
  }

  /** The general way: toValueType of `value` in the column's declared type, into an open entry. */
  private general(i: number, value: unknown): void {
    const column = this.layout.columns[i]!;
    this.writer.valueType(toValueType(value, column.type, column.name));
  }

  null(i: number): void {
    if (!this.open(i, 2)) return;
    const writer = this.writer;
    writer.buffer[writer.pos] = NULL_TAG;
    writer.buffer[writer.pos + 1] = 1;
    writer.pos += 2;
    this.close();
  }

  bool(i: number, value: boolean): void {
    if (!this.open(i, 2)) return;
    const kind = this.kinds[i];
    if (kind === Kind.Bool || kind === Kind.Inferred) {
      const writer = this.writer;
      writer.buffer[writer.pos] = BOOL_TAG;
      writer.buffer[writer.pos + 1] = value ? 1 : 0;
      writer.pos += 2;
    } else {
      this.general(i, value);
    }
    this.close();
  }

  /** A safe integer (a JSON number without fraction or exponent). */
  integer(i: number, value: number): void {
    if (!this.open(i, 11)) return;
    const writer = this.writer;
    switch (this.kinds[i]) {
      case Kind.Long:
        this.varint(LONG_TAG, value);
        break;
      case Kind.Int:
        if (value >= INT32_MIN && value <= INT32_MAX) this.varint(INT_TAG, value);
        else this.general(i, value); // out of range: toValueType says so
        break;
      case Kind.Inferred:
        this.varint(value >= INT32_MIN && value <= INT32_MAX ? INT_TAG : LONG_TAG, value);
        break;
      case Kind.Short:
        if (value >= -32_768 && value <= 32_767) this.varint(SHORT_TAG, value);
        else this.general(i, value);
        break;
      case Kind.Double:
        writer.buffer[writer.pos] = DOUBLE_TAG;
        writer.buffer.writeDoubleLE(value, writer.pos + 1);
        writer.pos += 9;
        break;
      case Kind.Float:
        writer.buffer[writer.pos] = FLOAT_TAG;
        writer.buffer.writeFloatLE(value, writer.pos + 1);
        writer.pos += 5;
        break;
      default:
        this.general(i, value);
    }
    this.close();
  }

  /** A finite double (a JSON number). */
  double(i: number, value: number): void {
    if (!this.open(i, 9)) return;
    const writer = this.writer;
    const kind = this.kinds[i];
    if (kind === Kind.Double) {
      writer.buffer[writer.pos] = DOUBLE_TAG;
      writer.buffer.writeDoubleLE(value, writer.pos + 1);
      writer.pos += 9;
    } else if (kind === Kind.Float) {
      writer.buffer[writer.pos] = FLOAT_TAG;
      writer.buffer.writeFloatLE(value, writer.pos + 1);
      writer.pos += 5;
    } else {
      this.general(i, value);
    }
    this.close();
  }

  /** A string, as its UTF-8 bytes [start, end) of `source` (bytes that are not UTF-8 are decoded with replacements, as a string of them would be). */
  utf8(i: number, source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    if (!this.open(i, length + 6)) return;
    const kind = this.kinds[i];
    const tag = kind === Kind.String ? STRING_TAG : kind === Kind.Xml ? XML_TAG : kind === Kind.Decimal && isDecimalTextBytes(source, start, end) ? DECIMAL_TAG : 0;
    if (tag !== 0 && isUtf8Range(source, start, end)) {
      const writer = this.writer;
      writer.buffer[writer.pos] = tag;
      let pos = writeInt64(writer.buffer, writer.pos + 1, length);
      const out = writer.buffer;
      if (length <= 48) {
        for (let k = start; k < end; k++) out[pos++] = source[k]!;
      } else {
        out.set(source.subarray(start, end), pos);
        pos += length;
      }
      writer.pos = pos;
    } else {
      this.general(i, Buffer.from(source.buffer, source.byteOffset + start, length).toString('utf8'));
    }
    this.close();
  }

  /**
   * An instant as seconds since 1970-01-01 and nanoseconds, for a column declared utc_datetime, naive_datetime
   * (the wall time as if UTC) or naive_date (the day's midnight is kept, as toValueType does); false, with nothing
   * written, for any other type.
   */
  timestamp(i: number, seconds: number, nanos: number): boolean {
    const kind = this.kinds[i];
    if (kind !== Kind.UtcDatetime && kind !== Kind.NaiveDatetime && kind !== Kind.NaiveDate) return false;
    if (!this.open(i, 24)) return true;
    if (kind === Kind.NaiveDate) {
      seconds -= ((seconds % 86400) + 86400) % 86400;
      nanos = 0;
    }
    const writer = this.writer;
    const out = writer.buffer;
    out[writer.pos] = kind === Kind.UtcDatetime ? UTC_DATETIME_TAG : kind === Kind.NaiveDate ? NAIVE_DATE_TAG : NAIVE_DATETIME_TAG;
    const lengthAt = writer.pos + 1;
    let at = writer.pos + 2;
    // proto3 leaves zero scalars off the wire; the Timestamp is at most 22 bytes, its length one byte
    if (seconds !== 0) {
      out[at] = 0x08;
      at = writeInt64(out, at + 1, seconds);
    }
    if (nanos !== 0) {
      out[at] = 0x10;
      at = writeInt64(out, at + 1, nanos);
    }
    out[lengthAt] = at - lengthAt - 1;
    writer.pos = at;
    this.close();
    return true;
  }

  /** A value given as its JSON text [start, end) of `source` (UTF-8): JSON.parse of it, long numbers kept as text. */
  json(i: number, source: Uint8Array, start: number, end: number): void {
    if (!this.open(i, 16)) return;
    const text = Buffer.from(source.buffer, source.byteOffset + start, end - start).toString('utf8');
    let value: unknown;
    try {
      value = JSON.parse(quoteLongNumbers(text));
    } catch (error) {
      throw new ProtocolError(`column "${this.layout.columns[i]!.name}" of ${this.layout.table} holds text that is not JSON (${(error as Error).message}); fix the connector's value`);
    }
    this.general(i, value);
    this.close();
  }
}

/** Whether [start, end) is UTF-8: ASCII by a loop, the rest by the native check. */
function isUtf8Range(source: Uint8Array, start: number, end: number): boolean {
  for (let k = start; k < end; k++) if (source[k]! >= 0x80) return isUtf8(source.subarray(start, end));
  return true;
}
