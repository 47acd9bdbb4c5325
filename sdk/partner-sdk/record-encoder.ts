// The protobuf bytes of `UpdateResponse { records: Records { records: [Record...] } }`, written by hand: the
// Update stream's hot path. protobufjs (behind @grpc/proto-loader) first copies each record into a message
// object (`fromObject`), then walks it with a generic writer, and that was most of the CPU of streaming
// replication over gRPC (~9 µs of ~30 µs a row). Here each record is written once into a reused buffer from
// its ValueTypes, with the column keys' bytes cached, and a batch leaves as one Buffer that the server's
// serializer passes through unchanged (server.ts). Field numbers are those of connector_sdk.proto and
// common.proto (see protocol.test.ts); record-encoder.test.ts decodes these bytes with the proto-loader
// decoder and compares them field by field with what protobufjs makes of the same message.
import type {ValueType} from './generated/fivetran_sdk/v2/ValueType.js';
import type {RecordsChunk} from './record-rows.js';
import type {Timestamp} from './generated/google/protobuf/Timestamp.js';

const LEN = 2;
const VARINT = 0;
const I32 = 5;
const I64 = 1;
const tag = (field: number, wire: number): number => (field << 3) | wire;

// ValueType's oneof `inner` (common.proto); the numbers are not the DataType enum's.
const VALUE_FIELDS: Readonly<Record<string, number>> = {
  null: 1, bool: 2, short: 3, int: 4, long: 5, float: 6, double: 7, naive_date: 8, naive_datetime: 9,
  utc_datetime: 10, decimal: 11, binary: 12, string: 13, json: 14, xml: 15, naive_time: 16,
};

/** RecordType (common.proto); UPSERT is the zero value, left unset on the wire. */
export const RECORD_TYPES = {UPSERT: 0, UPDATE: 1, DELETE: 2, TRUNCATE: 3} as const;
export type RecordTypeName = keyof typeof RECORD_TYPES;

/** The bytes of a non-negative varint below 2^32. */
export const varintSize = (value: number): number => (value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5);

const TWO_64 = 1n << 64n;

/**
 * Writes a google.protobuf.Timestamp's fields (seconds 1, nanos 2) at `at` and returns the position after them:
 * proto3 leaves zero scalars off the wire, so an instant at the epoch has none.
 */
export function writeTimestampFields(out: Buffer, at: number, seconds: number, nanos: number): number {
  if (seconds !== 0) {
    out[at] = 0x08;
    at = writeInt64(out, at + 1, seconds);
  }
  if (nanos !== 0) {
    out[at] = 0x10;
    at = writeInt64(out, at + 1, nanos);
  }
  return at;
}

/**
 * An int32/int64 varint of a safe integer written at `pos` of `out` (which has room); returns the end (at most
 * 10 bytes). Negatives are 64-bit two's complement, as ProtoWriter's int64Number writes them.
 */
