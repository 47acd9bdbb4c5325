// ./fivetran monitor webhook create|list|test against the API simulator, and polling (`monitor alerts --ledger
// postgres://...`) and push (the fivetran-webhooks function, served on loopback) deduplicating against the
// same ledger table in the run's PostgreSQL.
import {createHmac} from 'node:crypto';
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {webhookHandler} from '../../functions/fivetran-webhooks/index.js';
import {FivetranApi} from '../../sdk/fivetran-api.js';
import {createFunctionServer, listen} from '../../sdk/server.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {monitorAlerts} from './alerts.js';
import {webhookCreate, webhookList, webhookTest} from './webhook.js';

let sim: ApiSimulator;
let db: TestDatabase;
let env: NodeJS.ProcessEnv;
let work: string;
let receiver: Server;
let received: {changes: {opened: {connection_id: string}[]; resolved: {connection_id: string}[]}}[];
let functionServer: Server;
let functionUrl: string;
const SECRET = 'f00dfeedc0ffee0123456789abcdef0123456789abcdef01';

beforeAll(async () => {
  db = await createTestDatabase('webhook_cli');
  sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 2, seed: 9, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 1_000});
  env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url};
  work = mkdtempSync(path.join(tmpdir(), 'fivetran-webhook-cli-'));
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const sinkEnv = {ALERT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, ALERT_WEBHOOK_SECRET: 'sink-secret-1'};
  Object.assign(env, sinkEnv);
  functionServer = createFunctionServer('fivetran-webhooks-cli', webhookHandler({env: {...sinkEnv, FIVETRAN_WEBHOOK_SECRET: SECRET, ALERT_LEDGER_DATABASE_URL: db.url}, now: () => new Date(sim.now()), logSink: () => undefined}));
  functionUrl = await listen(functionServer, 0);
});

afterAll(async () => {
  await new Promise<void>((resolve) => functionServer.close(() => resolve()));
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await sim.close();
  await db.drop();
  rmSync(work, {recursive: true, force: true});
});

beforeEach(() => {
  received = [];
});

describe('monitor webhook', () => {
  it('create uses the secret of an existing --secret-file without printing it, and Fivetran reaches the function at once', async () => {
    const file = path.join(work, 'existing-secret');
    writeFileSync(file, `${SECRET}\n`, {mode: 0o600});
    const out: string[] = [];
    const webhook = await webhookCreate({url: functionUrl, secretFile: file, env, cwd: work, write: (text) => out.push(text), retries: 0});
    expect(sim.webhooks.list().find((w) => w.id === webhook.id)).toMatchObject({type: 'account', events: ['sync_start', 'sync_end'], active: true, secret: SECRET});
    expect(out.join('')).not.toContain(SECRET);
    expect(out.join('')).toContain(`created webhook ${webhook.id} for the account: sync_start, sync_end → ${functionUrl}\nits secret is in existing-secret; make it FIVETRAN_WEBHOOK_SECRET of the function`);
    await sim.webhooks.settled();
    expect(sim.webhooks.deliveries.filter((d) => d.webhookId === webhook.id).map((d) => [d.event, d.status])).toEqual([['test_event', 200]]);

    const listed: string[] = [];
    await webhookList({env, write: (text) => listed.push(text), retries: 0});
    expect(listed.join('')).toMatch(new RegExp(`^${webhook.id}\\s+account\\s+active\\s+sync_start,sync_end\\s+${functionUrl.replace(/[.]/g, '\\.')}\\n$`));
    const tested: string[] = [];
    expect((await webhookTest({id: webhook.id, event: 'sync_start', env, write: (text) => tested.push(text), retries: 0})).succeed).toBe(true);
    expect(tested.join('')).toBe(`sent a test sync_start to webhook ${webhook.id}: a test sync_start event was sent to ${functionUrl}\n`);
    await sim.webhooks.settled();
    expect(sim.webhooks.deliveries.at(-1)).toMatchObject({webhookId: webhook.id, event: 'sync_start', status: 200});
  });

  it('create writes a generated secret to a new --secret-file (mode 0600), or prints it exactly once', async () => {
    const file = path.join(work, 'new-secret');
    const out: string[] = [];
    const groupId = sim.fleet.groups[0]!.id;
    const webhook = await webhookCreate({url: 'http://127.0.0.1:9/off', group: groupId, events: 'sync_end', secretFile: file, env, cwd: work, write: (text) => out.push(text), retries: 0});
    const written = readFileSync(file, 'utf8').trim();
    expect(written).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(out.join('')).not.toContain(written);
    expect(out.join('')).toContain(`for group ${groupId}: sync_end → http://127.0.0.1:9/off`);
    expect(sim.webhooks.list().find((w) => w.id === webhook.id)).toMatchObject({type: 'group', group_id: groupId, events: ['sync_end'], secret: written});

    const printed: string[] = [];
    const shown = await webhookCreate({url: 'http://127.0.0.1:9/off', events: 'sync_end', env, write: (text) => printed.push(text), retries: 0});
    const stored = sim.webhooks.list().find((w) => w.id === shown.id)!.secret;
    expect(printed.join('').split(stored)).toHaveLength(2);
    await sim.webhooks.settled();
    for (const id of [webhook.id, shown.id]) await new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url}).request('DELETE', `webhooks/${id}`);
  });

  it('create refuses an unknown event and a URL that is not one, in one line', async () => {
    await expect(webhookCreate({url: functionUrl, events: 'sync_end,sync_done', env, write: () => undefined})).rejects.toThrow(
      '--events takes a comma-separated list of sync_start, sync_end, status, dbt_run_start, dbt_run_succeeded, dbt_run_failed; not sync_done',
    );
    await expect(webhookCreate({url: 'hooks.example.com', env, write: () => undefined})).rejects.toThrow('--url "hooks.example.com" is not a URL; give the trigger URL of the fivetran-webhooks function (https://...)');
  });
});

