// The replication connector behind the Partner SDK writes its rows as Record bytes straight from the binary
// COPY values (ctx.records: connectors/replication/row-records.ts, sdk/partner-sdk/record-rows.ts). Against a
// real PostgreSQL, for edge values of every column type: the Update stream sends, byte for byte, the Records
// the JSON path sends (the same connector without ctx.records: its rows' JSON, read by json-records.ts), in
// the same batches, with the same checkpoints; with a column excluded by the selection, and for a table
// without a primary key (its _row_hash) too. Over real gRPC, where the buffers of rows written out are written
// again, every row of many batches arrives intact.
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {connector} from '../../connectors/replication/index.js';
import {Logger} from '../../sdk/log.js';
import type {UpdateRequest__Output} from '../../sdk/partner-sdk/generated/fivetran_sdk/v2/UpdateRequest.js';
import type {UpdateResponse} from '../../sdk/partner-sdk/generated/fivetran_sdk/v2/UpdateResponse.js';
import {runUpdate} from '../../sdk/partner-sdk/update.js';
import type {Connector} from '../../sdk/connector.js';
import type {Emit} from '../../sdk/types.js';
import {createTestDatabase, type TestDatabase} from '../support/postgres.js';
import {plainValue, recordsOf, startHarness, update} from '../fixtures/grpc/client.js';

let db: TestDatabase;
let configuration: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase('grpc_records');
  await db.query(`CREATE TYPE mood AS ENUM ('sad', 'ünï')`);
  await db.query(`CREATE DOMAIN positive AS integer CHECK (VALUE > 0)`);
  await db.query(`CREATE TABLE edge_types (
      id bigint PRIMARY KEY, small smallint, whole integer, big bigint, amount numeric(30,10), plain numeric, ratio real, measure double precision,
      flag boolean, day date, local_at timestamp(6), at timestamptz, doc json, docb jsonb, blob bytea, markup xml, uid uuid, tags text[],
      nums numeric[], clock time, span interval, label varchar(40), code char(5), note text, feeling mood, count positive, owner name, cash money)`);
  await db.query(`INSERT INTO edge_types VALUES
      (1, 7, 42, 1234567890123, 1029.98, 0.1, 1.5, 2.25, true, '2024-02-29', '2024-02-29 23:59:59.999999', '2024-02-29 23:59:59.999999-05',
       '{"a": [1, 2]}', '{"b": null}', '\\x00ff10', '<a>1</a>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ARRAY['x', 'y'], ARRAY[1.50, 2],
       '13:14:15', '1 day 2 hours', 'São Paulo 🎉', 'ab', 'generated order 1', 'sad', 5, 'pg', 12.5),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, -32768, -2147483648, 9223372036854775807, 'NaN', 123456789012345678901234567890.123456789, 'NaN', 'Infinity', false, 'infinity',
       '-infinity', 'infinity', '{"é": "\\u00e9", "n": 12345678901234567890, "f": 1.0}', '{"b": [1, 2.50, "x\\"y"], "1": 0}', '\\x', '<a>é</a>',
       '00000000-0000-0000-0000-000000000000', ARRAY['a"b', 'ü', NULL], ARRAY[12345678901234567890.5], '00:00:00', '-1 mons', '', '',
       E'line\\nbreak "quoted" \\\\ back \\t tab \\u0001 end', 'ünï', 2147483647, '', -0.01),
      (4, 32767, 2147483647, -9007199254740991, 0, -0.000001, -0, '-Infinity', true, '0044-03-15 BC', '0001-01-01 00:00:00 BC',
       '1969-12-31 23:59:59.999999+00', '"just a string"', '[]', '\\xdeadbeef', '<b/>', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{}', '{}',
       '23:59:59.999999', '100 years', 'x', 'abcde', 'ascii', 'sad', 1, 'x', 0),
      (5, 0, 0, 9007199254740992, 99999999999999999999.9999999999, 1e-20, 3.4e38, 1e-300, false, '1970-01-01', '1970-01-01 00:00:00',
       '2024-01-15 10:30:00.5+05:30', 'null', '{"deep": {"deeper": [{"x": 1e400}]}}', '\\x0a', '<c>&amp;</c>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
       ARRAY[]::text[], ARRAY[-0.0], '12:00', '0 seconds', 'naïve', 'ü', '', 'ünï', 3, 'y', 1),
      (6, 1, 1, -9007199254740992, -123.456, 1e20, 1e-40, 5e-324, true, '0001-01-01', '1857-01-01 00:00:00', '2142-12-31 23:59:59.999999+00',
       '12345678901234567', '{"k": "\\u0001x"}', '\\x00', '<d/>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', ARRAY['\\'], ARRAY[1e-30], '01:02:03', '1 sec',
       'tab\there', 'é', E'\\x7f del', 'sad', 4, 'z', 2),
      (7, 2, 2, -1, 1e-10, -0, 3.14159, -1.7976931348623157e308, false, '9999-12-31', '9999-12-31 23:59:59.999999', '2500-06-01 12:00:00+00',
       '[1, 2.5, "x"]', '1.0', '\\x01', '<e>x</e>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14', ARRAY['x y'], ARRAY[0], '23:00', '2 days',
       'z', 'z', 'z', 'ünï', 6, 'w', 3),
      (8, 3, 3, 0, 1, 2, 3, 1.0000000000000002, true, '1800-03-01', '1800-03-01 00:00:00.000001', '1000-01-01 00:00:00+00',
       '{}', '{"a": {"b": {}}}', '\\x02', '<f/>', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a15', ARRAY['y'], ARRAY[2], '22:00', '3 days',
       'y', 'y', 'y', 'sad', 7, 'v', 4)`);
  await db.query(`CREATE TABLE no_key (label text, n integer, at timestamptz)`);
  await db.query(`INSERT INTO no_key SELECT 'row ' || g, g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, 250) g`);
  await db.query(`CREATE TABLE many (id integer PRIMARY KEY, label text, amount numeric(12,2), at timestamptz)`);
  await db.query(`INSERT INTO many SELECT g, repeat(chr(97 + g % 26), 1 + g % 90), g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, 20000) g`);
  configuration = {
    host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable', include_tables: 'edge_types,no_key',
  };
});

