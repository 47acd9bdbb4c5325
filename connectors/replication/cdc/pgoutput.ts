// Decodes PostgreSQL's logical replication protocol as the built-in `pgoutput` plugin writes it (protocol
// version 1, text tuple data): the messages `pg_logical_slot_peek_binary_changes(slot, upto_lsn, upto_n,
// 'proto_version', '1', 'publication_names', pub)` returns, one per row of its result. A Relation message
// describes a table (its columns, their type oids, which are part of the replica identity) before the first
// change to it in a session, and again after its definition changes; changes refer to it by oid.
//
// Reference: PostgreSQL's "Logical Replication Message Formats" (protocol-logicalrep-message-formats).

/** Microseconds between the Unix epoch and PostgreSQL's epoch, 2000-01-01. */
export const POSTGRES_EPOCH_MICROS = 946_684_800_000_000n;

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeModifier: number;
  /** part of the replica identity (the primary key, or every column with REPLICA IDENTITY FULL) */
  key: boolean;
}

export interface Relation {
  oid: number;
  schema: string;
  table: string;
  /** d = default (primary key), n = nothing, f = full, i = index */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumn[];
}

/**
 * A column of a tuple in text form: its UTF-8 bytes in the message (`bytes` [start, end)), decoded to a
 * string only when read (`text`): rows are written as JSON straight from the bytes (values.ts), keys and
 * filters read strings.
 */
export class TextValue {
  readonly kind = 'text';

  constructor(
    readonly bytes: Buffer,
    readonly start: number,
    readonly end: number,
  ) {}

  /** decoded on each read: only keys, filters and row hashes read it, each once or so */
  get text(): string {
    return this.bytes.toString('utf8', this.start, this.end);
  }
}

/** One column of a tuple: null, unchanged (a TOASTed value the change did not touch), or its text. */
export type TupleValue = {kind: 'null'} | {kind: 'unchanged'} | TextValue;

export type PgOutputMessage =
  | {type: 'begin'; finalLsn: string; commitTime: Date; xid: number}
  | {type: 'commit'; lsn: string; endLsn: string; commitTime: Date}
  | {type: 'origin'; lsn: string; name: string}
  | {type: 'relation'; relation: Relation}
  | {type: 'type'; oid: number; schema: string; name: string}
  | {type: 'insert'; relationOid: number; tuple: TupleValue[]}
  /** `old` is the old key ('K') or the whole old row ('O', REPLICA IDENTITY FULL) when the server sent it */
  | {type: 'update'; relationOid: number; old?: {kind: 'key' | 'full'; tuple: TupleValue[]}; tuple: TupleValue[]}
  | {type: 'delete'; relationOid: number; old: {kind: 'key' | 'full'; tuple: TupleValue[]}}
  | {type: 'truncate'; relationOids: number[]; cascade: boolean; restartIdentity: boolean}
  | {type: 'message'; transactional: boolean; lsn: string; prefix: string; content: Buffer};

export class PgOutputError extends Error {
  override name = 'PgOutputError';
}

