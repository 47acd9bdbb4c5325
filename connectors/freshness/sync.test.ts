// The freshness connector end to end through the Function adapter: a real PostgreSQL, the Fivetran API
// mocked with nock (any request without an interceptor fails the call, so "no call was made" is checked too).
import nock from 'nock';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {createFreshnessConnector} from './index.js';
import {callConnector, syncAll, type AnswerBody, type SyncResult} from '../../sdk/testing.js';
import {RESET_STATE} from '../../sdk/index.js';
import {API_URL, CONNECTION_ID, connectionIs, freshnessSecrets, hangingApi, SETUP_SQL, statusTable, syncAccepted, unpauseAccepted} from './test-support.js';

const connector = createFreshnessConnector({api: {baseDelayMs: 1, retries: 2}});
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('freshness_sync');
  await db.query(SETUP_SQL);
});
afterAll(async () => {
  await db?.drop();
});

/** the answers of a sync's calls, in order */
const responses = (run: SyncResult): AnswerBody[] => run.calls.map((call) => call.body!);
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

describe('freshness sync', () => {
  it('triggers a sync when 30% of the demo companies are stale, and lands the check and the event', async () => {
    connectionIs();
    const trigger = syncAccepted();
    const run = await syncAll(connector, freshnessSecrets(db));

    expect(trigger.isDone()).toBe(true);
    const [event, ...others] = run.inserted('sync_events');
    expect(others).toEqual([]);
    expect(event).toMatchObject({connector_id: CONNECTION_ID, action: 'trigger_sync', outcome: 'succeeded', http_status: 200, attempts: 1});
    expect(event!.message).toBe(`30.00% stale > 10% threshold → sync triggered (connection ${CONNECTION_ID})`);

    const rows = run.inserted('data_freshness_monitor');
    expect(rows.map((row) => row.company_id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(rows.filter((row) => row.freshness_status === 'Stale data').map((row) => row.company_id)).toEqual([8, 9, 10]);
    for (const row of rows) {
      expect(row).toMatchObject({check_timestamp: event!.check_timestamp, stale_percentage: 30, threshold_percent: 10, sync_triggered: true});
    }
    expect(responses(run).at(-1)!.schema).toMatchObject({
      data_freshness_monitor: {primary_key: ['check_timestamp', 'company_id']},
      sync_events: {primary_key: ['event_timestamp', 'connector_id']},
    });
    expect(run.state).toEqual({
      last_check_time: event!.check_timestamp,
      last_trigger_time: event!.event_timestamp,
      last_analysis: {
        check_timestamp: event!.check_timestamp, total_rows: 10, stale_rows: 3, stale_percentage: 30, threshold_percent: 10,
        decision: 'trigger_sync', sync_triggered: true,
      },
      last_sync_id: expect.any(String),
      paging: null,
    });
  });

  it('skips a second check within the cooldown and keeps the last trigger time', async () => {
    connectionIs();
    syncAccepted();
    const first = await syncAll(connector, freshnessSecrets(db));
    const second = await syncAll(connector, freshnessSecrets(db), {state: first.state});

    const [event] = second.inserted('sync_events');
    expect(event).toMatchObject({action: 'skip_cooldown', outcome: 'skipped', http_status: null, attempts: 0});
    expect(event!.message).toBe('last trigger 0 min ago is within the 60 min cooldown (30.00% stale > 10% threshold)');
    expect(second.inserted('data_freshness_monitor').every((row) => row.sync_triggered === false)).toBe(true);
    expect(second.state.last_trigger_time).toBe(first.state.last_trigger_time);
    expect(second.state.last_check_time).not.toBe(first.state.last_check_time);
  });

  it('triggers again once the cooldown has passed', async () => {
    connectionIs();
    syncAccepted();
    const lastTrigger = minutesAgo(61);
    const run = await syncAll(connector, freshnessSecrets(db), {state: {last_trigger_time: lastTrigger}});
    expect(run.inserted('sync_events').map((e) => e.action)).toEqual(['trigger_sync']);
    expect(run.state.last_trigger_time).not.toBe(lastTrigger);
  });

  it('reports the minutes since the last trigger when skipping for the cooldown', async () => {
    const run = await syncAll(connector, freshnessSecrets(db, {cooldown_minutes: '30'}), {state: {last_trigger_time: minutesAgo(12.5)}});
    expect(run.inserted('sync_events')[0]!.message).toMatch(/^last trigger 12 min ago is within the 30 min cooldown/);
  });

  it.each([
    {name: 'exactly at the threshold (1 of 10 at 10%) does not trigger', stale: 1, fresh: 9, threshold: 10, triggers: false, percentage: 10},
    {name: 'just above the threshold (1 of 10 at 9.99%) triggers', stale: 1, fresh: 9, threshold: 9.99, triggers: true, percentage: 10},
    {name: 'exactly at a fractional threshold (57 of 10000 at 0.57%) does not trigger', stale: 57, fresh: 9943, threshold: 0.57, triggers: false, percentage: 0.57},
    {name: 'nothing stale at a 0% threshold does not trigger', stale: 0, fresh: 10, threshold: 0, triggers: false, percentage: 0},
    {name: 'a share that rounds to the threshold but is above it (1 of 3 at 33.33%) triggers', stale: 1, fresh: 2, threshold: 33.33, triggers: true, percentage: 33.33},
    {name: 'a share that rounds up to the threshold but is below it (2 of 3 at 66.67%) does not trigger', stale: 2, fresh: 1, threshold: 66.67, triggers: false, percentage: 66.67},
    {name: 'everything stale at a 100% threshold does not trigger', stale: 10, fresh: 0, threshold: 100, triggers: false, percentage: 100},
  ])('$name', async ({stale, fresh, threshold, triggers, percentage}) => {
    const query = await statusTable(db, stale, fresh);
    if (triggers) {
      connectionIs();
      syncAccepted();
    }
    const run = await syncAll(connector, freshnessSecrets(db, {freshness_query: query, stale_threshold_percent: String(threshold)}));
    expect(run.inserted('sync_events').map((e) => e.action)).toEqual([triggers ? 'trigger_sync' : 'skip_below_threshold']);
    expect(run.state.last_analysis).toMatchObject({stale_percentage: percentage, sync_triggered: triggers});
    expect(run.inserted('data_freshness_monitor')).toHaveLength(stale + fresh);
  });

  it('treats an empty result as 0% stale', async () => {
    const query = await statusTable(db, 0, 0);
    const run = await syncAll(connector, freshnessSecrets(db, {freshness_query: query}));
    expect(run.inserted('sync_events')).toMatchObject([{action: 'skip_below_threshold', message: '0.00% stale is not above the 10% threshold (0 of 0 rows)'}]);
    expect(run.inserted('data_freshness_monitor')).toEqual([]);
    expect(run.state.last_analysis).toMatchObject({total_rows: 0, stale_rows: 0, stale_percentage: 0});
  });

  it('unpauses a paused connection before triggering its sync', async () => {
    connectionIs({paused: true, sync_state: 'paused'});
    const unpause = unpauseAccepted();
    const trigger = syncAccepted();
    const run = await syncAll(connector, freshnessSecrets(db));

    expect(unpause.isDone() && trigger.isDone()).toBe(true);
    const events = run.inserted('sync_events');
    expect(events).toMatchObject([
      {action: 'unpause', outcome: 'succeeded', http_status: 200, attempts: 1},
      {action: 'trigger_sync', outcome: 'succeeded', http_status: 200, attempts: 1},
    ]);
    expect(String(events[0]!.event_timestamp) < String(events[1]!.event_timestamp)).toBe(true);
  });

  it('skips when the connection is already syncing', async () => {
    connectionIs({sync_state: 'syncing'});
    const run = await syncAll(connector, freshnessSecrets(db));
    expect(run.inserted('sync_events')).toMatchObject([
      {action: 'skip_already_syncing', outcome: 'skipped', http_status: 200, attempts: 1, message: `connection ${CONNECTION_ID} is already syncing (30.00% stale > 10% threshold)`},
    ]);
    expect(run.state.last_trigger_time).toBeNull();
    expect(run.inserted('data_freshness_monitor').every((row) => row.sync_triggered === false)).toBe(true);
  });

  it('restarts a running sync with force when force_sync is set', async () => {
    connectionIs({sync_state: 'syncing'});
    const trigger = syncAccepted(true);
    const run = await syncAll(connector, freshnessSecrets(db, {force_sync: 'true'}));
    expect(trigger.isDone()).toBe(true);
    expect(run.inserted('sync_events').map((e) => e.action)).toEqual(['trigger_sync']);
  });

  it('treats 409 from the trigger as already syncing', async () => {
    connectionIs();
    nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`).reply(409, {code: 'Conflict', message: 'sync already in progress'});
    const run = await syncAll(connector, freshnessSecrets(db));
    expect(run.inserted('sync_events')).toMatchObject([{action: 'skip_already_syncing', outcome: 'conflict', http_status: 409, attempts: 1}]);
    expect(run.state.last_trigger_time).toBeNull();
    expect(run.state.last_analysis).toMatchObject({decision: 'skip_already_syncing', sync_triggered: false});
  });

  it('retries a 429 honouring Retry-After, then records the trigger with its attempts', async () => {
    connectionIs();
    nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`).reply(429, {code: 'TooManyRequests'}, {'Retry-After': '0'});
    syncAccepted();
    const run = await syncAll(connector, freshnessSecrets(db));
    expect(run.inserted('sync_events')).toMatchObject([{action: 'trigger_sync', outcome: 'succeeded', http_status: 200, attempts: 2}]);
  });

  it('fails the call at once when Retry-After is beyond the function\'s deadline', async () => {
    connectionIs();
    nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`).once().reply(429, {code: 'TooManyRequests'}, {'Retry-After': '3600'});
    const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db)}, {limits: {timeoutSeconds: 60}});
    expect(status).toBe(500);
    expect(body.errorMessage).toBe(`Fivetran API rate limit hit on sync of connection "${CONNECTION_ID}" after 1 attempt (429); try again later or lower the request rate`);
  });

  it('fails the call when 500s outlast the retries of a read, leaving the state as it was', async () => {
    const failing = nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).times(3).reply(500, {code: 'InternalError', message: 'boom'});
    const state = {last_check_time: minutesAgo(120), last_trigger_time: minutesAgo(120), last_analysis: null, paging: null};
    const {status, body} = await callConnector(connector, {state, secrets: freshnessSecrets(db)});
    expect(failing.isDone()).toBe(true);
    expect(status).toBe(500);
    expect(body.errorMessage).toBe(`Fivetran API answered 500 for connection "${CONNECTION_ID}" after 3 attempts (InternalError: boom)`);
    expect(body.state).toBeUndefined();
  });

  it('sends a trigger the API answers 500 once, and records that the sync may have started without starting the cooldown', async () => {
    connectionIs();
    const failing = nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`).times(3).reply(500, {code: 'InternalError', message: 'boom'});
    const run = await syncAll(connector, freshnessSecrets(db));
    expect(failing.pendingMocks()).toHaveLength(1); // one of the three interceptors used: one POST
    nock.cleanAll();
    expect(run.inserted('sync_events')).toMatchObject([{action: 'trigger_sync', outcome: 'unknown', http_status: 500, attempts: 1}]);
    expect(run.inserted('sync_events')[0]!.message).toBe(
      `30.00% stale > 10% threshold → sync requested once, outcome unknown: Fivetran API answered 500 for sync of connection "${CONNECTION_ID}" (InternalError: boom); not retried; the sync may have started (connection ${CONNECTION_ID})`,
    );
    expect(run.state).toMatchObject({last_trigger_time: null, last_analysis: {decision: 'trigger_sync', sync_triggered: false}});
  });

  it.each([
    {status: 401, says: 'check fivetran_api_key and fivetran_api_secret'},
    {status: 403, says: "give the API key's user permission for it"},
  ])('fails at once on $status saying what to fix', async ({status: apiStatus, says}) => {
    const rejected = nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).once().reply(apiStatus, {code: 'Forbidden', message: 'no access'});
    const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db)});
    expect(rejected.isDone()).toBe(true);
    expect(status).toBe(500);
    expect(body).toMatchObject({errorType: 'AuthenticationFailed'});
    expect(body.errorMessage).toContain(says);
  });

  it('fails at once on 404 naming fivetran_connector_id', async () => {
    nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).once().reply(404, {code: 'NotFound_Connection', message: 'not found'});
    const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db)});
    expect(status).toBe(400);
    expect(body.errorMessage).toBe(`Fivetran has no connection "${CONNECTION_ID}" that this API key can see (404); check fivetran_connector_id`);
  });

  it('records a dry run after reading the connection, and neither unpauses nor triggers', async () => {
    connectionIs({paused: true, sync_state: 'paused'});
    const run = await syncAll(connector, freshnessSecrets(db, {dry_run: 'true'}));
    expect(run.inserted('sync_events')).toMatchObject([{action: 'dry_run', outcome: 'skipped', http_status: 200, attempts: 1}]);
    expect(run.inserted('sync_events')[0]!.message).toBe(
      `30.00% stale > 10% threshold: would unpause and trigger a sync of connection ${CONNECTION_ID} (force: false), but dry_run is on`,
    );
    expect(run.state).toMatchObject({last_trigger_time: null, last_analysis: {decision: 'dry_run', sync_triggered: false}});
  });

  it('rejects a state that is not this connector\'s with a message saying how to recover', async () => {
    const {status, body} = await callConnector(connector, {state: {last_trigger_time: 42}, secrets: freshnessSecrets(db)});
    expect(status).toBe(400);
    // the SDK's one policy for a state that does not parse: the field, and how to reset the state
    expect(body.errorMessage).toBe(`the state is not one this connector wrote: state.last_trigger_time expected string, received number; ${RESET_STATE}`);
  });

  it('fails with a message naming freshness_query when the query does not parse', async () => {
    const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db, {freshness_query: 'SELECT company_id, FROM customer_data'})});
    expect(status).toBe(400);
    expect(body.errorType).toBe('InvalidConfiguration');
    expect(body.errorMessage).toBe('freshness_query failed: syntax error at or near "FROM"; fix the query (it runs as a subquery, so it must be a single SELECT)');
  });
});

