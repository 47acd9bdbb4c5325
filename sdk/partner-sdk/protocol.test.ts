// Wire compatibility with Fivetran's fivetran_sdk.v2: every message's field numbers, types and labels, every
// enum value and the service, checked against a table transcribed from Fivetran's public protos (fivetran_partner_sdk,
// common.proto and connector_sdk.proto at the latest release); and a few messages encoded by hand from those numbers. A renumbering fails here.
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import protobuf from 'protobufjs';
import {describe, expect, it} from 'vitest';
import {PROTO_DIR, loadPartnerSdk} from './protocol.js';

type Label = 'single' | 'opt' | 'rep' | 'map' | `oneof:${string}`;
type FieldRow = [number, string, string, Label];

// The messages of common.proto and connector_sdk.proto: [number, name, type, label]. `oneof:x` = member of oneof x.
const MESSAGES: Record<string, {file: 'common' | 'connector_sdk'; fields: FieldRow[]}> = {
  SchemaRequest: {file: 'connector_sdk', fields: [[1, 'configuration', 'map<string,string>', 'map']]},
  SchemaResponse: {file: 'connector_sdk', fields: [
    [1, 'schema_response_not_supported', 'bool', 'oneof:response'], [2, 'with_schema', 'SchemaList', 'oneof:response'],
    [3, 'without_schema', 'TableList', 'oneof:response'], [4, 'selection_not_supported', 'bool', 'opt'],
  ]},
  UpdateRequest: {file: 'connector_sdk', fields: [[1, 'configuration', 'map<string,string>', 'map'], [2, 'selection', 'Selection', 'opt'], [3, 'state_json', 'string', 'opt']]},
  Selection: {file: 'connector_sdk', fields: [[1, 'without_schema', 'TablesWithNoSchema', 'oneof:selection'], [2, 'with_schema', 'TablesWithSchema', 'oneof:selection']]},
  TablesWithNoSchema: {file: 'connector_sdk', fields: [[1, 'tables', 'TableSelection', 'rep'], [2, 'include_new_tables', 'bool', 'single']]},
  TablesWithSchema: {file: 'connector_sdk', fields: [[1, 'schemas', 'SchemaSelection', 'rep'], [2, 'include_new_schemas', 'bool', 'single']]},
  SchemaSelection: {file: 'connector_sdk', fields: [[1, 'included', 'bool', 'single'], [2, 'schema_name', 'string', 'single'], [3, 'tables', 'TableSelection', 'rep'], [4, 'include_new_tables', 'bool', 'single']]},
  TableSelection: {file: 'connector_sdk', fields: [[1, 'included', 'bool', 'single'], [2, 'table_name', 'string', 'single'], [3, 'columns', 'map<string,bool>', 'map'], [4, 'include_new_columns', 'bool', 'single']]},
  UpdateResponse: {file: 'connector_sdk', fields: [
    [1, 'record', 'Record', 'oneof:operation'], [2, 'schema_change', 'SchemaChange', 'oneof:operation'], [3, 'checkpoint', 'Checkpoint', 'oneof:operation'],
    [4, 'warning', 'Warning', 'oneof:operation'], [5, 'task', 'Task', 'oneof:operation'], [6, 'records', 'Records', 'oneof:operation'],
  ]},
  SchemaChange: {file: 'connector_sdk', fields: [[1, 'with_schema', 'SchemaList', 'oneof:change'], [2, 'without_schema', 'TableList', 'oneof:change']]},
  Records: {file: 'connector_sdk', fields: [[1, 'records', 'Record', 'rep']]},
  Record: {file: 'connector_sdk', fields: [[1, 'schema_name', 'string', 'opt'], [2, 'table_name', 'string', 'single'], [3, 'type', 'RecordType', 'single'], [4, 'data', 'map<string,ValueType>', 'map']]},
  Checkpoint: {file: 'connector_sdk', fields: [[1, 'state_json', 'string', 'single']]},

  ConfigurationFormRequest: {file: 'common', fields: []},
  ConfigurationFormResponse: {file: 'common', fields: [
    [1, 'schema_selection_supported', 'bool', 'single'], [2, 'table_selection_supported', 'bool', 'single'],
    [3, 'fields', 'FormField', 'rep'], [4, 'tests', 'ConfigurationTest', 'rep'],
  ]},
  FormField: {file: 'common', fields: [
    [1, 'name', 'string', 'single'], [2, 'label', 'string', 'single'], [3, 'required', 'bool', 'opt'], [4, 'description', 'string', 'opt'],
    [5, 'text_field', 'TextField', 'oneof:type'], [6, 'dropdown_field', 'DropdownField', 'oneof:type'], [7, 'toggle_field', 'ToggleField', 'oneof:type'],
    [10, 'conditional_fields', 'ConditionalFields', 'oneof:type'], [11, 'upload_field', 'UploadField', 'oneof:type'],
    [12, 'descriptive_dropdown_fields', 'DescriptiveDropDownFields', 'oneof:type'],
    [8, 'default_value', 'string', 'opt'], [9, 'placeholder', 'string', 'opt'],
  ]},
  UploadField: {file: 'common', fields: [[1, 'allowed_file_type', 'string', 'rep'], [2, 'max_file_size_bytes', 'int32', 'single']]},
  DescriptiveDropDownFields: {file: 'common', fields: [[1, 'descriptive_dropdown_field', 'DescriptiveDropDownField', 'rep']]},
  DescriptiveDropDownField: {file: 'common', fields: [[1, 'value', 'string', 'single'], [2, 'label', 'string', 'single'], [3, 'description', 'string', 'single']]},
  ConditionalFields: {file: 'common', fields: [[1, 'condition', 'VisibilityCondition', 'single'], [2, 'fields', 'FormField', 'rep']]},
  VisibilityCondition: {file: 'common', fields: [
    [1, 'condition_field', 'string', 'single'], [2, 'bool_value', 'bool', 'oneof:visible_when'],
    [3, 'string_value', 'string', 'oneof:visible_when'], [4, 'empty_value', 'bool', 'oneof:visible_when'],
  ]},
  DropdownField: {file: 'common', fields: [[1, 'dropdown_field', 'string', 'rep']]},
  ToggleField: {file: 'common', fields: []},
  ConfigurationTest: {file: 'common', fields: [[1, 'name', 'string', 'single'], [2, 'label', 'string', 'single']]},
  TestRequest: {file: 'common', fields: [[1, 'name', 'string', 'single'], [2, 'configuration', 'map<string,string>', 'map']]},
  TestResponse: {file: 'common', fields: [[1, 'success', 'bool', 'oneof:response'], [2, 'failure', 'string', 'oneof:response']]},
  SchemaList: {file: 'common', fields: [[1, 'schemas', 'Schema', 'rep']]},
  TableList: {file: 'common', fields: [[1, 'tables', 'Table', 'rep']]},
  Schema: {file: 'common', fields: [[1, 'name', 'string', 'single'], [2, 'tables', 'Table', 'rep']]},
  Table: {file: 'common', fields: [[1, 'name', 'string', 'single'], [2, 'columns', 'Column', 'rep']]},
  Column: {file: 'common', fields: [[1, 'name', 'string', 'single'], [2, 'type', 'DataType', 'single'], [3, 'primary_key', 'bool', 'single'], [4, 'params', 'DataTypeParams', 'opt']]},
  DataTypeParams: {file: 'common', fields: [[1, 'decimal', 'DecimalParams', 'oneof:params'], [2, 'string_byte_length', 'int32', 'oneof:params']]},
  DecimalParams: {file: 'common', fields: [[1, 'precision', 'uint32', 'single'], [2, 'scale', 'uint32', 'single']]},
  ValueType: {file: 'common', fields: ([
    [1, 'null', 'bool'], [2, 'bool', 'bool'], [3, 'short', 'int32'], [4, 'int', 'int32'], [5, 'long', 'int64'], [6, 'float', 'float'],
    [7, 'double', 'double'], [8, 'naive_date', 'google.protobuf.Timestamp'], [9, 'naive_datetime', 'google.protobuf.Timestamp'],
    [10, 'utc_datetime', 'google.protobuf.Timestamp'], [11, 'decimal', 'string'], [12, 'binary', 'bytes'], [13, 'string', 'string'],
    [14, 'json', 'string'], [15, 'xml', 'string'], [16, 'naive_time', 'google.protobuf.Timestamp'],
  ] as [number, string, string][]).map(([n, name, type]): FieldRow => [n, name, type, 'oneof:inner'])},
  Warning: {file: 'common', fields: [[1, 'message', 'string', 'single']]},
  Task: {file: 'common', fields: [[1, 'message', 'string', 'single']]},
};

