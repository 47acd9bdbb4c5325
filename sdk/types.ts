// The Function connector protocol (docs/fivetran.md §1) and the protocol-neutral records a connector emits.

export type JsonValue = string | number | boolean | null | JsonValue[] | {[key: string]: JsonValue};
export type JsonObject = {[key: string]: JsonValue};
export type State = JsonObject;
export type Row = Record<string, unknown>;

/** What Fivetran POSTs to the function. */
export interface FunctionRequest {
  agent?: string;
  state?: State;
  secrets?: Record<string, unknown>;
  sync_id?: string;
  setup_test?: boolean;
}

export interface TableSchemaEntry {
  primary_key?: string[];
}

/** What the function answers with 200. */
export interface FunctionResponse {
  state: State;
  insert: Record<string, Row[]>;
  delete: Record<string, Row[]>;
  schema: Record<string, TableSchemaEntry>;
  hasMore: boolean;
  softDelete?: string[];
}

export interface FunctionErrorBody {
  errorMessage: string;
  errorType: string;
}

/** Column types, named after the Partner SDK's DataType so one declaration serves both protocols. */
export type ColumnType =
  | 'boolean' | 'short' | 'int' | 'long' | 'float' | 'double'
  | 'naive_date' | 'naive_datetime' | 'utc_datetime'
  | 'binary' | 'xml' | 'string' | 'json'
  | {type: 'decimal'; precision?: number; scale?: number};

export interface TableSpec {
  /** primary key columns; none means rows are appended (Fivetran keys them by batch and index) */
  primaryKey?: readonly string[];
  /** known columns and their types; columns not listed are inferred from values */
  columns?: Readonly<Record<string, ColumnType>>;
  /** deletes mark `_fivetran_deleted = true` instead of removing rows */
  softDelete?: boolean;
  description?: string;
}

/** Records a connector's `sync` yields. Build them with the helpers below. */
export type Emit =
  | {kind: 'upsert'; table: string; row: Row}
  /**
   * rows already serialized by the source: `json` is one or more JSON objects separated by commas, as text or
   * as its UTF-8 bytes (bytes go to the response as they are, never decoded into a string)
   */
  | {kind: 'upsertJson'; table: string; json: string | Buffer; count: number}
  | {kind: 'delete'; table: string; keys: Row}
  | {kind: 'checkpoint'; state: State}
  /** declares a table discovered at run time (e.g. a replicated source table) */
  | {kind: 'table'; table: string; spec: TableSpec}
  /** a non-fatal problem worth a person's attention */
  | {kind: 'warning'; message: string};

export const upsert = (table: string, row: Row): Emit => ({kind: 'upsert', table, row});
export const upsertJson = (table: string, json: string | Buffer, count: number): Emit => ({kind: 'upsertJson', table, json, count});
export const remove = (table: string, keys: Row): Emit => ({kind: 'delete', table, keys});
export const checkpoint = (state: State): Emit => ({kind: 'checkpoint', state});
export const declareTable = (table: string, spec: TableSpec): Emit => ({kind: 'table', table, spec});
export const warning = (message: string): Emit => ({kind: 'warning', message});
