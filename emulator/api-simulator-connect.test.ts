// The simulator's Function connection endpoints, over real HTTP: create, update, setup tests, resync,
// service accounts, with secrets masked in every answer.
import {afterEach, describe, expect, it} from 'vitest';
import {MASKED_SECRET} from './api-simulator-connect.js';
import {startApiSimulator, type ApiSimulator} from './api-simulator.js';
import {generateFleet} from './fleet.js';

let sim: ApiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const T0 = Date.parse('2026-01-05T10:00:00Z');

async function start() {
  const clock = {now: T0};
  sim = await startApiSimulator({now: () => clock.now, fleet: generateFleet({groups: 1, connectionsPerGroup: 2, seed: 3, now: T0}), syncDurationMs: 1000});
  const s = sim;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.url}${path}`, {
      method,
      headers: {
        accept: 'application/json;version=2',
        authorization: `Basic ${Buffer.from(`${s.apiKey}:${s.apiSecret}`).toString('base64')}`,
        ...(body === undefined ? {} : {'content-type': 'application/json'}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of many shapes
    return {status: res.status, body: (await res.json()) as {code: string; message: string; data?: any}};
  };
  return {sim: s, call, groupId: s.fleet.groups[0]!.id, clock};
}

const creation = (groupId: string, schema = 'orders') => ({
  service: 'google_cloud_function',
  group_id: groupId,
  paused: false,
  schedule_type: 'auto',
  sync_frequency: 60,
  run_setup_tests: true,
  config: {
    schema,
    function_trigger: `https://us-central1-acme.cloudfunctions.net/${schema}`,
    secrets_list: [{key: 'database_url', value: 'postgres://u:hunter2@db/orders'}],
    custom_payloads: [{key: 'environment', value: 'prod'}],
  },
});

describe('API simulator: Function connections', () => {
  it('gives each group a service account', async () => {
    const {call, groupId} = await start();
    const answer = await call('GET', `/v1/groups/${groupId}/service-account`);
    expect(answer.status).toBe(200);
    expect(answer.body.data.service_account).toMatch(/^g-[a-z0-9-]+@fivetran-production\.iam\.gserviceaccount\.com$/);
    expect((await call('GET', '/v1/groups/nope/service-account')).body).toEqual({code: 'NotFound_Group', message: "Group with id 'nope' doesn't exist"});
  });

  it('creates a connection, runs its setup tests and masks the secrets in every answer', async () => {
    const {sim: s, call, groupId} = await start();
    const created = await call('POST', '/v1/connections', creation(groupId));
    expect(created.status).toBe(201);
    expect(created.body.code).toBe('Success');
    const data = created.body.data;
    expect(data).toMatchObject({group_id: groupId, service: 'google_cloud_function', schema: 'orders', paused: false, schedule_type: 'auto', sync_frequency: 60});
    expect(data.status.setup_state).toBe('connected');
    expect(data.setup_tests).toEqual([
      {title: 'Connecting to the function', status: 'PASSED', message: ''},
      {title: 'Validating the response', status: 'PASSED', message: ''},
    ]);
    expect(data.config).toEqual({
      schema: 'orders',
      function_trigger: 'https://us-central1-acme.cloudfunctions.net/orders',
      secrets_list: [{key: 'database_url', value: MASKED_SECRET}],
      custom_payloads: [{key: 'environment', value: 'prod'}],
    });
    const everyAnswer = [created, await call('GET', `/v1/connections/${data.id}`), await call('GET', `/v1/groups/${groupId}/connections`), await call('GET', '/v1/connections')];
    for (const answer of everyAnswer) expect(JSON.stringify(answer.body)).not.toContain('hunter2');
    expect(s.connect.secrets(data.id)).toEqual([{key: 'database_url', value: 'postgres://u:hunter2@db/orders'}]);
  });

  it('answers 404 for an unknown group and 409 for a schema the group has already', async () => {
    const {call, groupId} = await start();
    expect((await call('POST', '/v1/connections', creation('no_such_group'))).status).toBe(404);
    const first = await call('POST', '/v1/connections', creation(groupId));
    const again = await call('POST', '/v1/connections', creation(groupId));
    expect(again.status).toBe(409);
    expect(again.body).toEqual({code: 'Conflict', message: `Schema 'orders' already exists in group '${groupId}' (connection '${first.body.data.id}')`});
    expect((await call('POST', '/v1/connections', {...creation(groupId, 'other'), service: 'postgres'})).status).toBe(400);
  });

  it('updates the trigger, secrets and schedule, and refuses a schema change', async () => {
    const {sim: s, call, groupId} = await start();
    const {id} = (await call('POST', '/v1/connections', creation(groupId))).body.data;
    const patched = await call('PATCH', `/v1/connections/${id}`, {
      schedule_type: 'manual',
      config: {function_trigger: 'https://europe-west1-acme.cloudfunctions.net/orders', secrets_list: [{key: 'database_url', value: 'new-secret'}]},
    });
    expect(patched.status).toBe(200);
    expect(patched.body.data).toMatchObject({schedule_type: 'manual', config: {function_trigger: 'https://europe-west1-acme.cloudfunctions.net/orders', secrets_list: [{key: 'database_url', value: MASKED_SECRET}]}});
    expect(s.connect.secrets(id)).toEqual([{key: 'database_url', value: 'new-secret'}]);
    const refused = await call('PATCH', `/v1/connections/${id}`, {schedule_type: 'auto', config: {schema: 'elsewhere'}});
    expect(refused.status).toBe(400);
    // nothing of a refused update applies
    expect(s.connection(id).schedule_type).toBe('manual');
    expect((await call('PATCH', `/v1/connections/${id}`, {config: {secrets_list: 'x'}})).status).toBe(400);
  });

  it('fails setup tests on demand, by id or schema, and recovers when cleared', async () => {
    const {sim: s, call, groupId} = await start();
    s.connect.failSetupTests('orders', 'The function answered 401: the invoker role is missing');
    const created = await call('POST', '/v1/connections', creation(groupId));
    expect(created.status).toBe(201);
    expect(created.body.data.setup_tests[0]).toEqual({title: 'Connecting to the function', status: 'FAILED', message: 'The function answered 401: the invoker role is missing'});
    expect(created.body.data.status.setup_state).toBe('broken');
    s.connect.clearSetupTestFailures();
    const tested = await call('POST', `/v1/connections/${created.body.data.id}/test`, {});
    expect(tested.body.data.setup_tests.map((t: {status: string}) => t.status)).toEqual(['PASSED', 'PASSED']);
    expect(tested.body.data.status.setup_state).toBe('connected');
  });

  it('resyncs a connection or one table as a historical sync, not while paused', async () => {
    const {sim: s, call, groupId, clock} = await start();
    const {id} = (await call('POST', '/v1/connections', creation(groupId))).body.data;
    expect((await call('POST', `/v1/connections/${id}/resync`, {})).status).toBe(200);
    expect(s.connection(id)).toMatchObject({status: {sync_state: 'syncing', is_historical_sync: true}});
    clock.now += 2000;
    expect((await call('POST', `/v1/connections/${id}/schemas/orders/tables/order_lines/resync`)).status).toBe(200);
    expect((await call('POST', `/v1/connections/${id}/resync`, {scope: {orders: []}})).status).toBe(400);
    expect(s.connect.resyncs.map((r) => r.scope)).toEqual([null, {orders: ['order_lines']}]);
    await call('PATCH', `/v1/connections/${id}`, {paused: true});
    expect((await call('POST', `/v1/connections/${id}/resync`, {})).status).toBe(409);
  });
});
