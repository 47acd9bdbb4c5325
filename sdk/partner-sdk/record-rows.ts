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
import {BATCH_ROOM, ProtoWriter, varintSize, writeInt64, writeTimestampFields} from './record-encoder.js';
import {isDecimalTextBytes, Kind, kindOf, toValueType} from './values.js';

/** One column of a table's rows, as the adapter resolved it: its declared type and its map-entry key (null: excluded). */
interface RecordColumn {
  readonly name: string;
  readonly type: ColumnType | undefined;
  /** the `data` map entry's key field (record-encoder.ts keyOf), or null when the selection excludes the column */
  readonly key: Buffer | null;
}

/** How one table's Records are written: the header (schema_name, table_name, type UPSERT), the columns in order, the batch limits. */
export interface RecordLayout {
  readonly table: string;
  readonly header: Buffer;
  readonly columns: readonly RecordColumn[];
  /** a Records batch's limits (update.ts): at most this many records, and this many bytes unless one record is larger */
  readonly maxRecords: number;
  readonly maxBytes: number;
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

/**
 * A batch of rows written as Records, already cut into the Update stream's `Records` messages by the
 * layout's limits (as RecordBatcher cuts records added one by one): `batches` holds, for each, where it
 * starts in `bytes`, where its entries end, and how many there are; its entries (field 1, length, Record,
 * one after another) follow BATCH_ROOM free bytes (record-encoder.ts), where the adapter writes the
 * UpdateResponse's tag and the Records length to send the batch as it lies.
 */
export interface RecordsChunk {
  readonly layout: RecordLayout;
  readonly bytes: Buffer;
  readonly count: number;
  readonly batches: readonly number[];
  /** the Records' own sizes, summed (what the stream's budget counts) */
  readonly recordBytes: number;
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

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
const EMPTY = Buffer.alloc(0);

/** The bytes writeInt64 writes for a safe integer: 10 for a negative one (64-bit two's complement). */
function varintLength(value: number): number {
  if (value < 0) return 10;
  if (value < 0x10000000) return varintSize(value);
  let length = 4;
  for (let rest = Math.floor(value / 0x10000000); rest > 0; rest = Math.floor(rest / 128)) length++;
  return length;
}

/** Writes one batch of a table's rows as Records; see the module comment. Not reused after `take()`. */
export class RecordRows {
  // the bytes written, straight into a buffer of its own (a ProtoWriter only for values written the general way)
  private out: Buffer;
  private pos = 0;
  private readonly general: ProtoWriter = new ProtoWriter(64);
  private readonly keys: (Buffer | null)[];
  private readonly kinds: Kind[];
  private count = 0;
  private recordBytes = 0;
  /** where the current Record's entry starts, and the bytes reserved for its length */
  private recordAt = 0;
  private lengthBytes = 2;
  /** where the current map entry's length and its value's length are (one byte each, reserved) */
  private entryAt = 0;
  private valueAt = 0;
  /** the open batch: where its room starts (-1: none open) and how many records it has */
  private batchAt = -1;
  private batchCount = 0;
  private readonly batches: number[] = [];
  private taken = false;

  /** `buffer`: where to write (one whose earlier contents are no longer needed), else one of `expectedBytes` is made */
  constructor(
    readonly layout: RecordLayout,
    expectedBytes = 0,
    buffer?: Buffer,
  ) {
    // a memory of its own (never a slice of Buffer's shared pool, whatever Buffer.poolSize): it may be used again
    this.out = buffer ?? Buffer.allocUnsafeSlow(Math.min(64 * 1024 * 1024, Math.max(64 * 1024, Math.ceil(expectedBytes))));
    this.keys = layout.columns.map((column) => column.key);
    this.kinds = layout.columns.map((column) => kindOf(column.type));
  }

  /** Whether the selection sends column `i` (values of the others are dropped: no need to prepare them). */
  included(i: number): boolean {
    return this.keys[i] !== null;
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.pos;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.out.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.out.length * 2, this.pos + extra));
    this.out.copy(grown, 0, 0, this.pos);
    this.out = grown;
  }

