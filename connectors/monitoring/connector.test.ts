// The monitoring connector end to end through the Function adapter, against the Fivetran API simulator
// (pagination, group selection, resumption, events across checks, secrets) and nock (429 handling).
import {mkdtempSync, rmSync} from 'node:fs';
import http from 'node:http';
import {tmpdir} from 'node:os';
import path from 'node:path';
import type {AddressInfo} from 'node:net';
import type {Method} from 'got';
import nock from 'nock';
import {afterEach, beforeAll, afterAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {freePort} from '../../emulator/embedded-postgres.js';
import {generateFleet} from '../../emulator/fleet.js';
import {FivetranApi, type ApiResult, type RequestOptions} from '../../sdk/fivetran-api.js';
import type {BudgetLimits, Row, State} from '../../sdk/index.js';
import {callConnector, syncAll as syncThroughFivetran, TestWarehouse, type AnswerBody, type SyncCall} from '../../sdk/testing.js';
import {connector} from './index.js';
import {readConnectionPages, type AccountPage} from './read-account.js';

interface Call {
  status: number;
  body: AnswerBody;
  logs: string[];
  raw: string;
}

// A test worker's memory grows with earlier tests; the memory budget is not what these tests are about.
const roomy = (limits?: Partial<BudgetLimits>): Partial<BudgetLimits> => ({memoryMb: 64 * 1024, ...limits});

/** One call through the local Fivetran's strict checks, with its log lines. */
async function call(body: unknown, limits?: Partial<BudgetLimits>): Promise<Call> {
  const logs: string[] = [];
  const result = await callConnector(connector, body, {limits: roomy(limits), sink: (line) => logs.push(line)});
  return {status: result.status, body: result.body, logs, raw: result.text};
}

/** A whole sync as the local Fivetran runs it (sdk/testing.ts); returns every call. */
async function syncAll(secrets: Record<string, unknown>, state: State = {}, limits?: Partial<BudgetLimits>): Promise<Call[]> {
  const result = await syncThroughFivetran(connector, secrets, {state, maxCalls: 50, callOptions: {limits: roomy(limits)}});
  await result.warehouse.close();
  return result.calls.map((c: SyncCall) => ({status: c.status, body: c.body!, logs: [], raw: c.text}));
}

const rowsOf = (calls: Call[], table: string): Row[] => calls.flatMap((c) => c.body.insert[table] ?? []);
const finalState = (calls: Call[]) => calls.at(-1)!.body.state;

describe('monitoring connector against the API simulator', () => {
  let sim: ApiSimulator;
  let secrets: Record<string, unknown>;

  beforeAll(async () => {
    // syncs that stay running for the whole file: the default (1 s of real time) ended the fleet's "syncing"
    // connections mid-check on a loaded machine, and they read back healthy
    sim = await startApiSimulator({fleet: generateFleet({groups: 5, connectionsPerGroup: 500, seed: 11}), rateLimit: false, syncDurationMs: 10 * 60_000});
    secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, tenant_pattern: '^[a-z]+_([a-z]+)_'};
  });
  afterAll(async () => {
    await sim.close();
  });

  it('reads 2,500 connections in 3 list pages and lands one row per connection with its health and tenant', async () => {
    sim.resetRequests();
    const calls = await syncAll(secrets);
    expect(sim.requestCount('GET /v1/connections')).toBe(3);
    expect(sim.requestCount('GET /v1/groups')).toBe(1);
    expect(sim.requestCount()).toBe(4);

    const rows = rowsOf(calls, 'connections');
    expect(rows).toHaveLength(2500);
    expect(new Set(rows.map((r) => r.connection_id)).size).toBe(2500);
    expect(new Set(rows.map((r) => r.checked_at)).size).toBe(1);
    expect(rowsOf(calls, 'groups')).toHaveLength(5);

    // the generator's intended health is what the rules derive; a rescheduled sync is healthy while within
    // 2 × its frequency of the last success, delayed after (on an auto schedule)
    const lateReschedule = (c: {sync_frequency: number; schedule_type: string}) => c.schedule_type === 'auto' && c.sync_frequency + 20 > 2 * c.sync_frequency;
    const expected = new Map(sim.fleet.connections.map((c) => [c.id, c.health !== 'rescheduled' ? c.health : lateReschedule(c) ? 'delayed' : 'healthy']));
    const mismatches = rows.filter((r) => expected.get(r.connection_id as string) !== r.health);
    expect(mismatches).toEqual([]);

    const sample = rows.find((r) => (r.schema_name as string).startsWith('gcf_finance_'))!;
    expect(sample.tenant_id).toBe('finance');
    expect(sample.group_name).toBe('finance');

    const alerts = rowsOf(calls, 'alerts');
    const critical = rows.filter((r) => r.health === 'broken' || r.health === 'failing').length;
    expect(alerts.filter((a) => a.severity === 'critical')).toHaveLength(critical);
    expect(alerts.filter((a) => a.rule === 'delayed')).toHaveLength(rows.filter((r) => r.health === 'delayed').length);
    expect(alerts.filter((a) => a.rule === 'paused')).toHaveLength(rows.filter((r) => r.health === 'paused').length);
    expect(finalState(calls)).toMatchObject({last_checked_at: rows[0]!.checked_at});
    expect(finalState(calls)).not.toHaveProperty('check');
  });

  it('stops at the response cap with hasMore and resumes the same check from the next page', async () => {
    const calls = await syncAll(secrets, {}, {responseCapBytes: 1_300_000});
    expect(calls.length).toBeGreaterThan(1);
    expect(calls[0]!.body.hasMore).toBe(true);
    expect(calls[0]!.body.state).toMatchObject({check: {position: {cursor: expect.any(String)}}});
    const rows = rowsOf(calls, 'connections');
    expect(new Set(rows.map((r) => r.connection_id)).size).toBe(2500);
    expect(rows).toHaveLength(2500);
    expect(new Set(rows.map((r) => r.checked_at))).toEqual(new Set([calls[0]!.body.state.check && (calls[0]!.body.state.check as {checked_at: string}).checked_at]));
  });

  it('stops inside a page when the cap is smaller than a page, and resumes after the rows it delivered', async () => {
    // the state (about 45 bytes a connection and 170 an open alert: 190 kB here) plus 250 connections'
    // rows fit; a page of 1,000 does not
    const cap = 600_000;
    const calls = await syncAll(secrets, {}, {responseCapBytes: cap});
    expect(calls.every((c) => c.raw.length <= cap)).toBe(true);
    const positions = calls.slice(0, -1).map((c) => (c.body.state.check as {position: {skip?: number}}).position);
    expect(positions.some((p) => (p.skip ?? 0) > 0)).toBe(true);
    const rows = rowsOf(calls, 'connections');
    expect(rows).toHaveLength(2500);
    expect(new Set(rows.map((r) => r.connection_id)).size).toBe(2500);
    expect(new Set(rows.map((r) => r.checked_at)).size).toBe(1);
    expect(Object.keys(finalState(calls).connections as object)).toHaveLength(2500);
  });

  it('keeps the open alerts in its state through a check split over several calls, as one call would', async () => {
    const whole = await syncAll(secrets);
    const split = await syncAll(secrets, {}, {responseCapBytes: 600_000});
    expect(split.length).toBeGreaterThan(2);
    const open = (calls: Call[]) => finalState(calls).open_alerts as Record<string, {rule: string; severity: string}>;
    const worst = (calls: Call[]) => Object.fromEntries(Object.entries(open(calls)).map(([id, a]) => [id, `${a.severity} ${a.rule}`]));
    expect(worst(split)).toEqual(worst(whole));
    // one alert_history row per connection with an alert, every one open and seen at this check
    const history = rowsOf(split, 'alert_history');
    const alerting = new Set(rowsOf(split, 'alerts').map((a) => a.connection_id));
    expect(new Set(history.map((h) => h.connection_id))).toEqual(alerting);
    expect(Object.keys(open(split)).sort()).toEqual([...alerting].sort());
    const checkedAt = rowsOf(split, 'connections')[0]!.checked_at;
    expect(history.every((h) => h.resolved_at === null && h.last_seen_at === checkedAt)).toBe(true);

    // the next check, split too, from that state: the same alerts again, seen later, none opened or resolved
    const next = await syncAll(secrets, finalState(split), {responseCapBytes: 600_000});
    const again = rowsOf(next, 'alert_history');
    const keys = (rows: Row[]) => rows.map((h) => `${h.connection_id} ${h.opened_at}`).sort();
    expect(new Set(keys(again))).toEqual(new Set(keys(history)));
    expect(again.every((h) => h.resolved_at === null && h.last_seen_at === rowsOf(next, 'connections')[0]!.checked_at)).toBe(true);
  });

  it('reads only the chosen groups, one list request per group', async () => {
    const groups = sim.fleet.groups.slice(0, 3).map((g) => g.id);
    // a call stopped at the cap (previous tests) may leave its prefetched page request finishing
    await new Promise((resolve) => setTimeout(resolve, 200));
    sim.resetRequests();
    const calls = await syncAll({...secrets, group_ids: groups.join(',')});
    expect(sim.requestCount('GET /v1/groups/{group_id}/connections')).toBe(3);
    expect(sim.requestCount('GET /v1/connections')).toBe(0);
    const rows = rowsOf(calls, 'connections');
    expect(rows).toHaveLength(1500);
    expect(new Set(rows.map((r) => r.group_id))).toEqual(new Set(groups));
    expect(rowsOf(calls, 'groups').map((g) => g.group_id).sort()).toEqual([...groups].sort());
  });

  it('reads chosen groups at most `concurrency` at a time, yet several at once, in group order', async () => {
    let inFlight = 0;
    let most = 0;
    class CountingApi extends FivetranApi {
      override async request<T>(method: Method, path: string, options?: RequestOptions<T>): Promise<ApiResult<T>> {
        inFlight++;
        most = Math.max(most, inFlight);
        try {
          return await super.request<T>(method, path, options);
        } finally {
          inFlight--;
        }
      }
    }
    const slow = await startApiSimulator({fleet: generateFleet({groups: 7, connectionsPerGroup: 2, seed: 5}), rateLimit: false, latencyMs: 30});
    try {
      const api = new CountingApi({apiKey: slow.apiKey, apiSecret: slow.apiSecret, baseUrl: slow.url});
      const groupIds = slow.fleet.groups.map((g) => g.id).sort();
      const pages: AccountPage[] = [];
      for await (const page of readConnectionPages(api, {groupIds, concurrency: 3})) pages.push(page);
      expect(most).toBe(3);
      expect(pages.map((p) => p.connections[0]!.group_id)).toEqual(groupIds);
      expect(pages.map((p) => p.next)).toEqual([...groupIds.slice(1).map((_, i) => ({group_index: i + 1})), null]);
      const resumed: AccountPage[] = [];
      for await (const page of readConnectionPages(api, {groupIds, concurrency: 3, resume: {group_index: 5}})) resumed.push(page);
      expect(resumed.map((p) => p.connections[0]!.group_id)).toEqual(groupIds.slice(5));
      // a group larger than a page is read page by page before it is delivered
      slow.resetRequests();
      const small: AccountPage[] = [];
      for await (const page of readConnectionPages(api, {groupIds: groupIds.slice(0, 2), pageSize: 1})) small.push(page);
      expect(small.map((p) => p.connections.length)).toEqual([2, 2]);
      expect(slow.requestCount('GET /v1/groups/{group_id}/connections')).toBe(4);
    } finally {
      await slow.close();
    }
  });

  it('rejects a group the key cannot see, naming it', async () => {
    const result = await call({secrets: {...secrets, group_ids: 'no_such_group'}, state: {}});
    expect(result.status).toBe(400);
    expect(result.body.errorMessage).toMatch(/group_ids names groups this API key cannot see: no_such_group/);
  });
});

