// Replication over TLS, as production sources run it: through test/support/tls-proxy.ts, pg negotiates TLS
// and CopyOut reads the COPY's rows from the TLS socket's chunks; sslmode verify-full trusts the fixture's
// certificate given as `sslrootcert`, and refuses a server it cannot verify with a message that says what to do.
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {callConnector, syncAll} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {startTlsProxy, TEST_CA, type TlsProxy} from '../../test/support/tls-proxy.js';
import {copyOut} from './copy-out.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

let db: TestDatabase;
let proxy: TlsProxy;
beforeAll(async () => {
  db = await createTestDatabase('replication_tls');
  await db.query(`CREATE TABLE events (id int PRIMARY KEY, payload text, at timestamptz)`);
  await db.query(`INSERT INTO events SELECT g, repeat(md5(g::text), 1 + g % 50), timestamptz '2024-01-01' + g * interval '1 minute' FROM generate_series(1, 20000) g`);
  proxy = await startTlsProxy({host: db.host, port: db.port});
});
afterAll(async () => {
  await proxy?.close();
  await db?.drop();
});

describe('over TLS', () => {
  it('reads a COPY from the TLS socket row by row', async () => {
    const client = new pg.Client({host: '127.0.0.1', port: proxy.port, database: db.database, user: db.user, password: db.password, ssl: {ca: TEST_CA}});
    await client.connect();
    try {
      expect(proxy.tlsConnections).toBeGreaterThan(0);
      let bytes = 0;
      let inChunks = 0;
      const rows = await copyOut(client, 'COPY (SELECT id, payload FROM events ORDER BY id) TO STDOUT', (data, start, end) => {
        bytes += end - start;
        if (data.length > end - start) inChunks++;
      });
      expect(rows).toBe(20000);
      const expected = await db.query<{n: string}>(`SELECT sum(length(id::text) + 1 + length(payload) + 1)::text AS n FROM events`);
      expect(bytes).toBe(Number(expected.rows[0]!.n));
      expect(inChunks, 'rows read from the TLS socket\'s chunks').toBeGreaterThan(10000);
      expect((await client.query('SELECT 5 AS n')).rows[0]).toEqual({n: 5});
    } finally {
      await client.end();
    }
  });

  it('replicates every row with sslmode verify-full and the CA as sslrootcert', async () => {
    const before = proxy.tlsConnections;
    const secrets = sourceSecrets(db, {host: '127.0.0.1', port: String(proxy.port), sslmode: 'verify-full', sslrootcert: TEST_CA, include_tables: 'events', custom_batch_size: '3000'});
    const result = await syncAll(connector, secrets);
    expect(result.calls.every((c) => c.status === 200)).toBe(true);
    expect(await result.rows('public_events')).toHaveLength(20000);
    // the values as the function sent them
    const last = result.inserted('public_events').find((r) => r.id === 20000)!;
    const expected = await db.query<{payload: string}>('SELECT payload FROM events WHERE id = 20000');
    expect(last).toEqual({id: 20000, payload: expected.rows[0]!.payload, at: '2024-01-14T21:20:00+00:00'});
    expect(proxy.tlsConnections).toBeGreaterThan(before);
  });

  it('refuses a server it cannot verify with sslmode verify-full, says how to fix it, and never shows the password', async () => {
    const password = db.password;
    const secrets = sourceSecrets(db, {host: '127.0.0.1', port: String(proxy.port), sslmode: 'verify-full', include_tables: 'events', max_retries: '0'});
    const lines: string[] = [];
    const result = await callConnector(connector, {state: {}, secrets}, {sink: (line) => lines.push(line)});
    expect(result.status).toBe(400);
    expect(result.body.errorType).toBe('InvalidConfiguration');
    expect(result.body.errorMessage).toMatch(/TLS certificate of PostgreSQL at 127\.0\.0\.1:\d+ could not be verified \(self-signed certificate[^)]*\); set sslrootcert/);
    expect(result.text).not.toContain(password);
    expect(lines.join('\n')).not.toContain(password);
  });
});
