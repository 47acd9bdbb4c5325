// The slot protocol against a real PostgreSQL: peeking never consumes, advancing to a committed position
// does, a replayed position is harmless, an older one is refused with what to do, and the readiness checks
// name the missing setting.
import {randomBytes} from 'node:crypto';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createTestDatabase, type TestDatabase} from '../../../test/support/postgres.js';
import {advanceSlot, type Change, cdcProblems, dropSlot, ensurePublication, ensureSlot, firstPeek, nextPeek, peekTransactions, slotLagBytes} from './slot.js';
import {tupleJson} from './values.js';

let db: TestDatabase;
let logical = false;
const names = {slot: `slot_${randomBytes(4).toString('hex')}`, publication: 'cdc_pub'};

beforeAll(async () => {
  db = await createTestDatabase('cdc_slot');
  logical = (await db.query(`SELECT current_setting('wal_level') AS level`)).rows[0].level === 'logical';
  // logical decoding reads only WAL that is flushed: commit synchronously, as production servers do
  await db.query('SET synchronous_commit = on');
  await db.query('CREATE TABLE items (id int4 PRIMARY KEY, name text)');
  await db.query('CREATE TABLE notes (body text)');
});

afterAll(async () => {
  if (logical) await dropSlot(db.client, names.slot).catch(() => undefined);
  await db.drop();
});

