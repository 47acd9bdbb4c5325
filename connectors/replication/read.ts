// The readers: keyset-paginated SQL (never OFFSET) whose rows arrive as binary COPY fields and leave as JSON
// text, so Node never parses, decodes into JS values or serializes a row. By primary key for loads and
// sweeps, by (cursor, primary key) for incremental scans, by ctid page ranges for tables without a primary key.
//
// A batch is read with COPY (SELECT ...) TO STDOUT (FORMAT binary): each row arrives as one CopyData message
// holding its fields as length-prefixed bytes — the columns' values, then the key values as text. Columns of
// the common types travel in their binary form and row-encoder.ts writes their JSON; PostgreSQL writes the
// JSON of the others (to_json of column-types.ts's expression). Each row's JSON object is written into one
// buffer with a comma after it, which the response writes as it is. Measured on 1M orders rows: PostgreSQL
// spends 0.85 s of CPU sending the binary values against 3.0 s building row_to_json, and binary format also
// spares it the per-character escaping of the text and CSV formats. The last row's key values are the batch's
// keyset position. COPY takes no bind parameters: values are literals, escaped as pg's escapeLiteral does.
// Behind the Partner SDK (ctx.records) the rows are written as its Record bytes instead (row-records.ts):
// the same values, with no JSON text between the COPY and the gRPC stream.
import type pg from 'pg';
import type {RecordsChunk, RecordsOutput} from '../../sdk/index.js';
import {escapeLiteral, qualifiedName, quoteIdent} from '../../sdk/postgres.js';
import {jsonValueExpression} from './column-types.js';
import {copyOut} from './copy-out.js';
import {ROW_HASH, type PlannedColumn, type TablePlan} from './plan.js';
import {binaryCast, binaryKind, copyBytes, encodedBound, int16, int32, Kind, writeValue} from './row-encoder.js';
import {RowRecords} from './row-records.js';

export interface Batch {
  /** the rows' JSON objects joined with commas, as UTF-8 bytes (empty when there are none, or when `records` holds them) */
  json: Buffer;
  /** the rows as Partner SDK Records, when the sync runs behind it (ctx.records), or null */
  records: RecordsChunk | null;
  count: number;
  /** size of `json`, or of the Records, in bytes */
  bytes: number;
  /** the last row's key values as text (ordered reads), or null */
  lastKey: string[] | null;
}

/** Values written into the statement as literals (`'...'::type`): COPY cannot take bind parameters. */
class Literals {
  add(value: unknown, cast?: string): string {
    const literal = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : escapeLiteral(String(value));
    return cast ? `${literal}::${cast}` : literal;
  }
}

const col = (column: PlannedColumn, alias = 't') => `${alias}.${quoteIdent(column.name)}`;

/** How a table's rows travel: the select list of their values, and how each becomes a JSON member. */
interface RowShape {
  /** the value expressions, in the order of `kinds` and `names` */
  values: string[];
  kinds: Kind[];
  /** `{"name":` for the first member, `,"name":` for the others */
  names: Buffer[];
  /** the members' names */
  columns: string[];
  /**
   * whether the rows may be written as Records (row-records.ts) with the bytes of the JSON path: not when a
   * name repeats or is an array index ("7"), which JSON.parse would merge or move first
   */
  records: boolean;
}

const shapes = new WeakMap<TablePlan, RowShape>();

/**
 * Columns whose type row-encoder.ts writes are selected as their built-in type (binary values); the others as
 * PostgreSQL's to_json of their JSON expression. Tables without a primary key lead with `_row_hash`, the
 * md5 of the row's text.
 */
function rowShape(plan: TablePlan): RowShape {
  let shape = shapes.get(plan);
  if (shape) return shape;
  const members: {value: string; kind: Kind; name: string}[] = [];
  if (plan.method === 'ctid') members.push({value: 'md5(t::text)', kind: Kind.Text, name: ROW_HASH});
  for (const c of plan.columns) {
    const kind = binaryKind(c);
    members.push(kind === null ? {value: `to_json(${jsonValueExpression(c)})`, kind: Kind.Json, name: c.dest} : {value: `${col(c)}::${binaryCast(c)}`, kind, name: c.dest});
  }
  const columns = members.map((m) => m.name);
  shape = {
    values: members.map((m) => m.value),
    kinds: members.map((m) => m.kind),
    names: members.map((m, i) => Buffer.from(`${i ? ',' : '{'}${JSON.stringify(m.name)}:`, 'utf8')),
    columns,
    records: new Set(columns).size === columns.length && !columns.some((name) => /^(0|[1-9]\d*)$/.test(name)),
  };
  shapes.set(plan, shape);
  return shape;
}

