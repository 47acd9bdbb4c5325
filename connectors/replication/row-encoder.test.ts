// The row encoder against PostgreSQL itself: for edge values of every type it writes, the JSON it makes from
// the binary COPY field must be the text PostgreSQL's to_json makes of the connector's JSON expression for
// that column (column-types.ts), byte for byte; floats, whose digits PostgreSQL and JavaScript place
// differently, must parse to the same number.
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {jsonValueExpression} from './column-types.js';
import {copyOut} from './copy-out.js';
import {binaryKind, encodedBound, Kind, writeValue} from './row-encoder.js';

let db: TestDatabase;
let client: pg.Client;
beforeAll(async () => {
  db = await createTestDatabase('row_encoder');
  // the connector's sessions run in UTC (client.ts); the expected text is PostgreSQL's in the same zone
  client = new pg.Client({host: db.host, port: db.port, database: db.database, user: db.user, password: db.password, options: '-c TimeZone=UTC'});
  await client.connect();
  await client.query(`CREATE TYPE mood AS ENUM ('ok', 'happy "quoted"')`);
});
afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** Each row of a binary COPY as its fields' bytes (null for NULL). */
async function binaryRows(text: string): Promise<(Buffer | null)[][]> {
  const rows: (Buffer | null)[][] = [];
  let started = false;
  await copyOut(client, `COPY (${text}) TO STDOUT (FORMAT binary)`, (data, start, end) => {
    const message = data.subarray(start, end);
    let offset = 0;
    if (!started) {
      started = true;
      offset = 19 + message.readUInt32BE(15);
      if (offset >= message.length) return;
    }
    const count = message.readInt16BE(offset);
    if (count === -1) return;
    offset += 2;
    const fields: (Buffer | null)[] = [];
    for (let i = 0; i < count; i++) {
      const size = message.readInt32BE(offset);
      offset += 4;
      fields.push(size < 0 ? null : Buffer.from(message.subarray(offset, offset + size)));
      if (size > 0) offset += size;
    }
    rows.push(fields);
  });
  return rows;
}

/** [PostgreSQL's to_json text, the encoder's] for each value `v` of the rows of `from` (a query or VALUES). */
async function encodeRows(baseType: string, category: string, from: string): Promise<{literal: string; expected: string; actual: string}[]> {
  const kind = binaryKind({baseType, category, builtinType: true});
  expect(kind, `${baseType} is written from its binary form`).not.toBeNull();
  const expression = jsonValueExpression({name: 'v', baseType, category, builtinType: true, elementType: null} as Parameters<typeof jsonValueExpression>[0], 'x');
  const rows = await binaryRows(`SELECT x.v, to_json(${expression})::text, x.v::text FROM (${from}) AS x(v)`);
  return rows.map(([value, expected, text]) => {
    const field = value ?? Buffer.alloc(0);
    const size = value ? value.length : -1;
    const literal = text ? text.toString('utf8') : 'NULL';
    // exactly the bound: what is written must stay within it
    const out = Buffer.alloc(encodedBound(kind!, field, 0, size));
    const end = writeValue(kind!, out, 0, field, 0, size);
    expect(end, `the JSON of ${literal} fits its bound`).toBeLessThanOrEqual(out.length);
    // row_to_json writes a NULL as null; to_json of one is NULL
    return {literal, expected: expected === null ? 'null' : expected!.toString('utf8'), actual: out.toString('utf8', 0, end)};
  });
}

/** encodeRows for literals of `type`. */
function encodeBoth(type: string, baseType: string, literals: string[], category = 'X'): Promise<{literal: string; expected: string; actual: string}[]> {
  // quoted, so a minus sign is part of the literal (-32768::smallint would negate 32768, out of range)
  return encodeRows(baseType, category, `VALUES ${literals.map((l) => `(${/^-?[\d.e]+$/.test(l) ? `'${l}'` : l}::${type})`).join(', ')}`);
}

function expectSame(results: {literal: string; expected: string; actual: string}[]): void {
  for (const r of results) expect(r.actual, `the JSON of ${r.literal}`).toBe(r.expected);
}

