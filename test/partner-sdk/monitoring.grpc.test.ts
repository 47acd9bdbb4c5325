// The monitoring connector as a Partner SDK source connector, over real gRPC, against the Fivetran API
// simulator (emulator/api-simulator.ts): ConfigurationForm → Test → Schema → Update, batches of at most 100
// records, and resuming from every checkpoint of a check gives the same rows.
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {connector} from '../../connectors/monitoring/index.js';
import {applyRecords, configurationForm, fieldsByName, recordsOf, runTest, schema, snapshot, startHarness, update, type Harness} from '../fixtures/grpc/client.js';

let sim: ApiSimulator;
let harness: Harness;
let config: Record<string, string>;
const keys: Record<string, string[]> = {};

beforeAll(async () => {
  // A frozen clock: running syncs must not finish between the first Update and the resumed ones.
  const now = Date.now();
  sim = await startApiSimulator({fleet: generateFleet({groups: 3, connectionsPerGroup: 450, seed: 5}), rateLimit: false, now: () => now});
  harness = await startHarness(connector);
  config = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, tenant_pattern: '^[a-z]+_([a-z]+)_'};
});

afterAll(async () => {
  await harness?.close();
  await sim?.close();
});

describe('monitoring over the Partner SDK', () => {
  it('offers its form, passes its setup test, and fails it with the one-line message on bad credentials', async () => {
    const form = await configurationForm(harness.client);
    const byName = fieldsByName(form);
    expect(byName.fivetran_api_key).toMatchObject({text_field: 'Password', required: true});
    expect(byName.tenant_pattern).toMatchObject({required: false, placeholder: '^(t_[a-z0-9]+)_'});
    expect(byName.concurrency).toMatchObject({default_value: '4'});
    expect(await runTest(harness.client, 'connection', config)).toMatchObject({success: true});
    const refused = await runTest(harness.client, 'connection', {...config, fivetran_api_secret: 'not-the-secret-99'});
    expect(refused.response).toBe('failure');
    expect(refused.failure).not.toContain('not-the-secret-99');
    expect(refused.failure).not.toContain('\n');
  });

  it('lists its tables with their primary keys', async () => {
    const answer = await schema(harness.client, config);
    for (const table of answer.without_schema?.tables ?? []) keys[table.name] = table.columns.filter((c) => c.primary_key).map((c) => c.name);
    expect(keys).toMatchObject({groups: ['group_id'], connections: ['checked_at', 'connection_id']});
    expect(Object.keys(keys).sort()).toEqual(Object.keys(connector.tables).sort());
  });

  it('streams one row per connection in batches of at most 100, and resuming from each checkpoint of the check gives the same rows', async () => {
    const request = {configuration: config};
    const first = await update(harness.client, request);
    expect(first.error).toBeUndefined();
    expect(first.messages.some((m) => m.task)).toBe(false);
    expect(Math.max(...first.messages.map((m) => m.records?.records.length ?? 0))).toBe(100);
    const rows = snapshot(applyRecords(new Map(), recordsOf(first.messages), keys));
    expect(rows.connections).toHaveLength(1350);
    expect(rows.groups).toHaveLength(3);
    expect(new Set(rows.connections?.map((r) => r.checked_at)).size).toBe(1);
    expect(String(rows.connections?.[0]?.checked_at)).toMatch(/^utc_datetime:/);

    const checkpoints = first.messages.flatMap((m, index) => (m.checkpoint ? [{index, state: JSON.parse(m.checkpoint.state_json)}] : []));
    const withinCheck = checkpoints.slice(0, -1);
    expect(withinCheck.length).toBeGreaterThanOrEqual(2);
    for (const {index, state} of withinCheck) {
      const resumed = await update(harness.client, {...request, state_json: JSON.stringify(state)});
      expect(resumed.error).toBeUndefined();
      const before = applyRecords(new Map(), recordsOf(first.messages.slice(0, index)), keys);
      expect(snapshot(applyRecords(before, recordsOf(resumed.messages), keys)), JSON.stringify(state).slice(0, 200)).toEqual(rows);
    }

    // From the last checkpoint the next Update is the next check: every connection again, at a new time.
    const next = await update(harness.client, {...request, state_json: JSON.stringify(checkpoints.at(-1)!.state)});
    const again = snapshot(applyRecords(new Map(), recordsOf(next.messages), keys));
    expect(again.connections).toHaveLength(1350);
    expect(again.connections?.[0]?.checked_at).not.toBe(rows.connections?.[0]?.checked_at);
  });

  it('sends one Task when the API refuses the credentials during a sync', async () => {
    const {messages, error} = await update(harness.client, {configuration: {...config, fivetran_api_key: 'wrong-key-123'}});
    expect(error).toBeUndefined();
    expect(messages).toHaveLength(1);
    expect(messages[0]?.task?.message).toBeTruthy();
    expect(messages[0]?.task?.message).not.toContain('wrong-key-123');
  });
});