describe('events and alerts across checks', () => {
  let sim: ApiSimulator;
  let secrets: Record<string, unknown>;

  beforeAll(async () => {
    sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 6, seed: 3, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 1000});
    secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, frequent_failure_count: '2'};
  });
  afterAll(async () => {
    await sim.close();
  });

  async function finishSync(id: string): Promise<void> {
    const response = await fetch(`${sim.url}/v1/connections/${id}/sync`, {
      method: 'POST',
      headers: {authorization: `Basic ${Buffer.from(`${sim.apiKey}:${sim.apiSecret}`).toString('base64')}`, 'content-type': 'application/json'},
      body: '{}',
    });
    expect(response.status).toBe(200);
    sim.advance(1500);
  }

  it('records failures, pauses, frequent failures, recovery and removal as events, and alerts on what is open', async () => {
    const [a, b, c] = sim.fleet.connections.map((x) => x.id) as [string, string, string];
    const first = await syncAll(secrets);
    expect(rowsOf(first, 'connection_events')).toEqual([]);
    expect(rowsOf(first, 'alerts')).toEqual([]);

    sim.failNextSync(a, 'source timed out');
    await finishSync(a);
    sim.markPaused(b);
    const second = await syncAll(secrets, finalState(first));
    const events2 = rowsOf(second, 'connection_events').map((e) => [e.connection_id, e.event_type]);
    expect(events2).toEqual(expect.arrayContaining([[a, 'failure'], [b, 'paused']]));
    expect(events2).toHaveLength(2);
    expect(rowsOf(second, 'alerts').map((x) => [x.connection_id, x.rule, x.severity]).sort()).toEqual([[a, 'failing', 'critical'], [b, 'paused', 'warning']]);

    sim.failNextSync(a);
    await finishSync(a);
    const third = await syncAll(secrets, finalState(second));
    expect(rowsOf(third, 'alerts').filter((x) => x.connection_id === a).map((x) => x.rule)).toEqual(['failing', 'frequent_failures']);

    await finishSync(a);
    sim.markPaused(b, false);
    sim.fleet.connections.splice(sim.fleet.connections.findIndex((x) => x.id === c), 1);
    const fourth = await syncAll(secrets, finalState(third));
    const events4 = rowsOf(fourth, 'connection_events').map((e) => [e.connection_id, e.event_type]);
    expect(events4).toEqual(expect.arrayContaining([[a, 'success'], [a, 'recovery'], [b, 'unpaused'], [c, 'removed']]));
    expect(Object.keys(finalState(fourth).connections as object)).not.toContain(c);
    // two failures are still inside the window: the warning stays until they age out
    expect(rowsOf(fourth, 'alerts').map((x) => [x.connection_id, x.rule])).toEqual([[a, 'frequent_failures']]);
  });
});

