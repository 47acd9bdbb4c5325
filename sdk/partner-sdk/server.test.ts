// The Partner SDK adapter end to end: a real gRPC client drives the fixture connector (test/fixtures/grpc)
// through ConfigurationForm → Test → Schema → Update against a real PostgreSQL.
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest';
import {networkInterfaces} from 'node:os';
import * as grpc from '@grpc/grpc-js';
import {z} from 'zod';
import {defineConnector} from '../connector.js';
import {AuthError, SourceError} from '../errors.js';
import {handleFunctionCall} from '../function-adapter.js';
import {field} from '../secrets.js';
import {checkpoint, upsert} from '../types.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {FIXTURE_SQL, connector as items} from '../../test/fixtures/grpc/items-connector.js';
import {
  applyRecords, configurationForm, fieldsByName, plainValue, recordsOf, resumeFromEveryCheckpoint, runTest, schema, snapshot, startHarness, update,
  type Harness,
} from '../../test/fixtures/grpc/client.js';

const KEYS = {items: ['id'], item_events: ['event_id'], audit: ['audit_id']};

const hasIpv6Loopback = () => Object.values(networkInterfaces()).flat().some((i) => i?.internal && i.family === 'IPv6');

let db: TestDatabase;
let harness: Harness;
let config: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase('grpc_items');
  await db.query(FIXTURE_SQL);
  harness = await startHarness(items);
  config = {host: db.host, port: String(db.port), database: db.database, user: db.user, password: db.password, sslmode: 'disable', page_size: '7'};
});

afterAll(async () => {
  await harness?.close();
  await db?.drop();
});