/** The select list: the row's values, then (ordered reads) its key values as text. */
function selectList(plan: TablePlan, order: readonly PlannedColumn[]): string {
  const values = rowShape(plan).values;
  return [...values, ...order.map((c) => `${col(c)}::text`)].join(', ');
}

function filterConditions(plan: TablePlan, params: Literals): string[] {
  return plan.filters.map(({column, value}) => (value === null ? `${col(column)} IS NULL` : `${col(column)} = ${params.add(String(value))}`));
}

function keyset(columns: readonly PlannedColumn[], values: readonly string[], op: '>' | '<=', params: Literals): string {
  const left = columns.map((c) => col(c)).join(', ');
  const right = columns.map((c, i) => params.add(values[i], c.type)).join(', ');
  return columns.length === 1 ? `${left} ${op} ${right}` : `(${left}) ${op} (${right})`;
}

/** One ordered batch: each row's values and its key values as text. */
function orderedBatchQuery(plan: TablePlan, order: readonly PlannedColumn[], conditions: string[], limit: number): string {
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const orderBy = order.map((c) => col(c)).join(', ');
  return `SELECT ${selectList(plan, order)} FROM ${qualifiedName(plan.source.schema, plan.source.name)} t ${where} ORDER BY ${orderBy} LIMIT ${Math.max(0, Math.floor(limit))}`;
}

const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;
/** A binary COPY starts with this signature, then a 32-bit flags field and a 32-bit header extension length. */
const BINARY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

/**
 * Rows are written into a buffer sized for the batch's expected bytes (at least PART_BYTES), then into
 * PART_BYTES buffers if it overflows; a batch is one buffer or their concatenation.
 */
const PART_BYTES = 1024 * 1024;
const MAX_FIRST_PART_BYTES = 64 * 1024 * 1024;

/** Where a batch's rows go: their values are written, the rest of the COPY (header, keys) is BatchCollector's. */
interface RowSink {
  /** writes a row's values (fields from `offset`); returns the offset after them */
  values(row: Buffer, offset: number): number;
  /** the rows written: JSON text, or Partner SDK Records */
  finish(count: number): Pick<Batch, 'json' | 'records' | 'bytes'>;
}

/**
 * Each row's JSON object (row-encoder.ts) and a comma, written into a buffer PART_BYTES at a time; the batch is
 * those bytes: nothing becomes a string, the response writes the bytes as they are.
 */
class JsonSink implements RowSink {
  private parts: Buffer[] = [];
  private buffer: Buffer;
  private length = 0;

  /** `expectedBytes`: the batch's likely size; the first buffer has room for it, so no concatenation follows */
  constructor(
    private readonly shape: RowShape,
    expectedBytes: number,
  ) {
    this.buffer = Buffer.allocUnsafe(Math.min(MAX_FIRST_PART_BYTES, Math.max(PART_BYTES, Math.ceil(expectedBytes))));
  }

  values(row: Buffer, offset: number): number {
    const {kinds, names} = this.shape;
    let out = this.buffer;
    let at = this.length;
    for (let i = 0; i < kinds.length; i++) {
      const size = int32(row, offset);
      offset += 4;
      // room for the member however it escapes, and for the row's closing brace and comma
      const room = names[i]!.length + encodedBound(kinds[i]!, row, offset, size) + 2;
      if (at + room > out.length) {
        // the rest of the row goes on in a new part: the batch is the parts' bytes in order
        this.length = at;
        this.seal();
        out = this.buffer = Buffer.allocUnsafe(Math.max(PART_BYTES, room));
        at = 0;
      }
      at = copyBytes(names[i]!, 0, names[i]!.length, out, at);
      at = writeValue(kinds[i]!, out, at, row, offset, size);
      if (size > 0) offset += size;
    }
    out[at++] = CLOSE_BRACE;
    out[at++] = COMMA;
    this.length = at;
    return offset;
  }