describe('the alert lifecycle in the state and alert_history', () => {
  let sim: ApiSimulator;
  let secrets: Record<string, unknown>;
  let dir: string;

  beforeAll(async () => {
    sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 8, seed: 9, mix: {healthy: 4, failing: 1, broken: 1, delayed: 2}}), rateLimit: false, syncDurationMs: 1000});
    secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, tenant_pattern: '^[a-z]+_([a-z]+)_'};
    dir = mkdtempSync(path.join(tmpdir(), 'monitoring-alert-history-'));
  });
  afterAll(async () => {
    await sim.close();
    rmSync(dir, {recursive: true, force: true});
  });

  it('opens each alert once, moves last_seen_at while it lasts, escalates it in place and resolves exactly the fixed one', async () => {
    const warehouse = await TestWarehouse.open(path.join(dir, 'warehouse.duckdb'));
    const check = async (state: State) => {
      const result = await syncThroughFivetran(connector, secrets, {state, warehouse, schema: 'monitoring'});
      const body = result.calls.at(-1)!.body!;
      return {state: body.state, history: result.calls.flatMap((c) => c.body!.insert.alert_history ?? []) as Row[], checkedAt: (body.state as {last_checked_at: string}).last_checked_at};
    };
    const byHealth = (health: string) => sim.fleet.connections.filter((c) => c.health === health).map((c) => c.id);
    const [failing] = byHealth('failing') as [string];
    const [broken] = byHealth('broken') as [string];
    const [delayed] = byHealth('delayed') as [string];
    try {
      const first = await check({});
      const opened = first.history.map((h) => h.connection_id).sort();
      expect(opened).toEqual([failing, broken, ...byHealth('delayed')].sort());
      expect(first.history.every((h) => h.resolved_at === null && h.escalated_at === null && h.last_seen_at === first.checkedAt)).toBe(true);
      expect(Object.keys(first.state.open_alerts as object).sort()).toEqual(opened);
      // a failure opens when it began, as far as the API tells (failed_at), not when the check saw it
      expect(first.history.find((h) => h.connection_id === failing)!.opened_at).toBe(new Date(sim.connection(failing).failed_at as string).toISOString());

      sim.advance(60_000);
      const second = await check(first.state);
      expect(second.history.map((h) => [h.connection_id, h.opened_at, h.resolved_at]).sort()).toEqual(first.history.map((h) => [h.connection_id, h.opened_at, null]).sort());
      expect(second.history.every((h) => h.last_seen_at === second.checkedAt)).toBe(true);
      expect(second.checkedAt > first.checkedAt).toBe(true);

      // fix the broken one; the delayed one fails (warning → critical)
      sim.markHealthy(broken);
      sim.failNextSync(delayed, 'source timed out');
      const response = await fetch(`${sim.url}/v1/connections/${delayed}/sync`, {
        method: 'POST',
        headers: {authorization: `Basic ${Buffer.from(`${sim.apiKey}:${sim.apiSecret}`).toString('base64')}`, 'content-type': 'application/json'},
        body: '{}',
      });
      expect(response.status).toBe(200);
      sim.advance(60 * 60_000);
      const third = await check(second.state);
      const resolved = third.history.filter((h) => h.resolved_at !== null);
      expect(resolved.map((h) => h.connection_id)).toEqual([broken]);
      expect(resolved[0]).toMatchObject({resolved_at: third.checkedAt, last_seen_at: second.checkedAt, rule: 'broken', opened_at: first.history.find((h) => h.connection_id === broken)!.opened_at});
      expect(resolved[0]!.message).toMatch(/^\S+ \(\S+, tenant \S+\) recovered after \d+[hm]/);
      expect(third.state.open_alerts).not.toHaveProperty(broken);
      const escalated = third.history.find((h) => h.connection_id === delayed)!;
      expect(escalated).toMatchObject({rule: 'failing', severity: 'critical', escalated_at: third.checkedAt, resolved_at: null, opened_at: first.history.find((h) => h.connection_id === delayed)!.opened_at});

      // the warehouse: one row per alert, with when it opened, was last seen and resolved
      const rows = await warehouse.query(`SELECT connection_id, rule, severity, opened_at, last_seen_at, resolved_at, escalated_at FROM monitoring.alert_history ORDER BY connection_id`);
      expect(rows).toHaveLength(opened.length);
      const stored = Object.fromEntries(rows.map((r) => [String(r.connection_id), r]));
      expect(new Date(String(stored[broken]!.resolved_at)).toISOString()).toBe(third.checkedAt);
      expect(stored[failing]!.resolved_at).toBeNull();
      expect(new Date(String(stored[failing]!.last_seen_at)).toISOString()).toBe(third.checkedAt);
      expect(stored[delayed]).toMatchObject({rule: 'failing', severity: 'critical'});
    } finally {
      await warehouse.close();
    }
  });

  it('resolves the open alert of a connection that is gone, where the check finishes', async () => {
    const first = await syncAll(secrets);
    const open = Object.keys(finalState(first).open_alerts as object);
    const gone = open[0]!;
    const index = sim.fleet.connections.findIndex((c) => c.id === gone);
    const [removed] = sim.fleet.connections.splice(index, 1);
    try {
      const second = await syncAll(secrets, finalState(first));
      const resolved = rowsOf(second, 'alert_history').filter((h) => h.resolved_at !== null);
      expect(resolved.map((h) => h.connection_id)).toEqual([gone]);
      expect(Object.keys(finalState(second).open_alerts as object).sort()).toEqual(open.filter((id) => id !== gone).sort());
    } finally {
      sim.fleet.connections.splice(index, 0, removed!);
    }
  });
});

