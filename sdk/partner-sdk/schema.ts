// Tables as the Partner SDK describes them: TableSpec (primary key, column types) → Table/Column with
// DataType and DecimalParams. Tables are the connector's declared `tables` plus what its optional `discover`
// finds in the source, so the `Schema` call can list tables a sync would only declare at run time.
import type {Connector} from '../connector.js';
import type {ColumnType, TableSpec} from '../types.js';
import type {Column} from './generated/fivetran_sdk/v2/Column.js';
import type {DataType} from './generated/fivetran_sdk/v2/DataType.js';
import type {Table} from './generated/fivetran_sdk/v2/Table.js';
import type {Logger} from '../log.js';

type DataTypeName = Exclude<DataType, number>;

const DATA_TYPES: Record<Exclude<ColumnType, object>, DataTypeName> = {
  boolean: 'BOOLEAN',
  short: 'SHORT',
  int: 'INT',
  long: 'LONG',
  float: 'FLOAT',
  double: 'DOUBLE',
  naive_date: 'NAIVE_DATE',
  naive_datetime: 'NAIVE_DATETIME',
  utc_datetime: 'UTC_DATETIME',
  binary: 'BINARY',
  xml: 'XML',
  string: 'STRING',
  json: 'JSON',
};

/** The Column for one declared column; `primaryKey` columns without a declared type are UNSPECIFIED (Fivetran infers). */
export function toColumn(name: string, type: ColumnType | undefined, primaryKey: boolean): Column {
  if (type === undefined) return {name, type: 'UNSPECIFIED', primary_key: primaryKey};
  if (typeof type === 'object') {
    const column: Column = {name, type: 'DECIMAL', primary_key: primaryKey};
    // Without a precision Fivetran infers one; a scale alone is meaningless.
    if (type.precision !== undefined) column.params = {decimal: {precision: type.precision, scale: type.scale ?? 0}};
    return column;
  }
  return {name, type: DATA_TYPES[type], primary_key: primaryKey};
}

/** The Table for a TableSpec: primary key columns first (in key order), then the other declared columns. */
export function toTable(name: string, spec: TableSpec): Table {
  const key = [...(spec.primaryKey ?? [])];
  const columns = spec.columns ?? {};
  const names = [...key, ...Object.keys(columns).filter((column) => !key.includes(column))];
  return {name, columns: names.map((column) => toColumn(column, columns[column], key.includes(column)))};
}

/** Declared tables merged with discovered ones (a discovered spec replaces a declared one of the same name). */
export async function knownTables(
  connector: Connector,
  ctx: {secrets: () => unknown; log: Logger; signal: AbortSignal},
): Promise<Map<string, TableSpec>> {
  const tables = new Map<string, TableSpec>(Object.entries(connector.tables));
  if (connector.discover) {
    const discovered = await connector.discover({secrets: ctx.secrets() as never, log: ctx.log, signal: ctx.signal});
    for (const [name, spec] of Object.entries(discovered)) tables.set(name, spec);
  }
  return tables;
}