describe('freshness paging', () => {
  it('continues with hasMore under a small response cap, resuming by text id under one check_timestamp', async () => {
    await db.query(`CREATE TABLE accounts (account_key text PRIMARY KEY, freshness_status text NOT NULL, note text)`);
    // text ids whose order is not their insertion order, 40 % stale
    await db.query(`INSERT INTO accounts SELECT 'acct-' || md5(i::text), CASE WHEN i % 5 < 2 THEN 'Stale data' ELSE 'Fresh data' END, repeat('x', 40) FROM generate_series(1, 60) AS i`);
    connectionIs();
    const trigger = syncAccepted();
    const secrets = freshnessSecrets(db, {freshness_query: 'SELECT * FROM accounts', id_column: 'account_key'});
    const run = await syncAll(connector, secrets, {callOptions: {limits: {responseCapBytes: 2500}}});

    expect(trigger.isDone()).toBe(true);
    expect(responses(run).length).toBeGreaterThan(3);
    expect(responses(run).slice(0, -1).every((response) => response.hasMore)).toBe(true);
    expect(responses(run).every((response) => JSON.stringify(response.insert).length <= 2500)).toBe(true);
    expect(run.inserted('sync_events').map((e) => e.action)).toEqual(['trigger_sync']);

    const rows = run.inserted('data_freshness_monitor');
    const {rows: expected} = await db.query<{account_key: string}>('SELECT account_key FROM accounts ORDER BY account_key');
    expect(rows.map((row) => row.account_key)).toEqual(expected.map((row) => row.account_key));
    expect(new Set(rows.map((row) => row.check_timestamp)).size).toBe(1);
    expect(rows.every((row) => row.sync_triggered === true && row.stale_percentage === 40)).toBe(true);
    expect(responses(run).at(-1)!.schema.data_freshness_monitor).toEqual({primary_key: ['check_timestamp', 'account_key']});
    expect(run.state.paging).toBeNull();
  });

  it('ends the sync without a second check when a call stops at the check\'s last checkpoint', async () => {
    connectionIs();
    const trigger = syncAccepted();
    // under memory pressure the adapter stops at every checkpoint, the check's last one included; it then
    // sees the sync is over and answers hasMore false itself
    const run = await syncAll(connector, freshnessSecrets(db), {callOptions: {limits: {memoryMb: 1}}});

    expect(trigger.isDone()).toBe(true);
    expect(responses(run).map((response) => response.hasMore)).toEqual([true, false]);
    expect(run.inserted('sync_events').map((e) => e.action)).toEqual(['trigger_sync']);
    expect(run.inserted('data_freshness_monitor')).toHaveLength(10);
    expect(run.state).toMatchObject({paging: null, last_analysis: {decision: 'trigger_sync'}});
  });

  it('pages past the rows of one query by integer id', async () => {
    await db.query(`CREATE TABLE many (id bigint PRIMARY KEY, freshness_status text NOT NULL)`);
    await db.query(`INSERT INTO many SELECT i * 3, CASE WHEN i <= 250 THEN 'Stale data' ELSE 'Fresh data' END FROM generate_series(1, 2500) AS i`);
    const run = await syncAll(connector, freshnessSecrets(db, {freshness_query: 'SELECT id, freshness_status FROM many', id_column: 'id'}));
    const ids = run.inserted('data_freshness_monitor').map((row) => Number(row.id));
    expect(ids).toHaveLength(2500);
    expect(ids.every((id, i) => id === (i + 1) * 3)).toBe(true);
    expect(run.inserted('sync_events').map((e) => e.action)).toEqual(['skip_below_threshold']);
  });

  it('keeps the trigger committed when reading the rows fails after it, so a retry cannot trigger twice', async () => {
    // the division is only evaluated when rows are read, not by the aggregate
    const query = `SELECT company_id, freshness_status, 100 / (company_id - 9) AS ratio FROM customer_data_freshness`;
    connectionIs();
    syncAccepted();
    const first = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db, {freshness_query: query})});
    expect(first.status).toBe(200);
    expect(first.body.hasMore).toBe(true);
    expect(first.body.insert.sync_events).toMatchObject([{action: 'trigger_sync'}]);
    expect(first.body.state.last_trigger_time).toBe(first.body.insert.sync_events![0]!.event_timestamp);

    const retry = await callConnector(connector, {state: first.body.state, secrets: freshnessSecrets(db, {freshness_query: query})});
    expect(retry.status).toBe(400);
    expect(retry.body.errorMessage).toBe('freshness_query failed: division by zero; fix the query');
  });
});

