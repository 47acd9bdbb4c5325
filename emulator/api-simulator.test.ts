import {afterEach, describe, expect, it} from 'vitest';
import {FivetranApi} from '../sdk/fivetran-api.js';
import {AuthError} from '../sdk/errors.js';
import {startApiSimulator, type ApiSimulator} from './api-simulator.js';
import {generateFleet, healthCounts, type FleetConnection} from './fleet.js';

let sim: ApiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const T0 = Date.parse('2026-01-05T10:00:00Z');

async function start(options: Parameters<typeof startApiSimulator>[0] = {}) {
  let clock = T0;
  sim = await startApiSimulator({now: () => clock, fleet: generateFleet({groups: 2, connectionsPerGroup: 5, seed: 3, now: T0}), ...options});
  const call = (method: string, path: string, init: {body?: unknown; headers?: Record<string, string>; auth?: string | null} = {}) => {
    const headers: Record<string, string> = {accept: 'application/json;version=2', ...init.headers};
    if (init.auth !== null) headers.authorization = init.auth ?? `Basic ${Buffer.from(`${sim!.apiKey}:${sim!.apiSecret}`).toString('base64')}`;
    if (init.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    return fetch(`${sim!.url}${path}`, {method, headers, body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body)}).then(async (res) => ({
      status: res.status,
      headers: res.headers,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the tests read into answers of many shapes
      body: (await res.json()) as {code: string; message: string; data?: any},
    }));
  };
  return {sim: sim, call, tick: (ms: number) => (clock += ms)};
}

const healthy = (s: ApiSimulator): FleetConnection => s.fleet.connections.find((c) => c.health === 'healthy' && c.schedule_type === 'auto')!;

describe('fleet generator', () => {
  it('makes groups × connections with exact health counts, deterministic for a seed', () => {
    const fleet = generateFleet({groups: 4, connectionsPerGroup: 25, seed: 9, now: T0, mix: {healthy: 70, broken: 10, delayed: 10, paused: 10}});
    expect(fleet.groups).toHaveLength(4);
    expect(fleet.connections).toHaveLength(100);
    const counts: Partial<Record<string, FleetConnection[]>> = {};
    for (const c of fleet.connections) (counts[c.health] ??= []).push(c);
    expect(counts.healthy).toHaveLength(70);
    expect(counts.broken).toHaveLength(10);
    expect(counts.paused!.every((c) => c.paused && c.status.sync_state === 'paused')).toBe(true);
    expect(counts.broken!.every((c) => c.status.setup_state === 'broken')).toBe(true);
    expect(counts.delayed!.every((c) => c.status.update_state === 'delayed' && Date.parse(c.succeeded_at!) < T0 - 3 * c.sync_frequency * 60_000)).toBe(true);
    expect(new Set(fleet.connections.map((c) => c.id)).size).toBe(100);
    expect(generateFleet({groups: 4, connectionsPerGroup: 25, seed: 9, now: T0}).connections.map((c) => c.id)).toEqual(
      generateFleet({groups: 4, connectionsPerGroup: 25, seed: 9, now: T0}).connections.map((c) => c.id),
    );
  });

  it('splits counts by largest remainder', () => {
    expect(healthCounts(10, {healthy: 1, broken: 1, paused: 1})).toMatchObject({healthy: 4, broken: 3, paused: 3, delayed: 0});
  });
});

