// The fast path of upsertJson rows (json-records.ts) writes, byte for byte, the Records the general path writes
// (parseJsonRows → toValueType → record-encoder.ts) for every declared type and undeclared columns: nulls,
// unicode, escapes, big numbers, decimals, dates and timestamps (infinity, BC, fractions, offsets), json,
// bytes, selection, duplicate and integer-like keys, whitespace, rows that are not objects, invalid JSON and
// bytes that are not UTF-8. Each case also says how many of its rows the fast path took itself.
import {describe, expect, it} from 'vitest';
import type {ColumnType} from '../types.js';
import {JsonRecords, type JsonTable} from './json-records.js';
import {parseJsonRows} from './json-rows.js';
import {RecordEncoder} from './record-encoder.js';
import {toValueType} from './values.js';

interface Table {
  types?: Record<string, ColumnType>;
  excluded?: string[];
  schemaName?: string;
}

const tableOf = (table: Table): JsonTable => ({
  name: 'items',
  schemaName: table.schemaName,
  columnType: (column) => (table.types ?? {})[column],
  includesColumn: (column) => !(table.excluded ?? []).includes(column),
});

/** The general path's Records, as update.ts wrote every upsertJson row before json-records.ts. */
function general(json: string | Buffer, table: Table): Buffer[] {
  const encoder = new RecordEncoder();
  const spec = tableOf(table);
  return parseJsonRows(json).map((row) => {
    encoder.begin(spec.name, spec.schemaName, 'UPSERT');
    for (const column in row) if (spec.includesColumn(column)) encoder.value(column, toValueType(row[column], spec.columnType(column), column));
    return Buffer.from(encoder.end());
  });
}

/** The fast path's Records (the rows it hands back encoded the general way, as update.ts does), and how many it wrote itself. */
function fast(json: string | Buffer, table: Table): {records: Buffer[]; written: number; generalValues: number} {
  const encoder = new RecordEncoder();
  const spec = tableOf(table);
  const rows = new JsonRecords(encoder, spec);
  const records: Buffer[] = [];
  let written = 0;
  // twice through one reader: what it caches from the first batch must not change the second
  for (let pass = 0; pass < 2; pass++) {
    rows.reset(json);
    for (let row = rows.next(); row !== null; row = rows.next()) {
      if (row === true) {
        written++;
      } else {
        encoder.begin(spec.name, spec.schemaName, 'UPSERT');
        for (const column in row) if (spec.includesColumn(column)) encoder.value(column, toValueType(row[column], spec.columnType(column), column));
      }
      if (pass === 1) records.push(Buffer.from(encoder.end()));
    }
  }
  return {records, written: written / 2, generalValues: rows.generalValues / 2};
}

/** Both paths on `json`: the same bytes; returns how many rows the fast path wrote itself. */
function same(json: string | Buffer, table: Table = {}): number {
  return compared(json, table).written;
}

function compared(json: string | Buffer, table: Table = {}): {written: number; generalValues: number} {
  const expected = general(json, table);
  const {records, written, generalValues} = fast(json, table);
  expect(records.map((r) => r.toString('hex'))).toEqual(expected.map((r) => r.toString('hex')));
  return {written, generalValues};
}

const rowsOf = (column: string, values: string[]): string => values.map((value) => `{"id":1,"${column}":${value}}`).join(',');

