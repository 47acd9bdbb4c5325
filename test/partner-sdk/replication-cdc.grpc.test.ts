// Change data capture behind the Partner SDK, over real gRPC against a real PostgreSQL: an Update streams the
// slot over a replication connection, so a backlog several peeks large is decoded once (PostgreSQL's own
// count of decoded transactions, pg_stat_replication_slots, says so) and every change lands; resuming from
// each checkpoint of a stream, with a transaction larger than a checkpoint's worth of rows, gives the same rows;
// a replication connection lost mid-stream fails the Update in one line, and the next resumes where it stopped;
// through a pooler that refuses replication connections it reads by peeks, with one warning.
import {randomBytes} from 'node:crypto';
import {connect, createServer, type AddressInfo} from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {connector} from '../../connectors/replication/index.js';
import {createTestDatabase, type TestDatabase} from '../support/postgres.js';
import type {UpdateResponse__Output} from '../../sdk/partner-sdk/generated/fivetran_sdk/v2/UpdateResponse.js';
import {applyRecords, recordsOf, snapshot, startHarness, update, type Harness, type UpdateResult} from '../fixtures/grpc/client.js';

let db: TestDatabase;
let harness: Harness;
const slot = `grpc_cdc_${randomBytes(3).toString('hex')}`;
const keys: Record<string, readonly string[]> = {};
/** the last checkpoint of the last Update */
let latest = '';

beforeAll(async () => {
  db = await createTestDatabase('grpc_replication_cdc');
  await db.query('CREATE TABLE events (id int4 PRIMARY KEY, n int4 NOT NULL, note text)');
  await db.query(`INSERT INTO events SELECT g, 0, 'event ' || g FROM generate_series(1, 2000) g`);
  harness = await startHarness(connector);
});

afterAll(async () => {
  await harness?.close();
  await db?.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()').catch(() => undefined);
  await db?.drop();
});

const configuration = () => ({
  host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable',
  update_method: 'cdc', cdc_slot: slot, cdc_publication: `${slot}_pub`, retry_sleep_seconds: '0.01',
});

function lastState(result: UpdateResult): string {
  const checkpoints = result.messages.filter((m) => m.checkpoint);
  return checkpoints[checkpoints.length - 1]!.checkpoint!.state_json;
}

/** The records of the replicated table (not the connector's metadata tables), keyed by id. */
function eventRecords(result: UpdateResult) {
  const records = recordsOf(result.messages).filter((r) => r.table_name === 'events' || r.table_name.endsWith('_events'));
  for (const record of records) keys[record.table_name] = ['id'];
  return records;
}

const eventsTable = () => Object.keys(keys)[0]!;

/** The source's events as the records should land them. */
async function sourceEvents(): Promise<{id: string; n: string; note: string | null}[]> {
  const {rows} = await db.query<{id: number; n: number; note: string | null}>('SELECT id, n, note FROM events ORDER BY id');
  return rows.map((r) => ({id: `int:${r.id}`, n: `int:${r.n}`, note: r.note === null ? null : `string:${r.note}`}));
}

/** Transactions PostgreSQL has decoded for the slot so far, once its statistics are flushed. */
async function decodedTransactions(): Promise<number> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const {rows} = await db.query<{n: string}>('SELECT coalesce((SELECT total_txns FROM pg_stat_replication_slots WHERE slot_name = $1), 0)::text AS n', [slot]);
  return Number(rows[0]!.n);
}

