// The hand-written Records bytes (record-encoder.ts) read back by the decoder every gRPC client of these protos
// uses (the proto-loader service's responseDeserialize) give, field by field, what protobufjs's own encoding
// of the same UpdateResponse gives: edge values of every ValueType, unicode, nulls, big and negative ints,
// decimals, timestamps, nested JSON, empty strings, schema names and record types.
import * as grpc from '@grpc/grpc-js';
import {describe, expect, it} from 'vitest';
import type {ValueType} from './generated/fivetran_sdk/v2/ValueType.js';
import type {UpdateResponse, UpdateResponse__Output} from './generated/fivetran_sdk/v2/UpdateResponse.js';
import {loadPartnerSdk} from './protocol.js';
import {RecordBatcher, RecordEncoder, RecordsBatch, type RecordTypeName} from './record-encoder.js';
import {toValueType} from './values.js';

const update = (loadPartnerSdk().definition['fivetran_sdk.v2.SourceConnector'] as grpc.ServiceDefinition).Update!;
const decode = (bytes: Buffer) => update.responseDeserialize(bytes) as UpdateResponse__Output;
const protobufjs = (message: UpdateResponse) => update.responseSerialize(message) as Buffer;

interface Row {
  table: string;
  schema?: string;
  type?: RecordTypeName;
  data: Record<string, ValueType>;
}

function encodeBatch(rows: Row[]): Buffer {
  const encoder = new RecordEncoder();
  const batch = new RecordsBatch();
  for (const row of rows) {
    encoder.begin(row.table, row.schema, row.type);
    for (const [column, value] of Object.entries(row.data)) encoder.value(column, value);
    batch.add(encoder.end());
  }
  return batch.take();
}

const asMessage = (rows: Row[]): UpdateResponse => ({
  records: {
    records: rows.map((row) => ({
      table_name: row.table,
      ...(row.schema !== undefined ? {schema_name: row.schema} : {}),
      ...(row.type && row.type !== 'UPSERT' ? {type: row.type} : {}),
      data: row.data,
    })),
  },
});

const longText = 'ünïcødé ✓ 𝄞 '.repeat(400);
const EDGE_VALUES: Record<string, ValueType> = {
  null: {null: true},
  bool_true: {bool: true},
  bool_false: {bool: false},
  short_min: {short: -32768},
  short_zero: {short: 0},
  int_max: {int: 2147483647},
  int_min: {int: -2147483648},
  int_negative: {int: -1},
  long_big: {long: '9223372036854775807'},
  long_min: {long: '-9223372036854775808'},
  long_past_2_53: {long: '9007199254740993'},
  long_negative: {long: '-42'},
  long_zero: {long: '0'},
  float: {float: 1.5},
  float_nan: {float: NaN},
  double: {double: -1234.5678e-10},
  double_infinity: {double: Infinity},
  double_negative_zero: {double: -0},
  decimal: {decimal: '12345678901234567890.123456789'},
  decimal_negative: {decimal: '-0.01'},
  naive_date: {naive_date: {seconds: '1715644800', nanos: 0}},
  naive_datetime: {naive_datetime: {seconds: '-62135596800', nanos: 0}},
  utc_datetime: {utc_datetime: {seconds: '253402300799', nanos: 999_999_999}},
  utc_epoch: {utc_datetime: {seconds: '0', nanos: 0}},
  utc_before_epoch: {utc_datetime: {seconds: '-1', nanos: 500_000_000}},
  binary: {binary: Buffer.from([0, 1, 2, 0xff, 0x80])},
  binary_empty: {binary: Buffer.alloc(0)},
  string: {string: 'plain'},
  string_empty: {string: ''},
  string_unicode: {string: 'naïve café 日本語 🎉 \u0000 "quoted" \\ back'},
  string_long_unicode: {string: longText},
  string_127: {string: 'x'.repeat(127)},
  string_128: {string: 'x'.repeat(128)},
  string_16384: {string: 'y'.repeat(16384)},
  json_nested: {json: JSON.stringify({a: [1, {b: null, c: 'ü'}], d: {e: 12345678901234567890n.toString()}})},
  xml: {xml: '<a b="c">ü</a>'},
  naive_time: {naive_time: {seconds: '3600', nanos: 1}},
};

