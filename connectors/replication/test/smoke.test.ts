import {readFileSync} from 'node:fs';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {runSync, sourceSecrets, Warehouse} from './fivetran-loop.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('repl_smoke');
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
  await db.query(readFileSync('sql/replication/setup.sql', 'utf8'));
});
afterAll(async () => db?.drop());

it('smoke', async () => {
  const wh = new Warehouse();
  const r = await runSync(sourceSecrets(db), {}, wh);
  console.log(r.calls.map((c) => c.status + ' ' + c.body.slice(0, 3000)));
  expect(r.calls.at(-1)?.status).toBe(200);
  const r2 = await runSync(sourceSecrets(db), r.state, wh);
  console.log(r2.calls.map((c) => c.status + ' ' + c.body.slice(0, 1500)));
});
