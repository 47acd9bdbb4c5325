// The replication connector's own rows (binary COPY values written as JSON by row-encoder.ts, the other types
// as PostgreSQL's to_json text) from a real PostgreSQL: the Partner SDK's fast path (json-records.ts) writes
// the same Record bytes as the general path (parseJsonRows → toValueType → record-encoder.ts) for edge values
// of every column type, and takes every row itself.
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {connector} from '../../connectors/replication/index.js';
import {Logger} from '../../sdk/log.js';
import {JsonRecords} from '../../sdk/partner-sdk/json-records.js';
import {parseJsonRows} from '../../sdk/partner-sdk/json-rows.js';
import {RecordEncoder} from '../../sdk/partner-sdk/record-encoder.js';
import {StreamingBudget} from '../../sdk/partner-sdk/update.js';
import {toValueType} from '../../sdk/partner-sdk/values.js';
import {parseSecrets} from '../../sdk/secrets.js';
import {parseState} from '../../sdk/state.js';
import type {Emit, TableSpec} from '../../sdk/types.js';
import {createTestDatabase, type TestDatabase} from '../support/postgres.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('grpc_json_records');
  await db.query(`CREATE TYPE mood AS ENUM ('sad', 'ünï')`);
  await db.query(`CREATE TABLE edge_types (
      id bigint PRIMARY KEY, small smallint, whole integer, big bigint, amount numeric(30,10), plain numeric, ratio real, measure double precision,
      flag boolean, day date, local_at timestamp(6), at timestamptz, doc json, docb jsonb, blob bytea, markup xml, uid uuid, tags text[],
      nums numeric[], clock time, span interval, label varchar(40), code char(5), note text, feeling mood)`);
  await db.query(`INSERT INTO edge_types VALUES
      (1, 7, 42, 1234567890123, 1029.98, 0.1, 1.5, 2.25, true, '2024-02-29', '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999999-05',
       '{"a": [1, 2]}', '{"b": null}', '\\x00ff10', '<a>1</a>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ARRAY['x', 'y'], ARRAY[1.50, 2],
       '13:14:15', '1 day 2 hours', 'São Paulo 🎉', 'ab', 'generated order 1', 'sad'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, -32768, -2147483648, 9223372036854775807, 'NaN', 123456789012345678901234567890.123456789, 'NaN', 'Infinity', false, 'infinity',
       '-infinity', 'infinity', '{"é": "\\u00e9", "n": 12345678901234567890, "f": 1.0}', '{"b": [1, 2.50, "x\\"y"], "1": 0}', '\\x', '<a>é</a>',
       '00000000-0000-0000-0000-000000000000', ARRAY['a"b', 'ü', NULL], ARRAY[12345678901234567890.5], '00:00:00', '-1 mons', '', '',
       E'line\\nbreak "quoted" \\\\ back \\t tab \\u0001 end', 'ünï'),
      (4, 32767, 2147483647, -9007199254740991, 0, -0.000001, -0, '-Infinity', true, '0044-03-15 BC', '0001-01-01 00:00:00 BC',
       '1969-12-31 23:59:59.999999+00', '"just a string"', '[]', '\\xdeadbeef', '<b/>', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{}', '{}',
       '23:59:59.999999', '100 years', 'x', 'abcde', 'ascii', 'sad'),
      (5, 0, 0, 9007199254740992, 99999999999999999999.9999999999, 1e-20, 3.4e38, 1e-300, false, '1970-01-01', '1970-01-01 00:00:00',
       '2024-01-15 10:30:00.5+05:30', 'null', '{"deep": {"deeper": [{"x": 1e400}]}}', '\\x0a', '<c>&amp;</c>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
       ARRAY[]::text[], ARRAY[-0.0], '12:00', '0 seconds', 'naïve', 'ü', '', 'ünï')`);
});

afterAll(async () => {
  await db?.drop();
});

/** The upsertJson emits of one full sync of edge_types, and the table specs declared for them. */
async function syncedJson(): Promise<{specs: Map<string, TableSpec>; emits: {table: string; json: string | Buffer}[]}> {
  const configuration = {
    host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable', include_tables: 'edge_types',
  };
  const {secrets} = parseSecrets(connector.secrets, configuration);
  const log = new Logger({connector: connector.name, sink: () => undefined});
  const specs = new Map<string, TableSpec>();
  const emits: {table: string; json: string | Buffer}[] = [];
  const sync = connector.sync({secrets: secrets as never, state: parseState(connector.name, connector.state, {}) as never, budget: new StreamingBudget(), log, syncId: 'json-records-test', signal: new AbortController().signal});
  for await (const item of sync as AsyncIterable<Emit<unknown>>) {
    if (item.kind === 'table') specs.set(item.table, item.spec);
    // the batch's bytes are the connector's until it goes on: kept as a copy
    if (item.kind === 'upsertJson' && item.table.endsWith('edge_types')) emits.push({table: item.table, json: Buffer.from(item.json)});
  }
  return {specs, emits};
}

describe('the fast path on the replication connector\'s rows', () => {
  it('writes the same Record bytes as the general path for every column type, taking every row itself', async () => {
    const {specs, emits} = await syncedJson();
    expect(emits.length).toBeGreaterThan(0);
    let rows = 0;
    for (const {table, json} of emits) {
      const types = specs.get(table)?.columns ?? {};
      expect(Object.keys(types)).toEqual(expect.arrayContaining(['amount', 'at', 'doc', 'blob', 'tags', 'feeling']));

      const generalEncoder = new RecordEncoder();
      const expected = parseJsonRows(json).map((row) => {
        generalEncoder.begin(table, undefined, 'UPSERT');
        for (const column in row) generalEncoder.value(column, toValueType(row[column], types[column], column));
        return generalEncoder.end().toString('hex');
      });

      const encoder = new RecordEncoder();
      const reader = new JsonRecords(encoder, {name: table, schemaName: undefined, columnType: (column) => types[column], includesColumn: () => true});
      reader.reset(json);
      const actual: string[] = [];
      for (let row = reader.next(); row !== null; row = reader.next()) {
        expect(row).toBe(true);
        actual.push(encoder.end().toString('hex'));
      }
      expect(actual).toEqual(expected);
      // the values that convert (json, bytes, to_json text of arrays, NaN, infinities, BC dates, int8 past 2^53) go the general way; the rest not
      const values = expected.length * Object.keys(types).length;
      expect(reader.generalValues).toBeGreaterThan(0);
      expect(reader.generalValues).toBeLessThan(values / 2);
      rows += actual.length;
    }
    expect(rows).toBe(5);
  });
});