describe('the CDC slot', () => {
  it('names a keyless table without REPLICA IDENTITY FULL, and a user without the REPLICATION attribute', async (context) => {
    if (!logical) context.skip();
    expect(await cdcProblems(db.client, [{schema: 'public', table: 'items', hasKey: true}])).toEqual([]);
    const keyless = await cdcProblems(db.client, [{schema: 'public', table: 'notes', hasKey: false}]);
    expect(keyless).toEqual([`"public"."notes" has no primary key, so its updates and deletes cannot be captured: ALTER TABLE "public"."notes" REPLICA IDENTITY FULL`]);

    const user = `plain_${randomBytes(3).toString('hex')}`;
    await db.query(`CREATE ROLE ${user} LOGIN PASSWORD 'pw'`);
    const client = new pg.Client({host: db.host, port: db.port, database: db.database, user, password: 'pw'});
    await client.connect();
    try {
      const problems = await cdcProblems(client, []);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^the user "${user}" may not read replication slots: ALTER ROLE \\.\\.\\. WITH REPLICATION \\(RDS: GRANT rds_replication`));
    } finally {
      await client.end();
      await db.query(`DROP ROLE ${user}`);
    }
  });

  it('delivers each change until a committed position advances the slot past it', async (context) => {
    if (!logical) context.skip();
    await ensurePublication(db.client, names.publication, [{schema: 'public', table: 'items'}]);
    const created = await ensureSlot(db.client, names.slot);
    expect(created.created).toBe(true);
    expect((await ensureSlot(db.client, names.slot)).created).toBe(false);

    await db.query(`INSERT INTO items VALUES (1, 'one'), (2, 'two')`);
    await db.query(`UPDATE items SET name = 'uno' WHERE id = 1`);
    await db.query(`DELETE FROM items WHERE id = 2`);

    const first = await peekTransactions(db.client, names, 1000);
    expect(first.map((t) => t.changes.map((c) => c.type))).toEqual([['upsert', 'upsert'], ['upsert'], ['delete']]);
    const update = first[1]!.changes[0] as Extract<Change, {type: 'upsert'}>;
    expect(tupleJson(update.relation, update.tuple)).toBe('{"id":1,"name":"uno"}');
    // a peek consumes nothing: a repeated call sees the same changes
    expect(await peekTransactions(db.client, names, 1000)).toEqual(first);

    // the response with the first two transactions was committed: the next call advances there
    await advanceSlot(db.client, names.slot, {lsn: first[1]!.endLsn, skip: 0});
    const rest = await peekTransactions(db.client, names, 1000);
    expect(rest.map((t) => t.endLsn)).toEqual([first[2]!.endLsn]);
    // Fivetran repeats a failed call with the same state: advancing to the same position again is harmless
    await advanceSlot(db.client, names.slot, {lsn: first[1]!.endLsn, skip: 0});
    expect((await peekTransactions(db.client, names, 1000)).length).toBe(1);

    await advanceSlot(db.client, names.slot, {lsn: first[2]!.endLsn, skip: 0});
    expect(await peekTransactions(db.client, names, 1000)).toEqual([]);
    expect(await slotLagBytes(db.client, names.slot)).toBeGreaterThanOrEqual(0);

    // a state older than the slot: the changes in between are gone, and the message says to resync
    await expect(advanceSlot(db.client, names.slot, {lsn: first[0]!.endLsn, skip: 0})).rejects.toThrow(/is behind the slot .*resync the connection/);
  });

  it('turns a key change into a delete of the old key and an upsert of the new row', async (context) => {
    if (!logical) context.skip();
    await db.query(`UPDATE items SET id = 10 WHERE id = 1`);
    const [transaction] = await peekTransactions(db.client, names, 1000);
    expect(transaction!.changes.map((c) => c.type)).toEqual(['delete', 'upsert']);
    const removed = transaction!.changes[0] as Extract<Change, {type: 'delete'}>;
    expect(tupleJson(removed.relation, removed.old.tuple, new Set(['id']))).toBe('{"id":1}');
  });
});

describe('the first peek of a call', () => {
  const MiB = 1024 * 1024;

  it('asks for one response of messages at 400 bytes each before it has seen any, at least 5,000', () => {
    expect(firstPeek(8 * MiB, 300 * MiB)).toBe(20_972);
    expect(firstPeek(1 * MiB, 300 * MiB)).toBe(5000);
  });

  it('asks for what a response holds at the size a message took in the last call, a tenth more, so that one peek fills it', () => {
    // 200-byte changes: 41,943 fill 8 MiB; a first peek of 20,972 would have needed a second reading them again
    expect(firstPeek(8 * MiB, 300 * MiB, 200)).toBe(46_137);
    expect(firstPeek(8 * MiB, 300 * MiB, 2000)).toBe(5000);
  });

  it('asks no more than fits the memory left at 2 KiB a message', () => {
    expect(firstPeek(8 * MiB, 40 * MiB, 100)).toBe(20_480);
    expect(firstPeek(8 * MiB, 0, 200)).toBe(5000);
  });
});

describe('the next peek of a call', () => {
  const MiB = 1024 * 1024;
  // a first peek of 20,971 messages whose changes took 4 MiB of an 8 MiB response (200 bytes a change)
  const first = {messages: 20_971, previousMessages: 0, deliveredBytes: 20_971 * 200, bytesLeft: 4 * MiB, messageMemoryBytes: 2048, memoryHeadroomBytes: 300 * MiB};

  it('asks about what the response still has room for beyond the messages it reads again, not four times more', () => {
    const next = nextPeek(first);
    // 20,971 read again + 4 MiB / 200 bytes × 1.25 = 26,215 new
    expect(next).toEqual({asked: 20_971 + 26_215 + 1, end: false});
    expect(next.asked).toBeLessThan(first.messages * 4);
  });

  it('asks at most four times the last peek, and at least one message more', () => {
    expect(nextPeek({...first, deliveredBytes: 100}).asked).toBe(first.messages * 4);
    expect(nextPeek({...first, bytesLeft: 0}).asked).toBe(first.messages + 1);
  });

  it('ends the call when the next peek would not fit the memory left, as measured per message', () => {
    expect(nextPeek({...first, memoryHeadroomBytes: 60 * MiB}).end).toBe(true);
    expect(nextPeek({...first, memoryHeadroomBytes: 100 * MiB}).end).toBe(false);
    // the measured growth per message counts when larger than the floor of 2 KiB, and only then
    expect(nextPeek({...first, messageMemoryBytes: 6000, memoryHeadroomBytes: 100 * MiB}).end).toBe(true);
    expect(nextPeek({...first, messageMemoryBytes: 0, memoryHeadroomBytes: 60 * MiB}).end).toBe(true);
  });
});