describe('a freshness query that smuggles in more statements', () => {
  // closes the subquery, commits the read-only transaction, writes, and reopens a subquery for the rest
  const smuggle = (statement: string) => `SELECT company_id, freshness_status FROM accts) AS q; COMMIT; ${statement}; SELECT * FROM (SELECT 1`;

  beforeAll(async () => {
    await db.query(`CREATE TABLE accts (company_id integer PRIMARY KEY, freshness_status text)`);
    await db.query(`INSERT INTO accts VALUES (1, 'Stale data'), (2, 'Fresh data')`);
    await db.query(`CREATE TABLE victim (n integer)`);
  });

  const victimRows = async () => Number((await db.query<{n: string}>('SELECT count(*) AS n FROM victim')).rows[0]!.n);
  const victimExists = async () => (await db.query(`SELECT to_regclass('public.victim') AS t`)).rows[0]!.t !== null;

  it.each([
    {name: 'a sync', request: (secrets: Record<string, unknown>) => ({state: {}, secrets})},
    {name: 'the setup test', request: (secrets: Record<string, unknown>) => ({setup_test: true, secrets})},
  ])('is refused in $name with a 400 saying one statement is allowed, and writes nothing', async ({request}) => {
    for (const statement of ['INSERT INTO victim VALUES (42)', 'DROP TABLE victim']) {
      const {status, body} = await callConnector(connector, request(freshnessSecrets(db, {freshness_query: smuggle(statement)})));
      expect(status).toBe(400);
      expect(body).toMatchObject({errorType: 'InvalidConfiguration'});
      expect(body.errorMessage).toBe('freshness_query holds more than one statement; one statement is allowed: a single SELECT, with no ";" between statements');
    }
    expect(await victimRows()).toBe(0);
    expect(await victimExists()).toBe(true);
  });
});