export function writeInt64(out: Buffer, pos: number, value: number): number {
  if (value >= 0 && value < 0x80000000) {
    while (value > 0x7f) {
      out[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    out[pos++] = value;
    return pos;
  }
  let low = value >>> 0;
  let high = Math.floor(value / 0x100000000) >>> 0;
  while (high !== 0 || low > 0x7f) {
    out[pos++] = (low & 0x7f) | 0x80;
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  out[pos++] = low;
  return pos;
}


/** A growable byte buffer with the few protobuf primitives a Record needs. */
export class ProtoWriter {
  buffer: Buffer;
  pos = 0;

  constructor(capacity = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(capacity);
  }

  ensure(extra: number): void {
    if (this.pos + extra <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.pos + extra));
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }

  /** A non-negative varint below 2^32. */
  uint32(value: number): void {
    this.ensure(5);
    const buffer = this.buffer;
    while (value > 0x7f) {
      buffer[this.pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buffer[this.pos++] = value;
  }

  /** An int32/int64 varint of a safe integer: negatives as 64-bit two's complement (10 bytes), as protobuf does. */
  int64Number(value: number): void {
    if (value >= 0 && value < 0x100000000) return this.uint32(value);
    // two 32-bit halves of the 64-bit two's complement (exact for safe integers)
    let low = value >>> 0;
    let high = Math.floor(value / 0x100000000) >>> 0;
    this.ensure(10);
    const buffer = this.buffer;
    while (high !== 0 || low > 0x7f) {
      buffer[this.pos++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buffer[this.pos++] = low;
  }

  int64Big(value: bigint): void {
    let unsigned = value < 0n ? value + TWO_64 : value;
    this.ensure(10);
    while (unsigned > 0x7fn) {
      this.buffer[this.pos++] = Number(unsigned & 0x7fn) | 0x80;
      unsigned >>= 7n;
    }
    this.buffer[this.pos++] = Number(unsigned);
  }

  /** An int64 given as decimal text (how proto-loader's `longs: String` carries it) or a number/bigint. */
  int64(value: string | number | bigint): void {
    if (typeof value === 'number') return this.int64Number(value);
    if (typeof value === 'bigint') return this.int64Big(value);
    const number = Number(value);
    if (Number.isSafeInteger(number)) this.int64Number(number);
    else this.int64Big(BigInt(value));
  }

  bytes(source: Uint8Array): void {
    const length = source.length;
    this.ensure(length);
    // a native copy costs more than a loop below a few dozen bytes (keys, headers, short values)
    if (length <= 32) {
      const buffer = this.buffer;
      let pos = this.pos;
      for (let i = 0; i < length; i++) buffer[pos++] = source[i]!;
      this.pos = pos;
    } else {
      this.buffer.set(source, this.pos);
      this.pos += length;
    }
  }

  /** Reserves `reserve` bytes for a length that `endLength` writes once the content is known. */
  beginLength(reserve = 1): number {
    this.ensure(reserve);
    const start = this.pos;
    this.pos += reserve;
    return start;
  }

  endLength(start: number, reserve = 1): void {
    const contentStart = start + reserve;
    const length = this.pos - contentStart;
    const size = varintSize(length);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buffer.copyWithin(start + size, contentStart, this.pos);
      this.pos += size - reserve;
    }
    let value = length;
    let at = start;
    while (value > 0x7f) {
      this.buffer[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    this.buffer[at] = value;
  }

  /** A length-delimited UTF-8 string field. */
  string(field: number, text: string): void {
    this.uint32(tag(field, LEN));
    const length = text.length;
    // short ASCII text is written by a loop: Buffer#write's native call costs more below ~64 characters
    if (length < 64) {
      this.ensure(1 + length);
      const buffer = this.buffer;
      const start = this.pos;
      let pos = start + 1;
      let ascii = true;
      for (let i = 0; i < length; i++) {
        const code = text.charCodeAt(i);
        if (code >= 0x80) {
          ascii = false;
          break;
        }
        buffer[pos++] = code;
      }
      if (ascii) {
        buffer[start] = length;
        this.pos = pos;
        return;
      }
    }
    // UTF-8 takes at most 3 bytes per UTF-16 unit; the length is known once written
    const reserve = length < 43 ? 1 : varintSize(length * 3);
    this.ensure(reserve + length * 3);
    const start = this.beginLength(reserve);
    this.pos += this.buffer.write(text, this.pos, 'utf8');
    this.endLength(start, reserve);
  }

  timestamp(field: number, value: Timestamp): void {
    this.uint32(tag(field, LEN));
    const start = this.beginLength(1);
    const seconds = value.seconds ?? 0;
    // proto3 leaves zero scalars off the wire; a decoder reads them back as 0
    if (seconds !== 0 && seconds !== '0') {
      this.uint32(tag(1, VARINT));
      this.int64(seconds as string | number);
    }
    const nanos = value.nanos ?? 0;
    if (nanos !== 0) {
      this.uint32(tag(2, VARINT));
      this.int64Number(nanos);
    }
    this.endLength(start, 1);
  }

  /** The bytes of one ValueType message (without its own tag and length). */
  valueType(value: ValueType): void {
    for (const key in value) {
      const inner = value[key as keyof ValueType];
      if (inner === undefined) continue;
      const field = VALUE_FIELDS[key];
      switch (field) {
        case 1:
        case 2:
          this.uint32(tag(field, VARINT));
          this.uint32(inner ? 1 : 0);
          return;
        case 3:
        case 4:
        case 5:
          this.uint32(tag(field, VARINT));
          this.int64(inner as string | number);
          return;
        case 6:
          this.uint32(tag(field, I32));
          this.ensure(4);
          this.buffer.writeFloatLE(inner as number, this.pos);
          this.pos += 4;
          return;
        case 7:
          this.uint32(tag(field, I64));
          this.ensure(8);
          this.buffer.writeDoubleLE(inner as number, this.pos);
          this.pos += 8;
          return;
        case 8:
        case 9:
        case 10:
        case 16:
          this.timestamp(field, inner as Timestamp);
          return;
        case 12: {
          const bytes = typeof inner === 'string' ? Buffer.from(inner, 'base64') : (inner as Uint8Array);
          this.uint32(tag(field, LEN));
          this.uint32(bytes.length);
          this.bytes(bytes);
          return;
        }
        case 11:
        case 13:
        case 14:
        case 15:
          this.string(field, inner as string);
          return;
        default:
          // not a ValueType field (a stray `inner` discriminator): skip it
          continue;
      }
    }
  }
}

/** Writes Records: one Record at a time into a scratch buffer (`begin`, `value`..., `end`). */
export class RecordEncoder {
  /** the Record being written (json-records.ts writes entries into it directly) */
  readonly writer = new ProtoWriter();
  private readonly keys = new Map<string, Buffer>();
  private readonly headers = new Map<string, Buffer>();
  private lastHeader: Buffer | undefined;
  private lastTable: string | undefined;
  private lastSchema: string | undefined;
  private lastType: RecordTypeName | undefined;

  /** Starts a Record: its schema (written when set, even empty: the field is `optional`), table and type. */
  begin(tableName: string, schemaName: string | undefined, type: RecordTypeName = 'UPSERT'): void {
    let header = this.lastHeader;
    if (tableName !== this.lastTable || schemaName !== this.lastSchema || type !== this.lastType) {
      header = this.headerOf(tableName, schemaName, type);
      this.lastHeader = header;
      this.lastTable = tableName;
      this.lastSchema = schemaName;
      this.lastType = type;
    }
    this.writer.pos = 0;
    this.writer.bytes(header!);
  }

  /** A Record's fields before its data (schema_name, table_name, type), cached. */
  headerOf(tableName: string, schemaName: string | undefined, type: RecordTypeName): Buffer {
    const id = `${schemaName === undefined ? '\u0000' : `${schemaName}\u0001`}${tableName}\u0002${type}`;
    let header = this.headers.get(id);
    if (!header) {
      const scratch = new ProtoWriter(256);
      if (schemaName !== undefined) scratch.string(1, schemaName);
      if (tableName !== '') scratch.string(2, tableName);
      if (RECORD_TYPES[type] !== 0) {
        scratch.uint32(tag(3, VARINT));
        scratch.uint32(RECORD_TYPES[type]);
      }
      header = Buffer.from(scratch.buffer.subarray(0, scratch.pos));
      this.headers.set(id, header);
    }
    return header;
  }

  /** The bytes of a map entry's key field (1) for `column`, cached. */
  keyOf(column: string): Buffer {
    let key = this.keys.get(column);
    if (!key) {
      const scratch = new ProtoWriter(column.length * 3 + 8);
      scratch.string(1, column);
      key = Buffer.from(scratch.buffer.subarray(0, scratch.pos));
      this.keys.set(column, key);
    }
    return key;
  }

  /** One `data` map entry: {key: column, value: ValueType}. */
  value(column: string, value: ValueType): void {
    this.entry(this.keyOf(column), value);
  }

  /** One `data` map entry with the key's bytes from `keyOf`. */
  entry(key: Buffer, value: ValueType): void {
    const writer = this.writer;
    writer.uint32(tag(4, LEN));
    const entry = writer.beginLength(1);
    writer.bytes(key);
    writer.uint32(tag(2, LEN));
    const inner = writer.beginLength(1);
    writer.valueType(value);
    writer.endLength(inner, 1);
    writer.endLength(entry, 1);
  }

  /** The Record's bytes so far (valid until the next `begin`). */
  /** The Record's size so far, in bytes (no view made: `end()` allocates one). */
  get length(): number {
    return this.writer.pos;
  }

  end(): Buffer {
    return this.writer.buffer.subarray(0, this.writer.pos);
  }
}

/**
 * Room kept before a batch's records for UpdateResponse's tag and the Records length (at most 5 bytes for a
 * message within gRPC's 128 MiB); RecordRows (record-rows.ts) leaves it before each batch it cuts too.
 */
export const BATCH_ROOM = 6;
/**
 * Batches are written one after another into slabs of this size, and each leaves as a view of its slab: one
 * allocation for dozens of batches. A new 128 KiB buffer per batch (~3 KB a row of orders) made the garbage
 * collector a tenth of the Update stream's CPU.
 */
const SLAB_BYTES = 1024 * 1024;

/**
 * Collects encoded Records into one `UpdateResponse.records` message: `add` takes a Record's bytes and says
 * how big the batch would be with it, `take` returns the message's bytes and starts a new batch.
 */
export class RecordsBatch {
  private writer = new ProtoWriter(SLAB_BYTES);
  /** where this batch begins in the slab (its header room first) */
  private start = 0;
  count = 0;

  constructor() {
    this.writer.pos = BATCH_ROOM;
  }

  /** Serialized size of the Records message so far (what the Python example measures with ByteSize()). */
  get bytes(): number {
    return this.writer.pos - this.start - BATCH_ROOM;
  }

  /** Serialized size a Record of `length` bytes adds to the Records message. */
  static sizeOf(length: number): number {
    return 1 + varintSize(length) + length;
  }

  /** Adds a Record: the first `length` bytes of `record` (all of them by default). */
  add(record: Uint8Array, length = record.length): void {
    const writer = this.writer;
    if (writer.pos + length + 6 > writer.buffer.length) this.moveTo(length + 6);
    writer.uint32(tag(1, LEN));
    writer.uint32(length);
    // a native copy (its view included) takes ~50 ns; a loop ~1 ns a byte: ~300 ns for an orders record
    if (length > 48) {
      writer.buffer.set(length === record.length ? record : record.subarray(0, length), writer.pos);
      writer.pos += length;
    } else {
      const out = writer.buffer;
      let pos = writer.pos;
      for (let i = 0; i < length; i++) out[pos++] = record[i]!;
      writer.pos = pos;
    }
    this.count++;
  }

  /** Adds `count` Records already encoded as Records entries (field 1, length, Record): bytes [from, to) of `entries`. */
  addEntries(entries: Uint8Array, from: number, to: number, count: number): void {
    const writer = this.writer;
    const length = to - from;
    if (writer.pos + length > writer.buffer.length) this.moveTo(length);
    writer.buffer.set(entries.subarray(from, to), writer.pos);
    writer.pos += length;
    this.count += count;
  }

  /** Carries the batch so far to a new slab with room for `extra` more bytes (the views already taken keep the old one). */
  private moveTo(extra: number): void {
    const writer = this.writer;
    const size = writer.pos - this.start;
    const slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, 2 * (size + extra)));
    writer.buffer.copy(slab, 0, this.start, writer.pos);
    writer.buffer = slab;
    writer.pos = size;
    this.start = 0;
  }

  /** The UpdateResponse bytes: field 6 (records) holding this batch (a view of a slab nothing writes again). */
  take(): Buffer {
    const length = this.bytes;
    const start = this.start + BATCH_ROOM - 1 - varintSize(length);
    const writer = this.writer;
    const buffer = writer.buffer;
    buffer[start] = tag(6, LEN);
    let value = length;
    let at = start + 1;
    while (value > 0x7f) {
      buffer[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buffer[at] = value;
    const message = buffer.subarray(start, writer.pos);
    // the next batch after this one, 8-byte aligned
    this.start = (writer.pos + 7) & ~7;
    if (this.start + 4096 > buffer.length) {
      writer.buffer = Buffer.allocUnsafe(SLAB_BYTES);
      this.start = 0;
    }
    writer.pos = this.start + BATCH_ROOM;
    this.count = 0;
    return message;
  }
}

/** An Update stream message: an object protobufjs encodes, or the bytes of one already encoded (a Records batch). */
export type EncodedMessage = Buffer;

/**
 * Batches encoded Records: a batch is sent when it holds `maxRecords` records or `maxBytes` serialized bytes
 * (exact sizes, as the Python example's ByteSize()); a record that would take a batch over `maxBytes` starts
 * the next one, and a record bigger than `maxBytes` goes alone.
 */
export class RecordBatcher {
  private batch = new RecordsBatch();
  readonly encoder = new RecordEncoder();
  batches = 0;

  constructor(
    private readonly send: (message: EncodedMessage, written?: () => void) => Promise<void>,
    readonly maxRecords: number,
    readonly maxBytes: number,
  ) {}

  /**
   * Adds the record `encoder` holds (between its `begin` and `end`). Returns the send of a full batch to await,
   * or undefined: most records wait for nothing, and an `await` per record cost a promise and a microtask each.
   */
  add(): Promise<void> | undefined {
    const length = this.encoder.length;
    if (this.batch.count && this.batch.bytes + RecordsBatch.sizeOf(length) > this.maxBytes) return this.flush().then(() => this.addTo());
    return this.addTo();
  }

  private addTo(): Promise<void> | undefined {
    // the encoder's buffer as it is: a view per record was a tenth of the garbage
    this.batch.add(this.encoder.writer.buffer, this.encoder.length);
    if (this.batch.count >= this.maxRecords || this.batch.bytes >= this.maxBytes) return this.flush();
    return undefined;
  }

  /**
   * Adds Records already encoded as Records entries (an `upsertRecords` chunk, record-rows.ts), batched as
   * `add` batches them, one entry at a time, and copied into the batch a run of entries at a time. Returns the
   * Records' bytes (the sum of their lengths, as `add` counts `encoder.length`).
   */
  private async addEntries(entries: Buffer): Promise<number> {
    const batch = this.batch;
    const maxRecords = this.maxRecords;
    const maxBytes = this.maxBytes;
    let recordBytes = 0;
    // the run of entries not yet copied into the batch: from `run`, `runCount` of them, `runBytes` long
    let run = 0;
    let runCount = 0;
    let pos = 0;
    while (pos < entries.length) {
      if (entries[pos] !== tag(1, LEN)) throw new Error('addEntries: not a Records entry');
      let at = pos + 1;
      let length = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = entries[at++]!;
        length += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) break;
      }
      const end = at + length;
      if (end > entries.length) throw new Error('addEntries: a Records entry is cut short');
      recordBytes += length;
      const size = end - pos;
      if (batch.count + runCount > 0 && batch.bytes + (pos - run) + size > maxBytes) {
        if (runCount) batch.addEntries(entries, run, pos, runCount);
        run = pos;
        runCount = 0;
        await this.flush();
      }
      pos = end;
      runCount++;
      if (batch.count + runCount >= maxRecords || batch.bytes + (pos - run) >= maxBytes) {
        batch.addEntries(entries, run, pos, runCount);
        run = pos;
        runCount = 0;
        await this.flush();
      }
    }
    if (runCount) batch.addEntries(entries, run, pos, runCount);
    return recordBytes;
  }

  /**
   * Sends the Records of an `upsertRecords` chunk (record-rows.ts), which come cut into batches by this
   * batcher's rule: each batch that starts with nothing pending leaves as it lies in the chunk, its header
   * written into the room before it (no copy); one that would join pending records is added entry by entry.
   * `done` is called once the chunk's bytes are no longer needed (the transport wrote the last batch sent as
   * it lies), or not at all when the transport does not say.
   */
  async addChunk(chunk: RecordsChunk, done?: () => void): Promise<void> {
    const {bytes, batches} = chunk;
    // the batches sent as they lie that the transport has not written yet, and this loop
    let unwritten = 1;
    const written = done && (() => --unwritten === 0 && done());
    for (let k = 0; k < batches.length; k += 3) {
      const start = batches[k]!;
      const end = batches[k + 1]!;
      if (this.batch.count) {
        await this.addEntries(bytes.subarray(start + BATCH_ROOM, end));
        continue;
      }
      const length = end - start - BATCH_ROOM;
      let at = start + BATCH_ROOM - 1 - varintSize(length);
      const message = bytes.subarray(at, end);
      bytes[at++] = tag(6, LEN);
      writeInt64(bytes, at, length);
      this.batches++;
      unwritten++;
      await this.send(message, written);
    }
    written?.();
  }

  async flush(): Promise<void> {
    if (!this.batch.count) return;
    this.batches++;
    await this.send(this.batch.take());
  }
}
