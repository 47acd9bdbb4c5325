// pgoutput decoding against a real PostgreSQL: changes made in the source come back from a logical slot as
// Begin/Relation/Insert/Update/Delete/Truncate/Commit messages, and their values as the JSON the keyset full
// load writes for the same rows (PostgreSQL's to_json, numerics and large int8 as exact strings).
import {randomBytes} from 'node:crypto';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {decodeMessage, formatLsn, parseLsn, TextValue, type PgOutputMessage, type Relation} from './pgoutput.js';
import {CDC_SESSION_SETTINGS, RowJsonWriter, tupleJson, valueJson} from './values.js';

let db: TestDatabase;
let logical = false;
const slot = `test_slot_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase('pgoutput');
  const {rows} = await db.query(`SELECT current_setting('wal_level') AS level`);
  logical = rows[0].level === 'logical';
  if (!logical) return;
  // logical decoding reads only WAL that is flushed: commit synchronously, as production servers do
  await db.query('SET synchronous_commit = on');
  for (const [name, value] of Object.entries(CDC_SESSION_SETTINGS)) await db.query(`SELECT set_config($1, $2, false)`, [name, value]);
  await db.query(`CREATE TABLE orders (
    id int8 PRIMARY KEY, flag bool, small int2, qty int4, big int8, price numeric(12,2), ratio float8, note text, code varchar(8),
    day date, at timestamp, at_tz timestamptz, uid uuid, doc jsonb, tags text[])`);
  await db.query(`CREATE TABLE events (name text, seen int4)`);
  await db.query(`ALTER TABLE events REPLICA IDENTITY FULL`);
  await db.query(`CREATE PUBLICATION test_pub FOR TABLE orders, events`);
  await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
});

afterAll(async () => {
  if (logical) await db.query(`SELECT pg_drop_replication_slot($1)`, [slot]).catch(() => undefined);
  await db.drop();
});

async function peek(): Promise<{lsn: string; message: PgOutputMessage}[]> {
  const {rows} = await db.query(`SELECT lsn::text AS lsn, data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', 'test_pub')`, [slot]);
  return rows.map((row: {lsn: string; data: Buffer}) => ({lsn: row.lsn, message: decodeMessage(row.data)}));
}