describe('a Fivetran API that does not answer', () => {
  // an 8 s function keeps 1.2 s to answer: the deadline is 6.8 s into the call
  const limits = {timeoutSeconds: 8};

  it('gets one POST /sync with force, recorded as a trigger whose outcome is unknown, and the call answers before its deadline', async () => {
    const api = await hangingApi({answersReads: true});
    try {
      const started = Date.now();
      const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db, {fivetran_api_url: api.url, force_sync: 'true'})}, {limits});
      const ms = Date.now() - started;
      expect(ms).toBeLessThan(8000);
      expect(status).toBe(200);
      expect(api.requests.filter((request) => request.startsWith('POST'))).toEqual([`POST /v1/connections/${CONNECTION_ID}/sync {"force":true}`]);
      const [event, ...others] = body.insert.sync_events!;
      expect(others).toEqual([]);
      expect(event).toMatchObject({action: 'trigger_sync', outcome: 'unknown', http_status: null, attempts: 1});
      expect(event!.message).toMatch(
        new RegExp(`^30\\.00% stale > 10% threshold → sync requested once, outcome unknown: the Fivetran API at 127\\.0\\.0\\.1:\\d+ did not answer POST /v1/connections/${CONNECTION_ID}/sync within \\d+(\\.\\d)? s; the sync may have started \\(connection ${CONNECTION_ID}\\)$`),
      );
      // the rows of the check follow within the same call or the next ones; the trigger is committed with the first
      expect(body.state).toMatchObject({last_trigger_time: null, last_analysis: {decision: 'trigger_sync', sync_triggered: false}});
    } finally {
      await api.close();
    }
  });

  it('answers before the deadline with an error naming the endpoint when nothing is answered', async () => {
    const api = await hangingApi();
    try {
      const started = Date.now();
      const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db, {fivetran_api_url: api.url})}, {limits});
      expect(Date.now() - started).toBeLessThan(8000);
      expect(status).toBe(500);
      expect(body.errorMessage).toMatch(new RegExp(`the Fivetran API at 127\\.0\\.0\\.1:\\d+ did not answer GET /v1/connections/${CONNECTION_ID} within \\d+(\\.\\d)? s`));
      expect(api.requests.every((request) => request === `GET /v1/connections/${CONNECTION_ID}`)).toBe(true);
    } finally {
      await api.close();
    }
  });

  it('bounds the setup test by the same deadline', async () => {
    const api = await hangingApi();
    try {
      const started = Date.now();
      const {status, body} = await callConnector(connector, {setup_test: true, secrets: freshnessSecrets(db, {fivetran_api_url: api.url})}, {limits: {timeoutSeconds: 4}});
      expect(Date.now() - started).toBeLessThan(4000);
      expect(status).toBe(500);
      expect(body.errorMessage).toMatch(new RegExp(`the Fivetran API at 127\\.0\\.0\\.1:\\d+ did not answer GET /v1/connections/${CONNECTION_ID} within \\d+(\\.\\d)? s \\(the call's deadline\\)`));
    } finally {
      await api.close();
    }
  });
});