describe('JsonRecords writes the bytes of the general path', () => {
  const typed: [string, ColumnType, string[], 'fast' | 'general' | 'both'][] = [
    ['string', 'string', ['"plain"', '""', '"São Paulo"', '"日本語 🎉"', `"${'x'.repeat(200)}"`, `"${'é'.repeat(100)}"`, 'null'], 'fast'],
    ['escaped string', 'string', ['"a\\"b"', '"line\\nbreak\\ttab"', '"\\u00e9\\u0000"', '"\\ud83c\\udf89"', '"\\ud800 lone"', '"back\\\\slash\\/"'], 'general'],
    ['string from other JSON values', 'string', ['5', '1.50', 'true', '{"a": 1}', '[1, "x"]', '12345678901234567890'], 'general'],
    ['xml', 'xml', ['"<a>1</a>"', '"<é/>"', '3'], 'both'],
    ['decimal text', {type: 'decimal', precision: 38, scale: 9}, ['"1029.98"', '"-0.01"', '"12345678901234567890.123456789"', '".5"', '"5."', '"+1e10"', '"1E-3"', '"0"'], 'fast'],
    ['decimal specials', {type: 'decimal'}, ['"NaN"', '"Infinity"', '"-Infinity"', '" 1.5 "', '2.5', '7', '-0', '12345678901234567.5'], 'general'],
    ['long', 'long', ['0', '-1', '123456789012345', '-123456789012345', '-0', '2147483648', '-2147483649'], 'fast'],
    ['long past 15 digits', 'long', ['9007199254740991', '-9007199254740991', '"9223372036854775807"', '"-9223372036854775808"', '"+5"'], 'general'],
    ['int', 'int', ['0', '2147483647', '-2147483648', '-7', '-0'], 'fast'],
    ['short', 'short', ['0', '32767', '-32768', '-1'], 'fast'],
    ['double', 'double', ['0', '-0', '3', '-17', '123456789012345'], 'fast'],
    ['double from fractions and text', 'double', ['1.5', '-1234.5678e-10', '1e300', '"NaN"', '"Infinity"', '"-Infinity"', '0.1'], 'general'],
    ['float', 'float', ['0', '3', '-3', '16777217'], 'fast'],
    ['float from fractions', 'float', ['1.5', '0.1', '"NaN"'], 'general'],
    ['boolean', 'boolean', ['true', 'false'], 'fast'],
    ['boolean from text and numbers', 'boolean', ['"t"', '"false"', '1', '0'], 'general'],
    ['utc_datetime', 'utc_datetime', [
      '"2024-01-15T05:00:00+00:00"', '"2024-01-15T10:30:00.5+05:30"', '"2024-02-29T23:59:59.999999+00:00"', '"1969-12-31T23:59:59.5+00:00"',
      '"1970-01-01T00:00:00+00:00"', '"0001-01-01T00:00:00+00:00"', '"9999-12-31T23:59:59.999999-12:00"', '"2024-01-15 10:30:00Z"', '"2024-01-15"',
      '"2024-01-15T10:30:00.123456789Z"', '"1900-03-01T00:00:00-00:30"',
    ], 'fast'],
    ['utc_datetime the general way', 'utc_datetime', [
      '"infinity"', '"-infinity"', '"0044-03-15T00:00:00+00:00 BC"', '"2023-02-30T00:00:00+00:00"', '"2024-01-15T10:30:00.1234567890Z"',
      '"2024-01-15T10:30:00+05"', '"2024-01-15T10:30"', '"2024-01-15 10:30:00 +02:00"', '"２０２４-01-15"', '1700000000000',
    ], 'general'],
    ['naive_datetime', 'naive_datetime', ['"2024-01-15T10:30:00.5"', '"2024-02-29T23:59:59.999999"', '"1960-06-01T00:00:00"', '"2024-01-15T10:30:00+05:30"'], 'fast'],
    ['naive_date', 'naive_date', ['"2024-01-15"', '"1960-06-01"', '"0001-01-01"', '"1970-01-01"', '"2024-01-15T23:59:59+05:00"', '"1969-12-31T12:00:00.5"'], 'fast'],
    ['naive_date the general way', 'naive_date', ['"infinity"', '"0044-03-15 BC"', '"2024-13-01"'], 'general'],
    ['json', 'json', ['{"a": [1, 2]}', '[1, "x", {"b": null}]', '"text"', '"{\\"a\\":1}"', '12', 'true', '{"big": 12345678901234567890, "n": 1.0}', '{"2": 1, "1": 2}'], 'general'],
    ['binary', 'binary', ['"AAEC/w=="', '"\\\\x00ff10"', '""'], 'general'],
    ['undeclared', undefined as unknown as ColumnType, [
      '1', '-2147483648', '1099511627776', '-1099511627776', 'true', 'false', 'null',
    ], 'fast'],
    ['undeclared the general way', undefined as unknown as ColumnType, [
      '1.5', '1e3', '12345678901234567', '"2024-02-02"', '"2024-02-02T10:00:00"', '"2024-02-02 10:00:00+00"', '"x"', '{"a": 1}', '[1]',
    ], 'general'],
  ];
  for (const [name, type, values, path] of typed) {
    it(`${name}: ${path === 'fast' ? 'written by the fast path' : path === 'general' ? 'values taken the general way' : 'both'}`, () => {
      const json = rowsOf('v', values);
      const {written, generalValues} = compared(json, {types: {id: 'long', ...(type === undefined ? {} : {v: type})}});
      // a row is the fast path's even when one of its values goes the general way
      expect(written).toBe(values.length);
      if (path === 'fast') expect(generalValues).toBe(0);
      if (path === 'general') expect(generalValues).toBe(values.length);
    });
  }

  it('writes a null for a column of every type', () => {
    const types: Record<string, ColumnType> = {
      a: 'string', b: 'long', c: 'int', d: 'short', e: 'double', f: 'float', g: 'boolean', h: 'utc_datetime', i: 'naive_datetime', j: 'naive_date',
      k: 'json', l: 'binary', m: 'xml', n: {type: 'decimal', precision: 10, scale: 2},
    };
    const row = `{${Object.keys(types).map((c) => `"${c}":null`).join(',')},"undeclared":null}`;
    expect(same(row, {types})).toBe(1);
  });

  it('writes rows whose keys change order, repeat across rows, or come and go', () => {
    const json = '{"a":1,"b":"x"},{"b":"y","a":2},{"a":3},{"c":"new","a":4,"b":"z"},{}';
    expect(same(json, {types: {a: 'int', b: 'string', c: 'string'}})).toBe(5);
  });

  it('reads JSON with whitespace between every token', () => {
    const json = ' \n{ "a" : 1 ,\t"b" :\r\n"x" , "c" : null , "d" : { "e" : [ 1 , 2 ] } }\n ,\n { "a" : -5 } \n';
    expect(same(json, {types: {a: 'int', b: 'string', d: 'json'}})).toBe(2);
  });

  it('writes unicode and escaped keys, the escaped ones the general way', () => {
    const json = '{"naïve":1,"日本":"x"},{"a\\"b":2},{"tab\\tkey":3}';
    expect(same(json, {types: {naïve: 'int'}})).toBe(1);
  });

  it('leaves a duplicated key and integer-like keys to the general path (JSON.parse keeps the last value, and moves index keys first)', () => {
    expect(same('{"a":1,"b":2,"a":3}', {types: {a: 'int', b: 'int'}})).toBe(0);
    expect(same('{"b":1,"10":2,"2":3,"01":4}', {})).toBe(0);
    // "01" and "4294967295" are not array indices: kept in order
    expect(same('{"b":1,"01":4,"4294967295":5,"-1":6}', {})).toBe(1);
  });

  it('drops excluded columns, however their values are written', () => {
    const json = '{"id":1,"secret":"s","blob":{"a":[1,{"b":"}"}]},"n":12345678901234567890,"e":"\\"","f":1.5,"keep":"k"}';
    expect(same(json, {types: {id: 'long', keep: 'string'}, excluded: ['secret', 'blob', 'n', 'e', 'f']})).toBe(1);
  });

  it('writes the schema name when the table has one', () => {
    expect(same('{"id":1}', {types: {id: 'long'}, schemaName: 'shop'})).toBe(1);
    expect(same('{"id":1}', {types: {id: 'long'}, schemaName: ''})).toBe(1);
  });

  it('skips values that are not objects, as parseJsonRows does', () => {
    expect(same('1,{"a":1},[1,2],"x",null,{"a":2}', {types: {a: 'int'}})).toBe(2);
    expect(same('', {})).toBe(0);
    expect(same(' \n ', {})).toBe(0);
  });

  it('takes a batch given as a string, and one that is not valid UTF-8 the general way', () => {
    expect(same('{"a":"São"}', {types: {a: 'string'}})).toBe(1);
    const invalid = Buffer.concat([Buffer.from('{"a":"x'), Buffer.from([0xff, 0xc3]), Buffer.from('y"},{"a":"z"}')]);
    expect(same(invalid, {types: {a: 'string'}})).toBe(0);
  });

  it('fails on text that is not JSON rows, as the general parse does', () => {
    for (const json of ['{"a":1} {"a":2}', '{"a":1},', '{"a":1', '{"a":"x}', '{"a":tru}', '{"a":1,}', '{"a" 1}', '{"a":01}', '{"a":1.}', '{"a":"\u0001"}', ',{"a":1}']) {
      expect(() => parseJsonRows(json), json).toThrow(SyntaxError);
      expect(() => fast(json, {types: {a: 'int'}}), json).toThrow(SyntaxError);
    }
  });

  it('fails on a value that is not of its declared type, naming the column, as the general path does', () => {
    expect(() => general('{"n":"abc"}', {types: {n: 'int'}})).toThrow('column "n" is declared int');
    expect(() => fast('{"n":"abc"}', {types: {n: 'int'}})).toThrow('column "n" is declared int');
    expect(() => fast('{"n":3000000000}', {types: {n: 'int'}})).toThrow('column "n" is declared int');
    expect(() => fast('{"n":2147483648}', {types: {n: 'int'}})).toThrow('column "n" is declared int');
    expect(() => fast('{"n":-2147483649}', {types: {n: 'int'}})).toThrow('column "n" is declared int');
    expect(() => fast('{"n":32768}', {types: {n: 'short'}})).toThrow('column "n" is declared short');
    expect(() => fast('{"n":-32769}', {types: {n: 'short'}})).toThrow('column "n" is declared short');
  });
});