describe('row encoder: binary values to the JSON PostgreSQL writes', () => {
  it('writes booleans, small and large integers, and int8 beyond 2^53 as exact strings', async () => {
    expectSame(await encodeBoth('boolean', 'bool', ['true', 'false', 'NULL']));
    expectSame(await encodeBoth('smallint', 'int2', ['0', '-32768', '32767', '7']));
    expectSame(await encodeBoth('integer', 'int4', ['0', '-2147483648', '2147483647', '-1', '10', '99']));
    const int8 = await encodeBoth('bigint', 'int8', [
      '0', '-1', '4294967295', '4294967296', '-4294967296', '-4294967297', '9007199254740991', '-9007199254740991',
      '9007199254740992', '-9007199254740992', '9223372036854775807', '-9223372036854775808', '4503599627370496', '-4503599627370497',
    ]);
    expectSame(int8);
    expect(int8.find((r) => r.literal === '9007199254740992')!.actual).toBe('"9007199254740992"');
  });

  it('writes numeric as its exact decimal text, display scale and special values included', async () => {
    expectSame(await encodeBoth('numeric', 'numeric', [
      '0', '0.00', '-0.5', '1029.98', '12.3400', '10000', '100000000', '0.0001', '0.00001', '-0.000000000000000000001',
      '1234567890123456789012345678.0123456789', '-99999999999999999999.5', '1e100', '9999.9999', '10000.0001', "'NaN'", "'Infinity'", "'-Infinity'",
    ]));
    expectSame(await encodeBoth('numeric(12,2)', 'numeric', ['0', '1.5', '-10.25', '9999999999.99']));
  });

  it('writes strings escaped as escape_json does: quotes, backslashes, control characters, and UTF-8 as it is', async () => {
    expectSame(await encodeBoth('text', 'text', [
      "''", "'plain'", "E'line1\\nline2'", `'quote " back \\'`, "E'\\x01\\x1f\\x7f'", "'é ✓ 𝄞'", "E'\\t\\b\\f\\r'", `E'\\\\"'`,
    ]));
    expectSame(await encodeBoth('varchar(20)', 'varchar', ["'São Paulo'", "'a\"b'"]));
    expectSame(await encodeBoth('char(5)', 'bpchar', ["'ab'", "'abcde'"]));
    expectSame(await encodeBoth('name', 'name', ["'pg_class'"]));
    expectSame(await encodeBoth('mood', 'mood', ["'ok'", `'happy "quoted"'`], 'E'));
  });

  it('writes dates and timestamps as to_json does: BC years, far years, fractions, infinities', async () => {
    const days = [
      "'2024-02-29'", 'NULL', "'2000-01-01'", "'1999-12-31'", "'0001-01-01'", "'0001-12-31 BC'", "'0044-03-15 BC'", "'4713-01-01 BC'",
      "'1582-10-04'", "'1900-02-28'", "'2100-03-01'", "'5874897-12-31'", "'infinity'", "'-infinity'", "'1858-11-17'", "'2142-01-01'",
    ];
    expectSame(await encodeBoth('date', 'date', days));
    const times = [
      'NULL',
      "'2024-01-15 10:30:00.123456'", "'2000-01-01 00:00:00'", "'1999-12-31 23:59:59.999999'", "'2024-01-15 10:30:00.5'",
      "'2024-01-15 10:30:00.000001'", "'1700-06-01 01:02:03.04'", "'2400-06-01 23:00:00.1'", "'0044-03-15 12:00:00 BC'",
      "'4713-01-01 00:00:00 BC'", "'294276-12-31 23:59:59.999999'", "'infinity'", "'-infinity'", "'1970-01-01 00:00:00'", "'1969-12-31 23:59:59.9'",
    ];
    expectSame(await encodeBoth('timestamp', 'timestamp', times));
    expectSame(await encodeBoth('timestamptz', 'timestamptz', [...times, "'2024-01-15 10:30:00+05:30'", "'2024-01-15 01:00:00-08:00'"]));
  });

  it('writes uuid, json as it is and jsonb as PostgreSQL prints it', async () => {
    expectSame(await encodeBoth('uuid', 'uuid', ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'", "'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'"]));
    expectSame(await encodeBoth('json', 'json', [`'{"a": [1, 2.50, null]}'`, `'"s"'`, `'null'`, `'  [1 , 2]  '`, `E'{"k":\\n "v"}'`]));
    expectSame(await encodeBoth('jsonb', 'jsonb', [`'{"nested": {"k": "v"}, "a": 1.50}'`, `'"s"'`, `'[]'`, `'{"é": "✓\\n"}'`]));
  });

  it('writes float8 as the same number (and quotes what JSON has no number for)', async () => {
    const results = await encodeBoth('double precision', 'float8', [
      '0', '-0', '0.1', '1e300', '1e-300', '5e-324', '1.5e-7', '123456789012345680000', '1e21', '-2.5', "'NaN'", "'Infinity'", "'-Infinity'",
    ]);
    for (const r of results) expect(JSON.parse(r.actual), `the JSON of ${r.literal}`).toEqual(JSON.parse(r.expected));
    expect(results.find((r) => r.literal === '-0')!.actual).toBe('-0');
  });

  it('agrees with to_json on thousands of random values of each type', async () => {
    await client.query('SELECT setseed(0.4242)');
    const n = 3000;
    const series = `generate_series(1, ${n})`;
    const random = {
      int8: `SELECT (floor(random() * 18446744073709551615) - 9223372036854775808)::numeric::int8 FROM ${series}`,
      int4: `SELECT (floor(random() * 4294967295) - 2147483648)::int8::int4 FROM ${series}`,
      // digits and scales of every size, both signs
      numeric: `SELECT round(((random() - 0.5) * 10 ^ (random() * 60 - 30))::numeric, floor(random() * 25)::int) FROM ${series}`,
      // from 4337 BC to 287,388 AD, to the microsecond
      timestamp: `SELECT timestamp '2000-01-01' + (floor(random() * 9.2e12) - 2e11) * interval '1 second' + floor(random() * 1e6) * interval '1 microsecond' FROM ${series}`,
      // from 4713 BC to 5,874,897 AD
      date: `SELECT date '2000-01-01' + (floor(random() * 2147000000) - 2451000)::int FROM ${series}`,
      // every code point but NUL and surrogates, half of them ASCII (control characters, quotes, backslashes),
      // in strings of 0 to 20 characters
      text: `SELECT (SELECT string_agg(chr(CASE WHEN c BETWEEN 55296 AND 57343 THEN 65 ELSE c END), '') FROM (SELECT 1 + floor(CASE WHEN random() < 0.5 THEN random() * 127 ELSE random() * 196606 END)::int AS c FROM generate_series(1, (g % 21)) WHERE g > 0) cs) FROM ${series} g`,
      float8: `SELECT ((random() - 0.5) * 10 ^ (random() * 600 - 300))::float8 FROM ${series}`,
      uuid: `SELECT md5(random()::text)::uuid FROM ${series}`,
    };
    for (const [baseType, from] of Object.entries(random)) {
      const results = await encodeRows(baseType, 'X', from);
      expect(results.length, baseType).toBe(n);
      if (baseType === 'float8') {
        for (const r of results) expect(JSON.parse(r.actual), `the JSON of ${r.literal}`).toEqual(JSON.parse(r.expected));
      } else {
        expectSame(results);
      }
    }
    expectSame(await encodeRows('timestamptz', 'X', random.timestamp.replace("timestamp '2000-01-01'", "timestamptz '2000-01-01 00:00:00+00'")));
  });

  it('leaves to PostgreSQL the types it does not write (arrays, bytea, interval, float4, ...)', () => {
    for (const [baseType, category] of [['_int4', 'A'], ['bytea', 'U'], ['interval', 'T'], ['float4', 'N'], ['inet', 'I'], ['int4range', 'R'], ['money', 'N']] as const) {
      expect(binaryKind({baseType, category, builtinType: true}), baseType).toBeNull();
    }
    expect(binaryKind({baseType: 'json', category: 'U', builtinType: true})).toBe(Kind.Json);
    // a user's type that shares a built-in's name is not read as the built-in
    expect(binaryKind({baseType: 'uuid', category: 'C', builtinType: false})).toBeNull();
  });
});