  /** Starts a row's Record. */
  begin(): void {
    if (this.taken) throw new Error('RecordRows: written after take()');
    const header = this.layout.header;
    this.ensure(BATCH_ROOM + header.length + 6);
    if (this.batchAt < 0) {
      this.batchAt = this.pos;
      this.pos += BATCH_ROOM;
    }
    this.recordAt = this.pos;
    const out = this.out;
    out[this.pos] = RECORD_TAG;
    // the length takes as many bytes as the previous row's did (rows of a table are alike); moved if not
    let pos = this.pos + 1 + this.lengthBytes;
    for (let k = 0; k < header.length; k++) out[pos++] = header[k]!;
    this.pos = pos;
  }

  /** Ends the row's Record, and the batch when it is full. */
  end(): void {
    const start = this.recordAt + 1 + this.lengthBytes;
    const length = this.pos - start;
    const size = varintSize(length);
    if (size !== this.lengthBytes) {
      this.ensure(size - this.lengthBytes);
      this.out.copyWithin(this.recordAt + 1 + size, start, this.pos);
      this.pos += size - this.lengthBytes;
      this.lengthBytes = size;
    }
    writeInt64(this.out, this.recordAt + 1, length);
    this.count++;
    this.recordBytes += length;
    // RecordBatcher's rule: a record that would take the batch past maxBytes starts the next one (moved over
    // to leave the next batch's room before it); a batch of maxRecords, or of maxBytes or more, is done
    const {maxRecords, maxBytes} = this.layout;
    if (this.batchCount > 0 && this.pos - this.batchAt - BATCH_ROOM > maxBytes) {
      this.batches.push(this.batchAt, this.recordAt, this.batchCount);
      this.ensure(BATCH_ROOM);
      this.out.copyWithin(this.recordAt + BATCH_ROOM, this.recordAt, this.pos);
      this.batchAt = this.recordAt;
      this.pos += BATCH_ROOM;
      this.batchCount = 0;
    }
    this.batchCount++;
    if (this.batchCount >= maxRecords || this.pos - this.batchAt - BATCH_ROOM >= maxBytes) {
      this.batches.push(this.batchAt, this.pos, this.batchCount);
      this.batchAt = -1;
      this.batchCount = 0;
    }
  }

  /** The rows written, for `upsertRecords`; the writer is done. */
  take(): RecordsChunk {
    this.taken = true;
    if (this.batchCount > 0) this.batches.push(this.batchAt, this.pos, this.batchCount);
    this.batchAt = -1;
    this.batchCount = 0;
    const bytes = this.count ? this.out.subarray(0, this.pos) : EMPTY;
    return {layout: this.layout, bytes, count: this.count, batches: this.batches, recordBytes: this.recordBytes};
  }

  /** Opens column i's map entry with room for `room` bytes of ValueType; false when the column is excluded. */
  private open(i: number, room: number): boolean {
    const key = this.keys[i];
    if (key === null || key === undefined) return false;
    this.ensure(key.length + room + 8);
    const out = this.out;
    let pos = this.pos;
    out[pos++] = ENTRY_TAG;
    this.entryAt = pos++;
    for (let k = 0; k < key.length; k++) out[pos++] = key[k]!;
    out[pos++] = ENTRY_VALUE_TAG;
    this.valueAt = pos++;
    this.pos = pos;
    return true;
  }

  /** Closes the entry: its lengths, one byte each when they fit (moved over when not). */
  private close(): void {
    const valueLength = this.pos - this.valueAt - 1;
    if (valueLength < 128) this.out[this.valueAt] = valueLength;
    else this.widen(this.valueAt, valueLength);
    const entryLength = this.pos - this.entryAt - 1;
    if (entryLength < 128) this.out[this.entryAt] = entryLength;
    else this.widen(this.entryAt, entryLength);
  }

  /** A length of 128 or more at `at`, where one byte was reserved: what follows moves over. */
  private widen(at: number, length: number): void {
    const size = varintSize(length);
    this.ensure(size - 1);
    const out = this.out;
    out.copyWithin(at + size, at + 1, this.pos);
    this.pos += size - 1;
    while (length > 0x7f) {
      out[at++] = (length & 0x7f) | 0x80;
      length >>>= 7;
    }
    out[at] = length;
  }

  /** A varint ValueType field (short, int, long) of a safe integer, into an open entry. */
  private varint(tag: number, value: number): void {
    this.out[this.pos] = tag;
    this.pos = writeInt64(this.out, this.pos + 1, value);
  }