  private seal(): void {
    // a mostly empty buffer is copied out, so a small batch does not hold a whole part while it waits
    if (this.length) this.parts.push(this.length * 2 < this.buffer.length ? Buffer.from(this.buffer.subarray(0, this.length)) : this.buffer.subarray(0, this.length));
    this.length = 0;
  }

  finish(count: number): Pick<Batch, 'json' | 'records' | 'bytes'> {
    if (!count) return {json: Buffer.alloc(0), records: null, bytes: 0};
    // the last row's comma stays out
    this.length--;
    this.seal();
    const json = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    return {json, records: null, bytes: json.length};
  }
}

/** Each row as its Partner SDK Record (row-records.ts), behind the Partner SDK (ctx.records). */
class RecordsSink implements RowSink {
  private readonly writer: RowRecords;

  constructor(
    private readonly shape: RowShape,
    output: RecordsOutput,
    table: string,
    expectedBytes: number,
  ) {
    this.writer = new RowRecords(output.rows(table, shape.columns, expectedBytes));
  }

  values(row: Buffer, offset: number): number {
    const kinds = this.shape.kinds;
    const writer = this.writer;
    writer.rows.begin();
    for (let i = 0; i < kinds.length; i++) {
      const size = int32(row, offset);
      offset += 4;
      writer.field(i, kinds[i]!, row, offset, size);
      if (size > 0) offset += size;
    }
    writer.rows.end();
    return offset;
  }

  finish(): Pick<Batch, 'json' | 'records' | 'bytes'> {
    const records = this.writer.rows.take();
    return {json: Buffer.alloc(0), records, bytes: records.bytes.length};
  }
}

/**
 * Collects a binary COPY's rows into a RowSink. The key fields of the latest row are copied aside: a row's
 * bytes are only valid during the callback (CopyOut's contract).
 */
class BatchCollector {
  count = 0;
  private key = Buffer.allocUnsafe(256);
  private keyLength = 0;
  private started = false;
  private readonly fields: number;

  constructor(
    private readonly sink: RowSink,
    shape: RowShape,
    private readonly keyCount: number,
  ) {
    this.fields = shape.kinds.length + keyCount;
  }

  readonly add = (row: Buffer, start: number, end: number): void => {
    let offset = start;
    if (!this.started) {
      // the first message carries the file header before the first row
      if (end - start < 19 || row.compare(BINARY_SIGNATURE, 0, BINARY_SIGNATURE.length, start, start + BINARY_SIGNATURE.length) !== 0) throw new Error('COPY did not answer in binary format');
      offset = start + 19 + row.readUInt32BE(start + 15);
      this.started = true;
      if (offset >= end) return;
    }
    const fields = int16(row, offset);
    if (fields === -1) return; // the trailer
    if (fields !== this.fields) throw new Error(`COPY row has ${fields} fields; expected ${this.fields}`);
    offset = this.sink.values(row, offset + 2);
    this.count++;
    if (this.keyCount) {
      // the key fields as they are (length-prefixed), decoded only for the batch's last row
      const keyBytes = end - offset;
      if (keyBytes > this.key.length) this.key = Buffer.allocUnsafe(keyBytes * 2);
      const key = this.key;
      for (let i = 0; i < keyBytes; i++) key[i] = row[offset + i]!;
      this.keyLength = keyBytes;
    }
  };

  batch(): Batch {
    const written = this.sink.finish(this.count);
    if (!this.count) return {...written, count: 0, lastKey: null};
    let lastKey: string[] | null = null;
    if (this.keyCount) {
      lastKey = [];
      let offset = 0;
      for (let i = 0; i < this.keyCount && offset + 4 <= this.keyLength; i++) {
        const size = this.key.readInt32BE(offset);
        if (size < 0) throw new Error('a key value of the last row is NULL');
        lastKey.push(this.key.toString('utf8', offset + 4, offset + 4 + size));
        offset += 4 + size;
      }
    }
    return {...written, count: this.count, lastKey};
  }
}

/**
 * Runs a batch query of `plan`'s rows as a binary COPY, collecting their JSON, or their Records when the
 * Partner SDK takes them (`records`: ctx.records) and the row's names allow it (see RowShape.records).
 */