describe('polling and push share the PostgreSQL ledger', () => {
  const api = () => new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url, retries: 0});
  const run = async (connectionId: string, failure?: string) => {
    if (failure) sim.failNextSync(connectionId, failure);
    await api().triggerSync(connectionId);
    sim.advance(1_000);
    sim.connection(connectionId);
    await sim.webhooks.settled();
  };
  const poll = () => monitorAlerts({env, ledger: db.url, notify: 'webhook', write: () => undefined, retries: 0});

  it('a failure the webhook reported is not sent again by monitor alerts, and one monitor alerts reported is not sent again by the webhook', async () => {
    const [first, second] = sim.fleet.connections.map((c) => c.id);
    // push first: the webhook opens the alert; the poll finds it open
    await run(first!, 'source timed out');
    expect(received.map((r) => r.changes.opened.map((a) => a.connection_id))).toEqual([[first]]);
    expect((await poll()).changes.opened).toEqual([]);
    expect(received).toHaveLength(1);

    // poll first: a failure whose delivery did not reach the function (the webhook was not there yet)
    sim.failNextSync(second!, 'permission denied');
    for (const webhook of sim.webhooks.list()) webhook.active = false;
    await api().triggerSync(second!);
    sim.advance(1_000);
    await sim.webhooks.settled();
    for (const webhook of sim.webhooks.list()) webhook.active = true;
    expect((await poll()).changes.opened.map((a) => a.connection_id)).toEqual([second]);
    expect(received).toHaveLength(2);
    // its redelivery (signed as Fivetran would) finds the alert open: nothing posted
    const body = JSON.stringify({event: 'sync_end', created: new Date(sim.now()).toISOString(), connector_type: 'postgres', connector_id: second, connector_name: 'x', sync_id: 'late-1', destination_group_id: 'g', data: {status: 'FAILURE', reason: 'permission denied'}});
    const answer = await fetch(functionUrl, {method: 'POST', headers: {'content-type': 'application/json', 'x-fivetran-signature-256': createHmac('sha256', SECRET).update(body).digest('hex')}, body});
    expect(answer.status).toBe(200);
    expect(received).toHaveLength(2);

    // a success pushed by the webhook resolves the alert the poll opened
    await run(second!);
    expect(received.at(-1)!.changes.resolved.map((a) => a.connection_id)).toEqual([second]);
  });
});