describe('API simulator', () => {
  it('answers 401 to wrong or missing credentials and the SDK client with the right ones', async () => {
    const {sim: s, call} = await start();
    expect((await call('GET', '/v1/groups', {auth: `Basic ${Buffer.from('sim_api_key:wrong').toString('base64')}`})).status).toBe(401);
    const missing = await call('GET', '/v1/groups', {auth: null});
    expect(missing.status).toBe(401);
    expect(missing.body.code).toBe('AuthFailed');
    const api = new FivetranApi({apiKey: s.apiKey, apiSecret: s.apiSecret, baseUrl: s.url, retries: 0});
    expect((await api.listGroups()).map((g) => g.id)).toEqual(s.fleet.groups.map((g) => g.id));
    const bad = new FivetranApi({apiKey: s.apiKey, apiSecret: 'nope', baseUrl: s.url, retries: 0});
    await expect(bad.listGroups()).rejects.toBeInstanceOf(AuthError);
  });

  it('checks Accept (406) and Content-Type (415), and accepts a missing Accept', async () => {
    const {call} = await start();
    expect((await call('GET', '/v1/groups', {headers: {accept: 'text/html'}})).status).toBe(406);
    expect((await call('GET', '/v1/groups', {headers: {accept: ''}})).status).toBe(200);
    const id = healthy(sim!).id;
    const res = await call('POST', `/v1/connections/${id}/sync`, {body: '{"force":false}', headers: {'content-type': 'text/plain'}});
    expect(res.status).toBe(415);
    expect((await call('POST', `/v1/connections/${id}/sync`, {body: '{nope'})).status).toBe(400);
  });

  it('pages with cursors, limit up to 1000, and rejects limits outside 1..1000', async () => {
    const {call} = await start({fleet: generateFleet({groups: 3, connectionsPerGroup: 7, seed: 1, now: T0})});
    const ids: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await call('GET', `/v1/connections?limit=4${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.body.code).toBe('Success');
      ids.push(...res.body.data.items.map((c: {id: string}) => c.id));
      cursor = res.body.data.next_cursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(6);
    expect(ids).toEqual(sim!.fleet.connections.map((c) => c.id));
    expect((await call('GET', '/v1/connections?limit=1000')).body.data.items).toHaveLength(21);
    expect((await call('GET', '/v1/connections?limit=1001')).status).toBe(400);
    expect((await call('GET', '/v1/connections?limit=0')).status).toBe(400);
    const group = sim!.fleet.groups[1]!.id;
    const ofGroup = await call('GET', `/v1/groups/${group}/connections?limit=1000`);
    expect(ofGroup.body.data.items.every((c: {group_id: string}) => c.group_id === group)).toBe(true);
    expect(ofGroup.body.data.items).toHaveLength(7);
    expect((await call('GET', `/v1/connections?group_id=${group}`)).body.data.items).toHaveLength(7);
    expect((await call('GET', '/v1/groups/nope/connectors')).status).toBe(404);
  });

  it('sends every connection field of the API and no simulator internals', async () => {
    const {call} = await start();
    const id = healthy(sim!).id;
    const {body} = await call('GET', `/v1/connectors/${id}`);
    for (const key of ['id', 'group_id', 'service', 'service_version', 'schema', 'connected_by', 'created_at', 'succeeded_at', 'failed_at', 'sync_frequency', 'schedule_type', 'paused', 'pause_after_trial', 'daily_sync_time', 'data_delay_sensitivity', 'data_delay_threshold']) {
      expect(body.data).toHaveProperty(key);
    }
    expect(Object.keys(body.data.status).sort()).toEqual(['is_historical_sync', 'rescheduled_for', 'setup_state', 'sync_state', 'tasks', 'update_state', 'warnings']);
    expect(body.data).not.toHaveProperty('health');
    expect((await call('GET', '/v1/connections/missing')).body.code).toBe('NotFound_Connector');
  });

  it('answers 429 with Retry-After over the rate limit, then serves again in the next window', async () => {
    const {call, tick} = await start({rateLimit: {requestsPerWindow: 3, windowMs: 10_000}});
    for (let i = 0; i < 3; i++) expect((await call('GET', '/v1/groups')).status).toBe(200);
    const limited = await call('GET', '/v1/groups');
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('TooManyRequests');
    expect(limited.headers.get('retry-after')).toBe('10');
    expect(limited.headers.get('x-rate-limit-remaining')).toBe('0');
    tick(10_000);
    expect((await call('GET', '/v1/groups')).status).toBe(200);
  });

  it('runs a triggered sync: syncing, 409 on a second trigger, then succeeded_at after the sync duration', async () => {
    const {call, tick} = await start({syncDurationMs: 5000});
    const id = healthy(sim!).id;
    const before = (await call('GET', `/v1/connections/${id}`)).body.data.succeeded_at;
    expect((await call('POST', `/v1/connections/${id}/sync`, {body: {force: false}})).status).toBe(200);
    expect((await call('GET', `/v1/connections/${id}`)).body.data.status.sync_state).toBe('syncing');
    const again = await call('POST', `/v1/connections/${id}/sync`, {body: {force: false}});
    expect(again.status).toBe(409);
    expect(again.body.message).toMatch(/already syncing/);
    tick(5000);
    const after = (await call('GET', `/v1/connections/${id}`)).body.data;
    expect(after.status.sync_state).toBe('scheduled');
    expect(after.succeeded_at).toBe(new Date(T0 + 5000).toISOString());
    expect(after.succeeded_at > before).toBe(true);
    expect(sim!.requestCount(`POST /v1/connections/${id}/sync`)).toBe(2);
    expect(sim!.requestCount('GET /v1/connections/{id}')).toBe(3);
  });

  it('restarts a running sync with force and with the legacy /force endpoint', async () => {
    const {call, tick} = await start({syncDurationMs: 5000});
    const id = healthy(sim!).id;
    await call('POST', `/v1/connections/${id}/sync`, {body: {}});
    tick(3000);
    expect((await call('POST', `/v1/connections/${id}/sync`, {body: {force: true}})).status).toBe(200);
    tick(3000);
    expect(sim!.connection(id).status).toMatchObject({sync_state: 'syncing'});
    expect((await call('POST', `/v1/connectors/${id}/force`)).status).toBe(200);
    expect(sim!.syncs.map((s) => s.outcome)).toEqual(['restarted', 'restarted', 'running']);
  });

  it('sets failed_at when a failure is injected or the connection is broken', async () => {
    const {call, tick} = await start({syncDurationMs: 1000});
    const id = healthy(sim!).id;
    sim!.failNextSync(id, 'boom');
    await call('POST', `/v1/connections/${id}/sync`, {body: {}});
    tick(1000);
    const failed = (await call('GET', `/v1/connections/${id}`)).body.data;
    expect(failed.failed_at).toBe(new Date(T0 + 1000).toISOString());
    expect(failed.status.warnings[0].message).toBe('boom');
    sim!.markBroken(id);
    const test = await call('POST', `/v1/connections/${id}/test`, {body: {}});
    expect(test.body.data.status.setup_state).toBe('broken');
    expect(test.body.data.setup_tests[0].status).toBe('FAILED');
    sim!.markHealthy(id);
    expect((await call('POST', `/v1/connections/${id}/test`)).body.data.status.setup_state).toBe('connected');
  });

  it('refuses to sync a paused connection until it is unpaused with PATCH', async () => {
    const {call, tick} = await start({syncDurationMs: 1000});
    const id = healthy(sim!).id;
    sim!.markPaused(id);
    const refused = await call('POST', `/v1/connections/${id}/sync`, {body: {force: false}});
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/paused/);
    expect((await call('PATCH', `/v1/connections/${id}`, {body: {paused: 'no'}})).status).toBe(400);
    const patched = await call('PATCH', `/v1/connections/${id}`, {body: {paused: false, schedule_type: 'manual'}});
    expect(patched.body.data).toMatchObject({paused: false, schedule_type: 'manual', status: {sync_state: 'scheduled'}});
    expect((await call('POST', `/v1/connections/${id}/sync`, {body: {force: false}})).status).toBe(200);
    tick(1000);
    expect(sim!.syncs.at(-1)!.outcome).toBe('succeeded');
  });

  it('reschedules a sync triggered while the source quota is out', async () => {
    const {call, tick} = await start({syncDurationMs: 1000});
    const id = healthy(sim!).id;
    sim!.markRescheduled(id, T0 + 60_000);
    await call('POST', `/v1/connections/${id}/sync`, {body: {}});
    expect(sim!.connection(id).status).toMatchObject({sync_state: 'rescheduled', rescheduled_for: new Date(T0 + 60_000).toISOString()});
    tick(60_000);
    expect(sim!.connection(id).status).toMatchObject({sync_state: 'syncing'});
    tick(1000);
    expect(sim!.connection(id).succeeded_at).toBe(new Date(T0 + 61_000).toISOString());
  });

  it('reads and writes function state only while paused', async () => {
    const {call} = await start();
    const id = healthy(sim!).id;
    expect((await call('GET', `/v1/connections/${id}/state`)).body.data).toEqual({state: {}});
    expect((await call('PATCH', `/v1/connections/${id}/state`, {body: {state: {cursor: 5}}})).status).toBe(409);
    await call('PATCH', `/v1/connections/${id}`, {body: {paused: true}});
    expect((await call('PATCH', `/v1/connections/${id}/state`, {body: {state: {cursor: 5}}})).status).toBe(200);
    expect(sim!.getState(id)).toEqual({cursor: 5});
  });
});
