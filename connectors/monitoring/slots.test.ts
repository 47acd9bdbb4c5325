// The monitoring connector watching a real replication slot on the embedded PostgreSQL (wal_level logical),
// through the Function adapter and the local Fivetran, with the account read from the Fivetran API simulator:
// a slot nobody advances raises a warning past max_lag_mb and a critical alert once its lag has grown for
// growth_checks checks; a dropped slot is critical; an unreachable source says so, never showing its password.
import {randomBytes} from 'node:crypto';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import type {Row, State} from '../../sdk/index.js';
import {callConnector, syncAll} from '../../sdk/testing.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {connector} from './index.js';
import {slotAlert, type SlotWatch} from './slots.js';

let db: TestDatabase;
let sim: ApiSimulator;
let logical = false;
const slot = `watched_${randomBytes(3).toString('hex')}`;
// a role of its own, whose password appears nowhere else (the test database's is "postgres", like its user)
const watcher = `watcher_${randomBytes(3).toString('hex')}`;
const watcherPassword = `pw-${randomBytes(8).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase('monitoring_slots');
  logical = (await db.query(`SELECT current_setting('wal_level') AS level`)).rows[0].level === 'logical';
  // the test server commits asynchronously: flush each write, so the WAL position counts it at once
  await db.query('SET synchronous_commit = on');
  if (logical) await db.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
  await db.query('CREATE TABLE wal_source (id serial PRIMARY KEY, payload text)');
  await db.query(`CREATE ROLE ${watcher} LOGIN PASSWORD '${watcherPassword}'`);
  sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 3, seed: 5}), rateLimit: false});
});

afterAll(async () => {
  await db?.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
  await db?.query(`DROP ROLE IF EXISTS ${watcher}`).catch(() => undefined);
  await db?.drop();
  await sim?.close();
});

const watch = (extra: Record<string, unknown> = {}) => ({
  name: 'orders-db', host: db.host, port: db.port, user: watcher, password: watcherPassword, database: db.database, sslmode: 'disable', slot, ...extra,
});

async function check(slots: unknown[], state: State) {
  const lines: string[] = [];
  const secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, replication_slots: JSON.stringify(slots)};
  const result = await syncAll(connector, secrets, {state, callOptions: {sink: (line) => lines.push(line)}});
  try {
    const alerts = (await result.rows('alerts')).filter((r) => String(r.connection_id).startsWith('slot:'));
    const readings = await result.rows('replication_slots');
    return {state: result.state, alerts, readings, text: lines.join('\n') + result.calls.map((c) => c.text).join('\n')};
  } finally {
    await result.warehouse.close();
  }
}

describe('replication slots watched by the monitoring connector', () => {
  it('warns past max_lag_mb and turns critical when the lag of a slot nobody advances grew at each of the last checks', async (context) => {
    if (!logical) context.skip();
    const slots = [watch({max_lag_mb: 0.001, growth_checks: 3})];
    let state: State = {};
    const seen: {alerts: Row[]; readings: Row[]; text: string}[] = [];
    for (let i = 0; i < 4; i++) {
      // WAL written between checks: the slot keeps all of it
      await db.query(`INSERT INTO wal_source (payload) SELECT repeat('w', 200) FROM generate_series(1, 200)`);
      const result = await check(slots, state);
      state = result.state;
      seen.push(result);
    }
    for (const {readings} of seen) expect(readings).toEqual([expect.objectContaining({name: 'orders-db', slot, exists: true, active: false})]);
    const lags = seen.map(({readings}) => Number(readings[0]!.lag_bytes));
    expect(lags.every((lag, i) => i === 0 || lag > lags[i - 1]!)).toBe(true);
    expect(seen.slice(0, 3).map(({alerts}) => alerts.map((a) => [a.rule, a.severity]))).toEqual([[['slot_lag', 'warning']], [['slot_lag', 'warning']], [['slot_lag', 'warning']]]);
    expect(seen[3]!.alerts).toEqual([expect.objectContaining({rule: 'slot_lag_growing', severity: 'critical', connection_id: 'slot:orders-db'})]);
    expect(seen[3]!.alerts[0]!.message).toMatch(new RegExp(`^the replication slot ${slot} of orders-db holds \\d+\\.\\d MB of WAL and grew at each of the last 3 checks`));
    for (const {text} of seen) expect(text).not.toContain(watcherPassword);
  });

  it('raises nothing for a slot within max_lag_mb', async (context) => {
    if (!logical) context.skip();
    const {alerts, readings} = await check([watch({max_lag_mb: 10_000})], {});
    expect(readings).toHaveLength(1);
    expect(alerts).toEqual([]);
  });

  it('is critical about a slot that does not exist, and warns about a source it cannot read without showing the password', async () => {
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const url = `postgres://${watcher}:${password}@${db.host}:${db.port}/${db.database}?sslmode=disable`;
    const {alerts, text} = await check([watch({slot: 'no_such_slot', name: 'gone'}), {name: 'bad-login', database_url: url, slot}], {});
    expect(alerts.map((a) => [a.connection_id, a.rule, a.severity])).toEqual([
      ['slot:bad-login', 'slot_unreadable', 'warning'],
      ['slot:gone', 'slot_missing', 'critical'],
    ]);
    expect(alerts.find((a) => a.rule === 'slot_unreadable')!.message).toMatch(/^cannot read the replication slot .* of bad-login: .*; check the entry "bad-login" of replication_slots$/);
    expect(text).not.toContain(password);
    expect(text).not.toContain(watcherPassword);
  });

  it('refuses an entry without a connection or a name used twice, in one line naming the key, never the password', async () => {
    const secrets = (slots: unknown) => ({fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, replication_slots: JSON.stringify(slots)});
    for (const slots of [[{name: 'a', slot: 's', password: watcherPassword}], [watch(), watch()]]) {
      const answer = await callConnector(connector, {state: {}, secrets: secrets(slots)});
      expect(answer.status).toBe(400);
      expect(answer.body.errorMessage).toMatch(/^Invalid secrets: replication_slots.*(database_url, or host, user and database|a name of its own)/);
      expect(answer.text).not.toContain(watcherPassword);
      expect(answer.body.errorMessage).not.toContain('\n');
    }
  });

  it('names a lost slot (wal_status lost) critical', () => {
    const entry = {name: 'x', host: 'h', user: 'u', database: 'd', port: 5432, sslmode: 'disable', slot: 's', max_lag_mb: 1, growth_checks: 4} as SlotWatch;
    expect(slotAlert(entry, {exists: true, active: false, wal_status: 'lost', lag_bytes: null, error: null}, [])).toMatchObject({rule: 'slot_lost', severity: 'critical'});
  });
});