async function runBatch(client: pg.Client, query: string, plan: TablePlan, order: readonly PlannedColumn[], expectedBytes: number, records: RecordsOutput | undefined): Promise<Batch> {
  const shape = rowShape(plan);
  const sink = records && shape.records ? new RecordsSink(shape, records, plan.dest, expectedBytes) : new JsonSink(shape, expectedBytes);
  const collector = new BatchCollector(sink, shape, order.length);
  await copyOut(client, `COPY (${query}) TO STDOUT (FORMAT binary)`, collector.add);
  return collector.batch();
}

/** Initial load or re-read: rows after `after` (and up to `until`, a range's end, when given) in primary key order. */
export function readByKey(
  client: pg.Client, plan: TablePlan, after: readonly string[] | null, limit: number, expectedBytes = 0, until: readonly string[] | null = null, records?: RecordsOutput,
): Promise<Batch> {
  const params = new Literals();
  const conditions = filterConditions(plan, params);
  if (after) conditions.push(keyset(plan.primaryKey, after, '>', params));
  if (until) conditions.push(keyset(plan.primaryKey, until, '<=', params));
  return runBatch(client, orderedBatchQuery(plan, plan.primaryKey, conditions, limit), plan, plan.primaryKey, expectedBytes, records);
}

/**
 * The late-commit sweep of an incremental pass: rows written by transactions that had not committed when the
 * previous pass read (their xmin is at or after that pass's snapshot horizon) and whose cursor is not past
 * the saved position, so the scan would not see them. Primary key order, after `after`.
 */
export function readLateCommits(
  client: pg.Client, plan: TablePlan, horizon: string, position: readonly string[] | null, after: readonly string[] | null, limit: number, expectedBytes = 0, records?: RecordsOutput,
): Promise<Batch> {
  const cursor = plan.cursor!;
  const params = new Literals();
  const conditions = filterConditions(plan, params);
  conditions.push(`age(t.xmin) <= age(${params.add(xid32(horizon), 'xid')})`);
  if (position) conditions.push(`(${col(cursor)} IS NULL OR ${keyset([cursor, ...plan.primaryKey], position, '<=', params)})`);
  if (after) conditions.push(keyset(plan.primaryKey, after, '>', params));
  return runBatch(client, orderedBatchQuery(plan, plan.primaryKey, conditions, limit), plan, plan.primaryKey, expectedBytes, records);
}

/** The incremental scan: rows after `position` in (cursor, primary key) order. */
export function readByCursor(client: pg.Client, plan: TablePlan, position: readonly string[] | null, limit: number, expectedBytes = 0, records?: RecordsOutput): Promise<Batch> {
  const cursor = plan.cursor!;
  const order = [cursor, ...plan.primaryKey];
  const params = new Literals();
  const conditions = filterConditions(plan, params);
  conditions.push(`${col(cursor)} IS NOT NULL`);
  if (position) conditions.push(keyset(order, position, '>', params));
  return runBatch(client, orderedBatchQuery(plan, order, conditions, limit), plan, order, expectedBytes, records);
}

/** Rows of heap pages [fromPage, toPage) (a TID range scan), for tables without a primary key. */
export function readPages(client: pg.Client, plan: TablePlan, fromPage: number, toPage: number, expectedBytes = 0, records?: RecordsOutput): Promise<Batch> {
  const params = new Literals();
  const conditions = filterConditions(plan, params);
  conditions.push(`t.ctid >= ${params.add(`(${fromPage},0)`, 'tid')}`, `t.ctid < ${params.add(`(${toPage},0)`, 'tid')}`);
  const text = `SELECT ${selectList(plan, [])} FROM ${qualifiedName(plan.source.schema, plan.source.name)} t WHERE ${conditions.join(' AND ')}`;
  return runBatch(client, text, plan, [], expectedBytes, records);
}

/**
 * Primary keys that cut the table into about `parts` ranges, for a load on several streams (custom_threads):
 * the first row at each of `parts - 1` evenly spaced heap pages (TID range scans: no sort, no OFFSET), in key
 * order, each once. Any keys would do for exactness (the ranges (-inf, k1], (k1, k2], ... (kn, +inf) cover
 * every key once); rows spread over the heap keep the ranges of similar size when keys grow with inserts.
 */