async function settledDecodedTransactions(atLeast: number): Promise<number> {
  // a walsender reports its statistics as it exits, just after the stream closed it
  for (let i = 0; i < 100; i++) {
    const n = await decodedTransactions();
    if (n >= atLeast) return n;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return decodedTransactions();
}

describe('replication with update_method cdc over the Partner SDK', () => {
  it('streams a backlog several peeks large from one decoding session: each transaction decoded once, every change landed', async () => {
    const first = await update(harness.client, {configuration: configuration()});
    expect(first.error).toBeUndefined();
    const landed = applyRecords(new Map(), eventRecords(first), keys);

    // 400 transactions of 150 updates each: 60,000 changes, three times a first peek of one response's worth
    const transactions = 400;
    for (let t = 0; t < transactions; t++) {
      const low = (t * 150) % 2000;
      await db.query(`UPDATE events SET n = n + 1, note = 'tx ${t}' WHERE id > $1 AND id <= $2`, [low, low + 150]);
    }
    await db.query(`DELETE FROM events WHERE id <= 10`);
    await db.query(`INSERT INTO events VALUES (5001, 7, NULL)`);
    const before = await decodedTransactions();

    const logsBefore = harness.logs.length;
    const second = await update(harness.client, {configuration: configuration(), state_json: lastState(first)});
    expect(second.error).toBeUndefined();
    expect(second.messages.some((m) => m.task)).toBe(false);
    // streamed, not read by peeks (which it says in a warning when the server refuses a replication connection)
    expect(harness.logs.slice(logsBefore).filter((line) => /cannot stream the replication slot/.test(line))).toEqual([]);
    latest = lastState(second);
    applyRecords(landed, eventRecords(second), keys);
    const rows = snapshot(landed)[eventsTable()]!;
    const live = rows.filter((r) => r._fivetran_deleted === false).map((r) => ({id: r.id, n: r.n, note: r.note}));
    live.sort((a, b) => Number(String(a.id).slice(4)) - Number(String(b.id).slice(4)));
    expect(live).toEqual(await sourceEvents());
    expect(rows.filter((r) => r._fivetran_deleted === true)).toHaveLength(10);

    // Peeks would have decoded the first ~20,000 changes again at every further peek of the stream.
    const decoded = (await settledDecodedTransactions(before + transactions + 2)) - before;
    expect(decoded).toBeGreaterThanOrEqual(transactions + 2);
    expect(decoded).toBeLessThan((transactions + 2) * 1.1);
  }, 120_000);

  it('resumes from every checkpoint of a stream, inside a transaction larger than a checkpoint too, to the same rows', async () => {
    expect(latest).not.toBe('');
    // a transaction of 2,000 updates (over 1 MiB of rows: more than one checkpoint's eighth of a response)
    await db.query(`UPDATE events SET note = repeat('x', 600) || id`);
    for (let t = 0; t < 3; t++) await db.query(`UPDATE events SET n = n + 100 WHERE id % 3 = $1`, [t]);
    const request = {configuration: configuration(), state_json: latest};
    const stream = await update(harness.client, request);
    expect(stream.error).toBeUndefined();
    expect(stream.messages.filter((m) => m.checkpoint).length).toBeGreaterThan(4);
    const full = snapshot(applyRecords(new Map(), eventRecords(stream), keys));
    expect(full[eventsTable()]!.length).toBeGreaterThan(1900);
    let resumes = 0;
    for (let index = 0; index < stream.messages.length; index++) {
      const checkpoint = stream.messages[index]!.checkpoint;
      if (!checkpoint) continue;
      const before = applyRecords(new Map(), eventRecords({messages: stream.messages.slice(0, index)}), keys);
      const resumed = await update(harness.client, {...request, state_json: checkpoint.state_json});
      expect(resumed.error).toBeUndefined();
      expect(snapshot(applyRecords(before, eventRecords(resumed), keys)), `resumed from ${checkpoint.state_json}`).toEqual(full);
      resumes++;
    }
    expect(resumes).toBeGreaterThan(4);
    // the last resume advanced the slot to the stream's last checkpoint
    latest = lastState(stream);
  }, 120_000);

  it('fails the Update in one line naming the slot when the replication connection is lost, and the next resumes from its last checkpoint', async () => {
    expect(latest).not.toBe('');
    for (let t = 0; t < 600; t++) await db.query(`UPDATE events SET n = n + 1 WHERE id > $1 AND id <= $2`, [(t * 10) % 2000, ((t * 10) % 2000) + 10]);
    const request = {configuration: configuration(), state_json: latest};
    // the walsender is ended once the first checkpoint of the stream has arrived
    const broken = await new Promise<UpdateResult>((resolve) => {
      const messages: UpdateResponse__Output[] = [];
      const stream = harness.client.Update(request);
      let ended = false;
      stream.on('data', (message: UpdateResponse__Output) => {
        messages.push(message);
        if (message.checkpoint && !ended) {
          ended = true;
          void db.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot]);
        }
      });
      stream.on('error', (error: grpc.ServiceError) => resolve({messages, error}));
      stream.on('end', () => resolve({messages}));
    });
    // a retriable failure: the stream ends with an error status (Fivetran retries), not a Task
    expect(broken.messages.some((m) => m.task)).toBe(false);
    const failure = broken.error?.details ?? '';
    expect(failure).toMatch(new RegExp(`^reading the replication slot ${slot} over a replication connection: terminating connection`));
    expect(failure).not.toContain('\n');
    const checkpoint = broken.messages.filter((m) => m.checkpoint).at(-1)!.checkpoint!.state_json;
    const landed = applyRecords(new Map(), eventRecords({messages: broken.messages.slice(0, broken.messages.findLastIndex((m) => m.checkpoint))}), keys);
    const resumed = await update(harness.client, {...request, state_json: checkpoint});
    expect(resumed.error).toBeUndefined();
    expect(resumed.messages.some((m) => m.task)).toBe(false);
    applyRecords(landed, eventRecords(resumed), keys);
    // every row was updated three times (ids 1-10 were deleted before): what landed is the source's rows 11-2000
    const rows = snapshot(landed)[eventsTable()]!.map((r) => ({id: r.id, n: r.n, note: r.note}));
    rows.sort((a, b) => Number(String(a.id).slice(4)) - Number(String(b.id).slice(4)));
    expect(rows).toEqual((await sourceEvents()).filter((r) => Number(r.id.slice(4)) > 10 && Number(r.id.slice(4)) <= 2000));
  }, 120_000);

  it('reads the slot by peeks, with one warning, through a pooler that refuses replication connections', async () => {
    // a stand-in for PgBouncer between the connector and PostgreSQL: it passes every connection but refuses
    // one whose startup message asks for replication, as PgBouncer does ("unsupported startup parameter")
    const pooler = createServer((client) => {
      client.once('data', (first: Buffer) => {
        if (first.includes(Buffer.from('\0replication\0'))) {
          const fields = Buffer.from('SFATAL\0C08P01\0Munsupported startup parameter: replication\0\0');
          const error = Buffer.alloc(5);
          error.write('E');
          error.writeInt32BE(4 + fields.length, 1);
          client.end(Buffer.concat([error, fields]));
          return;
        }
        const server = connect(db.port, db.host, () => server.write(first));
        client.pipe(server).pipe(client);
        server.on('error', () => client.destroy());
        client.on('error', () => server.destroy());
      });
    });
    await new Promise<void>((resolve) => pooler.listen(0, '127.0.0.1', resolve));
    const refusedSlot = `${slot}_peeked`;
    const pooled = {...configuration(), host: '127.0.0.1', port: String((pooler.address() as AddressInfo).port), cdc_slot: refusedSlot, cdc_publication: `${slot}_peek_pub`};
    try {
      const first = await update(harness.client, {configuration: pooled});
      expect(first.error).toBeUndefined();
      expect(first.messages.some((m) => m.task)).toBe(false);
      await db.query(`UPDATE events SET note = 'peeked' WHERE id <= 500`);
      const second = await update(harness.client, {configuration: pooled, state_json: lastState(first)});
      expect(second.error).toBeUndefined();
      const warnings = second.messages.flatMap((m) => (m.warning ? [m.warning.message] : []));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(
        new RegExp(`^cannot stream the replication slot ${refusedSlot} over a replication connection \\(.*unsupported startup parameter: replication.*\\); reading it by peeks, .*pooler.*REPLICATION attribute$`),
      );
      const peeked = eventRecords(second).filter((r) => r.data.note?.string === 'peeked');
      // ids 1-10 were deleted by the first test
      expect(peeked.map((r) => Number(r.data.id?.int)).sort((x, y) => x - y)).toEqual(Array.from({length: 490}, (_, i) => i + 11));
    } finally {
      pooler.close();
      await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [refusedSlot]).catch(() => undefined);
    }
  }, 120_000);
});
