// The Partner SDK adapter's conversions: values → ValueType, PostgreSQL types → ColumnType, exact JSON rows,
// secrets schemas → configuration forms (with conditional fields for variants), and the log line format.
import {describe, expect, it} from 'vitest';
import {z} from 'zod';
import {Logger} from '../log.js';
import {field} from '../secrets.js';
import {formFields, humanize} from './configuration-form.js';
import {parseJsonRows, quoteLongNumbers} from './json-rows.js';
import {partnerSdkSink, toPartnerSdkLine} from './log.js';
import {columnTypeFromPostgres} from './postgres-types.js';
import {toTable} from './schema.js';
import {inferValueType, parseTimestamp, toValueType} from './values.js';

describe('toValueType with a declared column type', () => {
  const cases: [string, unknown, Parameters<typeof toValueType>[1], unknown][] = [
    ['decimal text stays exact', '12345678901234567890.123456789', {type: 'decimal', precision: 38, scale: 9}, {decimal: '12345678901234567890.123456789'}],
    ['decimal from a number', 2.5, {type: 'decimal'}, {decimal: '2.5'}],
    ['NaN numeric goes as text', 'NaN', {type: 'decimal'}, {string: 'NaN'}],
    ['long from text past 2^53', '9007199254740993', 'long', {long: '9007199254740993'}],
    ['long from bigint', 12n, 'long', {long: '12'}],
    ['int from text', '42', 'int', {int: 42}],
    ['short', 7, 'short', {short: 7}],
    ['boolean from PostgreSQL text', 't', 'boolean', {bool: true}],
    ['double infinity', 'Infinity', 'double', {double: Infinity}],
    ['utc_datetime from an offset', '2024-01-15 12:30:00.123456+05:30', 'utc_datetime', {utc_datetime: {seconds: String(Date.UTC(2024, 0, 15, 7, 0, 0) / 1000), nanos: 123_456_000}}],
    ['utc_datetime from ISO Z', '2024-01-15T10:30:00Z', 'utc_datetime', {utc_datetime: {seconds: String(Date.UTC(2024, 0, 15, 10, 30) / 1000), nanos: 0}}],
    ['utc_datetime from a Date', new Date(Date.UTC(2024, 5, 1, 0, 0, 0, 250)), 'utc_datetime', {utc_datetime: {seconds: String(Date.UTC(2024, 5, 1) / 1000), nanos: 250_000_000}}],
    ['naive_datetime ignores nothing it lacks', '2024-01-15T10:30:00.5', 'naive_datetime', {naive_datetime: {seconds: String(Date.UTC(2024, 0, 15, 10, 30) / 1000), nanos: 500_000_000}}],
    ['naive_date', '1999-12-31', 'naive_date', {naive_date: {seconds: String(Date.UTC(1999, 11, 31) / 1000), nanos: 0}}],
    ['infinity timestamp pinned to the end of the range', 'infinity', 'utc_datetime', {utc_datetime: {seconds: '253402300799', nanos: 999_999_999}}],
    ['BC date as text', '0044-03-15 BC', 'naive_date', {string: '0044-03-15 BC'}],
    ['binary from PostgreSQL hex', '\\x0aff', 'binary', {binary: Buffer.from([10, 255])}],
    ['binary from base64', 'Cv8=', 'binary', {binary: Buffer.from([10, 255])}],
    ['json from an object', {a: [1, 'x']}, 'json', {json: '{"a":[1,"x"]}'}],
    ['json text stays as is', '{"a": 1}', 'json', {json: '{"a": 1}'}],
    ['json of a plain string is quoted', 'hello', 'json', {json: '"hello"'}],
    ['string from a number', 5, 'string', {string: '5'}],
    ['xml', '<a/>', 'xml', {xml: '<a/>'}],
    ['null', null, 'int', {null: true}],
  ];
  for (const [name, value, type, expected] of cases) {
    it(name, () => expect(toValueType(value, type, 'c')).toEqual(expected));
  }

  it('rejects a value that is not of the declared type, naming the column', () => {
    expect(() => toValueType('abc', 'int', 'quantity')).toThrow('column "quantity" is declared int but a row holds a value that is not one');
    expect(() => toValueType(3_000_000_000, 'int', 'n')).toThrow(/declared int/);
  });
});

