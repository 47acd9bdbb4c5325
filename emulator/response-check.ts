// Strict checks of one Function response (docs/fivetran.md §1), as `./fivetran sync` plays Fivetran's side: the
// HTTP status, the size cap, JSON, every key and its type, tables missing from `schema`, primary keys on
// deletes and keyed inserts. Each problem is one sentence naming the exact key; a response with problems is
// never applied to the warehouse.
import {MAX_NESTING_DEPTH, nestedDeeperThan} from '../sdk/function-adapter.js';
import type {Row, State} from '../sdk/types.js';
import {ExactNumber, parseExactJson} from './exact-json.js';

/** Cloud Functions (2nd gen) caps HTTP responses at 32 MiB; Fivetran never sees a bigger body. */
export const PLATFORM_RESPONSE_CAP_BYTES = 32 * 1024 * 1024;

export interface CheckedResponse {
  state: State;
  insert: Record<string, Row[]>;
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
const RESERVED_COLUMN = /^_fivetran_/i;

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

/** A body parsed as it arrived (see ResponseReader): what parseExactJson would have made of it. */
export interface ParsedBody {
  value: unknown;
  exactNumbers: number;
  /** size of the body in bytes */
  bytes: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
/** rows are parsed in pieces of about this many bytes as they arrive */
const ROWS_PIECE_BYTES = 256 * 1024;
/** failed guesses at a piece's end before waiting for another piece of bytes */
const PIECE_GUESSES = 8;
const ROW_END = Buffer.from('},');

/**
 * Parses a response body while it arrives, so that parsing an 8 MiB response overlaps the function writing
 * it (it streams its rows as each checkpoint commits) instead of starting when the last byte is in.
 *
 * The body's structure is scanned (strings, escapes, nesting) up to the rows of its first `insert` table.
 * Those rows are not scanned byte by byte as they stream in: every ROWS_PIECE_BYTES, the text up to the next
 * "}," is parsed as a list of rows with parseExactJson. That text parses only when the "}," ends a row of the
 * table (one inside a string leaves the string open, one inside a nested value leaves a bracket open), so a
 * piece that parses is exactly some rows; one that does not is guessed again further on. At the end, what
 * was not parsed in pieces is scanned, the rest of the rows parsed, and the body with the rows cut out (a few
 * KB: state, schema, hasMore, deletes) parsed and the rows put back.
 *
 * Any body this does not read with certainty (a top-level key or an insert table twice, rows that are not
 * JSON, a structure cut short) gives undefined from end(), and the caller parses the whole text as before,
 * so every answer and every message stays that of checkResponse on the text.
 */
export class ResponseReader {
  private readonly chunks: Buffer[] = [];
  private total = 0;
  /** true while the rows of the first insert table stream in, unscanned, from pieceStart */
  private streaming = false;
  private streamed = false;
  private nextGuessAt = 0;
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
  private readonly rows: Record<string, unknown[]> = {};
  /** [start, end) of each insert table's rows, cut from the body at the end */
  private readonly cuts: [number, number][] = [];
  private pieceStart = -1;
  private rowsStart = 0;
  private exactNumbers = 0;
  private failed = false;

  write(chunk: Buffer): void {
    const base = this.total;
    this.chunks.push(chunk);
    this.total += chunk.length;
    if (this.failed) return;
    try {
      if (!this.streaming) this.scan(chunk, base, 0);
      if (this.streaming && this.total >= this.nextGuessAt) this.guessPieces();
    } catch {
      this.failed = true;
    }
  }

