// The Function connector protocol (docs/fivetran.md §1) and the protocol-neutral records a connector emits.
import type {RecordsChunk} from './partner-sdk/record-rows.js';

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
  /** declared columns never null besides the primary key (row types derived with RowOf say so) */
  notNull?: readonly string[];
  description?: string;
}

/** Records a connector's `sync` yields; `S` is the connector's state (its `state` schema). Build them with the helpers below. */
export type Emit<S = State> =
  | {kind: 'upsert'; table: string; row: Row}
  /**
   * rows already serialized by the source: `json` is one or more JSON objects separated by commas, as text or
   * as its UTF-8 bytes (bytes go to the response as they are, never decoded into a string)
   */
  | {kind: 'upsertJson'; table: string; json: string | Buffer; count: number}
  /**
   * rows the connector wrote as Partner SDK `Record` bytes with `ctx.records` (sdk/partner-sdk/record-rows.ts),
   * which only the Partner SDK adapter offers: a connector yields these only when `ctx.records` is set. Once
   * yielded, the chunk's memory is the adapter's (it writes each batch's header into it, and uses it again)
   */
  | {kind: 'upsertRecords'; table: string; records: RecordsChunk}
  | {kind: 'delete'; table: string; keys: Row}
  /**
   * `endCall`: a Function call ends at this checkpoint with `hasMore: true` (when it made progress), so what
   * follows goes in the next response of the same sync. For records one response cannot carry in order:
   * Fivetran applies a response's upserts before its deletes, so a key deleted and then inserted again must
   * not share one. The Partner SDK streams records in order and ignores it.
   */
  | {kind: 'checkpoint'; state: S; endCall?: boolean}
  /** declares a table discovered at run time (e.g. a replicated source table) */
  | {kind: 'table'; table: string; spec: TableSpec}
  /** a non-fatal problem worth a person's attention */
  | {kind: 'warning'; message: string};

// Records other than checkpoints fit a sync of any state (Emit<never>).
export const upsert = (table: string, row: Row): Emit<never> => ({kind: 'upsert', table, row});
export const upsertJson = (table: string, json: string | Buffer, count: number): Emit<never> => ({kind: 'upsertJson', table, json, count});
export const upsertRecords = (records: RecordsChunk): Emit<never> => ({kind: 'upsertRecords', table: records.layout.table, records});
export const remove = (table: string, keys: Row): Emit<never> => ({kind: 'delete', table, keys});
/** the state to resume from, of the type the connector's `state` schema declares; it goes to Fivetran as JSON */
export const checkpoint = <S extends object = State>(state: S, options: {endCall?: boolean} = {}): Emit<S> =>
  options.endCall ? {kind: 'checkpoint', state, endCall: true} : {kind: 'checkpoint', state};
export const declareTable = (table: string, spec: TableSpec): Emit<never> => ({kind: 'table', table, spec});
export const warning = (message: string): Emit<never> => ({kind: 'warning', message});

/** The TypeScript type of a value of a column type. */
export type ColumnValue<T extends ColumnType> =
  T extends 'boolean' ? boolean
    : T extends 'short' | 'int' | 'long' | 'float' | 'double' ? number
      : T extends 'binary' ? Uint8Array | string
        : T extends 'json' ? JsonValue
          : T extends {type: 'decimal'} ? string | number
            : string;

type ListedIn<Spec, Field extends 'primaryKey' | 'notNull'> = Spec extends {[F in Field]: readonly (infer Name)[]} ? Name : never;

/**
 * The row type of a table, derived from its declared columns: primary key and `notNull` columns are never
 * null, the others may be. Declare the tables `as const satisfies Record<string, TableSpec>` so the types survive.
 */
export type RowOf<Spec extends TableSpec> = Spec extends {columns: infer Columns extends Readonly<Record<string, ColumnType>>}
  ? {
      -readonly [Column in keyof Columns & string]: Column extends ListedIn<Spec, 'primaryKey'> | ListedIn<Spec, 'notNull'>
        ? ColumnValue<Columns[Column]>
        : ColumnValue<Columns[Column]> | null;
    }
  : Row;
