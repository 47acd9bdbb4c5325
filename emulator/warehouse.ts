// The local destination: a DuckDB file with one schema per function, written with Fivetran's semantics
// (docs/fivetran.md §1). Each response is applied in one transaction: tables and columns are created or widened
// as they appear, keyed tables are upserted (delete by key, then insert the last row per key), tables
// without a key are appended with _fivetran_batch/_fivetran_index, every row gets _fivetran_synced, and
// deletes remove rows or, for tables in `softDelete`, set _fivetran_deleted. Rows are loaded with DuckDB's
// read_json, which parses and converts a large response in one statement: rows the RowScanner read
// (emulator/row-scanner.ts) from the function's own bytes, others written as JSON from the parsed rows. Rows of
// a keyed table whose keys ascend past the table's are inserted while the body still streams in
// (streamResponse), in the response's transaction; apply() keeps them only when they are what it would write.
import {DuckDBInstance, type DuckDBConnection} from '@duckdb/node-api';
import {randomUUID} from 'node:crypto';
import {mkdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import type {Row} from '../sdk/types.js';
import {ExactNumber, losesDigits, stringifyExactJson} from './exact-json.js';
import type {CheckedResponse, RowsListener, ScannedRows} from './response-check.js';
import type {ScannedColumn} from './row-scanner.js';

/**
 * Column types. Numbers a double holds exactly are BIGINT (integers) or DOUBLE; numbers it does not (see
 * emulator/exact-json.ts) keep every digit: integers as BIGINT or HUGEINT by size, decimals as DECIMAL(38,s)
 * with s the largest scale seen, and what neither holds (more than 38 digits) as VARCHAR with the digits as sent.
 */
export type ColumnSqlType = 'BOOLEAN' | 'BIGINT' | 'HUGEINT' | DecimalType | 'DOUBLE' | 'DATE' | 'TIMESTAMP' | 'TIMESTAMPTZ' | 'JSON' | 'VARCHAR';
export type DecimalType = `DECIMAL(38,${number})`;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT128_MIN = -(2n ** 127n);
const INT128_MAX = 2n ** 127n - 1n;
const MAX_DECIMAL_DIGITS = 38;
const decimalScale = (type: string): number | undefined => {
  const match = /^DECIMAL\(\d+,\s*(\d+)\)$/.exec(type);
  return match ? Number(match[1]) : undefined;
};
const decimal = (scale: number): DecimalType => `DECIMAL(38,${scale})`;

/** The type of a number a double does not hold exactly. */
function exactType(value: ExactNumber): ColumnSqlType {
  if (value.integer) {
    const n = BigInt(value.plain);
    if (n >= INT64_MIN && n <= INT64_MAX) return 'BIGINT';
    if (n >= INT128_MIN && n <= INT128_MAX) return 'HUGEINT';
    return 'VARCHAR';
  }
  if (/e/i.test(value.plain) || value.precision > MAX_DECIMAL_DIGITS) return 'VARCHAR';
  return decimal(value.scale);
}

export const DEFAULT_WAREHOUSE_FILE = path.join('.fivetran', 'warehouse.duckdb');

export interface ApplyResult {
  /** rows written per table (after collapsing repeated keys within the response) */
  upserted: Record<string, number>;
  /** delete rows received per table */
  deleted: Record<string, number>;
  /** rows of each table that were written while the body streamed in (Warehouse.streamResponse) */
  streamed: Record<string, number>;
  createdTables: string[];
  addedColumns: string[];
  widenedColumns: string[];
}

export interface QueryResult {
  columns: string[];
  types: string[];
  /** values as JSON-friendly JavaScript: safe bigints as numbers, timestamps as ISO strings */
  rows: Record<string, unknown>[];
}

/** A schema name for a function: lowercase letters, digits and _, not starting with a digit. */
export function schemaNameFor(functionName: string): string {
  const name = functionName.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'function';
  return /^[0-9]/.test(name) ? `f_${name}` : name;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
// seconds required and an upper-case Z: DuckDB rejects '2026-01-02T03:04Z' and '...05z', which would fail the whole response
const TIMESTAMP_RE = /^(\d{4}-\d{2}-\d{2})[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A calendar date YYYY-MM-DD from year 0001 (by arithmetic: a Date per value cost a third of a large response's apply). */
function validDate(text: string): boolean {
  const match = DATE_RE.exec(text);
  if (!match) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (year === 0 || month < 1 || month > 12 || day < 1) return false;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0);
}

/** The column type a single JSON value suggests; undefined for null. */
export function inferType(value: unknown): ColumnSqlType | undefined {
  if (value === null || value === undefined) return undefined;
  switch (typeof value) {
    case 'boolean':
      return 'BOOLEAN';
    case 'number':
      return Number.isInteger(value) && Math.abs(value) < 9.2e18 ? 'BIGINT' : 'DOUBLE';
    case 'string': {
      if (value.length === 10 && validDate(value)) return 'DATE';
      if (value.length >= 16 && value.length <= 40) {
        const match = TIMESTAMP_RE.exec(value);
        if (match && validDate(match[1]!)) return match[4] ? 'TIMESTAMPTZ' : 'TIMESTAMP';
      }
      return 'VARCHAR';
    }
    case 'object':
      return value instanceof ExactNumber ? exactType(value) : 'JSON';
    default:
      return 'VARCHAR';
  }
}

/** The narrowest type holding values of both; VARCHAR when nothing narrower does. */
export function widen(a: ColumnSqlType | undefined, b: ColumnSqlType | undefined): ColumnSqlType | undefined {
  if (a === undefined) return b;
  if (b === undefined || a === b) return a;
  const scaleA = decimalScale(a);
  const scaleB = decimalScale(b);
  // a column holding any exact decimal is a decimal column: integers and doubles in it are written as text, exactly
  if (scaleA !== undefined && scaleB !== undefined) return decimal(Math.max(scaleA, scaleB));
  const numeric = (type: ColumnSqlType) => type === 'BIGINT' || type === 'HUGEINT' || type === 'DOUBLE';
  if (scaleA !== undefined && numeric(b)) return a;
  if (scaleB !== undefined && numeric(a)) return b;
  const pair = new Set([a, b]);
  if (pair.has('BIGINT') && pair.has('HUGEINT')) return 'HUGEINT';
  if ((pair.has('BIGINT') || pair.has('HUGEINT')) && pair.has('DOUBLE')) return 'DOUBLE';
  if (pair.has('DATE') && pair.has('TIMESTAMP')) return 'TIMESTAMP';
  if ((pair.has('DATE') || pair.has('TIMESTAMP')) && pair.has('TIMESTAMPTZ')) return 'TIMESTAMPTZ';
  return 'VARCHAR';
}

function sqlTypeOf(duckdbType: string): ColumnSqlType {
  const type = duckdbType.toUpperCase();
  if (type === 'TIMESTAMP WITH TIME ZONE') return 'TIMESTAMPTZ';
  if (['BOOLEAN', 'BIGINT', 'HUGEINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'TIMESTAMPTZ', 'JSON', 'VARCHAR'].includes(type)) return type as ColumnSqlType;
  const scale = decimalScale(type.replace(/\s+/g, ''));
  if (scale !== undefined) return decimal(scale);
  if (/INT/.test(type)) return 'BIGINT';
  if (/FLOAT|DOUBLE|DECIMAL|REAL/.test(type)) return 'DOUBLE';
  return 'VARCHAR';
}

function decimalColumnsOf(info: TableInfo): Set<string> {
  const out = new Set<string>();
  for (const [lower, column] of info.columns) if (decimalScale(column.type) !== undefined) out.add(lower);
  return out;
}

interface TableInfo {
  /** lowercase name → {name as created, type} (DuckDB identifiers are case-insensitive) */
  columns: Map<string, {name: string; type: ColumnSqlType}>;
}

/**
 * One NDJSON value of a response that has exact numbers or decimal columns: ExactNumbers as their digits in a
 * JSON string (DuckDB casts text to BIGINT, HUGEINT and DECIMAL exactly; a JSON number would pass through a
 * double), numbers of decimal columns likewise, and objects with their exact numbers written as numbers.
 */
function exactValueJson(value: unknown, decimalColumn: boolean): string {
  if (value instanceof ExactNumber) return JSON.stringify(value.plain);
  if (typeof value === 'number' && decimalColumn) return JSON.stringify(String(value));
  if (typeof value === 'object' && value !== null) return stringifyExactJson(value);
  return JSON.stringify(value) ?? 'null';
}

function exactRowJson(row: Row, decimalColumns: ReadonlySet<string>, index?: number): string {
  const parts: string[] = index === undefined ? [] : [`"_fivetran_index":${index}`];
  for (const name in row) {
    const value = row[name];
    if (value === undefined) continue;
    parts.push(`${JSON.stringify(name)}:${exactValueJson(value, decimalColumns.has(name.toLowerCase()))}`);
  }
  return `{${parts.join(',')}}`;
}

function toJs(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return value.map(toJs);
  if (value && typeof value === 'object') {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJs(v)]));
  }
  return value;
}

/**
 * True when no two rows can share a key once DuckDB casts the values to the key columns' types: every key value
 * is an integer JS number in a BIGINT column or a string in a VARCHAR column, and no tuple repeats. Anything
 * else (nulls, ExactNumbers, timestamps, whose texts differ for one instant) answers false, and the caller
 * collapses repeated keys in SQL.
 */
function keysDistinct(rows: readonly Row[], key: readonly string[], types: readonly ColumnSqlType[]): boolean {
  const plain = (value: unknown, type: ColumnSqlType) =>
    (type === 'BIGINT' && typeof value === 'number' && Number.isInteger(value)) || (type === 'VARCHAR' && typeof value === 'string');
  if (key.length === 1) {
    const [name] = key as [string];
    const type = types[0]!;
    const values = new Set<unknown>();
    for (const row of rows) {
      const value = row[name];
      if (!plain(value, type)) return false;
      values.add(value);
    }
    return values.size === rows.length;
  }
  const tuples = new Set<string>();
  for (const row of rows) {
    const values = key.map((name) => row[name]);
    if (values.some((value, i) => !plain(value, types[i]!))) return false;
    tuples.add(JSON.stringify(values));
  }
  return tuples.size === rows.length;
}

/** The range of the first BIGINT key column's values in `rows` (mayHoldKeys). */
function keyRange(rows: readonly Row[], key: readonly string[], keyColumns: readonly {type: ColumnSqlType}[]): {min: number; max: number} | undefined {
  const at = keyColumns.findIndex((c) => c.type === 'BIGINT');
  if (at === -1) return undefined;
  let min = Infinity;
  let max = -Infinity;
  for (const row of rows) {
    const value = row[key[at]!] as number;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  return {min, max};
}


/** What loadScanned writes: the rows' file and the target's columns as apply() settled them. */
interface ScannedLoad {
  target: string;
  file: string;
  dataColumns: {name: string; type: ColumnSqlType}[];
  key: readonly string[];
  keyColumns: {name: string; type: ColumnSqlType}[];
  /** the SQL of the write time */
  syncedAt: string;
  deletedColumn: boolean;
  /** the table was created by this response: nothing to replace */
  created: boolean;
}

/** What a streamed piece and the final check of it need of the rows read so far (a RowScanner or ScannedRows). */
interface RowsSoFar {
  readonly count: number;
  readonly columns: readonly ScannedColumn[];
  integerRange(key: string): {min: number; max: number; ascending: boolean} | undefined;
}

/** The rows of one table loaded while the body streamed in: how many (the first rows of its list), their largest key. */
interface StreamedTable {
  rows: number;
  upper: number;
  key: string;
}

/** A response whose rows are being loaded while its body streams in (Warehouse.streamResponse). */
interface ResponseStream {
  schema: string;
  syncedAt: string;
  /** the transaction is open: pieces were written */
  begun: boolean;
  /** the pieces' loads, one after the other */
  work: Promise<void>;
  /** per table: what was loaded, or false once its pieces cannot be used */
  tables: Map<string, StreamedTable | false>;
}

/** The target table's columns for `rows` when writing them changes no column, or undefined. */
function columnsWithoutChange(info: TableInfo, columns: readonly ScannedColumn[]): {name: string; type: ColumnSqlType}[] | undefined {
  const out: {name: string; type: ColumnSqlType}[] = [];
  for (const {name, type} of columns) {
    const column = info.columns.get(name.toLowerCase());
    if (!column) return undefined;
    // a VARCHAR column may narrow (one that has only held nulls): apply() decides that with a query
    if (type !== undefined && type !== column.type && (column.type === 'VARCHAR' || widen(column.type, type) !== column.type)) return undefined;
    out.push(column);
  }
  return out;
}

/** read_json's files are written again after this many others (Warehouse.writeScratch) */
const SCRATCH_FILES = 64;

export class Warehouse {
  /**
   * Each schema's tables and column types as the last committed apply left them: describing a schema is a
   * catalog query per response otherwise. Only apply() changes tables; query() may, so it forgets them.
   */
  private readonly described = new Map<string, Map<string, TableInfo>>();
  /** each table's primary key as the last committed response gave it: what a streamed response's rows are loaded by */
  private readonly keys = new Map<string, readonly string[]>();
  private stream: ResponseStream | undefined;
  /**
   * Per table written through a stream, a bound on its committed keys (at least the largest): a piece whose keys
   * are all past it needs no query to know the table holds none of them.
   */
  private readonly keyBounds = new Map<string, number>();
  /** where read_json's files are written (writeScratch), and how many were */
  private readonly scratch = path.join(tmpdir(), `fivetran-warehouse-${process.pid}-${randomUUID()}`);
  private scratchFiles = 0;
  private linesBuffer: Buffer = Buffer.alloc(0);

  private constructor(
    readonly file: string,
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  /** Opens (or creates) the DuckDB file. One process at a time may have it open. */
  static async open(file: string, options: {readOnly?: boolean} = {}): Promise<Warehouse> {
    if (file !== ':memory:' && !options.readOnly) mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(file, options.readOnly ? {access_mode: 'READ_ONLY'} : undefined);
    } catch (error) {
      const message = (error as Error).message;
      if (/lock/i.test(message)) {
        throw new Error(`the warehouse ${file} is in use by another process (a running sync or query); wait for it to finish or use --warehouse`);
      }
      throw new Error(`cannot open the warehouse ${file}: ${message.split('\n')[0]}`);
    }
    const connection = await instance.connect();
    await connection.run(`SET TimeZone = 'UTC'`);
    // each response's commit is durable in the write-ahead log either way; checkpointing it into the file every
    // 16 MB (the default) rewrote the last, partly filled row groups again and again: a sync of 8 MiB responses
    // spent a quarter of its time there. Fewer checkpoints, and one when the warehouse closes.
    if (!options.readOnly) await connection.run(`SET checkpoint_threshold = '256MB'`);
    // a sync shares the machine with the function it calls and that function's source: a second DuckDB thread
    // doubled the CPU of each response's insert (64 ms for 8 MiB, against 30) and of the checkpoint, and was
    // slower by the clock too while the function ran (docs/local-fivetran.md, "How a response is applied")
    if (!options.readOnly) await connection.run('SET threads = 1');
    return new Warehouse(file, instance, connection);
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
    rmSync(this.scratch, {recursive: true, force: true});
  }

  async query(sql: string): Promise<QueryResult> {
    this.described.clear();
    this.keyBounds.clear();
    const reader = await this.connection.runAndReadAll(sql);
    const columns = reader.columnNames();
    const types = reader.columnTypes().map(String);
    const rows = reader.getRowObjectsJS().map((row) => toJs(row) as Record<string, unknown>);
    // DECIMAL values come back as doubles: take their text, and a number only where a double holds it exactly
    const decimals = columns.filter((_, i) => /^DECIMAL/i.test(types[i]!));
    if (decimals.length) {
      const texts = reader.getRowObjectsJson();
      rows.forEach((row, i) => {
        for (const column of decimals) {
          const text = texts[i]![column];
          if (typeof text === 'string') row[column] = losesDigits(text) ? text : Number(text);
        }
      });
    }
    return {columns, types, rows};
  }

  /** Tables of a schema with their row counts, sorted by name. */
  async tables(schema: string): Promise<{table: string; rows: number}[]> {
    const {rows} = await this.query(`SELECT table_name FROM duckdb_tables() WHERE schema_name = ${quoteLiteral(schema)} ORDER BY table_name`);
    const out: {table: string; rows: number}[] = [];
    for (const row of rows) {
      const table = String(row.table_name);
      const count = await this.query(`SELECT count(*) AS n FROM ${quoteIdent(schema)}.${quoteIdent(table)}`);
      out.push({table, rows: Number(count.rows[0]?.n ?? 0)});
    }
    return out;
  }

  /**
   * False when no row of `target` can have a key in `range`, the values of the first BIGINT key column of the rows
   * to write (DuckDB answers from its zone maps). Pages of an initial sync, whose keys ascend, are
   * then inserted without a staging table or a delete.
   */
  private async mayHoldKeys(target: string, range: {min: number; max: number} | undefined, keyColumns: readonly {name: string; type: ColumnSqlType}[]): Promise<boolean> {
    const at = keyColumns.findIndex((c) => c.type === 'BIGINT');
    if (at === -1 || range === undefined) return true;
    const {min, max} = range;
    const column = quoteIdent(keyColumns[at]!.name);
    const found = await this.connection.runAndReadAll(`SELECT EXISTS (SELECT 1 FROM ${target} WHERE ${column} BETWEEN ${min} AND ${max})`);
    return found.getRows()[0]![0] === true;
  }

  /**
   * Starts a response whose rows may be loaded while its body streams in: the listener is given to the
   * ResponseReader, and apply() then loads only what was not. Pieces are loaded, in the response's transaction
   * (opened by the first), only into a table the last committed response wrote with a single BIGINT key, whose
   * columns they fit without a change, and whose keys ascend past every key the table holds: each piece is then
   * an insert, as apply() would make it. apply() checks the whole response the same way; when anything differs
   * (another key, a new column, a key the table holds, rows the scanner left to the object path) it rolls the
   * pieces back and applies the response as if none had been loaded. Nothing is committed before apply() has
   * checked everything, and a call that fails rolls them back (discardStream).
   */
  streamResponse(schema: string, syncedAt: Date): RowsListener {
    const stream: ResponseStream = {
      schema,
      syncedAt: `TIMESTAMPTZ ${quoteLiteral(syncedAt.toISOString())}`,
      begun: false,
      work: Promise.resolve(),
      tables: new Map(),
    };
    this.stream = stream;
    return (table, scanner, lines) => {
      const before = stream.tables.get(table);
      if (before === false || this.stream !== stream) return;
      // decided now: the scanner reads on while the piece waits its turn
      const plan = this.streamPlan(schema, table, scanner);
      if (!plan) {
        stream.tables.set(table, false);
        return;
      }
      stream.tables.set(table, {rows: scanner.count, upper: plan.range.max, key: plan.key});
      stream.work = stream.work
        .then(async () => {
          if (stream.tables.get(table) === false) return;
          const target = `${quoteIdent(schema)}.${quoteIdent(table)}`;
          if (!stream.begun) {
            await this.connection.run('BEGIN TRANSACTION');
            stream.begun = true;
          }
          if (!(await this.holdsNoKeys(`${schema}.${table}`, target, plan.keyColumn, before?.upper, plan.range))) throw new Error('the table holds keys of these rows');
          await this.insertRows(target, this.writeScratch(lines), plan.columns, stream.syncedAt, plan.deletedColumn);
        })
        .catch(() => {
          stream.tables.set(table, false);
        });
    };
  }

  /** Rolls back what a stream loaded when its response is not applied (the call failed); nothing when it was. */
  async discardStream(): Promise<void> {
    const stream = this.stream;
    if (!stream) return;
    this.stream = undefined;
    await stream.work;
    if (stream.begun) await this.connection.run('ROLLBACK').catch(() => undefined);
  }

  /**
   * Writes `text` to a file of the warehouse's scratch folder for read_json and returns its path. The folder
   * lives as long as the warehouse is open and its files are overwritten in turn (statements run one after
   * the other, and a file is written again only SCRATCH_FILES writes later): creating, and removing, a file
   * and a folder for each piece cost more than writing it.
   */
  private writeScratch(text: Buffer | string | ((into?: Buffer) => Buffer), extension = 'ndjson'): string {
    if (this.scratchFiles === 0) mkdirSync(this.scratch, {recursive: true});
    const file = path.join(this.scratch, `${this.scratchFiles++ % SCRATCH_FILES}.${extension}`);
    if (typeof text === 'function') {
      // rows' lines are copied into one buffer, kept for the next ones (a new 8 MiB a response made the
      // garbage collector run a full collection for every few of them)
      const lines = text(this.linesBuffer);
      if (lines.length > this.linesBuffer.length) this.linesBuffer = lines;
      writeFileSync(file, lines);
    } else {
      writeFileSync(file, text);
    }
    return file;
  }

  /** How rows read so far may be loaded while the body streams in, or undefined (see streamResponse). */
  private streamPlan(schema: string, table: string, rows: RowsSoFar, key = this.keys.get(`${schema}.${table}`)) {
    if (key?.length !== 1) return undefined;
    const info = this.described.get(schema)?.get(table.toLowerCase());
    if (!info || decimalColumnsOf(info).size > 0) return undefined;
    const keyColumn = info.columns.get(key[0]!.toLowerCase());
    const range = rows.integerRange(key[0]!);
    const columns = columnsWithoutChange(info, rows.columns);
    if (keyColumn?.type !== 'BIGINT' || !range?.ascending || !columns || !info.columns.has('_fivetran_synced')) return undefined;
    return {key: key[0]!, keyColumn: keyColumn.name, range, columns, deletedColumn: info.columns.has('_fivetran_deleted')};
  }

  /**
   * True when the committed rows of `target` hold no key of a piece: keys in (after, range.max], or in
   * [range.min, range.max] for a response's first piece. The keys ascend, so the pieces before it are below.
   */
  private async holdsNoKeys(id: string, target: string, keyColumn: string, after: number | undefined, range: {min: number; max: number}): Promise<boolean> {
    const column = quoteIdent(keyColumn);
    let bound = this.keyBounds.get(id);
    if (bound === undefined && after === undefined) {
      // the first piece of the table since the warehouse opened, before any row of this transaction
      const max = await this.connection.runAndReadAll(`SELECT max(${column}) FROM ${target}`);
      const value = max.getRows()[0]![0];
      bound = value === null ? -Infinity : Number(value);
      this.keyBounds.set(id, bound);
    }
    if (bound !== undefined && (after ?? range.min - 1) >= bound) return true;
    const held = await this.connection.runAndReadAll(`SELECT EXISTS (SELECT 1 FROM ${target} WHERE ${column} ${after === undefined ? `>= ${range.min}` : `> ${after}`} AND ${column} <= ${range.max})`);
    return held.getRows()[0]![0] !== true;
  }

  /** Inserts the rows of a newline-delimited JSON file as they are: no key of them is in the table. */
  private async insertRows(target: string, file: string, columns: {name: string; type: ColumnSqlType}[], syncedAt: string, deletedColumn: boolean): Promise<void> {
    const columnList = columns.map((c) => quoteIdent(c.name)).join(', ');
    const source = `read_json(${quoteLiteral(file)}, format = 'newline_delimited', maximum_object_size = 134217728, columns = {${columns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(', ')}})`;
    await this.connection.run(
      `INSERT INTO ${target} (${columnList}, _fivetran_synced${deletedColumn ? ', _fivetran_deleted' : ''}) SELECT ${columnList}, ${syncedAt}${deletedColumn ? ', false' : ''} FROM ${source}`,
    );
  }

  /**
   * The tables of `response` whose streamed pieces stand, with the rest of their rows; undefined when any piece
   * must be rolled back (see streamResponse).
   */
  private async streamedTables(stream: ResponseStream, response: Parameters<Warehouse['apply']>[1]): Promise<Map<string, {streamed: StreamedTable; rest: number}> | undefined> {
    await stream.work;
    const out = new Map<string, {streamed: StreamedTable; rest: number}>();
    for (const [table, streamed] of stream.tables) {
      if (streamed === false) return undefined;
      const scanned = response.scanned?.[table];
      const key = response.schema[table]?.primary_key ?? [];
      if (!scanned || scanned.count < streamed.rows || key.length !== 1 || key[0] !== streamed.key) return undefined;
      const plan = this.streamPlan(stream.schema, table, scanned, key);
      const info = this.described.get(stream.schema)?.get(table.toLowerCase());
      if (!plan || (response.softDelete.includes(table) && !info?.columns.has('_fivetran_deleted'))) return undefined;
      const rest = scanned.count - streamed.rows;
      if (rest > 0 && !(await this.holdsNoKeys(`${stream.schema}.${table}`, `${quoteIdent(stream.schema)}.${quoteIdent(table)}`, plan.keyColumn, streamed.upper, plan.range))) return undefined;
      out.set(table, {streamed, rest});
    }
    return out;
  }

  /**
   * Writes rows read from their bytes (emulator/row-scanner.ts) into the target: DuckDB parses and converts the
   * function's own text (as newline-delimited JSON) with read_json, each row numbered by its position (WITH
   * ORDINALITY) where the order matters. Returns the rows written (after collapsing repeated keys).
   */
  private async loadScanned(scanned: ScannedRows, load: ScannedLoad): Promise<number> {
    const {target, file, dataColumns, key, keyColumns, syncedAt, deletedColumn} = load;
    const run = (sql: string) => this.connection.run(sql);
    const columnList = dataColumns.map((c) => quoteIdent(c.name)).join(', ');
    const source = `read_json(${quoteLiteral(file)}, format = 'newline_delimited', maximum_object_size = 134217728, columns = {${dataColumns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(', ')}})`;
    // the position as _fivetran_index, which no data column can be named
    const numbered = `${source} WITH ORDINALITY AS s(${[...dataColumns.map((c) => quoteIdent(c.name)), '_fivetran_index'].join(', ')})`;
    const system = `${syncedAt}${deletedColumn ? ', false' : ''}`;
    const systemColumns = `_fivetran_synced${deletedColumn ? ', _fivetran_deleted' : ''}`;
    const comma = columnList ? ', ' : '';
    if (key.length === 0) {
      const batch = await this.connection.runAndReadAll(`SELECT coalesce(max(_fivetran_batch), 0) + 1 FROM ${target}`);
      await run(
        `INSERT INTO ${target} (${columnList}${comma}_fivetran_batch, _fivetran_index, ${systemColumns}) ` +
          `SELECT ${columnList}${comma}${String(batch.getRows()[0]![0])}, _fivetran_index - 1, ${system} FROM ${numbered}`,
      );
      return scanned.count;
    }
    const match = (other: string) => keyColumns.map((c) => `t.${quoteIdent(c.name)} IS NOT DISTINCT FROM ${other}.${quoteIdent(c.name)}`).join(' AND ');
    const insert = (from: string, order = '') => run(`INSERT INTO ${target} (${columnList}, ${systemColumns}) SELECT ${columnList}, ${system} FROM ${from}${order}`);
    const stage = `fivetran_stage_${randomUUID().replace(/-/g, '')}`;
    // one integer key that ascends through the response (a page of a keyed scan): no repeated key to collapse
    const range = key.length === 1 && keyColumns[0]!.type === 'BIGINT' ? scanned.integerRange(key[0]!) : undefined;
    if (range?.ascending) {
      if (load.created || !(await this.mayHoldKeys(target, range, keyColumns))) {
        await insert(source);
      } else {
        await run(`CREATE TEMP TABLE ${stage} AS SELECT * FROM ${source}`);
        await run(`DELETE FROM ${target} AS t USING ${stage} AS s WHERE ${match('s')}`);
        await insert(stage);
        await run(`DROP TABLE ${stage}`);
      }
      return scanned.count;
    }
    // the last row of a key wins
    await run(`CREATE TEMP TABLE ${stage} AS SELECT * FROM ${numbered} QUALIFY row_number() OVER (PARTITION BY ${keyColumns.map((c) => quoteIdent(c.name)).join(', ')} ORDER BY _fivetran_index DESC) = 1`);
    if (!load.created) await run(`DELETE FROM ${target} AS t USING ${stage} AS s WHERE ${match('s')}`);
    await insert(stage, ' ORDER BY _fivetran_index');
    const count = await this.connection.runAndReadAll(`SELECT count(*) FROM ${stage}`);
    await run(`DROP TABLE ${stage}`);
    return Number(count.getRows()[0]![0]);
  }

  private async describeSchema(schema: string): Promise<Map<string, TableInfo>> {
    const reader = await this.connection.runAndReadAll(
      `SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = ${quoteLiteral(schema)} AND database_name = current_database() ORDER BY table_name, column_index`,
    );
    const tables = new Map<string, TableInfo>();
    for (const [table, column, type] of reader.getRows() as [string, string, string][]) {
      let info = tables.get(table.toLowerCase());
      if (!info) tables.set(table.toLowerCase(), (info = {columns: new Map()}));
      info.columns.set(column.toLowerCase(), {name: column, type: sqlTypeOf(type)});
    }
    return tables;
  }

  /**
   * Applies one checked response to `schema` in a single transaction: either all of it is written or,
   * on any error, none of it.
   */
  async apply(
    schema: string,
    response: Pick<CheckedResponse, 'insert' | 'delete' | 'schema' | 'softDelete'> & {exactNumbers?: number; scanned?: Record<string, ScannedRows>},
    options: {syncedAt?: Date} = {},
  ): Promise<ApplyResult> {
    const result: ApplyResult = {upserted: {}, deleted: {}, streamed: {}, createdTables: [], addedColumns: [], widenedColumns: []};
    const tablesWithRows = Object.keys(response.insert).filter((table) => (response.scanned?.[table]?.count ?? response.insert[table]!.length) > 0);
    const tablesWithDeletes = Object.entries(response.delete).filter(([, rows]) => rows.length > 0);
    if ((tablesWithRows.length === 0 && tablesWithDeletes.length === 0) || this.stream?.schema !== schema) await this.discardStream();
    if (tablesWithRows.length === 0 && tablesWithDeletes.length === 0) return result;
    // rows loaded while the body streamed in, if they stand
    const stream = this.stream;
    this.stream = undefined;
    // the streamed rows' write time is the response's
    const syncedAt = stream?.syncedAt ?? `TIMESTAMPTZ ${quoteLiteral((options.syncedAt ?? new Date()).toISOString())}`;
    const run = (sql: string) => this.connection.run(sql);
    const q = quoteIdent(schema);
    const writeNdjson = (lines: string[]) => this.writeScratch(lines.join('\n'));
    const readJson = (file: string, columns: [string, ColumnSqlType][]) =>
      `read_json(${quoteLiteral(file)}, format = 'newline_delimited', maximum_object_size = 134217728, columns = {${columns.map(([name, type]) => `${quoteLiteral(name)}: ${quoteLiteral(type)}`).join(', ')}})`;

    let streamed = new Map<string, {streamed: StreamedTable; rest: number}>();
    try {
      if (stream) {
        const standing = await this.streamedTables(stream, response).catch(() => undefined);
        if (standing) streamed = standing;
        else if (stream.begun) await run('ROLLBACK');
        if (!standing) stream.begun = false;
      }
      if (!stream?.begun) await run('BEGIN TRANSACTION');
      let existing = this.described.get(schema);
      // taken out while this transaction changes it: a failed apply leaves nothing cached
      this.described.delete(schema);
      if (!existing) {
        await run(`CREATE SCHEMA IF NOT EXISTS ${q}`);
        existing = await this.describeSchema(schema);
      }

      for (const table of tablesWithRows) {
        const key = response.schema[table]?.primary_key ?? [];
        const softDelete = response.softDelete.includes(table);
        const target = `${q}.${quoteIdent(table)}`;
        let info = existing.get(table.toLowerCase());
        // rows read from their bytes are loaded from them, unless a decimal column needs each number's digits
        // (and rows without a single column, which read_json cannot be given)
        const fromBytes = response.scanned?.[table];
        const scanned = (info && decimalColumnsOf(info).size > 0) || !fromBytes?.columns.length ? undefined : fromBytes;
        const rows = scanned ? [] : response.insert[table]!;
        // column types of this response, in first-seen order
        const seen = new Map<string, {name: string; type: ColumnSqlType | undefined}>();
        for (const {name, type} of scanned?.columns ?? []) seen.set(name.toLowerCase(), {name, type});
        // the same entries by the name as written, so most values need no toLowerCase
        const byName = new Map<string, {name: string; type: ColumnSqlType | undefined}>();
        for (const row of rows) {
          for (const name in row) {
            let entry = byName.get(name);
            if (entry === undefined) {
              const lower = name.toLowerCase();
              entry = seen.get(lower);
              if (entry === undefined) seen.set(lower, (entry = {name, type: inferType(row[name])}));
              byName.set(name, entry);
            }
            // nothing widens VARCHAR: its values need no inference
            if (entry.type === 'VARCHAR') continue;
            const type = inferType(row[name]);
            if (type !== undefined && type !== entry.type) entry.type = widen(entry.type, type);
          }
        }
        const system: [string, string][] = [
          ...(key.length === 0 ? ([['_fivetran_batch', 'BIGINT'], ['_fivetran_index', 'BIGINT']] as [string, string][]) : []),
          ['_fivetran_synced', 'TIMESTAMPTZ'],
          ...(softDelete ? ([['_fivetran_deleted', 'BOOLEAN DEFAULT false']] as [string, string][]) : []),
        ];
        if (!info) {
          // a column whose values are all null starts as VARCHAR and narrows when a value arrives while it is still empty
          const columns = [...seen.values()].map(({name, type}) => `${quoteIdent(name)} ${type ?? 'VARCHAR'}`);
          await run(`CREATE TABLE ${target} (${[...columns, ...system.map(([name, type]) => `${name} ${type}`)].join(', ')})`);
          info = {columns: new Map([...seen].map(([lower, {name, type}]) => [lower, {name, type: type ?? 'VARCHAR'}]))};
          for (const [name, type] of system) info.columns.set(name, {name, type: sqlTypeOf(type.split(' ')[0]!)});
          existing.set(table.toLowerCase(), info);
          result.createdTables.push(table);
        } else {
          for (const [lower, {name, type}] of seen) {
            const column = info.columns.get(lower);
            if (!column) {
              await run(`ALTER TABLE ${target} ADD COLUMN ${quoteIdent(name)} ${type ?? 'VARCHAR'}`);
              info.columns.set(lower, {name, type: type ?? 'VARCHAR'});
              result.addedColumns.push(`${table}.${name}`);
              continue;
            }
            if (type === undefined || type === column.type) continue;
            let next = widen(column.type, type)!;
            if (column.type === 'VARCHAR' && next === 'VARCHAR') {
              const nonNull = await this.connection.runAndReadAll(`SELECT count(${quoteIdent(column.name)}) FROM ${target}`);
              if (Number(nonNull.getRows()[0]![0]) === 0) next = type;
            }
            if (next !== column.type) {
              await run(`ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} TYPE ${next}`);
              result.widenedColumns.push(`${table}.${column.name}: ${column.type} → ${next}`);
              column.type = next;
            }
          }
          for (const [name, type] of system) {
            if (!info.columns.has(name)) {
              await run(`ALTER TABLE ${target} ADD COLUMN ${name} ${type}`);
              info.columns.set(name, {name, type: sqlTypeOf(type.split(' ')[0]!)});
              result.addedColumns.push(`${table}.${name}`);
            }
          }
        }

        const dataColumns = [...seen.keys()].map((lower) => info.columns.get(lower)!);
        const columnList = dataColumns.map((c) => quoteIdent(c.name)).join(', ');
        const deletedColumn = info.columns.has('_fivetran_deleted');
        const decimalColumns = decimalColumnsOf(info);
        const exact = Boolean(response.exactNumbers) || decimalColumns.size > 0;
        const keyColumns = key.map((name) => info.columns.get(name.toLowerCase())!);
        const fromStream = streamed.get(table);
        if (scanned && fromStream) {
          // what did not stream in: its keys are past the table's (streamedTables checked)
          if (fromStream.rest > 0) await this.insertRows(target, this.writeScratch((into) => scanned.lines(fromStream.streamed.rows, into)), dataColumns, stream!.syncedAt, deletedColumn);
          result.upserted[table] = scanned.count;
          result.streamed[table] = fromStream.streamed.rows;
          continue;
        }
        if (scanned) {
          const load = {target, file: this.writeScratch((into) => scanned.lines(0, into)), dataColumns, key, keyColumns, syncedAt, deletedColumn, created: result.createdTables.includes(table)};
          result.upserted[table] = await this.loadScanned(scanned, load);
          continue;
        }
        if (key.length > 0 && !exact && keysDistinct(rows, key, keyColumns.map((c) => c.type))) {
          // the common case, a page of distinct keys: the rows as one JSON array (one JSON.stringify costs a third
          // of one per row), no window to collapse repeated keys, and no delete in a table this response created
          const file = this.writeScratch(JSON.stringify(rows), 'json');
          const source = `read_json(${quoteLiteral(file)}, format = 'array', maximum_object_size = 134217728, columns = {${dataColumns.map((c) => `${quoteLiteral(c.name)}: ${quoteLiteral(c.type)}`).join(', ')}})`;
          const insert = (from: string) =>
            run(`INSERT INTO ${target} (${columnList}, _fivetran_synced${deletedColumn ? ', _fivetran_deleted' : ''}) SELECT ${columnList}, ${syncedAt}${deletedColumn ? ', false' : ''} FROM ${from}`);
          if (result.createdTables.includes(table) || !(await this.mayHoldKeys(target, keyRange(rows, key, keyColumns), keyColumns))) {
            await insert(source);
          } else {
            const stage = `fivetran_stage_${this.scratchFiles}`;
            await run(`CREATE TEMP TABLE ${stage} AS SELECT * FROM ${source}`);
            await run(`DELETE FROM ${target} AS t USING ${stage} AS s WHERE ${keyColumns.map((c) => `t.${quoteIdent(c.name)} IS NOT DISTINCT FROM s.${quoteIdent(c.name)}`).join(' AND ')}`);
            await insert(stage);
            await run(`DROP TABLE ${stage}`);
          }
          result.upserted[table] = rows.length;
          continue;
        }
        const lines = new Array<string>(rows.length);
        if (exact) {
          for (let i = 0; i < rows.length; i++) lines[i] = exactRowJson(rows[i]!, decimalColumns, i);
        } else {
          for (let i = 0; i < rows.length; i++) {
            const json = JSON.stringify(rows[i]);
            lines[i] = json.length > 2 ? `{"_fivetran_index":${i},${json.slice(1)}` : `{"_fivetran_index":${i}}`;
          }
        }
        const file = writeNdjson(lines);
        const loaded: [string, ColumnSqlType][] = [['_fivetran_index', 'BIGINT'], ...dataColumns.map((c): [string, ColumnSqlType] => [c.name, c.type])];
        if (key.length === 0) {
          const batch = await this.connection.runAndReadAll(`SELECT coalesce(max(_fivetran_batch), 0) + 1 FROM ${target}`);
          const batchNumber = String(batch.getRows()[0]![0]);
          await run(
            `INSERT INTO ${target} (${columnList}${columnList ? ', ' : ''}_fivetran_batch, _fivetran_index, _fivetran_synced${deletedColumn ? ', _fivetran_deleted' : ''}) ` +
              `SELECT ${columnList}${columnList ? ', ' : ''}${batchNumber}, _fivetran_index, ${syncedAt}${deletedColumn ? ', false' : ''} FROM ${readJson(file, loaded)}`,
          );
          result.upserted[table] = rows.length;
        } else {
          const keyNames = keyColumns.map((c) => c.name);
          const stage = `fivetran_stage_${this.scratchFiles}`;
          await run(`CREATE TEMP TABLE ${stage} AS SELECT * FROM ${readJson(file, loaded)} QUALIFY row_number() OVER (PARTITION BY ${keyNames.map(quoteIdent).join(', ')} ORDER BY _fivetran_index DESC) = 1`);
          await run(`DELETE FROM ${target} AS t USING ${stage} AS s WHERE ${keyNames.map((c) => `t.${quoteIdent(c)} IS NOT DISTINCT FROM s.${quoteIdent(c)}`).join(' AND ')}`);
          await run(
            `INSERT INTO ${target} (${columnList}, _fivetran_synced${deletedColumn ? ', _fivetran_deleted' : ''}) ` +
              `SELECT ${columnList}, ${syncedAt}${deletedColumn ? ', false' : ''} FROM ${stage} ORDER BY _fivetran_index`,
          );
          const count = await this.connection.runAndReadAll(`SELECT count(*) FROM ${stage}`);
          result.upserted[table] = Number(count.getRows()[0]![0]);
          await run(`DROP TABLE ${stage}`);
        }
      }

      for (const [table, rows] of tablesWithDeletes) {
        result.deleted[table] = rows.length;
        const info = existing.get(table.toLowerCase());
        const key = response.schema[table]?.primary_key ?? [];
        if (!info || key.length === 0) continue;
        const keyColumns = key.map((name) => info.columns.get(name.toLowerCase()));
        if (keyColumns.some((c) => c === undefined)) continue;
        const target = `${q}.${quoteIdent(table)}`;
        const decimalColumns = decimalColumnsOf(info);
        const file = writeNdjson(rows.map((row) => exactRowJson(Object.fromEntries(key.map((name) => [keyColumns[key.indexOf(name)]!.name, (row as Row)[name]])), decimalColumns)));
        const keys = readJson(file, keyColumns.map((c): [string, ColumnSqlType] => [c!.name, c!.type]));
        const match = keyColumns.map((c) => `t.${quoteIdent(c!.name)} IS NOT DISTINCT FROM k.${quoteIdent(c!.name)}`).join(' AND ');
        if (response.softDelete.includes(table)) {
          if (!info.columns.has('_fivetran_deleted')) {
            await run(`ALTER TABLE ${target} ADD COLUMN _fivetran_deleted BOOLEAN DEFAULT false`);
            info.columns.set('_fivetran_deleted', {name: '_fivetran_deleted', type: 'BOOLEAN'});
            result.addedColumns.push(`${table}._fivetran_deleted`);
          }
          await run(`UPDATE ${target} AS t SET _fivetran_deleted = true, _fivetran_synced = ${syncedAt} FROM ${keys} AS k WHERE ${match}`);
        } else {
          await run(`DELETE FROM ${target} AS t USING ${keys} AS k WHERE ${match}`);
        }
      }
      await run('COMMIT');
      this.described.set(schema, existing);
      // the key bounds stand where the rows went in by a stream (their keys ascend past the bound); elsewhere a new one is read
      for (const table of tablesWithRows) {
        const id = `${schema}.${table}`;
        const bound = this.keyBounds.get(id);
        const range = streamed.get(table) ? response.scanned![table]!.integerRange(streamed.get(table)!.streamed.key) : undefined;
        if (bound !== undefined && range) this.keyBounds.set(id, Math.max(bound, range.max));
        else this.keyBounds.delete(id);
      }
      for (const [table, entry] of Object.entries(response.schema)) this.keys.set(`${schema}.${table}`, entry.primary_key ?? []);
      return result;
    } catch (error) {
      await run('ROLLBACK').catch(() => undefined);
      throw new Error(`the warehouse rejected the response: ${(error as Error).message.split('\n')[0]}`, {cause: error});
    }
  }
}

