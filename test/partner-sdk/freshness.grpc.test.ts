// The freshness connector as a Partner SDK source connector, over real gRPC against a real PostgreSQL, with
// the Fivetran REST API mocked by nock in this process (the gRPC server runs here, so nock sees its calls;
// any call without an interceptor fails, so "no second trigger" is checked too). The selection is what
// Fivetran sends after Schema: both tables included.
import nock from 'nock';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createFreshnessConnector} from '../../connectors/freshness/index.js';
import {API_URL, CONNECTION_ID, connectionIs, freshnessSecrets, SETUP_SQL, syncAccepted} from '../../connectors/freshness/test-support.js';
import {handleFunctionCall} from '../../sdk/function-adapter.js';
import {createTestDatabase, type TestDatabase} from '../support/postgres.js';
import {
  applyRecords, configurationForm, fieldsByName, plainValue, recordsOf, runTest, schema, snapshot, startHarness, update, type Harness,
} from '../fixtures/grpc/client.js';

const connector = createFreshnessConnector({api: {baseDelayMs: 1, retries: 1}});
let db: TestDatabase;
let harness: Harness;
let config: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase('grpc_freshness');
  await db.query(SETUP_SQL);
  await db.query(`CREATE TABLE many (id bigint PRIMARY KEY, freshness_status text NOT NULL)`);
  await db.query(`INSERT INTO many SELECT i * 3, CASE WHEN i % 4 = 0 THEN 'Stale data' ELSE 'Fresh data' END FROM generate_series(1, 2500) AS i`);
  harness = await startHarness(connector);
  config = Object.fromEntries(Object.entries(freshnessSecrets(db)).map(([key, value]) => [key, String(value)]));
});

afterAll(async () => {
  await harness?.close();
  await db?.drop();
});

describe('freshness over the Partner SDK', () => {
  it('offers its form and runs each setup test on its own', async () => {
    const form = await configurationForm(harness.client);
    const byName = fieldsByName(form);
    expect(byName.fivetran_api_secret).toMatchObject({label: 'Fivetran API secret', text_field: 'Password', required: true});
    expect(byName.postgres_password).toMatchObject({text_field: 'Password'});
    expect(byName.dry_run).toMatchObject({type: 'toggle_field', default_value: 'false'});
    expect(byName.stale_threshold_percent).toMatchObject({default_value: '10', required: false});
    expect(form.tests.map((t) => t.name)).toEqual(['postgres', 'fivetran']);

    expect(await runTest(harness.client, 'postgres', config)).toMatchObject({success: true});
    const lookup = connectionIs();
    expect(await runTest(harness.client, 'fivetran', config)).toMatchObject({success: true});
    expect(lookup.isDone()).toBe(true);
  });

  it('fails the API test with the Function adapter\'s message, without the API secret', async () => {
    const refused = () => nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).reply(401, {code: 'AuthFailed', message: 'bad credentials'});
    refused();
    const answer = await runTest(harness.client, 'fivetran', config);
    refused();
    const functionCall = await handleFunctionCall(connector, {setup_test: true, secrets: config}, {sink: () => undefined});
    expect(answer.failure).toBe(JSON.parse(functionCall.body).errorMessage);
    expect(answer.failure).not.toContain('test-api-secret');
  });

  it('lists sync_events and the monitor table, keyed by the configured id column, in Schema', async () => {
    const answer = await schema(harness.client, {...config, id_column: 'id'});
    const keys = Object.fromEntries((answer.without_schema?.tables ?? []).map((t) => [t.name, t.columns.filter((c) => c.primary_key).map((c) => c.name)]));
    expect(keys).toEqual({sync_events: ['event_timestamp', 'connector_id'], data_freshness_monitor: ['check_timestamp', 'id']});
  });

  it('triggers once, streams every checked row in batches of at most 100, and resuming from each checkpoint of the check gives the same rows', async () => {
    const request = {
      configuration: {...config, freshness_query: 'SELECT id, freshness_status FROM many', id_column: 'id'},
      selection: {
        without_schema: {
          include_new_tables: false,
          tables: ['sync_events', 'data_freshness_monitor'].map((table_name) => ({table_name, included: true, columns: {}, include_new_columns: true})),
        },
      },
    };
    connectionIs();
    const trigger = syncAccepted();
    const first = await update(harness.client, request);
    expect(first.error).toBeUndefined();
    expect(trigger.isDone()).toBe(true);
    expect(Math.max(...first.messages.map((m) => m.records?.records.length ?? 0))).toBe(100);

    const keys = {sync_events: ['event_timestamp', 'connector_id'], data_freshness_monitor: ['check_timestamp', 'id']};
    // Every table was in Schema, so nothing is announced as new.
    expect(first.messages.some((m) => m.schema_change)).toBe(false);
    const rows = snapshot(applyRecords(new Map(), recordsOf(first.messages), keys));
    expect(rows.data_freshness_monitor).toHaveLength(2500);
    expect(rows.sync_events?.map((e) => e.action)).toEqual(['string:trigger_sync']);
    const event = recordsOf(first.messages).find((r) => r.table_name === 'sync_events');
    expect(plainValue(event?.data.event_timestamp)).toMatch(/^utc_datetime:\d{4}-/);
    expect(plainValue(event?.data.http_status)).toBe('int:200');
    const monitor = recordsOf(first.messages).find((r) => r.table_name === 'data_freshness_monitor' && r.data.id?.string === '12');
    expect(plainValue(monitor?.data.stale_percentage)).toBe('double:25');
    expect(plainValue(monitor?.data.sync_triggered)).toBe('bool:true');
    expect(plainValue(monitor?.data.freshness_status)).toBe('string:Stale data');

    const checkpoints = first.messages.flatMap((m, index) => (m.checkpoint ? [{index, state: JSON.parse(m.checkpoint.state_json)}] : []));
    const withinCheck = checkpoints.filter((c) => c.state.paging);
    expect(withinCheck.length).toBeGreaterThanOrEqual(3);
    for (const {index, state} of withinCheck) {
      // No API interceptor: a resumed check must not look up or trigger again.
      const resumed = await update(harness.client, {...request, state_json: JSON.stringify(state)});
      expect(resumed.error, JSON.stringify(state)).toBeUndefined();
      expect(resumed.messages.some((m) => m.task)).toBe(false);
      const before = applyRecords(new Map(), recordsOf(first.messages.slice(0, index)), keys);
      expect(snapshot(applyRecords(before, recordsOf(resumed.messages), keys)), JSON.stringify(state)).toEqual(rows);
    }

    // After the check's last checkpoint the next Update is a new check, within the cooldown: no trigger.
    const last = checkpoints.at(-1)!;
    expect(last.state.paging).toBeNull();
    const next = await update(harness.client, {...request, state_json: JSON.stringify(last.state)});
    expect(next.error).toBeUndefined();
    expect(recordsOf(next.messages).filter((r) => r.table_name === 'sync_events').map((r) => r.data.action?.string)).toEqual(['skip_cooldown']);
  });

  it('sends one Task when the API refuses the credentials during a sync', async () => {
    nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).reply(401, {code: 'AuthFailed', message: 'bad credentials'});
    const {messages, error} = await update(harness.client, {configuration: {...config, cooldown_minutes: '0'}});
    expect(error).toBeUndefined();
    expect(messages.filter((m) => m.task)).toHaveLength(1);
    expect(messages.at(-1)?.task?.message).not.toContain('test-api-secret');
  });
});