  /** The general way: toValueType of `value` in the column's declared type, into an open entry. */
  private generalValue(i: number, value: unknown): void {
    const column = this.layout.columns[i]!;
    const writer = this.general;
    writer.buffer = this.out;
    writer.pos = this.pos;
    writer.valueType(toValueType(value, column.type, column.name));
    this.out = writer.buffer;
    this.pos = writer.pos;
  }

  null(i: number): void {
    if (!this.open(i, 2)) return;
    this.out[this.pos] = NULL_TAG;
    this.out[this.pos + 1] = 1;
    this.pos += 2;
    this.close();
  }

  bool(i: number, value: boolean): void {
    if (!this.open(i, 2)) return;
    const kind = this.kinds[i];
    if (kind === Kind.Bool || kind === Kind.Inferred) {
      this.out[this.pos] = BOOL_TAG;
      this.out[this.pos + 1] = value ? 1 : 0;
      this.pos += 2;
    } else {
      this.generalValue(i, value);
    }
    this.close();
  }

  /**
   * Opens column i's map entry for a value of `valueLength` bytes when the entry is under 128 bytes (its
   * lengths one byte each, written now); false, nothing written, otherwise (open and close it).
   */
  private openKnown(key: Buffer, valueLength: number): boolean {
    const entryLength = key.length + 2 + valueLength;
    if (entryLength >= 128) return false;
    this.ensure(entryLength + 2);
    const out = this.out;
    let pos = this.pos;
    out[pos++] = ENTRY_TAG;
    out[pos++] = entryLength;
    for (let k = 0; k < key.length; k++) out[pos++] = key[k]!;
    out[pos++] = ENTRY_VALUE_TAG;
    out[pos++] = valueLength;
    this.pos = pos;
    return true;
  }

  /** A safe integer (a JSON number without fraction or exponent). */
  integer(i: number, value: number): void {
    const key = this.keys[i];
    if (key === null || key === undefined) return;
    const kind = this.kinds[i];
    const int32 = value >= INT32_MIN && value <= INT32_MAX;
    const tag = kind === Kind.Long ? LONG_TAG : kind === Kind.Int ? (int32 ? INT_TAG : 0) : kind === Kind.Inferred ? (int32 ? INT_TAG : LONG_TAG) : kind === Kind.Short ? (value >= -32_768 && value <= 32_767 ? SHORT_TAG : 0) : 0;
    if (tag !== 0 && this.openKnown(key, 1 + varintLength(value))) {
      this.varint(tag, value);
      return;
    }
    if (!this.open(i, 11)) return;
    switch (this.kinds[i]) {
      case Kind.Long:
        this.varint(LONG_TAG, value);
        break;
      case Kind.Int:
        if (value >= INT32_MIN && value <= INT32_MAX) this.varint(INT_TAG, value);
        else this.generalValue(i, value); // out of range: toValueType says so
        break;
      case Kind.Inferred:
        this.varint(value >= INT32_MIN && value <= INT32_MAX ? INT_TAG : LONG_TAG, value);
        break;
      case Kind.Short:
        if (value >= -32_768 && value <= 32_767) this.varint(SHORT_TAG, value);
        else this.generalValue(i, value);
        break;
      case Kind.Double:
        this.out[this.pos] = DOUBLE_TAG;
        this.out.writeDoubleLE(value, this.pos + 1);
        this.pos += 9;
        break;
      case Kind.Float:
        this.out[this.pos] = FLOAT_TAG;
        this.out.writeFloatLE(value, this.pos + 1);
        this.pos += 5;
        break;
      default:
        this.generalValue(i, value);
    }
    this.close();
  }

  /** A finite double (a JSON number). */
  double(i: number, value: number): void {
    if (!this.open(i, 9)) return;
    const kind = this.kinds[i];
    if (kind === Kind.Double) {
      this.out[this.pos] = DOUBLE_TAG;
      this.out.writeDoubleLE(value, this.pos + 1);
      this.pos += 9;
    } else if (kind === Kind.Float) {
      this.out[this.pos] = FLOAT_TAG;
      this.out.writeFloatLE(value, this.pos + 1);
      this.pos += 5;
    } else {
      this.generalValue(i, value);
    }
    this.close();
  }