// The enums of common.proto and connector_sdk.proto.
const ENUMS: Record<string, Record<string, number>> = {
  TextField: {PlainText: 0, Password: 1, Hidden: 2},
  DataType: {
    UNSPECIFIED: 0, BOOLEAN: 1, SHORT: 2, INT: 3, LONG: 4, DECIMAL: 5, FLOAT: 6, DOUBLE: 7, NAIVE_DATE: 8, NAIVE_DATETIME: 9,
    UTC_DATETIME: 10, BINARY: 11, XML: 12, STRING: 13, JSON: 14, NAIVE_TIME: 15,
  },
  RecordType: {UPSERT: 0, UPDATE: 1, DELETE: 2, TRUNCATE: 3},
};

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/') ? target : path.join(PROTO_DIR, target));
  root.loadSync(['connector_sdk.proto', 'common.proto'], {keepCase: true});
  root.resolveAll();
  return root;
}

function describeField(field: protobuf.Field): FieldRow {
  const map = field instanceof protobuf.MapField;
  const type = map ? `map<${(field as protobuf.MapField).keyType},${field.type}>` : field.type;
  let label: Label = 'single';
  if (map) label = 'map';
  else if (field.repeated) label = 'rep';
  else if (field.options?.proto3_optional) label = 'opt';
  else if (field.partOf) label = `oneof:${field.partOf.name}`;
  return [field.id, field.name, type, label];
}