describe('ConfigurationForm', () => {
  it('derives the fields from the secrets schema and lists the setup tests', async () => {
    const form = await configurationForm(harness.client);
    const byName = fieldsByName(form);
    expect(form.fields.map((f) => f.name)).toEqual(['host', 'port', 'database', 'user', 'password', 'sslmode', 'schema', 'page_size', 'include_audit']);
    expect(byName.host).toMatchObject({label: 'Host', required: true, description: 'PostgreSQL server host name or IP address', placeholder: 'db.example.com', text_field: 'PlainText', type: 'text_field'});
    expect(byName.port).toMatchObject({label: 'Port', required: false, default_value: '5432', text_field: 'PlainText'});
    expect(byName.password).toMatchObject({label: 'Password', required: true, text_field: 'Password'});
    expect(byName.sslmode).toMatchObject({type: 'dropdown_field', default_value: 'disable', dropdown_field: {dropdown_field: ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']}});
    expect(byName.include_audit).toMatchObject({type: 'toggle_field', default_value: 'true', required: false, label: 'Include the audit table'});
    expect(form.tests).toEqual([{name: 'connection', label: 'Connect to PostgreSQL'}, {name: 'tables', label: 'Find the items tables'}]);
    expect(form.table_selection_supported).toBe(true);
  });
});

describe('Test', () => {
  it('passes every listed setup test with a good configuration', async () => {
    expect(await runTest(harness.client, 'connection', config)).toEqual({success: true, response: 'success'});
    expect(await runTest(harness.client, 'tables', config)).toEqual({success: true, response: 'success'});
  });

  it('answers failure with the Function adapter\'s one-line message, without the password', async () => {
    const wrong = {...config, password: 'not-the-password-4711'};
    const answer = await runTest(harness.client, 'connection', wrong);
    const functionCall = await handleFunctionCall(items, {setup_test: true, secrets: wrong}, {sink: () => undefined});
    expect(answer.response).toBe('failure');
    expect(answer.failure).toBe(JSON.parse(functionCall.body).errorMessage);
    expect(answer.failure).toMatch(/check the user name and password/);
    expect(answer.failure).not.toContain('not-the-password-4711');
    expect(harness.logs.join('\n')).not.toContain('not-the-password-4711');
  });

  it('names every missing or invalid key', async () => {
    const answer = await runTest(harness.client, 'tables', {host: db.host, port: 'eighty'});
    expect(answer.failure).toBe('Invalid secrets: port must be an integer; database is required; user is required; password is required. Fix these keys in the connection\'s secrets.');
  });

  it('answers failure for a test name the form did not list', async () => {
    expect((await runTest(harness.client, 'nonsense', config)).failure).toBe('unknown setup test "nonsense"; this connector\'s tests are: connection, tables');
  });

  it('reports a failing table check from the named test only', async () => {
    const elsewhere = {...config, schema: 'no_such_schema'};
    expect(await runTest(harness.client, 'connection', elsewhere)).toMatchObject({success: true});
    expect((await runTest(harness.client, 'tables', elsewhere)).failure).toBe('table no_such_schema.items does not exist; create it or fix "schema"');
  });
});

describe('Schema', () => {
  it('lists declared and discovered tables with primary keys and PostgreSQL-derived types', async () => {
    const answer = await schema(harness.client, config);
    expect(answer.response).toBe('without_schema');
    expect(answer.selection_not_supported).toBe(false);
    const tables = Object.fromEntries((answer.without_schema?.tables ?? []).map((t) => [t.name, t.columns.map((c) => [c.name, c.type, c.primary_key, c.params?.decimal ? `${c.params.decimal.precision},${c.params.decimal.scale}` : null])]));
    expect(Object.keys(tables)).toEqual(['items', 'audit', 'item_events']);
    expect(tables.items).toEqual([
      ['id', 'LONG', true, null], ['name', 'STRING', false, null], ['price', 'DECIMAL', false, '12,2'], ['ratio', 'DOUBLE', false, null],
      ['active', 'BOOLEAN', false, null], ['born_on', 'NAIVE_DATE', false, null], ['local_at', 'NAIVE_DATETIME', false, null],
      ['updated_at', 'UTC_DATETIME', false, null], ['payload', 'JSON', false, null], ['raw', 'BINARY', false, null],
    ]);
    expect(tables.audit).toEqual([['audit_id', 'UNSPECIFIED', true, null]]);
    expect(tables.item_events).toEqual([
      ['event_id', 'LONG', true, null], ['item_id', 'LONG', false, null], ['amount', 'DECIMAL', false, '20,6'],
      ['happened_at', 'UTC_DATETIME', false, null], ['tags', 'JSON', false, null], ['note', 'STRING', false, null],
    ]);
  });

  it('fails with FAILED_PRECONDITION and the one-line message when discovery finds no table', async () => {
    await expect(schema(harness.client, {...config, schema: 'nowhere'})).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
      details: 'table nowhere.item_events does not exist; create it or fix "schema"',
    });
  });
});

describe('Update', () => {
  it('streams typed records in batches of at most 100, checkpoints after the records they cover, and one warning', async () => {
    const {messages, error} = await update(harness.client, {configuration: {...config, page_size: '250'}});
    expect(error).toBeUndefined();
    const batches = messages.filter((m) => m.records).map((m) => m.records?.records.length);
    expect(Math.max(...(batches as number[]))).toBe(100);
    expect(batches.slice(0, 3)).toEqual([100, 100, 50]);
    const records = recordsOf(messages);
    const itemsRecords = records.filter((r) => r.table_name === 'items');
    expect(itemsRecords.filter((r) => r.type === 'UPSERT')).toHaveLength(235);
    expect(itemsRecords.filter((r) => r.type === 'DELETE')).toHaveLength(26);
    const item2 = itemsRecords.find((r) => r.data.id?.long === '2');
    expect(Object.fromEntries(Object.entries(item2?.data ?? {}).map(([k, v]) => [k, plainValue(v)]))).toEqual({
      id: 'long:2', name: 'string:item 2', price: 'decimal:2.50', ratio: 'double:0.5', active: 'bool:true',
      born_on: 'naive_date:2024-01-03T00:00:00.000000000Z', local_at: 'naive_datetime:2024-01-01T10:00:00.123456000Z',
      updated_at: 'utc_datetime:2023-12-31T22:02:00.000000000Z', payload: 'json:{"n":2,"tags":["a",2]}', raw: '\\x0002',
    });
    expect(itemsRecords.find((r) => r.data.id?.long === '3')).toEqual({table_name: 'items', type: 'DELETE', data: {id: {long: '3', inner: 'long'}}});
    const big = itemsRecords.find((r) => r.data.id?.long === '9007199254740993');
    expect(plainValue(big?.data.updated_at)).toBe('utc_datetime:2024-06-30T23:59:59.999999000Z');
    expect(plainValue(big?.data.price)).toBe('decimal:1234567890.12');
    expect(plainValue(big?.data.raw)).toBeNull();

    const event1 = records.find((r) => r.table_name === 'item_events' && r.data.event_id?.long === '1');
    expect(plainValue(event1?.data.amount)).toBe('decimal:12345678901234.123456');
    expect(plainValue(event1?.data.happened_at)).toBe('utc_datetime:2024-03-01T12:00:01.000000000Z');
    expect(plainValue(event1?.data.tags)).toBe('json:["t1"]');
    const audit1 = records.find((r) => r.table_name === 'audit' && r.data.audit_id?.int === 1);
    expect(Object.fromEntries(Object.entries(audit1?.data ?? {}).map(([k, v]) => [k, plainValue(v)]))).toEqual({
      audit_id: 'int:1', action: 'string:create', at: 'utc_datetime:2024-02-02T10:00:00.000000000Z', details: 'json:{"by":"alice"}', big: 'string:5000000000',
    });

    expect(messages.filter((m) => m.warning).map((m) => m.warning?.message)).toEqual(['item 5 has no name']);
    expect(messages.some((m) => m.task)).toBe(false);
    // Every checkpoint comes after the records it covers: the items cursor never passes an unsent id.
    let sentUpTo = 0n;
    for (const message of messages) {
      for (const record of message.records?.records ?? []) if (record.table_name === 'items') sentUpTo = BigInt(record.data.id?.long ?? '0');
      if (message.checkpoint) expect(BigInt(JSON.parse(message.checkpoint.state_json).items_after)).toBeLessThanOrEqual(sentUpTo);
    }
    expect(JSON.parse(messages.filter((m) => m.checkpoint).at(-1)?.checkpoint?.state_json ?? '{}')).toEqual({items_after: '9007199254740993', events_after: '23', warned: true});
  });

  it('resuming from every emitted checkpoint yields the same rows', async () => {
    const request = {configuration: {...config, page_size: '10'}};
    const first = await update(harness.client, request);
    expect(first.error).toBeUndefined();
    const checkpoints = first.messages.filter((m) => m.checkpoint);
    expect(checkpoints.length).toBe(27 + 3 + 1);
    expect(Math.max(...first.messages.map((m) => m.records?.records.length ?? 0))).toBeLessThanOrEqual(100);
    const rows = snapshot(applyRecords(new Map(), recordsOf(first.messages), KEYS));
    expect(rows.items).toHaveLength(261);
    expect(rows.item_events).toHaveLength(23);
    expect(rows.audit).toHaveLength(2);
    const resumed = await resumeFromEveryCheckpoint(harness.client, request, first, KEYS);
    expect(resumed).toHaveLength(checkpoints.length);
    for (const run of resumed) expect(run.actual, `resumed from ${run.stateJson}`).toEqual(run.expected);
  });

  it('treats an empty state_json like no state', async () => {
    const fresh = await update(harness.client, {configuration: {...config, page_size: '500'}, state_json: ''});
    expect(recordsOf(fresh.messages)).toHaveLength(261 + 23 + 2);
  });

  it('honours the table and column selection and announces tables new to Fivetran', async () => {
    const {messages} = await update(harness.client, {
      configuration: {...config, page_size: '500'},
      selection: {
        without_schema: {
          include_new_tables: true,
          tables: [
            {table_name: 'items', included: true, columns: {id: true, name: true, price: false, raw: false}, include_new_columns: false},
            {table_name: 'audit', included: false, columns: {}, include_new_columns: true},
          ],
        },
      },
    });
    const records = recordsOf(messages);
    expect(new Set(records.map((r) => r.table_name))).toEqual(new Set(['items', 'item_events']));
    for (const record of records.filter((r) => r.table_name === 'items' && r.type === 'UPSERT')) expect(Object.keys(record.data).sort()).toEqual(['id', 'name']);
    const changes = messages.filter((m) => m.schema_change);
    expect(changes).toHaveLength(1);
    expect(changes[0]?.schema_change?.without_schema?.tables.map((t) => [t.name, t.columns.find((c) => c.primary_key)?.name])).toEqual([['item_events', 'event_id']]);
    expect(messages.indexOf(changes[0]!)).toBeLessThan(messages.findIndex((m) => m.records?.records.some((r) => r.table_name === 'item_events')));

    const withoutNew = await update(harness.client, {
      configuration: {...config, page_size: '500'},
      selection: {without_schema: {include_new_tables: false, tables: [{table_name: 'items', included: true, columns: {}, include_new_columns: true}]}},
    });
    expect(new Set(recordsOf(withoutNew.messages).map((r) => r.table_name))).toEqual(new Set(['items']));
    expect(withoutNew.messages.some((m) => m.schema_change)).toBe(false);
  });

  it('labels records with the schema when the selection is by schema', async () => {
    const {messages} = await update(harness.client, {
      configuration: {...config, page_size: '500', include_audit: 'false'},
      selection: {with_schema: {include_new_schemas: false, schemas: [{schema_name: 'shop', included: true, include_new_tables: false, tables: [{table_name: 'items', included: true, columns: {}, include_new_columns: true}]}]}},
    });
    const records = recordsOf(messages);
    expect(records.length).toBe(261);
    expect(new Set(records.map((r) => `${r.schema_name}.${r.table_name}`))).toEqual(new Set(['shop.items']));
  });

  it('rejects a state_json that is not a JSON object with INVALID_ARGUMENT', async () => {
    const {messages, error} = await update(harness.client, {configuration: config, state_json: '[1, 2]'});
    expect(messages).toEqual([]);
    expect(error).toMatchObject({code: grpc.status.INVALID_ARGUMENT, details: 'state_json must be a JSON object (the state_json of a checkpoint this connector sent)'});
  });

  it('sends one Task and ends the stream cleanly when the configuration needs fixing', async () => {
    const wrong = {...config, password: 'wrong-password-0815'};
    const {messages, error} = await update(harness.client, {configuration: wrong});
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(1);
    const functionCall = await handleFunctionCall(items, {secrets: wrong}, {sink: () => undefined});
    expect(messages[0]?.task?.message).toBe(JSON.parse(functionCall.body).errorMessage);
    expect(messages[0]?.task?.message).not.toContain('wrong-password-0815');

    const missing = await update(harness.client, {configuration: {host: db.host}});
    expect(missing.messages.map((m) => m.task?.message)).toEqual(['Invalid secrets: database is required; user is required; password is required. Fix these keys in the connection\'s secrets.']);
  });
});

describe('failures, logs and transport', () => {
  const Secrets = z.object({token: field.secret({label: 'Token'}), mode: field.enum(['ok', 'flaky', 'broken', 'auth', 'chatty'])});
  const failing = defineConnector({
    name: 'grpc_failing',
    secrets: Secrets,
    tables: {t: {primaryKey: ['id'], columns: {id: 'int'}}},
    async test({log}) {
      log.info('a "quoted"\nmessage\twith\\escapes');
    },
    async *sync({secrets, log}) {
      yield upsert('t', {id: 1});
      yield checkpoint({after: 1});
      yield upsert('t', {id: 2});
      log.info(`token is ${secrets.token}`);
      if (secrets.mode === 'flaky') throw new SourceError('the source timed out; it will be retried', {retriable: true});
      if (secrets.mode === 'broken') throw new TypeError(`cannot read ${secrets.token}`);
      if (secrets.mode === 'auth') throw new AuthError('the token was revoked; create a new one');
      if (secrets.mode === 'chatty') yield upsert('t', {id: 3, blob: 'x'.repeat(6 * 1024 * 1024)});
    },
  });
  let failingHarness: Harness;
  beforeAll(async () => {
    failingHarness = await startHarness(failing);
  });
  afterAll(async () => {
    await failingHarness?.close();
  });

  it('ends with UNAVAILABLE for retriable source errors and INTERNAL for others, after the records read', async () => {
    const flaky = await update(failingHarness.client, {configuration: {token: 'tok-secret-123', mode: 'flaky'}});
    expect(flaky.error).toMatchObject({code: grpc.status.UNAVAILABLE, details: 'the source timed out; it will be retried'});
    expect(recordsOf(flaky.messages).map((r) => r.data.id?.int)).toEqual([1, 2]);
    const broken = await update(failingHarness.client, {configuration: {token: 'tok-secret-123', mode: 'broken'}});
    expect(broken.error).toMatchObject({code: grpc.status.INTERNAL, details: 'grpc_failing failed unexpectedly: cannot read [REDACTED]'});
    const auth = await update(failingHarness.client, {configuration: {token: 'tok-secret-123', mode: 'auth'}});
    expect(auth.error).toBeUndefined();
    expect(auth.messages.at(-1)).toEqual({task: {message: 'the token was revoked; create a new one'}, operation: 'task'});
    expect(auth.messages.filter((m) => m.task)).toHaveLength(1);
  });

  it('writes logs as Partner SDK JSON lines, escaped, with secrets redacted', async () => {
    failingHarness.logs.length = 0;
    await runTest(failingHarness.client, '', {token: 'tok-secret-123', mode: 'ok'});
    await update(failingHarness.client, {configuration: {token: 'tok-secret-123', mode: 'broken'}});
    expect(failingHarness.logs.length).toBeGreaterThan(3);
    const entries = failingHarness.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      expect(Object.keys(entry).sort()).toEqual(['level', 'message', 'message-origin']);
      expect(['INFO', 'WARNING', 'SEVERE']).toContain(entry.level);
      expect(entry['message-origin']).toBe('sdk_connector');
    }
    expect(failingHarness.logs.every((line) => !line.includes('\n'))).toBe(true);
    expect(entries.map((e) => e.message)).toContain('a "quoted"\nmessage\twith\\escapes');
    expect(entries.map((e) => e.message)).toContain('token is [REDACTED]');
    expect(entries.find((e) => String(e.message).startsWith('update failed'))?.level).toBe('SEVERE');
    expect(failingHarness.logs.join('\n')).not.toContain('tok-secret-123');
  });

  it('accepts and sends messages above gRPC\'s 4 MB default, up to 128 MB', async () => {
    const big = await runTest(failingHarness.client, '', {token: 't'.repeat(6 * 1024 * 1024), mode: 'ok'});
    expect(big).toMatchObject({success: true});
    const chatty = await update(failingHarness.client, {configuration: {token: 'tok-secret-123', mode: 'chatty'}});
    expect(chatty.error).toBeUndefined();
    expect(recordsOf(chatty.messages).find((r) => r.data.id?.int === 3)?.data.blob?.string).toHaveLength(6 * 1024 * 1024);
  });

  it('closes the connector\'s sync (its finally runs) when the client cancels the stream', async () => {
    let rowsMade = 0;
    let closed = false;
    const endless = defineConnector({
      name: 'grpc_endless',
      secrets: z.object({}),
      tables: {t: {primaryKey: ['id'], columns: {id: 'long', text: 'string'}}},
      async test() {},
      async *sync() {
        try {
          for (let id = 0; ; id++) {
            rowsMade++;
            yield upsert('t', {id, text: 'x'.repeat(1000)});
            if (id % 100 === 99) yield checkpoint({after: id});
          }
        } finally {
          closed = true;
        }
      },
    });
    const endlessHarness = await startHarness(endless);
    try {
      const stream = endlessHarness.client.Update({configuration: {}});
      let batches = 0;
      await new Promise<void>((resolve) => {
        stream.on('data', () => {
          if (++batches === 5) stream.cancel();
        });
        stream.on('error', () => resolve());
        stream.on('end', () => resolve());
      });
      await vi.waitFor(() => expect(closed).toBe(true), {timeout: 5000});
      const made = rowsMade;
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(rowsMade).toBe(made);
    } finally {
      await endlessHarness.close();
    }
  });

  // Hosts without IPv6 (some CI containers) cannot show the IPv6 half; there the server falls back to IPv4.
  it.skipIf(!hasIpv6Loopback())('listens on IPv4 and IPv6 by default', async () => {
    const both = await startHarness(failing, {clientHost: '[::1]'});
    try {
      expect(both.server.addresses[0]).toMatch(/^\[::\]:\d+$/);
      expect(await runTest(both.client, '', {token: 'tok', mode: 'ok'})).toMatchObject({success: true});
      const {proto} = await import('./protocol.js').then((m) => m.loadPartnerSdk());
      const v4 = new proto.fivetran_sdk.v2.SourceConnector(`127.0.0.1:${both.server.port}`, grpc.credentials.createInsecure());
      try {
        const answer = await new Promise((resolve, reject) => v4.Test({name: '', configuration: {token: 'tok', mode: 'ok'}}, (e, r) => (e ? reject(e) : resolve(r))));
        expect(answer).toMatchObject({success: true});
      } finally {
        v4.close();
      }
    } finally {
      await both.close();
    }
  });
});
