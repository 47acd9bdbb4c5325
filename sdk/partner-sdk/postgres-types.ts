// PostgreSQL column types → ColumnType, for connectors that describe PostgreSQL tables (the replication
// connector's `discover` and `declareTable`). Input is `format_type(atttypid, atttypmod)` text, e.g.
// `numeric(12,2)`, `timestamp with time zone`, `character varying(40)`, `integer[]`.
import type {ColumnType} from '../types.js';

const SIMPLE: Record<string, ColumnType> = {
  boolean: 'boolean',
  smallint: 'short',
  integer: 'int',
  bigint: 'long',
  real: 'float',
  'double precision': 'double',
  date: 'naive_date',
  'timestamp without time zone': 'naive_datetime',
  'timestamp with time zone': 'utc_datetime',
  json: 'json',
  jsonb: 'json',
  xml: 'xml',
  bytea: 'binary',
  // Sources must not send NAIVE_TIME (only partner destinations accept it): times travel as text.
  'time without time zone': 'string',
  'time with time zone': 'string',
  interval: 'string',
  uuid: 'string',
  text: 'string',
  // money's text carries a currency symbol, so it is not a decimal.
  money: 'string',
};

/** The ColumnType of a PostgreSQL type as `format_type` prints it; unknown types (enums, domains, ranges) are strings. */
export function columnTypeFromPostgres(formatType: string): ColumnType {
  const type = formatType.trim().toLowerCase();
  if (type.endsWith('[]')) return 'json';
  const numeric = /^(?:numeric|decimal)(?:\((\d+)(?:,\s*(-?\d+))?\))?$/.exec(type);
  if (numeric) {
    if (numeric[1] === undefined) return {type: 'decimal'};
    const scale = Number(numeric[2] ?? '0');
    // PostgreSQL 15+ allows a negative scale or one above the precision; Fivetran's DecimalParams does not.
    if (scale < 0 || scale > Number(numeric[1])) return {type: 'decimal'};
    return {type: 'decimal', precision: Number(numeric[1]), scale};
  }
  const base = type.replace(/\(\d+\)/g, '').replace(/\s+/g, ' ').trim();
  if (base in SIMPLE) return SIMPLE[base] as ColumnType;
  return 'string';
}