describe('inferValueType without a declared type', () => {
  it.each([
    [true, {bool: true}],
    [12, {int: 12}],
    [2 ** 40, {long: String(2 ** 40)}],
    [1.5, {double: 1.5}],
    ['2024-02-02 10:00:00+00', {utc_datetime: {seconds: String(Date.UTC(2024, 1, 2, 10) / 1000), nanos: 0}}],
    ['2024-02-02', {naive_date: {seconds: String(Date.UTC(2024, 1, 2) / 1000), nanos: 0}}],
    ['2024-02-02T10:00:00', {naive_datetime: {seconds: String(Date.UTC(2024, 1, 2, 10) / 1000), nanos: 0}}],
    ['2024-02-02 is a date', {string: '2024-02-02 is a date'}],
    [{a: 1}, {json: '{"a":1}'}],
    [[1, 2], {json: '[1,2]'}],
    [Buffer.from('hi'), {binary: Buffer.from('hi')}],
  ])('%j', (value, expected) => expect(inferValueType(value)).toEqual(expected));

  it('parses offsets with seconds and rejects non-dates', () => {
    expect(parseTimestamp('1900-01-01 00:00:00+00:19:32')?.seconds).toBe(String(Date.UTC(1900, 0, 1) / 1000 - 1172));
    expect(parseTimestamp('not a date')).toBeNull();
  });
});

describe('exact JSON rows', () => {
  it('keeps digits a double would lose and leaves strings alone', () => {
    const rows = parseJsonRows('{"id": 9007199254740993, "amount": 12345678901234.123456, "small": 1.5, "text": "12345678901234567890"},{"id": 2}');
    expect(rows).toEqual([{id: '9007199254740993', amount: '12345678901234.123456', small: 1.5, text: '12345678901234567890'}, {id: 2}]);
    expect(quoteLongNumbers('{"a":"x\\"12345678901234567890","b":-12345678901234567890}')).toBe('{"a":"x\\"12345678901234567890","b":"-12345678901234567890"}');
  });
});

describe('PostgreSQL types', () => {
  it.each([
    ['numeric(12,2)', {type: 'decimal', precision: 12, scale: 2}],
    ['numeric', {type: 'decimal'}],
    ['numeric(5,-2)', {type: 'decimal'}],
    ['timestamp(3) with time zone', 'utc_datetime'],
    ['timestamp without time zone', 'naive_datetime'],
    ['date', 'naive_date'],
    ['time without time zone', 'string'],
    ['jsonb', 'json'],
    ['integer[]', 'json'],
    ['bytea', 'binary'],
    ['character varying(40)', 'string'],
    ['bigint', 'long'],
    ['smallint', 'short'],
    ['double precision', 'double'],
    ['money', 'string'],
  ])('%s', (type, expected) => expect(columnTypeFromPostgres(type)).toEqual(expected));

  it('describes a table with its key first and decimal params', () => {
    expect(toTable('t', {primaryKey: ['id'], columns: {amount: {type: 'decimal', precision: 10, scale: 3}, id: 'long', note: 'string'}})).toEqual({
      name: 't',
      columns: [
        {name: 'id', type: 'LONG', primary_key: true},
        {name: 'amount', type: 'DECIMAL', primary_key: false, params: {decimal: {precision: 10, scale: 3}}},
        {name: 'note', type: 'STRING', primary_key: false},
      ],
    });
  });
});

describe('configuration form from a schema with variants', () => {
  it('turns a discriminated union into a dropdown with conditional fields per variant', () => {
    const Auth = z.discriminatedUnion('auth', [
      z.object({auth: z.literal('password'), host: field.text({label: 'Host'}), password: field.secret({label: 'Password'})}),
      z.object({auth: z.literal('certificate'), host: field.text({label: 'Host'}), certificate: field.text({label: 'Client certificate'}), key: field.secret()}),
    ]);
    const fields = formFields(z.object({region: field.enum(['eu', 'us']).default('eu'), verbose: field.boolean().optional()}).and(Auth));
    expect(fields).toEqual([
      {name: 'region', label: 'Region', required: false, default_value: 'eu', dropdown_field: {dropdown_field: ['eu', 'us']}},
      {name: 'verbose', label: 'Verbose', required: false, toggle_field: {}},
      {name: 'auth', label: 'Auth', required: true, dropdown_field: {dropdown_field: ['password', 'certificate']}},
      {name: 'host', label: 'Host', required: true, text_field: 'PlainText'},
      {
        name: 'auth_password_fields', label: 'Auth: password',
        conditional_fields: {condition: {condition_field: 'auth', string_value: 'password'}, fields: [{name: 'password', label: 'Password', required: true, text_field: 'Password'}]},
      },
      {
        name: 'auth_certificate_fields', label: 'Auth: certificate',
        conditional_fields: {
          condition: {condition_field: 'auth', string_value: 'certificate'},
          fields: [{name: 'certificate', label: 'Client certificate', required: true, text_field: 'PlainText'}, {name: 'key', label: 'Key', required: true, text_field: 'Password'}],
        },
      },
    ]);
  });

  it('labels fields declared without a label from their key', () => {
    expect(['sslmode', 'postgres_sslrootcert', 'fivetran_api_url', 'group_ids', 'custom_batch_size'].map(humanize)).toEqual([
      'SSL mode', 'Postgres SSL root certificate', 'Fivetran API URL', 'Group ids', 'Custom batch size',
    ]);
  });

  it('uses a toggle and bool_value for a boolean discriminator', () => {
    const fields = formFields(z.discriminatedUnion('use_ssh', [
      z.object({use_ssh: z.literal(false)}),
      z.object({use_ssh: z.literal(true), ssh_host: field.text({label: 'SSH host'})}),
    ]));
    expect(fields[0]).toMatchObject({name: 'use_ssh', toggle_field: {}});
    expect(fields[1]).toMatchObject({conditional_fields: {condition: {condition_field: 'use_ssh', bool_value: true}, fields: [{name: 'ssh_host', label: 'SSH host'}]}});
  });
});