/** An LSN as PostgreSQL writes it: two hex halves, e.g. 0/16B3748. */
export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The LSN text 0/16B3748 as a number, for comparing positions. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) throw new PgOutputError(`"${text}" is not an LSN (like 0/16B3748)`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

// shared by every tuple: values are never changed once decoded
const NULL_VALUE: TupleValue = Object.freeze({kind: 'null'});
const UNCHANGED_VALUE: TupleValue = Object.freeze({kind: 'unchanged'});

class Reader {
  at = 0;
  constructor(private readonly data: Buffer) {}

  private need(bytes: number): void {
    if (this.at + bytes > this.data.length) throw new PgOutputError(`a pgoutput message ends early (needs ${bytes} bytes at ${this.at} of ${this.data.length})`);
  }
  byte(): number {
    this.need(1);
    return this.data[this.at++]!;
  }
  char(): string {
    return String.fromCharCode(this.byte());
  }
  int16(): number {
    this.need(2);
    const value = this.data.readInt16BE(this.at);
    this.at += 2;
    return value;
  }
  int32(): number {
    this.need(4);
    const value = this.data.readInt32BE(this.at);
    this.at += 4;
    return value;
  }
  uint32(): number {
    this.need(4);
    const value = this.data.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }
  int64(): bigint {
    this.need(8);
    const value = this.data.readBigInt64BE(this.at);
    this.at += 8;
    return value;
  }
  lsn(): string {
    return formatLsn(BigInt.asUintN(64, this.int64()));
  }
  time(): Date {
    return new Date(Number((this.int64() + POSTGRES_EPOCH_MICROS) / 1000n));
  }
  /** a NUL-terminated string */
  string(): string {
    const end = this.data.indexOf(0, this.at);
    if (end < 0) throw new PgOutputError('a pgoutput string has no terminating NUL');
    const text = this.data.toString('utf8', this.at, end);
    this.at = end + 1;
    return text;
  }
  bytes(length: number): Buffer {
    this.need(length);
    const value = this.data.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
  tuple(): TupleValue[] {
    const count = this.int16();
    const values: TupleValue[] = new Array(count);
    const data = this.data;
    for (let i = 0; i < count; i++) {
      const kind = this.byte();
      if (kind === 0x74) {
        // 't': the value's place in the message (no Buffer view, no string until one is asked for)
        const length = this.int32();
        this.need(length);
        values[i] = new TextValue(data, this.at, this.at + length);
        this.at += length;
      } else if (kind === 0x6e) {
        values[i] = NULL_VALUE;
      } else if (kind === 0x75) {
        values[i] = UNCHANGED_VALUE;
      } else {
        throw new PgOutputError(`tuple column ${i} has kind "${String.fromCharCode(kind)}"; only text tuple data is read (do not ask pgoutput for binary)`);
      }
    }
    return values;
  }
}

/**
 * Decodes one pgoutput message (the `data` of one row of pg_logical_slot_*_binary_changes). Tuple values keep
 * their place in `data`, which must therefore not change while they are in use.
 */
export function decodeMessage(data: Buffer): PgOutputMessage {
  const reader = new Reader(data);
  const type = reader.char();
  switch (type) {
    case 'B':
      return {type: 'begin', finalLsn: reader.lsn(), commitTime: reader.time(), xid: reader.uint32()};
    case 'C': {
      reader.byte(); // flags, unused
      return {type: 'commit', lsn: reader.lsn(), endLsn: reader.lsn(), commitTime: reader.time()};
    }
    case 'O':
      return {type: 'origin', lsn: reader.lsn(), name: reader.string()};
    case 'R': {
      const oid = reader.uint32();
      const schema = reader.string();
      const table = reader.string();
      const replicaIdentity = reader.char() as Relation['replicaIdentity'];
      const count = reader.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const flags = reader.byte();
        columns.push({key: (flags & 1) === 1, name: reader.string(), typeOid: reader.uint32(), typeModifier: reader.int32()});
      }
      return {type: 'relation', relation: {oid, schema, table, replicaIdentity, columns}};
    }
    case 'Y':
      return {type: 'type', oid: reader.uint32(), schema: reader.string(), name: reader.string()};
    case 'I': {
      const relationOid = reader.uint32();
      const marker = reader.char();
      if (marker !== 'N') throw new PgOutputError(`an Insert message has "${marker}" where its new tuple ('N') belongs`);
      return {type: 'insert', relationOid, tuple: reader.tuple()};
    }
    case 'U': {
      const relationOid = reader.uint32();
      let marker = reader.char();
      let old: {kind: 'key' | 'full'; tuple: TupleValue[]} | undefined;
      if (marker === 'K' || marker === 'O') {
        old = {kind: marker === 'K' ? 'key' : 'full', tuple: reader.tuple()};
        marker = reader.char();
      }
      if (marker !== 'N') throw new PgOutputError(`an Update message has "${marker}" where its new tuple ('N') belongs`);
      return {type: 'update', relationOid, ...(old ? {old} : {}), tuple: reader.tuple()};
    }
    case 'D': {
      const relationOid = reader.uint32();
      const marker = reader.char();
      if (marker !== 'K' && marker !== 'O') throw new PgOutputError(`a Delete message has "${marker}" where its old key ('K') or row ('O') belongs`);
      return {type: 'delete', relationOid, old: {kind: marker === 'K' ? 'key' : 'full', tuple: reader.tuple()}};
    }
    case 'T': {
      const count = reader.int32();
      const options = reader.byte();
      const relationOids: number[] = [];
      for (let i = 0; i < count; i++) relationOids.push(reader.uint32());
      return {type: 'truncate', relationOids, cascade: (options & 1) === 1, restartIdentity: (options & 2) === 2};
    }
    case 'M': {
      const transactional = reader.byte() === 1;
      const lsn = reader.lsn();
      const prefix = reader.string();
      return {type: 'message', transactional, lsn, prefix, content: reader.bytes(reader.int32())};
    }
    default:
      throw new PgOutputError(`unknown pgoutput message type "${type}" (byte ${data[0]}); this connector reads protocol version 1`);
  }
}
