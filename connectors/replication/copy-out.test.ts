// CopyOut, the COPY ... TO STDOUT reader the batches use, against a real PostgreSQL: rows arrive one per
// call whatever their size, a notice mid-COPY changes nothing, and every way a COPY can fail rejects — an error PostgreSQL raises mid-stream, the statement timeout,
// the connection terminated by the server (retriable), a failing consumer — leaving the client usable
// whenever the connection survives.
import {EventEmitter} from 'node:events';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {isRetriablePostgresError} from '../../sdk/postgres.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {CopyOut, copyOut} from './copy-out.js';

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
      const count = await copyOut(c, `COPY (SELECT g, 'line ' || g || E'\\nnext' FROM generate_series(1, 1000) g) TO STDOUT`, (data, start, end) => rows.push(data.toString('utf8', start, end)));
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
  it('hands over rows far larger than a socket chunk, and many rows cut at chunk edges, byte for byte', async () => {
    const c = await client();
    try {
      const sizes: number[] = [];
      let total = 0;
      let inChunks = 0;
      // 300 kB rows span several chunks; 20,000 short rows are cut at chunk edges many times
      const text = `COPY (SELECT repeat(md5(g::text), CASE WHEN g % 1000 = 0 THEN 10000 ELSE 1 END) FROM generate_series(1, 20000) g) TO STDOUT`;
      const count = await copyOut(c, text, (data, start, end) => {
        sizes.push(end - start);
        // rows come as ranges of the received chunks (pg's own parser would hand over one buffer per row)
        if (data.length > end - start) inChunks++;
        for (let i = start; i < end - 1; i++) if (data[i]! < 0x30) throw new Error(`byte ${data[i]} in row ${sizes.length}`);
        total += end - start;
      });
      expect(count).toBe(20000);
      expect(sizes.filter((n) => n === 320001)).toHaveLength(20);
      expect(sizes.filter((n) => n === 33)).toHaveLength(19980);
      expect(total).toBe(20 * 320001 + 19980 * 33);
      expect(inChunks).toBeGreaterThan(19000);
      expect((await c.query('SELECT 3 AS n')).rows[0]).toEqual({n: 3});
    } finally {
      await c.end();
    }
  });

  it('goes on with every row when PostgreSQL sends a notice in the middle of the COPY, and the notice reaches pg', async () => {
    const c = await client();
    const notices: string[] = [];
    c.on('notice', (notice) => notices.push(notice.message ?? ''));
    try {
      await c.query(`CREATE FUNCTION pg_temp.noisy(n int) RETURNS int LANGUAGE plpgsql AS $$
        BEGIN IF n = 500 THEN RAISE NOTICE 'halfway at %', n; END IF; RETURN n; END $$`);
      const rows: string[] = [];
      const count = await copyOut(c, 'COPY (SELECT pg_temp.noisy(g) FROM generate_series(1, 1000) g) TO STDOUT', (data, start, end) => rows.push(data.toString('utf8', start, end)));
      expect(count).toBe(1000);
      expect(rows[0]).toBe('1\n');
      expect(rows[999]).toBe('1000\n');
      expect(notices).toEqual(['halfway at 500']);
      expect((await c.query('SELECT 4 AS n')).rows[0]).toEqual({n: 4});
    } finally {
      await c.end();
    }
  });
});

/** The protocol bytes of a message: its code, its length, its body. */
function message(code: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(code, 0, 'latin1');
  header.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

describe('CopyOut reading the connection itself', () => {
  // CopyOutResponse, rows of 0, 1 and 300 bytes, then CopyDone, CommandComplete and ReadyForQuery
  const rows = [Buffer.alloc(0), Buffer.from('a'), Buffer.alloc(300, 'x'), Buffer.from('last row\n')];
  const end = Buffer.concat([message('c', Buffer.alloc(0)), message('C', Buffer.from('COPY 4\0')), message('Z', Buffer.from('I'))]);
  const wire = Buffer.concat([message('H', Buffer.from([0, 0, 1, 0, 0])), ...rows.map((row) => message('d', row)), end]);

  it('splits the rows out of chunks cut at every byte, and hands pg exactly the bytes after them', () => {
    for (let cut = 1; cut < wire.length; cut++) {
      for (const chunkBytes of [cut, 1]) {
        const stream = new EventEmitter();
        const handedBack: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => handedBack.push(chunk));
        const seen: string[] = [];
        const copy = new CopyOut('COPY ...', (data, start, end) => seen.push(data.toString('latin1', start, end)));
        copy.submit({query: () => undefined, stream} as unknown as pg.Connection);
        expect(stream.listenerCount('data'), 'pg\'s parser steps aside').toBe(1);
        for (let at = 0; at < wire.length; at += chunkBytes) stream.emit('data', wire.subarray(at, Math.min(wire.length, at + chunkBytes)));
        expect(seen, `chunks of ${chunkBytes}`).toEqual(rows.map((row) => row.toString('latin1')));
        expect(Buffer.concat(handedBack).equals(end), `chunks of ${chunkBytes}: pg gets the rest`).toBe(true);
      }
    }
  });

  it('gives the connection back to pg when it is lost mid-COPY', async () => {
    const stream = new EventEmitter();
    const parser = () => undefined;
    stream.on('data', parser);
    const copy = new CopyOut('COPY ...', () => undefined);
    copy.submit({query: () => undefined, stream} as unknown as pg.Connection);
    stream.emit('data', wire.subarray(0, 20));
    expect(stream.listeners('data')).not.toContain(parser);
    copy.handleError(new Error('Connection terminated unexpectedly'));
    await expect(copy.done).rejects.toThrow('Connection terminated');
    expect(stream.listeners('data')).toEqual([parser]);
  });
});
