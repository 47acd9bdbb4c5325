// Turns pgoutput's text tuple values into the same JSON the keyset path writes (row-encoder.ts: PostgreSQL's
// to_json of the column), so a row that arrives through change data capture lands exactly as the full load
// landed it. The session that peeks the slot runs with DateStyle ISO and TimeZone UTC (the output functions
// run in it), so dates and times arrive in one form.
//
// Common types match to_json byte for byte (cdc.test.ts compares them): bool, int2/4/8 (int8 beyond 2^53 as a
// string), float4/8, numeric (a string), text types, date, timestamp, timestamptz, uuid, json, jsonb. Every
// other type (arrays, intervals, ranges, bytea, composites) arrives as its text form in a JSON string, where
// the full load wrote to_json's: documented in the README as a limit of CDC.
import type {Relation, TupleValue} from './pgoutput.js';

const Oid = {
  bool: 16,
  bytea: 17,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  text: 25,
  json: 114,
  float4: 700,
  float8: 701,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  timestamp: 1114,
  timestamptz: 1184,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
} as const;

const MAX_SAFE = 9007199254740991n;

/** The session settings under which text values have the forms read here. */
export const CDC_SESSION_SETTINGS = {DateStyle: 'ISO, YMD', TimeZone: 'UTC', IntervalStyle: 'postgres', extra_float_digits: '1'} as const;

/** A timestamp's text ("2024-01-15 10:30:00.5", "... BC") in to_json's form ("2024-01-15T10:30:00.5"). */
function isoTimestamp(text: string): string {
  if (text === 'infinity' || text === '-infinity') return text;
  return text.replace(' ', 'T');
}

/** A timestamptz's text in UTC ("2024-01-15 05:00:00+00", "... BC") in to_json's form ("...+00:00"). */
function isoTimestampTz(text: string): string {
  // the common form, in the UTC session: "2024-01-15 05:00:00[.ffffff]+00"
  if (text.length >= 22 && text.charCodeAt(10) === 32 && text.endsWith('+00') && text.charCodeAt(4) === 45) return `${text.slice(0, 10)}T${text.slice(11, -3)}+00:00`;
  if (text === 'infinity' || text === '-infinity') return text;
  const bc = text.endsWith(' BC');
  const body = bc ? text.slice(0, -3) : text;
  const match = /^(.*)([+-])(\d{2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(body.replace(' ', 'T'));
  if (!match) return text;
  const [, local, sign, hours, minutes = '00', secs] = match;
  return `${local}${sign}${hours}:${minutes}${secs ? `:${secs}` : ''}${bc ? ' BC' : ''}`;
}

function floatJson(text: string): string {
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return JSON.stringify(text);
  return text;
}

/** The JSON text of one value of a column of type `typeOid`, from its text form. */
export function valueJson(typeOid: number, text: string): string {
  switch (typeOid) {
    case Oid.bool:
      return text === 't' ? 'true' : 'false';
    case Oid.int2:
    case Oid.int4:
      return text;
    case Oid.int8: {
      // 15 digits, signed or not, are always within 2^53
      if (text.length <= 15 || (text.length === 16 && text.charCodeAt(0) === 45)) return text;
      const value = BigInt(text);
      return value > MAX_SAFE || value < -MAX_SAFE ? `"${text}"` : text;
    }
    case Oid.float4:
    case Oid.float8:
      return floatJson(text);
    case Oid.numeric:
      return JSON.stringify(text);
    case Oid.date:
      return JSON.stringify(text);
    case Oid.timestamp:
      return JSON.stringify(isoTimestamp(text));
    case Oid.timestamptz:
      return JSON.stringify(isoTimestampTz(text));
    case Oid.json:
    case Oid.jsonb:
      return text;
    default:
      return JSON.stringify(text);
  }
}

/**
 * A tuple as the JSON text of a row object. Unchanged values (TOASTed columns an update did not touch) are
 * left out; `columns` limits the row to those names (the key of a delete).
 */
export function tupleJson(relation: Relation, tuple: readonly TupleValue[], columns?: ReadonlySet<string>): string {
  let out = '{';
  for (let i = 0; i < tuple.length; i++) {
    const column = relation.columns[i];
    const value = tuple[i]!;
    if (!column || value.kind === 'unchanged') continue;
    if (columns && !columns.has(column.name)) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(column.name)}:${value.kind === 'null' ? 'null' : valueJson(column.typeOid, value.text)}`;
  }
  return `${out}}`;
}
