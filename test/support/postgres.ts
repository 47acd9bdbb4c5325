// One fresh database per test file on the run's PostgreSQL (see test/global-setup.ts).
import {randomBytes} from 'node:crypto';
import pg from 'pg';
import {inject} from 'vitest';

export interface TestDatabase {
  /** connection URL of the new database */
  url: string;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** a connected client for fixtures; closed by drop() */
  client: pg.Client;
  query: pg.Client['query'];
  drop(): Promise<void>;
}

export function adminUrl(): string {
  return inject('databaseUrl');
}

export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const admin = new pg.Client({connectionString: adminUrl()});
  await admin.connect();
  const database = `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  try {
    await admin.query(`CREATE DATABASE "${database}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  const client = new pg.Client({connectionString: url.toString()});
  await client.connect();
  return {
    url: url.toString(),
    host: url.hostname,
    port: Number(url.port || 5432),
    database,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    client,
    query: client.query.bind(client) as pg.Client['query'],
    async drop() {
      await client.end().catch(() => undefined);
      const cleanup = new pg.Client({connectionString: adminUrl()});
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}