  /** The parsed body, or undefined when the caller must parse the text itself. */
  end(): ParsedBody | undefined {
    if (this.failed) return undefined;
    try {
      if (this.streaming) {
        // what streamed in since the last piece: scanned now, from a row boundary at depth 3
        this.streaming = false;
        this.streamed = true;
        const start = this.pieceStart;
        this.scan(this.bytes(start, this.total), start, 0);
      }
      if (this.depth !== 0 || this.inString || this.cuts.length === 0) return undefined;
      let text = '';
      let at = 0;
      for (const [start, end] of this.cuts) {
        text += this.bytes(at, start).toString('utf8');
        at = end;
      }
      text += this.bytes(at, this.total).toString('utf8');
      const found = {exactNumbers: 0};
      const value = parseExactJson(text, found) as {insert?: Record<string, unknown[]>};
      if (!isObject(value) || !isObject(value.insert)) return undefined;
      for (const [table, rows] of Object.entries(this.rows)) {
        if (!Array.isArray(value.insert[table]) || value.insert[table].length !== 0) return undefined;
        value.insert[table] = rows;
      }
      return {value, exactNumbers: this.exactNumbers + found.exactNumbers, bytes: this.total};
    } catch {
      return undefined;
    }
  }

  /** The bytes [start, end) of the body so far. */
  private bytes(start: number, end: number): Buffer {
    const parts: Buffer[] = [];
    let base = this.total;
    for (let i = this.chunks.length - 1; i >= 0 && base > start; i--) {
      const chunk = this.chunks[i]!;
      base -= chunk.length;
      if (base < end) parts.push(chunk.subarray(Math.max(0, start - base), Math.min(chunk.length, end - base)));
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts.reverse());
  }

  /** Adds the rows [pieceStart, end) of the current table (whole rows, without a final comma). */
  private addPiece(rows: unknown[], end: number): void {
    const into = this.rows[this.table!]!;
    for (const row of rows) into.push(row);
    this.pieceStart = end + 1;
  }

  /** Parses the rows [pieceStart, end) of the current table, which must be whole rows. */
  private piece(end: number): void {
    const afterComma = this.pieceStart !== this.rowsStart;
    const found = {exactNumbers: 0};
    const rows = end > this.pieceStart ? (parseExactJson(`[${this.bytes(this.pieceStart, end).toString('utf8')}]`, found) as unknown[]) : [];
    // after a comma there must be a row: "[1, ]" is not JSON
    if (afterComma && rows.length === 0) throw new Error('a comma without a row');
    this.exactNumbers += found.exactNumbers;
    this.addPiece(rows, end);
  }

  /** While rows stream in: parses whole pieces of them, each ended where a guessed "}," turns out to end a row. */
  private guessPieces(): void {
    while (this.total - this.pieceStart >= 2 * ROWS_PIECE_BYTES) {
      const pending = this.bytes(this.pieceStart, this.total);
      let from = ROWS_PIECE_BYTES;
      let parsed = false;
      for (let guess = 0; guess < PIECE_GUESSES && !parsed; guess++) {
        const at = pending.indexOf(ROW_END, from);
        if (at === -1) break;
        const found = {exactNumbers: 0};
        try {
          const rows = parseExactJson(`[${pending.toString('utf8', 0, at + 1)}]`, found) as unknown[];
          this.exactNumbers += found.exactNumbers;
          this.addPiece(rows, this.pieceStart + at + 1);
          parsed = true;
        } catch {
          from = at + 1;
        }
      }
      if (!parsed) {
        this.nextGuessAt = this.total + ROWS_PIECE_BYTES;
        return;
      }
    }
  }