describe('wire compatibility with fivetran_sdk.v2', () => {
  const root = loadRoot();
  const pkg = root.lookup('fivetran_sdk.v2') as protobuf.Namespace;

  it('declares exactly the messages and enums of the Partner SDK, in the same files', () => {
    const declared = pkg.nestedArray.filter((item) => !(item instanceof protobuf.Service)).map((item) => item.name).sort();
    expect(declared).toEqual([...Object.keys(MESSAGES), ...Object.keys(ENUMS)].sort());
    for (const [name, {file}] of Object.entries(MESSAGES)) expect(path.basename(pkg.lookupType(name).filename ?? ''), name).toBe(`${file}.proto`);
    for (const name of Object.keys(ENUMS)) expect(path.basename(pkg.lookupEnum(name).filename ?? ''), name).toBe('common.proto');
  });

  for (const [name, {fields}] of Object.entries(MESSAGES)) {
    it(`${name} has the Partner SDK's field numbers, types and labels`, () => {
      const actual = pkg.lookupType(name).fieldsArray.map(describeField).sort((a, b) => a[0] - b[0]);
      expect(actual).toEqual([...fields].sort((a, b) => a[0] - b[0]));
    });
  }

  it('has the Partner SDK enum values', () => {
    for (const [name, values] of Object.entries(ENUMS)) expect(pkg.lookupEnum(name).values, name).toEqual(values);
  });

  it('serves fivetran_sdk.v2.SourceConnector with the four RPCs, Update server-streaming', () => {
    const service = pkg.lookupService('SourceConnector');
    const methods = Object.fromEntries(service.methodsArray.map((m) => [m.name, [m.requestType, m.responseType, Boolean(m.requestStream), Boolean(m.responseStream)]]));
    expect(methods).toEqual({
      ConfigurationForm: ['ConfigurationFormRequest', 'ConfigurationFormResponse', false, false],
      Test: ['TestRequest', 'TestResponse', false, false],
      Schema: ['SchemaRequest', 'SchemaResponse', false, false],
      Update: ['UpdateRequest', 'UpdateResponse', false, true],
    });
    const {definition} = loadPartnerSdk();
    const loaded = definition['fivetran_sdk.v2.SourceConnector'] as Record<string, {path: string}>;
    expect(Object.values(loaded).map((m) => m.path).sort()).toEqual([
      '/fivetran_sdk.v2.SourceConnector/ConfigurationForm', '/fivetran_sdk.v2.SourceConnector/Schema',
      '/fivetran_sdk.v2.SourceConnector/Test', '/fivetran_sdk.v2.SourceConnector/Update',
    ]);
  });

  it('uses proto3, the package and the file options of the originals', () => {
    for (const file of ['common.proto', 'connector_sdk.proto']) {
      const text = readFileSync(path.join(PROTO_DIR, file), 'utf8');
      expect(text).toMatch(/^syntax = "proto3";$/m);
      expect(text).toMatch(/^package fivetran_sdk\.v2;$/m);
      expect(text).toMatch(/^option optimize_for = SPEED;$/m);
      expect(text).toMatch(/^option java_multiple_files = true;$/m);
      expect(text).toMatch(/^option go_package = "fivetran\.com\/fivetran_sdk_v2";$/m);
    }
  });

  it('has generated TypeScript types in step with the .proto files', () => {
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'partner-sdk-types-')), 'generated');
    try {
      execFileSync(path.join(PROTO_DIR, '..', 'generate-types.sh'), {env: {...process.env, OUT_DIR: out}, stdio: 'pipe'});
      const committed = path.join(PROTO_DIR, '..', 'generated');
      const files = (readdirSync(out, {recursive: true}) as string[]).filter((file) => file.endsWith('.ts')).sort();
      expect(files).toEqual((readdirSync(committed, {recursive: true}) as string[]).filter((file) => file.endsWith('.ts')).sort());
      for (const file of files) expect(readFileSync(path.join(out, file), 'utf8'), `${file}: run sdk/partner-sdk/generate-types.sh`).toBe(readFileSync(path.join(committed, file), 'utf8'));
    } finally {
      rmSync(path.dirname(out), {recursive: true, force: true});
    }
  });

  describe('bytes encoded by hand from the field numbers', () => {
    const {definition} = loadPartnerSdk();
    type Method = {requestSerialize(value: unknown): Buffer; requestDeserialize(bytes: Buffer): unknown; responseSerialize(value: unknown): Buffer; responseDeserialize(bytes: Buffer): unknown};
    const service = definition['fivetran_sdk.v2.SourceConnector'] as unknown as Record<string, Method>;
    const hex = (bytes: Buffer) => bytes.toString('hex');

    it('UpdateResponse.checkpoint is field 3 and Checkpoint.state_json field 1', () => {
      expect(hex(service.Update!.responseSerialize({checkpoint: {state_json: '{}'}}))).toBe('1a040a027b7d');
    });

    it('Records is UpdateResponse field 6; Record table_name 2, type 3, data 4; ValueType long 5 and utc_datetime 10', () => {
      const bytes = service.Update!.responseSerialize({
        records: {records: [{table_name: 't', type: 'DELETE', data: {id: {long: '7'}}}, {table_name: 't', data: {at: {utc_datetime: {seconds: '1'}}}}]},
      });
      // 32 (field 6, LEN) · Records.records 0a · Record: 12 't' · 18 02 (DELETE) · 22 map entry {0a key, 12 value}
      expect(hex(bytes)).toBe(
        '3222' + // UpdateResponse.records (6, LEN 34)
          '0a0f' + '120174' + '1802' + '2208' + '0a026964' + '12022807' + // Record{table_name t, type DELETE, data{id: {long(5): 7}}}
          '0a0f' + '120174' + '220a' + '0a026174' + '1204' + '52020801', // Record{table_name t, data{at: {utc_datetime(10): {seconds 1}}}}
      );
    });

    it('reads TestRequest.configuration from field 2 and UpdateRequest selection 2 / state_json 3', () => {
      expect(service.Test!.requestDeserialize(Buffer.from('0a0178' + '12060a016b120176', 'hex'))).toMatchObject({name: 'x', configuration: {k: 'v'}});
      const request = service.Update!.requestDeserialize(Buffer.from('0a060a016b120176' + '12040a021001' + '1a027b7d', 'hex')) as {
        configuration: Record<string, string>; selection: {without_schema: {include_new_tables: boolean}}; state_json: string;
      };
      expect(request.configuration).toEqual({k: 'v'});
      expect(request.selection.without_schema.include_new_tables).toBe(true);
      expect(request.state_json).toBe('{}');
    });

    it('TestResponse.failure is field 2 and FormField.text_field field 5 with Password = 1', () => {
      expect(hex(service.Test!.responseSerialize({failure: 'no'}))).toBe('12026e6f');
      expect(hex(service.ConfigurationForm!.responseSerialize({fields: [{name: 'p', label: 'P', text_field: 'Password'}]}))).toBe('1a' + '08' + '0a0170' + '120150' + '2801');
    });
  });
});
