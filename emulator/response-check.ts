// Strict checks of one Function response (docs/fivetran.md §1), as `./fivetran sync` plays Fivetran's side: the
// HTTP status, the size cap, JSON, every key and its type, tables missing from `schema`, primary keys on
// deletes and keyed inserts. Each problem is one sentence naming the exact key; a response with problems is
// never applied to the warehouse.
import {MAX_NESTING_DEPTH, nestedDeeperThan} from '../sdk/function-adapter.js';
import type {Row, State} from '../sdk/types.js';
import {isUtf8} from 'node:buffer';
import {ExactNumber, parseExactJson} from './exact-json.js';
import {RESERVED_COLUMN, RowScanner, type ScannedColumn} from './row-scanner.js';

/** Cloud Functions (2nd gen) caps HTTP responses at 32 MiB; Fivetran never sees a bigger body. */
export const PLATFORM_RESPONSE_CAP_BYTES = 32 * 1024 * 1024;

export interface CheckedResponse {
  state: State;
  /** rows per table; those of the tables in `scanned` are parsed when first read (the warehouse does not) */
  insert: Record<string, Row[]>;
  /** insert tables read from the body's bytes, checked, not parsed: the warehouse loads their bytes */
  scanned: Record<string, ScannedRows>;
  delete: Record<string, Row[]>;
  schema: Record<string, {primary_key?: string[]}>;
  softDelete: string[];
  hasMore: boolean;
  /** size of the body in bytes */
  bytes: number;
  /** problems Fivetran tolerates (unknown top-level keys) */
  warnings: string[];
  /** numbers a double would change, kept as ExactNumber (see emulator/exact-json.ts) */
  exactNumbers?: number;
}

/** The function answered, but not with a response Fivetran would accept. */
export class ProtocolViolation extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.length === 1 ? problems[0]! : `${problems.length} problems: ${problems.join('; ')}`);
    this.name = 'ProtocolViolation';
    this.problems = problems;
  }
}