describe('setup test, rate limits and secrets', () => {
  const API = 'https://api.fivetran.test';
  const secrets = {fivetran_api_key: 'key_7c1f0aa9', fivetran_api_secret: 'secret_d41d8cd98f', fivetran_api_url: API};
  afterEach(() => nock.cleanAll());

  const list = (items: unknown[], next: string | null = null) => ({code: 'Success', data: {items, next_cursor: next}});
  const conn = (id: string) => ({id, group_id: 'g1', service: 'postgres', schema: `s_${id}`, paused: false, schedule_type: 'auto', sync_frequency: 60, succeeded_at: new Date().toISOString(), failed_at: null, status: {setup_state: 'connected', sync_state: 'scheduled', update_state: 'on_schedule'}});

  it('checks the credentials with one cheap request', async () => {
    const scope = nock(API).get('/v1/groups').query({limit: '1'}).reply(200, list([{id: 'g1', name: 'prod'}]));
    const result = await call({secrets, setup_test: true});
    expect(result.status).toBe(200);
    expect(scope.isDone()).toBe(true);
  });

  it('fails the setup test on bad credentials without revealing them', async () => {
    nock(API).get('/v1/groups').query(true).reply(401, {code: 'AuthFailed', message: 'bad key'});
    const result = await call({secrets, setup_test: true});
    expect(result.status).toBe(500);
    expect(result.body.errorMessage).toMatch(/rejected the credentials \(401\).*check fivetran_api_key and fivetran_api_secret/);
    for (const text of [result.raw, ...result.logs]) {
      expect(text).not.toContain(secrets.fivetran_api_key);
      expect(text).not.toContain(secrets.fivetran_api_secret);
    }
  });

  it('waits out a 429 with Retry-After and carries on across pages', async () => {
    const scope = nock(API)
      .get('/v1/groups').query(true).reply(200, list([{id: 'g1', name: 'prod'}]))
      .get('/v1/connections').query({limit: '1000'}).reply(429, {code: 'TooManyRequests'}, {'Retry-After': '1'})
      .get('/v1/connections').query({limit: '1000'}).reply(200, list([conn('c1'), conn('c2')], 'page2'))
      .get('/v1/connections').query({limit: '1000', cursor: 'page2'}).reply(200, list([conn('c3')]));
    const calls = await syncAll(secrets);
    expect(calls).toHaveLength(1);
    expect(scope.isDone()).toBe(true);
    expect(rowsOf(calls, 'connections').map((r) => r.connection_id)).toEqual(['c1', 'c2', 'c3']);
  });

  it("waits out the simulator's own rate limit (429 with Retry-After) rather than failing", async () => {
    const limited = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 3, seed: 2}), rateLimit: {requestsPerWindow: 2, windowMs: 1000}});
    try {
      const limitedSecrets = {fivetran_api_key: limited.apiKey, fivetran_api_secret: limited.apiSecret, fivetran_api_url: limited.url};
      const first = await syncAll(limitedSecrets);
      const second = await syncAll(limitedSecrets, finalState(first));
      expect(rowsOf(second, 'connections')).toHaveLength(3);
      expect(limited.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });

  it('never puts the key or secret in responses or logs, even on failure, and keeps hosts, ports and ids readable', async () => {
    nock(API).get('/v1/groups').query(true).reply(200, list([{id: 'g1', name: 'prod'}]))
      .get('/v1/connections').query(true).reply(200, list([conn('c1')]));
    const ok = await call({secrets, state: {}});
    nock(API).get('/v1/groups').query(true).reply(400, {code: 'InvalidInput', message: `bad request from ${secrets.fivetran_api_key.slice(0, 3)}…`});
    const failed = await call({secrets: {...secrets, group_ids: 'g1'}, state: {}});
    nock(API).get('/v1/groups').query(true).reply(200, list([{id: 'g1', name: 'prod'}]));
    const unknownGroup = await call({secrets: {...secrets, group_ids: 'g_missing_42'}, state: {}});
    const closed = await freePort();
    const unreachable = await call({secrets: {...secrets, fivetran_api_url: `http://127.0.0.1:${closed}`}, setup_test: true});
    const withUserinfo = await call({secrets: {...secrets, fivetran_api_url: `http://apiuser:url-pw-5e1f@127.0.0.1:${closed}`}, state: {}});
    expect(ok.status).toBe(200);
    expect(failed.status).toBe(500);
    const all = [ok, failed, unknownGroup, unreachable, withUserinfo];
    for (const text of all.flatMap((c) => [c.raw, ...c.logs])) {
      expect(text).not.toContain(secrets.fivetran_api_key);
      expect(text).not.toContain(secrets.fivetran_api_secret);
      expect(text).not.toContain('url-pw-5e1f');
    }
    // only secret values are redacted: the API's host and port and the ids stay in the messages
    expect(unreachable.body.errorMessage).toContain(`cannot reach the Fivetran API at http://127.0.0.1:${closed}/v1/ for the list of groups`);
    expect(unknownGroup.body.errorMessage).toContain('group_ids names groups this API key cannot see: g_missing_42');
    expect(failed.body.errorMessage).toContain('the list of groups');
    expect(withUserinfo.body.errorMessage).toBe(`fivetran_api_url "http://[REDACTED]@127.0.0.1:${closed}" holds credentials (user:password@); remove them: the API key and secret go in fivetran_api_key and fivetran_api_secret`);
  });

  it.each([
    {name: 'a 200 {}', body: {}, says: "with 200 and not the API's envelope {code, message, data} (code: Invalid input: expected string, received undefined)"},
    {name: 'data: null', body: {code: 'Success', data: null}, says: 'with 200 and an unexpected answer (data: Invalid input: expected object, received null)'},
    {name: '"items": "notalist"', body: {code: 'Success', data: {items: 'notalist'}}, says: 'with 200 and an unexpected answer (data.items: Invalid input: expected array, received string)'},
  ])('fails the call rather than land 0 connections when the list answers $name', async ({body, says}) => {
    nock(API).get('/v1/groups').query(true).reply(200, list([{id: 'g1', name: 'prod'}]))
      .get('/v1/connections').query(true).reply(200, body);
    const result = await call({secrets, state: {}});
    expect(result.status).toBe(500);
    expect(result.body.errorMessage).toBe(`the Fivetran API answered GET /v1/connections ${says}`);
  });

  it('stops at a repeated next_cursor instead of following it forever', async () => {
    const scope = nock(API)
      .get('/v1/groups').query(true).reply(200, list([{id: 'g1', name: 'prod'}]))
      .get('/v1/connections').query({limit: '1000'}).reply(200, list([conn('c1')], 'loop'))
      .get('/v1/connections').query({limit: '1000', cursor: 'loop'}).times(50).reply(200, list([conn('c2')], 'loop'));
    const result = await call({secrets, state: {}});
    expect(scope.pendingMocks()).toEqual([expect.stringContaining('/v1/connections')]); // 3 requests, not 52
    expect(result.status).toBe(500);
    expect(result.body.errorMessage).toMatch(/^the Fivetran API answered GET \/v1\/connections with a next_cursor it had already given \("loop"\)/);
  });

  it('answers before the deadline when the API never answers, naming the endpoint', async () => {
    const server = http.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      const result = await call({secrets: {...secrets, fivetran_api_url: url}, state: {}}, {timeoutSeconds: 4});
      expect(Date.now() - started).toBeLessThan(4000);
      expect(result.status).toBe(500);
      expect(result.body.errorMessage).toMatch(/the Fivetran API at 127\.0\.0\.1:\d+ did not answer GET \/v1\/groups within \d+(\.\d)? s/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('rejects a tenant pattern without one capture group', async () => {
    const result = await call({secrets: {...secrets, tenant_pattern: '^t_'}, state: {}});
    expect(result.status).toBe(400);
    expect(result.body.errorMessage).toMatch(/tenant_pattern must have exactly one capture group/);
  });
});