afterAll(async () => {
  await db?.drop();
});

/** The entries of a Records batch: each Record's bytes, with its table_name; and the Records message's size. */
function recordsOfBatch(message: Buffer): {records: {table: string; bytes: string}[]; size: number} {
  let pos = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = message[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  expect(message[pos++]).toBe(0x32); // UpdateResponse.records
  const size = varint();
  const end = size + pos;
  expect(end).toBe(message.length);
  const records: {table: string; bytes: string}[] = [];
  while (pos < end) {
    expect(message[pos++]).toBe(0x0a);
    const recordEnd = varint() + pos;
    const record = message.subarray(pos, recordEnd);
    let table = '';
    while (pos < recordEnd) {
      const field = varint();
      const length = varint();
      if (field === 0x12) table = message.toString('utf8', pos, pos + length);
      pos += length;
    }
    records.push({table, bytes: record.toString('hex')});
  }
  return {records, size};
}

interface Streamed {
  /** each message: a batch's records of the source tables, or the kind of an encoded object message */
  messages: ({table: string; bytes: string}[] | string)[];
  /** each batch of the source tables' records: how many, and its size */
  batches: {records: number; size: number}[];
  /** how the connector handed its rows over, by emit kind */
  emits: Record<string, number>;
}

async function streamed(records: boolean, selection?: UpdateRequest__Output['selection']): Promise<Streamed> {
  const emits: Record<string, number> = {};
  const tapped: Connector = {
    ...connector,
    async *sync(ctx) {
      for await (const item of connector.sync(ctx as never) as AsyncIterable<Emit<unknown>>) {
        if (item.kind === 'upsertJson' || item.kind === 'upsertRecords') emits[item.kind] = (emits[item.kind] ?? 0) + 1;
        yield item as never;
      }
    },
  } as Connector;
  const messages: Streamed['messages'] = [];
  const batches: Streamed['batches'] = [];
  const request = {configuration, ...(selection ? {selection} : {})} as UpdateRequest__Output;
  const log = new Logger({connector: connector.name, sink: () => undefined});
  await runUpdate(tapped, request, {
    log, signal: new AbortController().signal, records, maxBatchBytes: 4096,
    send: async (message: UpdateResponse | Buffer) => {
      if (Buffer.isBuffer(message)) {
        // the tables written about the sync itself (replication_runs: durations, times) differ from run to run
        const {records, size} = recordsOfBatch(message);
        const rows = records.filter((r) => r.table.startsWith('public_'));
        if (rows.length === records.length) batches.push({records: records.length, size});
        if (rows.length) messages.push(rows);
      } else {
        messages.push(Object.keys(message).join());
      }
    },
  });
  return {messages, batches, emits};
}

describe('the replication connector\'s rows as Records', () => {
  it.each([['one stream', {}], ['three streams', {custom_threads: '3'}]])('streams every row of many batches intact over gRPC, the buffers of rows written out written again (%s)', async (_name, settings) => {
    const harness = await startHarness(connector);
    try {
      // batches of 700 rows: dozens of buffers of Records, each used again once grpc-js has written it
      const streamed = await update(harness.client, {configuration: {...configuration, include_tables: 'many,no_key', custom_batch_size: '700', ...settings}});
      expect(streamed.error).toBeUndefined();
      const rows = recordsOf(streamed.messages).filter((r) => r.table_name === 'public_many');
      expect(rows).toHaveLength(20000);
      const seen = new Set<number>();
      for (const row of rows) {
        const id = Number(row.data.id!.int);
        seen.add(id);
        expect(plainValue(row.data.label)).toBe(`string:${String.fromCharCode(97 + (id % 26)).repeat(1 + (id % 90))}`);
        expect(plainValue(row.data.amount)).toBe(`decimal:${(id * 1.25).toFixed(2)}`);
        expect(plainValue(row.data.at)).toBe(`utc_datetime:${new Date(Date.UTC(2024, 0, 1) + id * 60_000).toISOString().slice(0, 19)}.000000000Z`);
      }
      expect(seen.size).toBe(20000);
    } finally {
      await harness.close();
    }
  });

  it('sends the bytes, batches and checkpoints of the JSON path for edge values of every column type', async () => {
    const json = await streamed(false);
    const records = await streamed(true);
    expect(json.emits.upsertRecords).toBeUndefined();
    expect(records.emits.upsertJson).toBeUndefined();
    expect(records.emits.upsertRecords).toBeGreaterThan(0);
    expect(records.messages).toEqual(json.messages);
    const sent = records.messages.flatMap((m) => (typeof m === 'string' ? [] : m));
    expect(sent.filter((r) => r.table === 'public_edge_types')).toHaveLength(8);
    expect(sent.filter((r) => r.table === 'public_no_key')).toHaveLength(250);
    // 4 KiB batches: more than one per emit, none over the cap but for a single record
    expect(records.batches).toEqual(json.batches);
    expect(records.batches.length).toBeGreaterThan(records.emits.upsertRecords!);
    for (const batch of records.batches) {
      expect(batch.records).toBeLessThanOrEqual(100);
      if (batch.records > 1) expect(batch.size).toBeLessThanOrEqual(4096);
    }
  });

  it('drops the columns the selection excludes, as the JSON path does', async () => {
    const selection = {
      without_schema: {
        include_new_tables: false,
        tables: [{
          table_name: 'public_edge_types', included: true, include_new_columns: true,
          columns: {amount: false, at: false, doc: false, note: false, big: false, blob: false},
        }],
      },
    } as unknown as UpdateRequest__Output['selection'];
    const json = await streamed(false, selection);
    const records = await streamed(true, selection);
    expect(records.emits.upsertRecords).toBeGreaterThan(0);
    expect(records.messages).toEqual(json.messages);
    const sent = records.messages.flatMap((m) => (typeof m === 'string' ? [] : m));
    expect(sent).toHaveLength(8);
    expect(sent.every((r) => r.table === 'public_edge_types')).toBe(true);
    // "amount" is not sent: its key bytes (0a 06 'amount') appear in no record
    expect(sent.some((r) => r.bytes.includes(Buffer.from('\x0a\x06amount').toString('hex')))).toBe(false);
  });
});
