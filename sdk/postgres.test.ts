import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createTestDatabase, type TestDatabase} from '../test/support/postgres.js';
import {startTlsProxy, TEST_CA} from '../test/support/tls-proxy.js';
import {AuthError, ConfigError, SourceError} from './errors.js';
import {
  connect, describePostgresError, escapeLiteral, isRetriablePostgresError, ONE_STATEMENT_ONLY, oneStatement, qualifiedName, quoteIdent, readOnly, withPostgres, type PostgresConfig,
} from './postgres.js';

let db: TestDatabase;
let config: PostgresConfig;

beforeAll(async () => {
  db = await createTestDatabase('sdk_pg');
  config = {host: db.host, port: db.port, database: db.database, user: db.user, password: db.password, sslmode: 'disable', applicationName: 'sdk-test', statementTimeoutMs: 2000};
  await db.query(`CREATE TABLE "My Table" ("select" int primary key, "Order" text); INSERT INTO "My Table" VALUES (1, 'a')`);
});
afterAll(async () => db.drop());

describe('postgres helpers', () => {
  it('quotes identifiers so odd names work', async () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    const rows = await withPostgres(config, async (client) => (await client.query(`SELECT ${quoteIdent('select')}, ${quoteIdent('Order')} FROM ${qualifiedName('public', 'My Table')}`)).rows);
    expect(rows).toEqual([{select: 1, Order: 'a'}]);
  });

  it('sets application_name and the statement timeout on the session', async () => {
    const row = await withPostgres(config, async (client) => (await client.query(`SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS timeout`)).rows[0]);
    expect(row).toEqual({app: 'sdk-test', timeout: '2s'});
  });

  it('runs a oneStatement query as exactly one statement: a COMMIT and a write smuggled after it never run', async () => {
    await withPostgres(config, async (client) => {
      const smuggled = `SELECT 1 AS one; COMMIT; INSERT INTO "My Table" VALUES (99, 'smuggled')`;
      const error = await readOnly(client, 1000, (c) => c.query(oneStatement(smuggled))).catch((e: unknown) => e);
      expect(error).toMatchObject({code: '42601'});
      expect((error as Error).message).toMatch(ONE_STATEMENT_ONLY);
      expect((await client.query(`SELECT count(*)::int AS n FROM "My Table" WHERE "select" = 99`)).rows[0]).toEqual({n: 0});
      expect((await client.query(oneStatement('SELECT $1::int AS n', [7]))).rows).toEqual([{n: 7}]);
    });
  });

  it('runs user SQL read-only: writes are refused', async () => {
    const client = await connect(config);
    try {
      await expect(readOnly(client, 1000, (c) => c.query(`INSERT INTO "My Table" VALUES (2, 'b')`))).rejects.toMatchObject({code: '25006'});
      const count = await client.query('SELECT count(*)::int AS n FROM "My Table"');
      expect(count.rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('stops user SQL at the statement timeout', async () => {
    const client = await connect(config);
    try {
      const error = await readOnly(client, 100, (c) => c.query('SELECT pg_sleep(2)')).catch((e: unknown) => e);
      const described = describePostgresError(error, config);
      expect(described).toBeInstanceOf(SourceError);
      expect(described.message).toMatch(/statement timeout/);
    } finally {
      await client.end();
    }
  });

  it('says which credential is wrong without the password', async () => {
    const error = await connect({...config, password: 'definitely-wrong-pw'}).catch((e: unknown) => e);
    // embedded PostgreSQL uses password auth; a server from DATABASE_URL may trust local connections
    if (!process.env.DATABASE_URL) expect(error).toBeInstanceOf(AuthError);
    if (error) {
      expect(error).toBeInstanceOf(AuthError);
      expect((error as Error).message).toContain(`user "${config.user}"`);
      expect((error as Error).message).not.toContain('definitely-wrong-pw');
    }
    const missing = await connect({...config, database: 'no_such_db'}).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as Error).message).toContain('database "no_such_db" does not exist');
  });

  it('classifies a refused connection as retriable and a missing table as a config error', async () => {
    const refused = await connect({...config, port: 1, connectTimeoutMs: 2000}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SourceError);
    expect(isRetriablePostgresError(refused)).toBe(true);
    const missingTable = await withPostgres(config, (c) => c.query('SELECT * FROM no_such_table')).catch((e: unknown) => describePostgresError(e, config));
    expect(missingTable).toBeInstanceOf(ConfigError);
    expect(isRetriablePostgresError({code: '40001'})).toBe(true);
    expect(isRetriablePostgresError({code: '42P01'})).toBe(false);
  });

  it("escapes literals as pg's escapeLiteral does, and PostgreSQL reads them back unchanged", async () => {
    const values = ['plain', "it's", 'back\\slash', "both ' and \\", "''", '\\', 'ünïcødé 🐘', 'new\nline', ''];
    expect(values.map(escapeLiteral)).toEqual(values.map((value) => pg.escapeLiteral(value)));
    const rows = await withPostgres(config, async (client) => (await client.query(`SELECT ${values.map((value, i) => `${escapeLiteral(value)} AS v${i}`).join(', ')}`)).rows[0]);
    expect(Object.values(rows)).toEqual(values);
  });

  it('keeps timestamps, dates and numerics exact as text', async () => {
    const row = await withPostgres(config, async (c) => (await c.query(`SELECT '2026-01-02 03:04:05.123456+02'::timestamptz AT TIME ZONE 'UTC' AS ts, '2026-01-02'::date AS d, 12345678901234567890.123::numeric AS n, 9007199254740993::int8 AS b`)).rows[0]);
    expect(row).toEqual({ts: '2026-01-02 01:04:05.123456', d: '2026-01-02', n: '12345678901234567890.123', b: '9007199254740993'});
  });
});

describe('sslmode, as libpq', () => {
  // the test server has no TLS; test/support/tls-proxy.ts puts TLS in front of it
  const encrypted = (client: pg.Client) => (client as unknown as {connection: {stream: object}}).connection.stream.constructor.name === 'TLSSocket';

  it('prefer uses TLS when the server offers it, and goes on without it when the server does not', async () => {
    const proxy = await startTlsProxy({host: db.host, port: db.port});
    try {
      const overTls = await connect({...config, port: proxy.port, sslmode: 'prefer'});
      expect(encrypted(overTls)).toBe(true);
      expect((await overTls.query('SELECT 1 AS n')).rows[0]).toEqual({n: 1});
      await overTls.end();
      expect(proxy.tlsConnections).toBe(1);
    } finally {
      await proxy.close();
    }
    // the embedded test server offers no TLS (a DATABASE_URL server may)
    const plain = await connect({...config, sslmode: 'prefer'});
    const offered = (await plain.query<{ssl: string}>('SHOW ssl')).rows[0]!.ssl === 'on';
    expect(encrypted(plain)).toBe(offered);
    expect((await plain.query('SELECT 2 AS n')).rows[0]).toEqual({n: 2});
    await plain.end();
  });

  it('require refuses a server without TLS with a message that says what to set; verify-full checks the certificate', async () => {
    const offered = await withPostgres(config, async (c) => (await c.query<{ssl: string}>('SHOW ssl')).rows[0]!.ssl === 'on');
    if (!offered) {
      const error = await connect({...config, sslmode: 'require'}).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/does not accept TLS connections; set sslmode to prefer or disable/);
    }
    const proxy = await startTlsProxy({host: db.host, port: db.port});
    try {
      const verified = await connect({...config, host: '127.0.0.1', port: proxy.port, sslmode: 'verify-full', sslRootCert: TEST_CA});
      expect(encrypted(verified)).toBe(true);
      await verified.end();
      const unverified = await connect({...config, host: '127.0.0.1', port: proxy.port, sslmode: 'verify-ca'}).then(() => null, (e: unknown) => e);
      expect((unverified as Error).message).toMatch(/could not be verified .*set sslrootcert/);
      expect((unverified as Error).message).not.toContain(config.password);
    } finally {
      await proxy.close();
    }
  });

  it('disable and allow connect without TLS (allow: when the server accepts it)', async () => {
    for (const sslmode of ['disable', 'allow'] as const) {
      const client = await connect({...config, sslmode});
      expect(encrypted(client)).toBe(false);
      await client.end();
    }
  });

  it('allow goes on with TLS when the server accepts only encrypted connections; disable says what to set', async () => {
    const proxy = await startTlsProxy({host: db.host, port: db.port}, {requireTls: true});
    try {
      const client = await connect({...config, port: proxy.port, sslmode: 'allow'});
      expect(encrypted(client)).toBe(true);
      expect((await client.query('SELECT 3 AS n')).rows[0]).toEqual({n: 3});
      await client.end();
      const refused = await connect({...config, port: proxy.port, sslmode: 'disable'}).then(() => null, (e: unknown) => e);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as Error).message).toBe(`PostgreSQL at ${config.host}:${proxy.port} accepts only encrypted connections; set sslmode to require, or to verify-full with sslrootcert`);
    } finally {
      await proxy.close();
    }
  });
});
