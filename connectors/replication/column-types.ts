// How each PostgreSQL type travels: the ColumnType declared for the destination, and the SQL expression
// that gives its JSON value, so PostgreSQL writes each row's JSON text and Node never parses or rebuilds it.
//
// Values keep their meaning:
// - numeric → a JSON string with PostgreSQL's exact decimal text ("1029.98", "NaN"); declared decimal(p,s).
// - bigint → a JSON number when it is within ±(2^53-1) (every JSON reader keeps it exact), else a string.
// - timestamptz → ISO-8601 with the offset ("2024-01-15T10:30:00+00:00"; the session runs in UTC);
//   timestamp → ISO-8601 without offset; date → "2024-01-15".
// - json / jsonb → the JSON object itself; bytea → base64; arrays → JSON arrays (of strings for
//   numeric[] / bigint[], to stay exact); booleans → true/false; NULL → null.
import type {ColumnType} from '../../sdk/index.js';
import {quoteIdent} from '../../sdk/postgres.js';
import type {SourceColumn} from './discovery.js';

const MAX_SAFE = '9007199254740991';

/** The destination type of a source column. */
export function columnType(column: SourceColumn): ColumnType {
  if (column.category === 'A') return 'json';
  // a user's type is not the built-in type of the same name (a composite named int8 is an object)
  if (!column.builtinType) return column.category === 'C' ? 'json' : 'string';
  switch (column.baseType) {
    case 'int2':
      return 'short';
    case 'int4':
    case 'oid':
      return 'int';
    case 'int8':
      return 'long';
    case 'float4':
      return 'float';
    case 'float8':
      return 'double';
    case 'numeric':
      return column.precision !== null ? {type: 'decimal', precision: column.precision, scale: column.scale ?? 0} : {type: 'decimal'};
    case 'bool':
      return 'boolean';
    case 'date':
      return 'naive_date';
    case 'timestamp':
      return 'naive_datetime';
    case 'timestamptz':
      return 'utc_datetime';
    case 'json':
    case 'jsonb':
      return 'json';
    case 'bytea':
      return 'binary';
    case 'xml':
      return 'xml';
    default:
      return 'string';
  }
}

/** The SQL expression of a column's JSON value, reading from the alias `t`. */
export function jsonValueExpression(column: SourceColumn, alias = 't'): string {
  const ref = `${alias}.${quoteIdent(column.name)}`;
  if (!column.builtinType && column.category !== 'A') return ref;
  if (column.category === 'A') {
    if (column.elementType === 'numeric' || column.elementType === 'int8' || column.elementType === 'money') return `${ref}::text[]`;
    if (column.elementType === 'bytea') return `(SELECT array_agg(translate(encode(e, 'base64'), E'\\n', '')) FROM unnest(${ref}) e)`;
    return ref;
  }
  switch (column.baseType) {
    case 'int8':
      return `CASE WHEN ${ref} BETWEEN -${MAX_SAFE} AND ${MAX_SAFE} THEN to_json(${ref}) ELSE to_json(${ref}::text) END`;
    case 'numeric':
    case 'money':
      return `${ref}::text`;
    case 'bytea':
      // encode() breaks base64 lines every 76 characters; JSON consumers want one string
      return `translate(encode(${ref}, 'base64'), E'\\n', '')`;
    default:
      return ref;
  }
}

/** The value as text for keyset state (exact, castable back with `::type`). */
export function keyTextExpression(column: SourceColumn, alias = 't'): string {
  return `${alias}.${quoteIdent(column.name)}::text`;
}
