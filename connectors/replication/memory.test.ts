// Rows of megabytes: the first read of a table is bounded by bytes, not only rows, and every batch fits the
// function's memory, in process and in a served function of 256 MB whose peak RSS is measured.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {MALLOC_ENVIRONMENT, syncAll} from '../../sdk/testing.js';
import {firstAnswer, startProcess} from '../../test/support/bundled-function.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {MEMORY_COST_FACTOR} from './batching.js';
import {connector} from './index.js';
import {sourceSecrets} from './source-secrets.js';

const ROW_BYTES = 5 * 1024 * 1024;
const ROWS = 20;
const MEMORY_MB = 256;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('replication_memory');
  await db.query(`CREATE TABLE documents (id int PRIMARY KEY, body text)`);
  // stored apart and uncompressed, as incompressible values are: the table's pages say nothing of their size
  await db.query(`ALTER TABLE documents ALTER COLUMN body SET STORAGE EXTERNAL`);
  await db.query(`INSERT INTO documents SELECT g, repeat(chr(97 + g), ${ROW_BYTES}) FROM generate_series(1, ${ROWS}) g`);
});
afterAll(async () => db?.drop());

interface Decision {
  reason: string;
  limit_rows: number;
  rows: number;
  bytes: number;
  bytes_per_row: number;
}

describe('rows of 5 MB', () => {
  it('reads a first batch bounded by bytes and sizes every batch to fit the memory budget', async () => {
    const result = await syncAll(connector, sourceSecrets(db, {include_tables: 'documents'}), {callOptions: {limits: {memoryMb: MEMORY_MB}}});
    expect((await result.rows('public_documents', {orderBy: ['id']})).map((r) => [r.id, (r.body as string).length])).toEqual(
      Array.from({length: ROWS}, (_, i) => [i + 1, ROW_BYTES]),
    );
    const runs = await result.rows('replication_runs');
    const decisions = runs.flatMap((run) => (typeof run.batch_decisions === 'string' ? JSON.parse(run.batch_decisions) : run.batch_decisions) as Decision[]);
    expect(decisions.length).toBeGreaterThan(0);
    // the very first read knew the rows' width: one row, not 1,000 (100 MB)
    const first = decisions.find((d) => d.rows > 0)!;
    expect(first.limit_rows).toBe(1);
    // every batch, at the width measured, costs less than the memory below the pressure line (75 %)
    const line = MEMORY_MB * 1024 * 1024 * 0.75;
    for (const d of decisions) {
      expect(d.bytes * MEMORY_COST_FACTOR).toBeLessThan(line);
      expect(d.limit_rows * d.bytes_per_row * MEMORY_COST_FACTOR).toBeLessThan(line);
    }
  });

  it('keeps a served 256 MB function under 256 MB of peak RSS', async () => {
    const root = process.cwd();
    const proc = await startProcess(['--import', 'tsx', path.join(root, 'connectors/replication/served-function.ts')], {
      cwd: root,
      // K_SERVICE: memory is the process's own RSS, as on Cloud Functions; malloc set as the deploy sets it
      env: {K_SERVICE: 'replication-memory-test', FUNCTION_MEMORY_MB: String(MEMORY_MB), FUNCTION_TIMEOUT_SECONDS: '120', ...MALLOC_ENVIRONMENT},
    });
    try {
      const secrets = sourceSecrets(db, {include_tables: 'documents'});
      // wait for the server to answer (a setup test), then sync over HTTP
      expect((await firstAnswer(proc, {setup_test: true, state: {}, secrets}, 60_000)).status).toBe(200);
      const result = await syncAll(undefined, secrets, {url: proc.url, schema: 'served'});
      expect(await result.rows('public_documents')).toHaveLength(ROWS);
      const peak = Number(/VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${proc.child.pid}/status`, 'utf8'))![1]) * 1024;
      expect(peak).toBeLessThan(MEMORY_MB * 1024 * 1024);
    } finally {
      await proc.stop();
    }
  });
});