  /** A string, as its UTF-8 bytes [start, end) of `source` (bytes that are not UTF-8 are decoded with replacements, as a string of them would be). */
  utf8(i: number, source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    const key = this.keys[i];
    if (key === null || key === undefined) return;
    const kind = this.kinds[i];
    const tag = kind === Kind.String ? STRING_TAG : kind === Kind.Xml ? XML_TAG : kind === Kind.Decimal && isDecimalTextBytes(source, start, end) ? DECIMAL_TAG : 0;
    // the common case: an entry under 128 bytes, whose lengths are known before it is written (one byte each)
    const entryAt = this.pos;
    if (tag !== 0 && this.openKnown(key, length + 2)) {
      const out = this.out;
      let pos = this.pos;
      out[pos++] = tag;
      out[pos++] = length;
      let high = 0;
      for (let k = start; k < end; k++) {
        const byte = source[k]!;
        high |= byte;
        out[pos++] = byte;
      }
      if (high < 0x80 || isUtf8Short(source, start, end)) {
        this.pos = pos;
        return;
      }
      // not UTF-8: the entry is written again the general way
      this.pos = entryAt;
    }
    this.open(i, length + 6);
    if (tag !== 0) {
      const out = this.out;
      const valueAt = this.pos;
      out[valueAt] = tag;
      let pos = valueAt + 1;
      if (length < 0x80) out[pos++] = length;
      else pos = writeInt64(out, pos, length);
      // copied as it is when it is UTF-8 (ASCII seen on the way; the rest checked natively)
      let high = 0;
      if (length <= 64) {
        for (let k = start; k < end; k++) {
          const byte = source[k]!;
          high |= byte;
          out[pos++] = byte;
        }
      } else {
        out.set(source.subarray(start, end), pos);
        pos += length;
        high = 0x80;
      }
      if (high < 0x80 || (length <= 64 ? isUtf8Short(source, start, end) : isUtf8(source.subarray(start, end)))) {
        this.pos = pos;
        this.close();
        return;
      }
    }
    this.generalValue(i, Buffer.from(source.buffer, source.byteOffset + start, length).toString('utf8'));
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
    const key = this.keys[i];
    if (key === null || key === undefined) return true;
    if (kind === Kind.NaiveDate) {
      seconds -= ((seconds % 86400) + 86400) % 86400;
      nanos = 0;
    }
    // the Timestamp's length: proto3 leaves zero scalars off the wire; at most 22 bytes, its length one byte
    const timestampLength = (seconds !== 0 ? 1 + varintLength(seconds) : 0) + (nanos !== 0 ? 1 + varintLength(nanos) : 0);
    const known = this.openKnown(key, 2 + timestampLength);
    if (!known) this.open(i, 24);
    const out = this.out;
    out[this.pos] = kind === Kind.UtcDatetime ? UTC_DATETIME_TAG : kind === Kind.NaiveDate ? NAIVE_DATE_TAG : NAIVE_DATETIME_TAG;
    out[this.pos + 1] = timestampLength;
    // the Timestamp is at most 22 bytes, its length one byte
    this.pos = writeTimestampFields(out, this.pos + 2, seconds, nanos);
    if (!known) this.close();
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
    this.generalValue(i, value);
    this.close();
  }
}

/**
 * Whether bytes [start, end) are UTF-8, as isUtf8 says (well-formed sequences per the Unicode standard's table
 * 3-7: no overlong forms, surrogates or code points past U+10FFFF), checked here: for a short string (a city
 * name with an accent) the native call and its view cost more than the check.
 */
export function isUtf8Short(bytes: Uint8Array, start: number, end: number): boolean {
  let at = start;
  while (at < end) {
    const lead = bytes[at]!;
    if (lead < 0x80) {
      at++;
      continue;
    }
    let count: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) count = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      count = 2;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      count = 3;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f;
    } else return false;
    if (at + count >= end) return false;
    const second = bytes[at + 1]!;
    if (second < low || second > high) return false;
    for (let k = 2; k <= count; k++) {
      const next = bytes[at + k]!;
      if (next < 0x80 || next > 0xbf) return false;
    }
    at += count + 1;
  }
  return true;
}
