// ./fivetran replication drop-slot against a real PostgreSQL: the slot the cdc function uses is dropped, a
// second run says there is nothing to drop, and without a terminal it needs --yes.
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {ensureSlot} from '../connectors/replication/cdc/slot.js';
import {createTestDatabase, type TestDatabase} from '../test/support/postgres.js';
import {dropReplicationSlot} from './replication.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let db: TestDatabase;
let dir: string;
let secretsFile: string;
const slot = `drop_me_${Date.now() % 100000}`;

beforeAll(async () => {
  db = await createTestDatabase('drop_slot');
  dir = mkdtempSync(path.join(tmpdir(), 'fivetran-drop-slot-'));
  secretsFile = path.join(dir, 'secrets.json');
  writeFileSync(secretsFile, JSON.stringify({host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable', update_method: 'cdc', cdc_slot: slot}));
});
afterAll(async () => {
  await db.drop();
  rmSync(dir, {recursive: true, force: true});
});

const slots = async () => (await db.query('SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount;

describe('replication drop-slot', () => {
  it('drops the function\'s slot, then has nothing to drop', async (context) => {
    if ((await db.query(`SELECT current_setting('wal_level') AS level`)).rows[0].level !== 'logical') context.skip();
    await ensureSlot(db.client, slot);
    expect(await slots()).toBe(1);
    const out: string[] = [];
    const first = await dropReplicationSlot({target: 'replication', secrets: secretsFile, yes: true, cwd: repo, stdout: (text) => out.push(text)});
    expect(first).toEqual({slot, dropped: true});
    expect(await slots()).toBe(0);
    expect(out.join('')).toBe(`dropped the replication slot ${slot} on ${db.host}:${db.port}/${db.database}\n`);
    const second = await dropReplicationSlot({target: 'replication', secrets: secretsFile, yes: true, cwd: repo, stdout: (text) => out.push(text)});
    expect(second.dropped).toBe(false);
    expect(out.join('')).toContain('nothing to drop');
    expect(out.join('')).not.toContain(db.password);
  });

  it('asks first, needs --yes without a terminal, and refuses another connector', async () => {
    await expect(dropReplicationSlot({target: 'replication', secrets: secretsFile, cwd: repo, interactive: false})).rejects.toThrow(/pass --yes to do it without a terminal/);
    await expect(dropReplicationSlot({target: 'replication', secrets: secretsFile, cwd: repo, interactive: true, ask: async () => 'n'})).rejects.toThrow(/drop-slot canceled; nothing dropped/);
    await expect(dropReplicationSlot({target: 'customer-freshness', secrets: secretsFile, yes: true, cwd: repo})).rejects.toThrow(/runs the freshness connector; drop-slot is for replication functions/);
    await expect(dropReplicationSlot({target: 'replication', secrets: path.join(dir, 'none.json'), yes: true, cwd: repo})).rejects.toThrow(/secrets file .*none\.json not found/);
  });
});