  private scan(chunk: Buffer, base: number, from: number): void {
    // one pass over the bytes with the hot state in locals
    const length = chunk.length;
    let inString = this.inString;
    let escaped = this.escaped;
    let depth = this.depth;
    for (let i = from; i < length; i++) {
      const c = chunk[i]!;
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
          this.rows[this.table] = [];
          this.rowsStart = this.pieceStart = base + i + 1;
          if (!this.streamed) {
            // the first table's rows: parsed in pieces as they stream in, not scanned
            this.streaming = true;
            this.depth = depth;
            this.inString = false;
            this.escaped = false;
            this.nextGuessAt = 0;
            return;
          }
        }
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        if (depth === 3 && this.pieceStart !== -1) {
          const end = base + i;
          this.piece(end);
          this.cuts.push([this.rowsStart, end]);
          this.pieceStart = -1;
          this.table = undefined;
        }
        depth--;
        if (depth < 0) throw new Error('unbalanced');
      } else if (c === COMMA) {
        if (depth === 3 && this.pieceStart !== -1 && base + i - this.pieceStart >= ROWS_PIECE_BYTES) this.piece(base + i);
      } else if (c === COLON) {
        if (depth === 1) {
          const key = JSON.parse(this.bytes(...this.lastString).toString('utf8')) as string;
          if (this.topKeys.has(key)) throw new Error('a key twice');
          this.topKeys.add(key);
          this.topKey = key;
        } else if (depth === 2 && this.insertDepth2) {
          const table = JSON.parse(this.bytes(...this.lastString).toString('utf8')) as string;
          if (table in this.rows) throw new Error('a table twice');
          this.table = table;
        }
      }
    }
    this.inString = inString;
    this.escaped = escaped;
    this.depth = depth;
  }
}

/**
 * Checks an answer and returns the parsed response, or throws ProtocolViolation listing what is wrong
 * (at most five problems). `status` other than 200 is a failure of the call. `parsed` is the body as a
 * ResponseReader read it while it arrived; without it the body is parsed here.
 */
export function checkResponse(status: number, body: string, options: {capBytes?: number; parsed?: ParsedBody} = {}): CheckedResponse {
  const capBytes = options.capBytes ?? PLATFORM_RESPONSE_CAP_BYTES;
  if (status !== 200) throw new ProtocolViolation([describeErrorAnswer(status, body)]);
  const bytes = options.parsed?.bytes ?? Buffer.byteLength(body, 'utf8');
  if (bytes > capBytes) {
    throw new ProtocolViolation([`the response is ${bytes} bytes, over the ${capBytes}-byte cap; checkpoint more often or lower the function's response_cap_bytes`]);
  }
  let parsed: unknown;
  const found = {exactNumbers: options.parsed?.exactNumbers ?? 0};
  try {
    parsed = options.parsed ? options.parsed.value : parseExactJson(body, found);
  } catch (error) {
    if (error instanceof RangeError) throw new ProtocolViolation(['the response is nested too deeply to read; keep rows and state to a sensible depth']);
    const text = body.trim();
    throw new ProtocolViolation([
      text === '' ? 'the response body is empty; answer a JSON object {state, insert, delete, schema, hasMore}' : `the response is not JSON (${(error as Error).message}); answer a JSON object {state, insert, delete, schema, hasMore}`,
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

  const rowsOf = (section: 'insert' | 'delete'): Record<string, Row[]> => {
    const out: Record<string, Row[]> = {};
    const value = parsed[section];
    if (!isObject(value)) return out;
    for (const [table, rows] of Object.entries(value)) {
      if (!Array.isArray(rows)) {
        problem(`${section}.${table} is ${describe(rows)}; it must be a list of rows`);
        continue;
      }
      if (schemaKnown && !(table in (parsed.schema as object))) {
        problem(`${section}.${table} has ${rows.length} row${rows.length === 1 ? '' : 's'} but "${table}" is missing from "schema"; add "${table}": {"primary_key": [...]} (or {} to append)`);
        continue;
      }
      const key = primaryKeyOf(table);
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
    delete: deletes,
    schema,
    softDelete,
    hasMore: parsed.hasMore as boolean,
    bytes,
    warnings,
    ...(found.exactNumbers ? {exactNumbers: found.exactNumbers} : {}),
  };
}

/** Rows in the insert and delete sections; a response with none is "empty" for the 10-empty-responses rule. */
export function rowCount(response: Pick<CheckedResponse, 'insert' | 'delete'>): number {
  let total = 0;
  for (const rows of Object.values(response.insert)) total += rows.length;
  for (const rows of Object.values(response.delete)) total += rows.length;
  return total;
}