describe('pgoutput', () => {
  it('reads LSNs both ways', () => {
    expect(formatLsn(parseLsn('0/16B3748'))).toBe('0/16B3748');
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(() => parseLsn('nope')).toThrow(/not an LSN/);
  });

  it('decodes a transaction of every change kind, with values as the full load writes them', async (context) => {
    if (!logical) context.skip();
    await db.query('BEGIN');
    await db.query(
      `INSERT INTO orders VALUES (1, true, -3, 42, 9007199254740993, 1029.98, 0.5, 'a "quoted"\nline', 'AB', '2024-01-15', '2024-01-15 10:30:00.5', '2024-01-15 10:00:00+05', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"k": [1, 2]}', '{x,y}')`,
    );
    await db.query(`UPDATE orders SET qty = 43 WHERE id = 1`);
    await db.query(`UPDATE orders SET id = 2 WHERE id = 1`);
    await db.query(`INSERT INTO events VALUES ('open', 1)`);
    await db.query(`DELETE FROM events WHERE name = 'open'`);
    await db.query(`DELETE FROM orders WHERE id = 2`);
    await db.query('COMMIT');
    await db.query('TRUNCATE events');

    const messages = (await peek()).map((m) => m.message);
    const types = messages.map((m) => m.type);
    expect(types).toEqual(['begin', 'relation', 'insert', 'update', 'update', 'relation', 'insert', 'delete', 'delete', 'commit', 'begin', 'relation', 'truncate', 'commit']);

    const orders = (messages[1] as {relation: Relation}).relation;
    expect(orders).toMatchObject({schema: 'public', table: 'orders', replicaIdentity: 'd'});
    expect(orders.columns.filter((c) => c.key).map((c) => c.name)).toEqual(['id']);

    const insert = messages[2] as Extract<PgOutputMessage, {type: 'insert'}>;
    expect(JSON.parse(tupleJson(orders, insert.tuple))).toEqual({
      id: 1, flag: true, small: -3, qty: 42, big: '9007199254740993', price: '1029.98', ratio: 0.5, note: 'a "quoted"\nline', code: 'AB',
      day: '2024-01-15', at: '2024-01-15T10:30:00.5', at_tz: '2024-01-15T05:00:00+00:00', uid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', doc: {k: [1, 2]}, tags: '{x,y}',
    });
    // the same JSON as to_json gives for the columns the row encoder writes as JSON literals or strings
    const {rows} = await db.query(`SELECT to_json('2024-01-15 10:30:00.5'::timestamp)::text AS at, to_json('2024-01-15 10:00:00+05'::timestamptz)::text AS at_tz`);
    expect(tupleJson(orders, insert.tuple)).toContain(`"at":${rows[0].at}`);
    expect(tupleJson(orders, insert.tuple)).toContain(`"at_tz":${rows[0].at_tz}`);

    const keyChange = messages[4] as Extract<PgOutputMessage, {type: 'update'}>;
    expect(keyChange.old?.kind).toBe('key'); // the old key travels when the key changes
    expect(JSON.parse(tupleJson(orders, keyChange.old!.tuple, new Set(['id'])))).toEqual({id: 1});
    expect(JSON.parse(tupleJson(orders, keyChange.tuple)).id).toBe(2);

    const events = (messages[5] as {relation: Relation}).relation;
    expect(events.replicaIdentity).toBe('f');
    const fullDelete = messages[7] as Extract<PgOutputMessage, {type: 'delete'}>;
    expect(fullDelete.old.kind).toBe('full');
    expect(JSON.parse(tupleJson(events, fullDelete.old.tuple))).toEqual({name: 'open', seen: 1});
    const keyDelete = messages[8] as Extract<PgOutputMessage, {type: 'delete'}>;
    expect(keyDelete.old.kind).toBe('key');
    expect(JSON.parse(tupleJson(orders, keyDelete.old.tuple, new Set(['id'])))).toEqual({id: 2});

    const truncate = messages[12] as Extract<PgOutputMessage, {type: 'truncate'}>;
    expect(truncate.relationOids).toEqual([events.oid]);
    const commit = messages[9] as Extract<PgOutputMessage, {type: 'commit'}>;
    expect(parseLsn(commit.endLsn) > parseLsn(commit.lsn)).toBe(true);
  });

  it('writes int8 and timestamptz edge values as the full load does (numbers beyond 2^53 and to_json\'s timestamps)', async () => {
    const {rows} = await db.query<{big: string; at: string; json: string}>(
      `SELECT big::text, at::text, to_json(at)::text AS json FROM unnest(
         ARRAY[0, 999999999999999, -999999999999999, 9007199254740991, -9007199254740991, 9007199254740992, -9007199254740993, 9999999999999999, -999999999999999999]::int8[],
         ARRAY['2024-01-15 05:00:00+00', '2024-01-15 05:00:00.123456+00', '2024-01-15 10:00:00+05:30', '0044-03-15 12:00:00+00 BC', 'infinity', '-infinity', '12024-01-01 00:00:00+00', '1900-01-01 00:00:00+00', '2000-02-29 23:59:59.999999+00']::timestamptz[]
       ) AS t(big, at)`,
    );
    for (const {big, at, json} of rows) {
      expect(valueJson(20, big), big).toBe(BigInt(big) > 9007199254740991n || BigInt(big) < -9007199254740991n ? `"${big}"` : big);
      expect(valueJson(1184, at), at).toBe(json);
    }
  });

  it('writes the value of every type as bytes exactly as valueJson writes it as text', async () => {
    // text values of each type as this session (the CDC settings) writes them, and each type's oid
    const {rows} = await db.query<{oid: number; text: string}>(
      `SELECT pg_typeof(v)::oid::int AS oid, v::text AS text FROM (
         SELECT 'plain'::text AS v UNION ALL SELECT 'quote " back \\ slash' UNION ALL SELECT E'tab\tnew\nline\rcr\x01\x1f' UNION ALL SELECT 'ünïcödé ✓ 𝄞' UNION ALL SELECT ''
       ) t
       UNION ALL SELECT 'varchar'::regtype::oid::int, 'a "b"'::varchar UNION ALL SELECT 'bpchar'::regtype::oid::int, 'ab  '::char(4)::text
       UNION ALL SELECT 'name'::regtype::oid::int, 'relname'::name::text
       UNION ALL SELECT 'bool'::regtype::oid::int, unnest(ARRAY['t', 'f'])  -- boolout's text, which pgoutput sends (bool::text is 'true')
       UNION ALL SELECT 'int2'::regtype::oid::int, i::text FROM unnest(ARRAY[-32768, 0, 32767]::int2[]) i
       UNION ALL SELECT 'int4'::regtype::oid::int, i::text FROM unnest(ARRAY[-2147483648, 7, 2147483647]::int4[]) i
       UNION ALL SELECT 'int8'::regtype::oid::int, i::text FROM unnest(ARRAY[0, 999999999999999, -999999999999999, 9007199254740991, 9007199254740992, -9007199254740993, 9223372036854775807]::int8[]) i
       UNION ALL SELECT 'float8'::regtype::oid::int, f::text FROM unnest(ARRAY['NaN', 'Infinity', '-Infinity', '0.1', '-1.5e300', '0']::float8[]) f
       UNION ALL SELECT 'float4'::regtype::oid::int, f::text FROM unnest(ARRAY['NaN', '-Infinity', '3.25']::float4[]) f
       UNION ALL SELECT 'numeric'::regtype::oid::int, n::text FROM unnest(ARRAY['NaN', '-12345678901234567890.123456789', '0']::numeric[]) n
       UNION ALL SELECT 'date'::regtype::oid::int, d::text FROM unnest(ARRAY['2024-02-29', '0044-03-15 BC', 'infinity', '-infinity']::date[]) d
       UNION ALL SELECT 'timestamp'::regtype::oid::int, t::text FROM unnest(ARRAY['2024-01-15 10:30:00.5', '0044-03-15 12:00:00 BC', 'infinity', '12024-01-01 00:00:00']::timestamp[]) t
       UNION ALL SELECT 'timestamptz'::regtype::oid::int, t::text FROM unnest(ARRAY['2024-01-15 05:00:00+00', '2024-01-15 05:00:00.123456+05:30', '0044-03-15 12:00:00+00 BC', '-infinity', '12024-01-01 00:00:00+00']::timestamptz[]) t
       UNION ALL SELECT 'uuid'::regtype::oid::int, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid::text
       UNION ALL SELECT 'json'::regtype::oid::int, '{"a": [1, "x\\"y"]}'::json::text UNION ALL SELECT 'jsonb'::regtype::oid::int, '{"b": null, "a": 1.50}'::jsonb::text
       UNION ALL SELECT 'json'::regtype::oid::int, ('{"long": "' || repeat('x', 40) || '"}')::json::text
       UNION ALL SELECT 'numeric'::regtype::oid::int, ('1' || repeat('0', 40) || '.5')::numeric::text
       UNION ALL SELECT 'interval'::regtype::oid::int, '1 day 02:00:00'::interval::text UNION ALL SELECT 'int4[]'::regtype::oid::int, '{1,2}'::int4[]::text`,
    );
    expect(rows.length).toBeGreaterThan(40);
    for (const {oid, text} of rows) {
      const writer = new RowJsonWriter();
      writer.begin();
      const bytes = Buffer.from(`..${text}.`);
      writer.value(oid, new TextValue(bytes, 2, bytes.length - 1));
      expect(writer.end().toString('utf8'), `${oid} ${text}`).toBe(valueJson(oid, text));
    }
  });

  it('keeps each row it wrote whole when a row outgrows the slab it started in', () => {
    const writer = new RowJsonWriter();
    const rows: Buffer[] = [];
    const long = Buffer.from('x'.repeat(300_000));
    for (let i = 0; i < 8; i++) {
      writer.begin();
      writer.value(25, new TextValue(long, 0, long.length));
      rows.push(writer.end());
    }
    for (const row of rows) expect(row.toString()).toBe(JSON.stringify(long.toString()));
  });

  it('refuses a message it cannot read, saying why', () => {
    expect(() => decodeMessage(Buffer.from('Z'))).toThrow(/unknown pgoutput message type "Z"/);
    expect(() => decodeMessage(Buffer.from([0x49, 0, 0]))).toThrow(/ends early/);
  });
});
