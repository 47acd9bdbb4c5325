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

/**
 * Checks an answer and returns the parsed response, or throws ProtocolViolation listing what is wrong
 * (at most five problems). `status` other than 200 is a failure of the call.
 */
export function checkResponse(status: number, body: string, options: {capBytes?: number} = {}): CheckedResponse {
  const capBytes = options.capBytes ?? PLATFORM_RESPONSE_CAP_BYTES;
  if (status !== 200) throw new ProtocolViolation([describeErrorAnswer(status, body)]);
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > capBytes) {
    throw new ProtocolViolation([`the response is ${bytes} bytes, over the ${capBytes}-byte cap; checkpoint more often or lower the function's response_cap_bytes`]);
  }
  let parsed: unknown;
  const found = {exactNumbers: 0};
  try {
    parsed = parseExactJson(body, found);
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
          const reserved = Object.keys(row).find((column) => RESERVED_COLUMN.test(column));
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
