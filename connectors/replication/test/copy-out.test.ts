// CopyOut, the COPY ... TO STDOUT reader the batches use, against a real PostgreSQL: rows arrive one per
// call, and every way a COPY can fail rejects — an error PostgreSQL raises mid-stream, the statement timeout,
// the connection terminated by the server (retriable), a failing consumer — leaving the client usable
// whenever the connection survives.
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {isRetriablePostgresError} from '../../../sdk/postgres.js';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {copyOut} from '../copy-out.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('copy_out');
});
afterAll(async () => db?.drop());

async function client(): Promise<pg.Client> {
  const connected = new pg.Client({host: db.host, port: db.port, database: db.database, user: db.user, password: db.password});
  connected.on('error', () => undefined);
  await connected.connect();
  return connected;
}

describe('copyOut', () => {
  it('hands over each row as one payload and resolves with the row count', async () => {
    const c = await client();
    try {
      const rows: string[] = [];
      const count = await copyOut(c, `COPY (SELECT g, 'line ' || g || E'\\nnext' FROM generate_series(1, 1000) g) TO STDOUT`, (row) => rows.push(row.toString()));
      expect(count).toBe(1000);
      expect(rows[0]).toBe('1\tline 1\\nnext\n');
      expect(rows[999]).toBe('1000\tline 1000\\nnext\n');
    } finally {
      await c.end();
    }
  });

  it('rejects with the server error raised mid-stream, after some rows, and the client goes on working', async () => {
    const c = await client();
    try {
      let seen = 0;
      const failing = copyOut(c, 'COPY (SELECT 1 / (5000 - g) FROM generate_series(1, 10000) g) TO STDOUT', () => seen++);
      await expect(failing).rejects.toMatchObject({code: '22012', message: 'division by zero'});
      expect(seen).toBeGreaterThan(0);
      expect((await c.query('SELECT 41 + 1 AS n')).rows[0]).toEqual({n: 42});
    } finally {
      await c.end();
    }
  });

  it('is stopped by the statement timeout', async () => {
    const c = await client();
    try {
      await c.query('SET statement_timeout = 100');
      await expect(copyOut(c, 'COPY (SELECT pg_sleep(5)) TO STDOUT', () => undefined)).rejects.toMatchObject({code: '57014'});
      expect((await c.query('SELECT 1 AS n')).rows[0]).toEqual({n: 1});
    } finally {
      await c.end();
    }
  });

  it('rejects with a retriable error when the server terminates the connection during the COPY', async () => {
    const c = await client();
    try {
      const pid = (await c.query<{pid: number}>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const copying = copyOut(c, 'COPY (SELECT g, pg_sleep(0.01) FROM generate_series(1, 1000) g) TO STDOUT', () => undefined);
      copying.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await db.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await copying.then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(isRetriablePostgresError(error)).toBe(true);
    } finally {
      await c.end().catch(() => undefined);
    }
  });

  it('reads the COPY to its end when the consumer throws, then rejects with the consumer error', async () => {
    const c = await client();
    try {
      let calls = 0;
      const consumer = () => {
        calls++;
        if (calls === 3) throw new Error('consumer broke');
      };
      await expect(copyOut(c, 'COPY (SELECT generate_series(1, 10)) TO STDOUT', consumer)).rejects.toThrow('consumer broke');
      expect((await c.query('SELECT 2 AS n')).rows[0]).toEqual({n: 2});
    } finally {
      await c.end();
    }
  });

  it('refuses a statement that is not a COPY TO STDOUT', async () => {
    const c = await client();
    try {
      await expect(copyOut(c, 'SELECT 1', () => undefined)).rejects.toThrow(/not a COPY/);
      await c.query('CREATE TEMP TABLE sink (n int)');
      await expect(copyOut(c, 'COPY sink FROM STDIN', () => undefined)).rejects.toThrow(/COPY FROM STDIN/);
      expect((await c.query('SELECT count(*)::int AS n FROM sink')).rows[0]).toEqual({n: 0});
    } finally {
      await c.end();
    }
  });
});