describe('answers of the wrong shape', () => {
  it('records a 200 {} to the trigger as an unknown outcome, not a success, and starts no cooldown', async () => {
    connectionIs();
    nock(API_URL).post(`/v1/connections/${CONNECTION_ID}/sync`).reply(200, {});
    const run = await syncAll(connector, freshnessSecrets(db));
    expect(run.inserted('sync_events')).toMatchObject([{action: 'trigger_sync', outcome: 'unknown', http_status: 200}]);
    expect(run.inserted('sync_events')[0]!.message).toContain(
      `the Fivetran API answered POST /v1/connections/${CONNECTION_ID}/sync with 200 and not the API's envelope {code, message, data} (code: `,
    );
    expect(run.state.last_trigger_time).toBeNull();
  });

  it('fails the call naming the endpoint when the connection comes back as data: null', async () => {
    nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).reply(200, {code: 'Success', data: null});
    const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db)});
    expect(status).toBe(500);
    expect(body.errorMessage).toBe(`the Fivetran API answered GET /v1/connections/${CONNECTION_ID} with 200 and an unexpected answer (data: Invalid input: expected object, received null)`);
  });

  it('says the API answered invalid JSON rather than that it cannot be reached', async () => {
    nock(API_URL).get(`/v1/connections/${CONNECTION_ID}`).reply(200, '<html>maintenance</html>', {'content-type': 'text/html'});
    const {status, body} = await callConnector(connector, {state: {}, secrets: freshnessSecrets(db)});
    expect(status).toBe(500);
    expect(body.errorMessage).toBe(`the Fivetran API answered GET /v1/connections/${CONNECTION_ID} with 200 and a body that is not JSON ("<html>maintenance</html>")`);
  });
});