describe('record-encoder: hand-written Records bytes', () => {
  it('decode, field by field, to what protobufjs encodes for every ValueType edge value', () => {
    const rows: Row[] = [
      {table: 'edge_values', data: EDGE_VALUES},
      {table: 'with_schema', schema: 'public', data: {id: {int: 1}}},
      {table: 'empty_schema', schema: '', data: {id: {int: 2}}},
      {table: 'deleted', type: 'DELETE', data: {id: {long: '3'}}},
      {table: 'no_data', data: {}},
      {table: 'ünïcødé_täble', data: {'cölümn ✓': {string: 'ü'}, '': {string: 'empty column name'}}},
    ];
    const bytes = encodeBatch(rows);
    const ours = decode(bytes);
    const theirs = decode(protobufjs(asMessage(rows)));
    expect(ours.operation).toBe('records');
    expect(ours.records!.records).toHaveLength(rows.length);
    for (const [index, record] of ours.records!.records.entries()) {
      const expected = theirs.records!.records[index]!;
      expect(record.table_name).toBe(expected.table_name);
      expect(record.schema_name).toBe(expected.schema_name);
      expect(record._schema_name).toBe(expected._schema_name);
      expect(record.type).toBe(expected.type);
      expect(Object.keys(record.data).sort()).toEqual(Object.keys(expected.data).sort());
      for (const column of Object.keys(expected.data)) expect(record.data[column], `${record.table_name}.${column}`).toEqual(expected.data[column]);
    }
    // spot checks against the values themselves, not only protobufjs
    const edge = ours.records!.records[0]!.data;
    expect(edge.long_big).toMatchObject({inner: 'long', long: '9223372036854775807'});
    expect(edge.long_min).toMatchObject({inner: 'long', long: '-9223372036854775808'});
    expect(edge.int_min).toMatchObject({inner: 'int', int: -2147483648});
    expect(edge.bool_false).toMatchObject({inner: 'bool', bool: false});
    expect(edge.string_empty).toMatchObject({inner: 'string', string: ''});
    expect(edge.string_long_unicode).toMatchObject({inner: 'string', string: longText});
    expect(edge.utc_before_epoch).toMatchObject({inner: 'utc_datetime', utc_datetime: {seconds: '-1', nanos: 500_000_000}});
    expect(ours.records!.records[2]).toMatchObject({schema_name: '', _schema_name: 'schema_name'});
    expect(ours.records!.records[3]).toMatchObject({type: 'DELETE'});
  });

  it('encodes what toValueType makes of rows read from JSON the same way protobufjs does', () => {
    const types = {id: 'long', amount: {type: 'decimal', precision: 38, scale: 9}, at: 'utc_datetime', day: 'naive_date', doc: 'json', name: 'string', flag: 'boolean'} as const;
    const source = [
      {id: '9007199254740993', amount: '12345678901234567890.123456789', at: '2024-05-01 10:00:00.123456+02', day: '1969-12-31', doc: {nested: [1, 'two', null]}, name: 'Zoë', flag: 't'},
      {id: -5, amount: 0.5, at: '2024-02-29T23:59:59Z', day: '0001-01-01', doc: '[]', name: '', flag: false},
      {id: 0, amount: null, at: null, day: null, doc: null, name: null, flag: null},
    ];
    const rows: Row[] = source.map((row) => ({
      table: 'orders',
      data: Object.fromEntries(Object.entries(row).map(([column, value]) => [column, toValueType(value, types[column as keyof typeof types], column)])),
    }));
    expect(decode(encodeBatch(rows))).toEqual(decode(protobufjs(asMessage(rows))));
  });

  it('sends batches of at most 100 records and about maxBytes, a bigger record alone', async () => {
    const sent: Buffer[] = [];
    const batcher = new RecordBatcher(async (message) => void sent.push(Buffer.from(message)), 100, 2000);
    const add = async (text: string) => {
      batcher.encoder.begin('t', undefined);
      batcher.encoder.value('v', {string: text});
      await batcher.add();
    };
    for (let i = 0; i < 250; i++) await add(String(i));
    await batcher.flush();
    expect(sent.map((message) => decode(message).records!.records.length)).toEqual([100, 100, 50]);
    sent.length = 0;
    await add('a'.repeat(900));
    await add('b'.repeat(900));
    await add('c'.repeat(5000));
    await add('d');
    await batcher.flush();
    const batches = sent.map((message) => decode(message).records!.records.map((r) => (r.data.v!.string ?? '').slice(0, 1)));
    expect(batches).toEqual([['a', 'b'], ['c'], ['d']]);
    for (const message of sent.slice(0, 1)) expect(message.length).toBeLessThanOrEqual(2000 + 6);
  });
});