const KNOWN_KEYS = new Set(['state', 'insert', 'delete', 'schema', 'hasMore', 'softDelete']);
/** the first problems are enough to fix a response; a broken loop would otherwise print thousands */
const MAX_PROBLEMS = 5;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof ExactNumber);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof ExactNumber) return `a number (${value.text})`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)})`;
  return `${typeof value === 'number' ? 'a number' : typeof value === 'boolean' ? 'a boolean' : typeof value} (${String(value)})`;
}

/** Reads the error body of a non-200 answer: the contract's {errorMessage, errorType}, or the start of the text. */
export function describeErrorAnswer(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (isObject(parsed) && typeof parsed.errorMessage === 'string') {
      return `the function answered ${status}: ${parsed.errorMessage}${typeof parsed.errorType === 'string' ? ` (${parsed.errorType})` : ''}`;
    }
  } catch {
    // not JSON: show the text
  }
  const text = body.replace(/\s+/g, ' ').trim();
  return `the function answered ${status}${text ? `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}` : ' with an empty body'}`;
}

/** A body read as it arrived (see ResponseReader): what parseExactJson would have made of it. */
export interface ParsedBody {
  /** the body; the rows of the tables in `scanned` are left out (an empty list each) */
  value: unknown;
  /** insert tables whose rows were read from their bytes, not parsed (emulator/row-scanner.ts) */
  scanned: Record<string, ScannedRows>;
  exactNumbers: number;
  /** size of the body in bytes */
  bytes: number;
}

/** The rows of one insert table as the function sent them, read by a RowScanner: the warehouse loads them from their bytes. */
export interface ScannedRows {
  /** the text of the rows: the inside of the table's JSON list */
  readonly bytes: Buffer;
  /** the rows from the `from`th (0) on as newline-delimited JSON, in `into` when it is large enough (RowScanner.lines) */
  lines(from?: number, into?: Buffer): Buffer;
  readonly count: number;
  /** columns in first-seen order with the type their values suggest (inferType and widen over the parsed rows) */
  readonly columns: readonly ScannedColumn[];
  /** rows in which `key` (as spelled) has a value other than null */
  nonNull(key: string): number;
  /** the smallest and largest value of `key`, and whether they ascend strictly, when every row has an integer there */
  integerRange(key: string): {min: number; max: number; ascending: boolean} | undefined;
  /** the rows as objects, parsed on first use */
  rows(): Row[];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_LIST = Buffer.from('[');
const CLOSE_LIST = Buffer.from(']');

/** The rows a RowScanner read, with their bytes (`bytes`, within `body`). */
function scannedRows(scanner: RowScanner, body: Buffer, bytes: Buffer): ScannedRows {
  let rows: Row[] | undefined;
  return {
    bytes,
    lines: (from = 0, into?: Buffer) => scanner.lines(body, from, scanner.count, into),
    count: scanner.count,
    columns: scanner.columns,
    nonNull: (key) => scanner.nonNull(key),
    integerRange: (key) => scanner.integerRange(key),
    // no number in them needs the exact path: the scanner leaves such tables to the object path
    rows: () => (rows ??= JSON.parse(Buffer.concat([OPEN_LIST, bytes, CLOSE_LIST]).toString('utf8')) as Row[]),
  };
}

/**
 * Reads a response body while it arrives, so that checking an 8 MiB response overlaps the function writing
 * it (it streams its rows as each checkpoint commits) instead of starting when the last byte is in.
 *
 * The body's structure is scanned (strings, escapes, nesting) to find the rows of each `insert` table. Those
 * are read by a RowScanner, strictly, as they stream in, without a JavaScript object per row: the checks and
 * the column types come from the bytes, and the warehouse loads the bytes themselves with DuckDB's read_json.
 * A table the scanner cannot read with certainty (see emulator/row-scanner.ts) is skipped to its end and its
 * rows parsed with parseExactJson. At the end the body with the rows cut out (a few KB: state, schema,
 * hasMore, deletes) is parsed.
 *
 * Any body this does not read with certainty (a top-level key or an insert table twice, rows that are not
 * JSON, a structure cut short) gives undefined from end(), and the caller parses the whole text as before,
 * so every answer and every message stays that of checkResponse on the text.
 */
/**
 * Told of whole rows of an insert table while the body still streams in: `lines` gives the rows after those of
 * the last piece, up to the last row `scanner` has read, as newline-delimited JSON (RowScanner.lines), whenever
 * it is called, written in `into` when that is large enough.
 */
export type RowsListener = (table: string, scanner: RowScanner, lines: (into?: Buffer) => Buffer) => void;

/**
 * Rows are offered to a RowsListener in pieces of at least this many bytes, and of at least the bytes the body
 * is still expected to take (its size hint): each statement that loads a piece costs DuckDB about as much as
 * 2,000 rows, so a body of the usual size is loaded in three or four pieces that shrink towards its end
 * (half of what is left each), and what is left when the body has arrived, loaded after it, is small.
 */
const PIECE_BYTES = 1024 * 1024;
/** a body's buffer starts at least this large */
const MIN_BODY_BYTES = 64 * 1024;

export class ResponseReader {
  /**
   * `sizeHint`: the bytes the body will likely take (the previous response's), so that it is allocated once;
   * `buffer`: one to read it into, when large enough (the last body's, which nothing reads any more)
   */
  constructor(
    private readonly onRows?: RowsListener,
    sizeHint = 0,
    buffer?: Buffer,
  ) {
    this.body = buffer && buffer.length >= sizeHint && buffer.length >= MIN_BODY_BYTES ? buffer : Buffer.allocUnsafeSlow(Math.max(MIN_BODY_BYTES, sizeHint));
    this.sizeHint = sizeHint;
  }

  /** The buffer the body is in; after the last use of what the reader gave, it may be given to the next one. */
  get buffer(): Buffer {
    return this.body;
  }

  private readonly sizeHint: number;

  /**
   * The body so far, in one buffer that grows as it arrives: rows, pieces and tables' rows are views of it,
   * not copies, and a row split between two chunks is read again where it lies (joining each chunk to the
   * bytes before it, and copying each piece and table out of a chunk list, was a quarter of a local sync's
   * allocations, and the garbage collections they caused). A view handed out stays valid when the buffer
   * grows: written bytes are never written again.
   */
  private body: Buffer;
  private total = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** the last string that ended at depth 1 and 2 (a key once a ':' follows), as [start, end) offsets */
  private lastString: [number, number] = [0, 0];
  private stringStart = 0;
  private topKey: string | undefined;
  private readonly topKeys = new Set<string>();
  private insertDepth2 = false;
  private table: string | undefined;
  /** the insert table whose rows are being read; no scanner once they are skipped to their end */
  private reading: {table: string; start: number; scanner: RowScanner | undefined; offered: number; offeredRows: number} | undefined;
  /** where a row that had not fully arrived starts: it is read again with the next chunk */
  private pendingAt: number | undefined;
  private readonly regions: {table: string; start: number; end: number; scanner: RowScanner | undefined}[] = [];
  private failed = false;

  write(chunk: Buffer): void {
    const base = this.total;
    const total = base + chunk.length;
    if (total > this.body.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(total, Math.ceil(this.body.length * 1.5)));
      this.body.copy(grown, 0, 0, base);
      this.body = grown;
    }
    chunk.copy(this.body, base);
    this.total = total;
    if (this.failed) return;
    try {
      const from = this.pendingAt ?? base;
      this.pendingAt = undefined;
      this.read(this.body.subarray(from, total), from);
    } catch {
      this.failed = true;
    }
  }

  /** The body as it arrived, as bytes (a view of the buffer). */
  raw(): Buffer {
    return this.body.subarray(0, this.total);
  }

  /** The body as it arrived, as text. */
  text(): string {
    return this.body.toString('utf8', 0, this.total);
  }

  /** The parsed body, or undefined when the caller must parse the text itself. */
  end(): ParsedBody | undefined {
    if (this.failed || this.pendingAt !== undefined || this.reading || this.depth !== 0 || this.inString || this.regions.length === 0) return undefined;
    try {
      let text = '';
      let at = 0;
      for (const {start, end} of this.regions) {
        text += this.bytes(at, start).toString('utf8');
        at = end;
      }
      text += this.bytes(at, this.total).toString('utf8');
      const found = {exactNumbers: 0};
      const value = parseExactJson(text, found) as {insert?: Record<string, unknown[]>};
      if (!isObject(value) || !isObject(value.insert)) return undefined;
      const scanned: Record<string, ScannedRows> = {};
      let exactNumbers = found.exactNumbers;
      for (const {table, start, end, scanner} of this.regions) {
        const rows = value.insert[table];
        if (!Array.isArray(rows) || rows.length !== 0) return undefined;
        const bytes = this.bytes(start, end);
        // DuckDB refuses text that is not UTF-8, which decoding the body replaces: such rows take the object path
        if (scanner && isUtf8(bytes)) {
          scanned[table] = scannedRows(scanner, this.body, bytes);
        } else {
          const more = {exactNumbers: 0};
          value.insert[table] = parseExactJson(`[${bytes.toString('utf8')}]`, more) as unknown[];
          exactNumbers += more.exactNumbers;
        }
      }
      return {value, scanned, exactNumbers, bytes: this.total};
    } catch {
      return undefined;
    }
  }

  /** The bytes [start, end) of the body so far. */
  private bytes(start: number, end: number): Buffer {
    return this.body.subarray(start, end);
  }

  /** Reads `buf`, whose first byte is at `base` in the body. */
  private read(buf: Buffer, base: number): void {
    let at = 0;
    while (at < buf.length) {
      const scanner = this.reading?.scanner;
      if (!scanner) {
        at = this.scan(buf, base, at);
        continue;
      }
      const next = scanner.scan(buf, at, base);
      if (scanner.state === 'incomplete') {
        const reading = this.reading!;
        const boundary = base + next;
        if (this.onRows && boundary - reading.offered >= Math.max(PIECE_BYTES, this.sizeHint - boundary) && scanner.count > reading.offeredRows) {
          // the body as it is now: bytes once written stay as they are, in this buffer too when it grows
          const body = this.body;
          const from = reading.offeredRows;
          const to = scanner.count;
          this.onRows(reading.table, scanner, (into) => scanner.lines(body, from, to, into));
          reading.offered = boundary;
          reading.offeredRows = scanner.count;
        }
        if (next < buf.length) this.pendingAt = base + next;
        return;
      }
      if (scanner.state === 'doubt') {
        // the rest of this table's rows are skipped to their end, from the row the scanner stopped at
        this.reading!.scanner = undefined;
        this.depth = 3;
        this.inString = false;
        this.escaped = false;
        at = next;
        continue;
      }
      // done: `next` is just past the list's "]"
      this.endRows(base + next - 1, scanner);
      this.depth = 2;
      at = next;
    }
  }

  private endRows(end: number, scanner: RowScanner | undefined): void {
    this.regions.push({table: this.reading!.table, start: this.reading!.start, end, scanner});
    this.reading = undefined;
    this.table = undefined;
  }

  /** The structure outside the rows read by a scanner, byte by byte; returns where a scanner takes over, or the end. */
  private scan(chunk: Buffer, base: number, from: number): number {
    // one pass over the bytes with the hot state in locals, indexing a plain Uint8Array (three times faster than the Buffer)
    const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    const length = bytes.length;
    let inString = this.inString;
    let escaped = this.escaped;
    let depth = this.depth;
    for (let i = from; i < length; i++) {
      const c = bytes[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) {
          inString = false;
          if (depth <= 2) this.lastString = [this.stringStart, base + i + 1];
        }
        continue;
      }
      if (c === QUOTE) {
        inString = true;
        if (depth <= 2) this.stringStart = base + i;
      } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        depth++;
        if (depth === 2) this.insertDepth2 = c === OPEN_BRACE && this.topKey === 'insert';
        else if (depth === 3 && this.insertDepth2 && c === OPEN_BRACKET && this.table !== undefined) {
          if (this.regions.some((r) => r.table === this.table)) throw new Error('a table twice');
          this.reading = {table: this.table, start: base + i + 1, scanner: new RowScanner(), offered: base + i + 1, offeredRows: 0};
          this.depth = depth;
          this.inString = false;
          this.escaped = false;
          return i + 1;
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (depth === 3 && this.reading) this.endRows(base + i, undefined);
        depth--;
        if (depth < 0) throw new Error('unbalanced');
      } else if (c === COLON) {
        if (depth === 1) {
          const key = JSON.parse(this.bytes(...this.lastString).toString('utf8')) as string;
          if (this.topKeys.has(key)) throw new Error('a key twice');
          this.topKeys.add(key);
          this.topKey = key;
        } else if (depth === 2 && this.insertDepth2) {
          this.table = JSON.parse(this.bytes(...this.lastString).toString('utf8')) as string;
        }
      }
    }
    this.inString = inString;
    this.escaped = escaped;
    this.depth = depth;
    return length;
  }
}

/** A whole body read as ResponseReader reads one that streams in. */
function readBody(body: string): ParsedBody | undefined {
  const reader = new ResponseReader();
  reader.write(Buffer.from(body, 'utf8'));
  return reader.end();
}

/**
 * Checks an answer and returns the parsed response, or throws ProtocolViolation listing what is wrong
 * (at most five problems). `status` other than 200 is a failure of the call. `parsed` is the body as a
 * ResponseReader read it while it arrived; without it the body is parsed here.
 */
/**
 * `body` may be a function giving the text: a parsed answer's text is read only to report a problem, and decoding
 * 8 MiB of it for nothing was an eighth of a local sync's time.
 */
export function checkResponse(status: number, givenBody: string | (() => string), options: {capBytes?: number; parsed?: ParsedBody} = {}): CheckedResponse {
  let text: string | undefined;
  const bodyText = () => (text ??= typeof givenBody === 'string' ? givenBody : givenBody());
  const capBytes = options.capBytes ?? PLATFORM_RESPONSE_CAP_BYTES;
  if (status !== 200) throw new ProtocolViolation([describeErrorAnswer(status, bodyText())]);
  const bytes = options.parsed?.bytes ?? Buffer.byteLength(bodyText(), 'utf8');
  if (bytes > capBytes) {
    throw new ProtocolViolation([`the response is ${bytes} bytes, over the ${capBytes}-byte cap; checkpoint more often or lower the function's response_cap_bytes`]);
  }
  // a text body (an in-process call) is read as an HTTP body is, so that both take the same path
  const read = options.parsed ?? readBody(bodyText());
  const scanned = read?.scanned ?? {};
  let parsed: unknown;
  const found = {exactNumbers: read?.exactNumbers ?? 0};
  try {
    parsed = read ? read.value : parseExactJson(bodyText(), found);
  } catch (error) {
    if (error instanceof RangeError) throw new ProtocolViolation(['the response is nested too deeply to read; keep rows and state to a sensible depth']);
    const trimmed = bodyText().trim();
    throw new ProtocolViolation([
      trimmed === '' ? 'the response body is empty; answer a JSON object {state, insert, delete, schema, hasMore}' : `the response is not JSON (${(error as Error).message}); answer a JSON object {state, insert, delete, schema, hasMore}`,
    ]);
  }
  if (!isObject(parsed)) throw new ProtocolViolation([`the response is ${describe(parsed)}; answer a JSON object {state, insert, delete, schema, hasMore}`]);

  const problems: string[] = [];
  const warnings: string[] = [];
  const problem = (text: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(text);
    return problems.length < MAX_PROBLEMS;
  };
  const unknown = Object.keys(parsed).filter((key) => !KNOWN_KEYS.has(key));
  if (unknown.length) warnings.push(`the response has key${unknown.length > 1 ? 's' : ''} Fivetran ignores: ${unknown.map((k) => `"${k}"`).join(', ')}`);

  for (const key of ['state', 'insert', 'delete', 'schema'] as const) {
    if (!(key in parsed)) problem(`"${key}" is missing; it must be an object${key === 'state' ? ' (the state for the next call)' : ' ({} when empty)'}`);
    else if (!isObject(parsed[key])) problem(`"${key}" is ${describe(parsed[key])}; it must be an object`);
  }
  if (isObject(parsed.state) && nestedDeeperThan(parsed.state, MAX_NESTING_DEPTH)) {
    problem(`"state" is nested more than ${MAX_NESTING_DEPTH} levels deep; Fivetran could not send it back (the function refuses such a state)`);
  }
  if (!('hasMore' in parsed)) problem('"hasMore" is missing; it must be true or false');
  else if (typeof parsed.hasMore !== 'boolean') problem(`"hasMore" is ${describe(parsed.hasMore)}; it must be true or false (a JSON boolean, not a string)`);

  const schema: Record<string, {primary_key?: string[]}> = {};
  if (isObject(parsed.schema)) {
    for (const [table, entry] of Object.entries(parsed.schema)) {
      if (!isObject(entry)) {
        problem(`schema.${table} is ${describe(entry)}; it must be an object like {"primary_key": ["id"]}`);
        continue;
      }
      const key = entry.primary_key;
      if (key === undefined || key === null) {
        schema[table] = {};
      } else if (!Array.isArray(key) || key.some((column) => typeof column !== 'string' || column === '')) {
        problem(`schema.${table}.primary_key is ${describe(key)}; it must be a list of column names`);
      } else if (new Set(key).size !== key.length) {
        problem(`schema.${table}.primary_key lists a column twice: ${JSON.stringify(key)}`);
      } else {
        schema[table] = key.length ? {primary_key: key as string[]} : {};
      }
    }
  }
  const schemaKnown = isObject(parsed.schema);
  const primaryKeyOf = (table: string) => schema[table]?.primary_key ?? [];

  /** insert tables that stay as bytes for the warehouse: their rows are parsed only when someone reads them */
  const kept: Record<string, ScannedRows> = {};
  const rowsOf = (section: 'insert' | 'delete'): Record<string, Row[]> => {
    const out: Record<string, Row[]> = {};
    const value = parsed[section];
    if (!isObject(value)) return out;
    for (const [table, listed] of Object.entries(value)) {
      const fromBytes = section === 'insert' ? scanned[table] : undefined;
      if (!Array.isArray(listed)) {
        problem(`${section}.${table} is ${describe(listed)}; it must be a list of rows`);
        continue;
      }
      let rows: unknown[] = listed;
      const length = fromBytes ? fromBytes.count : rows.length;
      if (schemaKnown && !(table in (parsed.schema as object))) {
        problem(`${section}.${table} has ${length} row${length === 1 ? '' : 's'} but "${table}" is missing from "schema"; add "${table}": {"primary_key": [...]} (or {} to append)`);
        continue;
      }
      const key = primaryKeyOf(table);
      if (fromBytes) {
        // the scanner has checked every row but the primary key, which it could not know yet
        if (key.every((column) => fromBytes.nonNull(column) === fromBytes.count)) {
          kept[table] = fromBytes;
          Object.defineProperty(out, table, {enumerable: true, configurable: true, get: () => fromBytes.rows()});
          continue;
        }
        rows = fromBytes.rows();
      }
      if (section === 'delete' && rows.length > 0 && key.length === 0 && table in schema) {
        problem(`delete.${table} has rows but schema.${table} has no primary_key; deletes need a primary key to find the rows`);
        continue;
      }
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        if (!isObject(row)) {
          if (!problem(`${section}.${table}[${i}] is ${describe(row)}; each row must be an object`)) break;
          continue;
        }
        const missing = key.filter((column) => row[column] === undefined || row[column] === null);
        if (missing.length) {
          const what = section === 'delete' ? 'delete rows must carry the primary key' : 'rows of a table with a primary key must carry it';
          if (!problem(`${section}.${table}[${i}] lacks primary key column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')}; ${what}`)) break;
          continue;
        }
        if (section === 'insert') {
          // the regex only where a name can match: a test per column of every row was a fifth of the checks
          const reserved = Object.keys(row).find((column) => column.charCodeAt(0) === 95 /* _ */ && RESERVED_COLUMN.test(column));
          if (reserved && !problem(`insert.${table}[${i}] has column "${reserved}"; names starting with _fivetran_ are Fivetran's system columns`)) break;
        }
      }
      out[table] = rows as Row[];
    }
    return out;
  };
  const insert = rowsOf('insert');
  const deletes = rowsOf('delete');

  let softDelete: string[] = [];
  if (parsed.softDelete !== undefined && parsed.softDelete !== null) {
    if (!Array.isArray(parsed.softDelete) || parsed.softDelete.some((t) => typeof t !== 'string')) {
      problem(`"softDelete" is ${describe(parsed.softDelete)}; it must be a list of table names`);
    } else {
      softDelete = parsed.softDelete as string[];
      for (const table of softDelete) {
        if (schemaKnown && !(table in (parsed.schema as object))) problem(`softDelete lists "${table}", which is missing from "schema"`);
        else if (table in schema && primaryKeyOf(table).length === 0) problem(`softDelete lists "${table}", which has no primary_key; soft deletes need one`);
      }
    }
  }

  if (problems.length) throw new ProtocolViolation(problems);
  return {
    state: parsed.state as State,
    insert,
    scanned: kept,
    delete: deletes,
    schema,
    softDelete,
    hasMore: parsed.hasMore as boolean,
    bytes,
    warnings,
    ...(found.exactNumbers ? {exactNumbers: found.exactNumbers} : {}),
  };
}

/** Rows of one insert table, without parsing a scanned table's rows. */
export function insertedRows(response: Pick<CheckedResponse, 'insert'> & {scanned?: Record<string, ScannedRows>}, table: string): number {
  return response.scanned?.[table]?.count ?? response.insert[table]?.length ?? 0;
}

/** Rows in the insert and delete sections; a response with none is "empty" for the 10-empty-responses rule. */
export function rowCount(response: Pick<CheckedResponse, 'insert' | 'delete' | 'scanned'>): number {
  let total = 0;
  for (const table of Object.keys(response.insert)) total += insertedRows(response, table);
  for (const rows of Object.values(response.delete)) total += rows.length;
  return total;
}
