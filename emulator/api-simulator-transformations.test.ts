// The simulator's transformations endpoints over HTTP, on a clock the test moves: the three Quickstart
// transformations and their runs, the list's filters and pages, 404 and 409, and FivetranApi reading them.
import {afterEach, describe, expect, it} from 'vitest';
import {FivetranApi} from '../sdk/fivetran-api.js';
import {startApiSimulator, type ApiSimulator} from './api-simulator.js';
import {generateFleet} from './fleet.js';

let sim: ApiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const T0 = Date.parse('2026-01-05T10:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

async function start() {
  let clock = T0;
  sim = await startApiSimulator({now: () => clock, fleet: generateFleet({groups: 1, connectionsPerGroup: 20, seed: 3, now: T0}), transformationDurationMs: 8000, rateLimit: false});
  const api = new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url, retries: 0});
  const call = (method: string, path: string, body?: unknown) =>
    fetch(`${sim!.url}${path}`, {
      method,
      headers: {authorization: `Basic ${Buffer.from(`${sim!.apiKey}:${sim!.apiSecret}`).toString('base64')}`, ...(body === undefined ? {} : {'content-type': 'application/json'})},
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (res) => ({status: res.status, body: (await res.json()) as {code: string; message: string; data?: Record<string, unknown>}}));
  return {sim, api, call, tick: (ms: number) => (clock += ms)};
}

describe('API simulator: transformations', () => {
  it('runs each Quickstart transformation SCHEDULING, RUNNING, then to its outcome on the clock', async () => {
    const {api, tick} = await start();
    const status = async (id: string) => (await api.getTransformation(id)).data;
    expect(await status('qs_hubspot')).toMatchObject({type: 'QUICKSTART', status: 'SCHEDULING', paused: false, last_started_at: null, last_ended_at: null, transformation_config: {package_name: 'hubspot'}});
    tick(1000);
    expect(await status('qs_hubspot')).toMatchObject({status: 'RUNNING', last_started_at: iso(T0 + 1000), last_ended_at: null});
    tick(7000);
    expect(await status('qs_hubspot')).toMatchObject({status: 'SUCCEEDED', last_ended_at: iso(T0 + 8000)});
    const failed = await status('qs_stripe');
    expect(failed).toMatchObject({status: 'FAILED', last_ended_at: iso(T0 + 8000)});
    expect(failed.errors).toEqual([expect.stringMatching(/^step "dbt run --select package:stripe" failed at model stripe__balance_transactions: /)]);
    expect(await status('qs_salesforce')).toMatchObject({status: 'RUNNING'});
    tick(40 * 8000);
    expect(await status('qs_salesforce')).toMatchObject({status: 'SUCCEEDED', last_ended_at: iso(T0 + 320_000)});
  });

  it('puts the fleet connection of the package\'s service in connection_ids when there is one', async () => {
    const {sim, api} = await start();
    const stripe = sim.fleet.connections.find((c) => c.service === 'stripe');
    const config = (await api.getTransformation('qs_stripe')).data.transformation_config!;
    expect(config.connection_ids).toEqual([stripe?.id ?? sim.fleet.connections[1]!.id]);
  });

  it('lists by type and group, paginated with limit and cursor; refuses another type', async () => {
    const {sim, api, call} = await start();
    expect((await api.listTransformations('QUICKSTART')).map((t) => t.id)).toEqual(['qs_hubspot', 'qs_stripe', 'qs_salesforce']);
    expect(await api.listTransformations('DBT_CORE')).toEqual([]);
    const first = await call('GET', '/v1/transformations?limit=2');
    expect(first.body.data).toMatchObject({items: [{id: 'qs_hubspot'}, {id: 'qs_stripe'}], next_cursor: expect.any(String)});
    const second = await call('GET', `/v1/transformations?limit=2&cursor=${first.body.data!.next_cursor as string}`);
    expect(second.body.data).toMatchObject({items: [{id: 'qs_salesforce'}], next_cursor: null});
    expect((await call('GET', `/v1/transformations?group_id=${sim.fleet.groups[0]!.id}`)).body.data!.items).toHaveLength(3);
    expect((await call('GET', '/v1/transformations?group_id=elsewhere')).body.data!.items).toEqual([]);
    expect(await call('GET', '/v1/transformations?type=SQL')).toMatchObject({status: 400, body: {code: 'InvalidInput', message: 'type must be QUICKSTART or DBT_CORE; got "SQL"'}});
  });

  it('answers 404 for an unknown id, and FivetranApi names the transformation', async () => {
    const {api, call} = await start();
    expect(await call('GET', '/v1/transformations/nope')).toMatchObject({status: 404, body: {code: 'NotFound_Transformation'}});
    await expect(api.getTransformation('nope')).rejects.toThrow(/^Fivetran API found no transformation "nope" \(404: Transformation with id 'nope' doesn't exist\); check the id$/);
  });

  it('POST .../run starts a run, 409 while one is in progress, and applies queued failures', async () => {
    const {sim, api, call, tick} = await start();
    expect(await call('POST', '/v1/transformations/qs_hubspot/run', {})).toMatchObject({status: 409, body: {code: 'Conflict'}});
    tick(8000);
    sim.transformations.failNextRun('qs_hubspot', 'step "dbt test" failed');
    await api.runTransformation('qs_hubspot');
    expect((await api.getTransformation('qs_hubspot')).data).toMatchObject({status: 'SCHEDULING', last_ended_at: iso(T0 + 8000)});
    tick(8000);
    expect((await api.getTransformation('qs_hubspot')).data).toMatchObject({status: 'FAILED', errors: ['step "dbt test" failed']});
    await api.runTransformation('qs_hubspot');
    tick(8000);
    expect((await api.getTransformation('qs_hubspot')).data).toMatchObject({status: 'SUCCEEDED'});
    expect((await api.getTransformation('qs_hubspot')).data.errors).toBeUndefined();
    expect(sim.transformations.runs.filter((r) => r.transformationId === 'qs_hubspot').map((r) => r.outcome)).toEqual(['SUCCEEDED', 'FAILED', 'SUCCEEDED']);
    expect(await call('POST', '/v1/transformations/qs_stripe/run', {full_refresh: 'yes'})).toMatchObject({status: 400, body: {message: 'full_refresh must be true or false; got "yes"'}});
  });

  it('fixRuns stops the failing one failing; an added one is NEW until it runs', async () => {
    const {sim, api, tick} = await start();
    tick(8000);
    sim.transformations.fixRuns('qs_stripe');
    await api.runTransformation('qs_stripe');
    tick(8000);
    expect((await api.getTransformation('qs_stripe')).data.status).toBe('SUCCEEDED');
    sim.transformations.add({id: 'qs_shopify', package_name: 'shopify', connection_ids: [sim.fleet.connections[3]!.id]});
    expect((await api.getTransformation('qs_shopify')).data).toMatchObject({status: 'NEW', last_started_at: null, last_ended_at: null});
    expect(() => sim.transformations.add({id: 'qs_shopify', package_name: 'shopify', connection_ids: []})).toThrow(/already exists/);
  });
});