describe('Partner SDK log lines', () => {
  it('maps severities to INFO, WARNING and SEVERE and keeps structured fields in the message', () => {
    expect(JSON.parse(toPartnerSdkLine('{"severity":"NOTICE","message":"done","connector":"x","rows":{"a":2}}', 'NOTICE'))).toEqual({level: 'INFO', message: 'done rows={"a":2}', 'message-origin': 'sdk_connector'});
    expect(JSON.parse(toPartnerSdkLine('{"severity":"DEBUG","message":"d"}', 'DEBUG')).level).toBe('INFO');
    expect(JSON.parse(toPartnerSdkLine('{"severity":"WARNING","message":"w"}', 'WARNING')).level).toBe('WARNING');
    expect(JSON.parse(toPartnerSdkLine('{"severity":"ERROR","message":"e"}', 'ERROR')).level).toBe('SEVERE');
    expect(JSON.parse(toPartnerSdkLine('{"severity":"CRITICAL","message":"c"}', 'CRITICAL')).level).toBe('SEVERE');
  });

  it('is what the Logger writes through the sink: escaped, one line, secrets redacted', () => {
    const lines: string[] = [];
    const log = new Logger({connector: 'c', redact: ['s3cr3t-value'], sink: partnerSdkSink((line) => lines.push(line))});
    log.error('failed with "s3cr3t-value"\nsecond line', {detail: 'key=s3cr3t-value'});
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(JSON.parse(lines[0] as string)).toEqual({level: 'SEVERE', message: 'failed with "[REDACTED]"\nsecond line detail=key=[REDACTED]', 'message-origin': 'sdk_connector'});
  });
});

describe('parseTimestamp: the common forms read without a regex', () => {
  // a leading space takes the general (regex and Date) parser, which trims it: both must agree
  const general = (text: string, naive: boolean) => parseTimestamp(` ${text}`, naive);
  const texts = [
    '2024-01-15', '1970-01-01', '0001-01-01', '9999-12-31', '2024-02-29', '2023-02-29', '2023-02-30', '2024-04-31', '2024-13-01', '2024-00-10', '1900-02-29', '2000-02-29',
    '2024-01-15T05:00:00', '2024-01-15 05:00:00', '2024-01-15T05:00:00Z', '2024-01-15T05:00:00+00:00', '2024-01-15T05:00:00-05:30', '2024-01-15T23:59:59+14:00',
    '2024-01-15T05:00:00.5', '2024-01-15T05:00:00.123456+02:00', '2024-01-15T05:00:00.123456789Z', '2024-01-15T05:00:00.1234567890Z', '2024-01-15T05:00:00.',
    '2024-01-15T24:00:00', '2024-01-15T05:60:00', '2024-01-15T05:00:60', '2024-01-15T05:00:00+02', '2024-01-15T05:00:00 +02:00', '2024-01-15T05:00:00z',
    '1969-12-31T23:59:59.999999Z', '0000-03-01T00:00:00Z', '2024-01-15 BC', '12024-01-15', '2024-1-15', '2024-01-15T05:00',
  ];
  it.each(texts)('reads %s as the general parser does, with and without the offset', (text) => {
    for (const naive of [false, true]) expect(parseTimestamp(text, naive)).toEqual(general(text, naive));
  });
});