export async function keyRanges(client: pg.Client, plan: TablePlan, parts: number, pages: number): Promise<string[][]> {
  const key = plan.primaryKey;
  const typed = key.map((c, i) => `${col(c)} AS k${i}`).join(', ');
  const ordered = key.map((_, i) => `s.k${i}`).join(', ');
  const result = await client.query<{key: string[]}>(
    `SELECT DISTINCT ON (${ordered}) s.key FROM generate_series(1, $1::int - 1) i
       CROSS JOIN LATERAL (SELECT ${typed}, ARRAY[${key.map((c) => `${col(c)}::text`).join(', ')}] AS key
                             FROM ${qualifiedName(plan.source.schema, plan.source.name)} t
                            WHERE t.ctid >= format('(%s,0)', (i::int8 * $2::int8 / $1::int))::tid LIMIT 1) s
      ORDER BY ${ordered}`,
    [parts, pages],
  );
  return result.rows.map((row) => row.key);
}

/** Rows sampled by measureWidth. */
const WIDTH_SAMPLE_ROWS = 8;

/**
 * The text width of the widest of a few rows (the first ones on disk that pass the filters), for a table
 * whose values live in TOAST: there the catalog's sizes say nothing of how wide a row is once read (values
 * are stored apart and compressed). One small query instead of a probe that might read 1,000 rows of
 * megabytes each; PostgreSQL reads the sampled values, the function receives one number.
 */
export async function measureWidth(client: pg.Client, plan: TablePlan): Promise<number> {
  const params = new Literals();
  const conditions = filterConditions(plan, params);
  const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
  const result = await client.query<{width: string | null}>(
    `SELECT max(octet_length(s::text))::int8 AS width FROM (SELECT ${plan.columns.map((c) => col(c)).join(', ') || '1'} FROM ${qualifiedName(plan.source.schema, plan.source.name)} t ${where} LIMIT ${WIDTH_SAMPLE_ROWS}) s`,
  );
  return Number(result.rows[0]?.width ?? 0);
}

/** Heap pages of the table (of its largest partition, for a partitioned table). */
export async function tablePages(client: pg.Client, plan: TablePlan): Promise<number> {
  const result = await client.query<{pages: string}>(
    `SELECT (greatest(pg_relation_size($1::regclass), (SELECT coalesce(max(pg_relation_size(relid)), 0) FROM pg_partition_tree($1::regclass) WHERE isleaf))
             / current_setting('block_size')::int8)::int8 AS pages`,
    [plan.source.oid],
  );
  return Number(result.rows[0]?.pages ?? 0);
}

function snapshotXminSql(serverVersion: number): string {
  return serverVersion >= 130000 ? 'pg_snapshot_xmin(pg_current_snapshot())::text' : 'txid_snapshot_xmin(txid_current_snapshot())::text';
}

/** The oldest transaction still running: rows it (or any later one) writes may be missing from reads so far. */
export async function snapshotHorizon(client: pg.Client, serverVersion: number): Promise<string> {
  const result = await client.query<{horizon: string}>(`SELECT ${snapshotXminSql(serverVersion)} AS horizon`);
  return result.rows[0]!.horizon;
}

/**
 * Before an initial load of an incremental table: the horizon and the largest (cursor, key) in one snapshot.
 * Rows past that position are read by the first incremental scan; rows changed during the load (xmin at or
 * after the horizon) by its sweep.
 */
export async function loadStart(client: pg.Client, plan: TablePlan, serverVersion: number): Promise<{horizon: string; start: string[] | null}> {
  const cursor = plan.cursor!;
  const order = [cursor, ...plan.primaryKey];
  const params = new Literals();
  const conditions = [...filterConditions(plan, params), `${col(cursor)} IS NOT NULL`];
  const text =
    `SELECT ${snapshotXminSql(serverVersion)} AS horizon, ` +
    `(SELECT ARRAY[${order.map((c) => `${col(c)}::text`).join(', ')}] FROM ${qualifiedName(plan.source.schema, plan.source.name)} t ` +
    `WHERE ${conditions.join(' AND ')} ORDER BY ${order.map((c) => `${col(c)} DESC`).join(', ')} LIMIT 1) AS start`;
  const result = await client.query<{horizon: string; start: string[] | null}>(text);
  const row = result.rows[0]!;
  return {horizon: row.horizon, start: row.start};
}

/** A 64-bit transaction id (xid8 text) as the 32-bit xid that row headers carry. */
export function xid32(xid8: string): string {
  return (BigInt(xid8) % 4294967296n).toString();
}
