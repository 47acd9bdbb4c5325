// Writes a row's Partner SDK Record from PostgreSQL's binary COPY fields, when the sync runs behind the
// Partner SDK (ctx.records: sdk/partner-sdk/record-rows.ts): the counterpart of row-encoder.ts, which writes
// the same fields as JSON text for the Function path. Behind upsertJson the Partner SDK read that JSON back
// into Record bytes (json-records.ts); here the values go to their ValueType once, with no text in between:
// - bool, int2, int4, int8 within ±(2^53-1), finite float8 → the writer's boolean, integer and double;
// - text, varchar, char, name, enum labels → their UTF-8 bytes as they are;
// - numeric and uuid → their text (written by row-encoder.ts, without the quotes); NaN and Infinity too;
// - date, timestamp, timestamptz between 1857 and 2142 (microseconds within ±2^52) → seconds and nanoseconds;
// - json → its text, jsonb → its text after the version byte, and the types PostgreSQL writes as to_json
//   text: JSON.parse of it, as the JSON path's reader does.
// Anything else (an int8 past 2^53, a non-finite float8, infinity and BC dates, timestamps outside those
// years, a value of a column declared another type) is written from the JSON text row-encoder.ts writes for
// it, taken as the JSON path takes it, so each value is what the JSON path gives by construction.
// row-records.test.ts compares both paths on PostgreSQL's own values of every type.
import type {RecordRows} from '../../sdk/index.js';
import {encodedBound, int16, int32, Kind, uint32, writeValue} from './row-encoder.js';

/** 2000-01-01 (PostgreSQL's epoch) in seconds since 1970-01-01. */
const PG_EPOCH_SECONDS = 946_684_800;
const PG_EPOCH_DAYS = 10_957;
/** 0001-01-01 and 9999-12-31 in days from 2000-01-01: dates the JSON path writes as YYYY-MM-DD */
const FIRST_DAY = -730_119;
const LAST_DAY = 2_921_939;
const TWO_32 = 4294967296;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Writes COPY fields into a RecordRows; holds the scratch buffer of the values written as text first. */
export class RowRecords {
  private scratch = Buffer.allocUnsafe(256);

  constructor(readonly rows: RecordRows) {}

  /** Field i of the row: `size` bytes of `row` from `start` in the binary form of `kind`, or null when size is -1. */
  field(i: number, kind: Kind, row: Buffer, start: number, size: number): void {
    const rows = this.rows;
    if (size < 0) return rows.null(i);
    switch (kind) {
      case Kind.Text:
        return rows.utf8(i, row, start, start + size);
      case Kind.Int4:
        return rows.integer(i, int32(row, start));
      case Kind.Int8: {
        const high = int32(row, start);
        if (high >= -0x200000 && high < 0x200000) {
          const value = high * TWO_32 + uint32(row, start + 4);
          if (value >= -MAX_SAFE && value <= MAX_SAFE) return rows.integer(i, value);
        }
        return this.quoted(i, kind, row, start, size);
      }
      case Kind.TimestampTz:
      case Kind.Timestamp: {
        const high = int32(row, start);
        if (high >= -0x100000 && high < 0x100000) {
          // |value| < 2^52: exact as a double
          const micros = high * TWO_32 + uint32(row, start + 4);
          const seconds = Math.floor(micros / 1_000_000);
          if (rows.timestamp(i, seconds + PG_EPOCH_SECONDS, (micros - seconds * 1_000_000) * 1000)) return;
        }
        return this.quoted(i, kind, row, start, size);
      }
      case Kind.Numeric:
      case Kind.Uuid:
        return this.quoted(i, kind, row, start, size);
      case Kind.Json:
        return rows.json(i, row, start, start + size);
      case Kind.Bool:
        return rows.bool(i, row[start] !== 0);
      case Kind.Int2:
        return rows.integer(i, int16(row, start));
      case Kind.Float8: {
        const value = row.readDoubleBE(start);
        if (Number.isFinite(value)) return rows.double(i, value);
        return this.quoted(i, kind, row, start, size);
      }
      case Kind.Date: {
        const days = int32(row, start);
        if (days >= FIRST_DAY && days <= LAST_DAY && rows.timestamp(i, (days + PG_EPOCH_DAYS) * 86400, 0)) return;
        return this.quoted(i, kind, row, start, size);
      }
      case Kind.Jsonb:
        // jsonb's binary form is a version byte (1) and the text
        if (row[start] !== 1) throw new Error(`jsonb value has an unknown binary format version ${row[start]}`);
        return rows.json(i, row, start + 1, start + size);
    }
  }

  /**
   * A value the JSON path writes as a JSON string without escapes (numeric, uuid, int8 past 2^53, NaN and the
   * infinities, dates and timestamps): the string's bytes, which is what JSON.parse of its JSON text gives.
   */
  private quoted(i: number, kind: Kind, row: Buffer, start: number, size: number): void {
    if (!this.rows.included(i)) return;
    const bound = encodedBound(kind, row, start, size);
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafe(bound * 2);
    const end = writeValue(kind, this.scratch, 0, row, start, size);
    // a quoted text, or (int8 and float8 within range never come here) a bare literal: JSON text either way
    if (this.scratch[0] === 0x22) this.rows.utf8(i, this.scratch, 1, end - 1);
    else this.rows.json(i, this.scratch, 0, end);
  }
}
