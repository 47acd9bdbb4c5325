// The fivetran-webhooks function end to end, over real HTTP: the API simulator holds the webhook (created
// through the API as ./fivetran monitor webhook create does) and delivers signed sync_start/sync_end events as
// its syncs end; the function, served on loopback, turns them into alerts at a receiving sink (a real HTTP
// server as the generic webhook sink); the ledger is a table in the run's PostgreSQL. The CLI's side (create,
// and `monitor alerts --ledger postgres://` sharing the ledger) is tested in cli/monitor/webhook.test.ts.
import {createHmac} from 'node:crypto';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {SMTPServer} from 'smtp-server';
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {FivetranApi} from '../../sdk/fivetran-api.js';
import {createFunctionServer, listen} from '../../sdk/server.js';
import {createTestDatabase, type TestDatabase} from '../../test/support/postgres.js';
import {validSignature, webhookHandler} from './index.js';

const SINK_SECRET = 'sink-secret-6c1d0e';
const SMTP_PASSWORD = 'smtp-pw-webhooks-93a1';

let sim: ApiSimulator;
let api: FivetranApi;
let db: TestDatabase;
let receiver: Server;
let received: Record<string, unknown>[];
let functionServer: Server;
let functionUrl: string;
let env: NodeJS.ProcessEnv;
let logs: string[];
let secret: string;
let connectionId: string;

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(functionUrl, {method: 'POST', headers: {'content-type': 'application/json', ...headers}, body}).then(async (response) => ({status: response.status, text: await response.text()}));
const sign = (body: string, key = secret) => createHmac('sha256', key).update(body).digest('hex');

/** Runs one simulated sync of the connection to its end and waits for its deliveries to be answered. */
async function runSync(failure?: string): Promise<void> {
  if (failure) sim.failNextSync(connectionId, failure);
  await api.triggerSync(connectionId);
  sim.advance(1_000);
  sim.connection(connectionId);
  await sim.webhooks.settled();
}

beforeAll(async () => {
  db = await createTestDatabase('webhooks');
  sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 3, seed: 5, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 1_000});
  api = new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url, retries: 0});
  connectionId = sim.fleet.connections[0]!.id;
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  // the order the README gives: a secret first (the function is deployed with it), then the webhook
  secret = 'a3f0c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8';
  env = {
    FIVETRAN_WEBHOOK_SECRET: secret,
    ALERT_LEDGER_DATABASE_URL: db.url,
    ALERT_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`,
    ALERT_WEBHOOK_SECRET: SINK_SECRET,
  };
  functionServer = createFunctionServer('fivetran-webhooks-test', webhookHandler({env, now: () => new Date(sim.now()), logSink: (line) => logs.push(line)}));
  functionUrl = await listen(functionServer, 0);
});

afterAll(async () => {
  await new Promise<void>((resolve) => functionServer.close(() => resolve()));
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await sim.close();
  await db.drop();
});

beforeEach(() => {
  received = [];
  logs = [];
});

describe('fivetran-webhooks', () => {
  it('answers the test_event Fivetran sends when the webhook is created with 200, and a test delivery too', async () => {
    const {data: webhook} = await api.createWebhook({url: functionUrl, events: ['sync_start', 'sync_end'], secret});
    expect(webhook).toMatchObject({type: 'account', url: functionUrl, events: ['sync_start', 'sync_end'], active: true});
    await sim.webhooks.settled();
    expect(sim.webhooks.deliveries.map((d) => [d.event, d.status])).toEqual([['test_event', 200]]);
    expect((await api.testWebhook(webhook.id, 'sync_end')).data.succeed).toBe(true);
    await sim.webhooks.settled();
    // a successful sync_end of a connection with no open alert changes nothing and posts nothing
    expect(sim.webhooks.deliveries.at(-1)).toMatchObject({event: 'sync_end', status: 200});
    expect(received).toEqual([]);
  });

  it('turns a failed sync_end into one failing alert, posts nothing for a redelivery, and resolves it on the next success', async () => {
    await runSync('The function answered 500: orders API is down');
    const failed = sim.webhooks.deliveries.filter((d) => d.event === 'sync_end').at(-1)!;
    expect(JSON.parse(failed.body)).toMatchObject({connector_id: connectionId, data: {status: 'FAILURE_WITH_TASK', reason: 'The function answered 500: orders API is down'}});
    expect(failed.status).toBe(200);
    expect(received).toHaveLength(1);
    const [opened] = (received[0]!.changes as {opened: Record<string, unknown>[]}).opened;
    const schema = sim.fleet.connections[0]!.schema;
    expect(opened).toMatchObject({connection_id: connectionId, rule: 'failing', severity: 'critical', schema_name: schema});
    // the message the check would write, from the same function (connectors/monitoring/alerts.ts)
    expect(opened!.message).toMatch(new RegExp(`^${schema} \\(\\w+, ${connectionId}\\): the last sync failed at \\S+ \\(The function answered 500: orders API is down\\)\\. Read the sync logs at https://fivetran\\.com/dashboard/connections/${connectionId}\\.$`));

    // Fivetran retries a delivery: the same sync_id again posts nothing
    expect(await sim.webhooks.redeliver(failed)).toBe(200);
    expect(received).toHaveLength(1);

    await runSync();
    expect(received).toHaveLength(1 + 1);
    const {resolved} = received[1]!.changes as {resolved: Record<string, unknown>[]};
    expect(resolved).toMatchObject([{connection_id: connectionId, rule: 'failing'}]);
    const {rows} = await db.query(`SELECT ledger FROM fivetran_alert_ledger WHERE name = 'default'`);
    expect(rows[0].ledger.open).toEqual([]);
    expect(rows[0].ledger.resolved[0]).toMatchObject({connection_id: connectionId, rule: 'failing'});
  });

  it('posts once when the same failure is delivered twice at the same time (the row lock)', async () => {
    const body = JSON.stringify({event: 'sync_end', created: new Date(sim.now()).toISOString(), connector_type: 'postgres', connector_id: connectionId, connector_name: 'orders', sync_id: 'sync-concurrent-1', destination_group_id: 'g', data: {status: 'FAILURE', reason: 'disk full'}});
    const body2 = body.replace('sync-concurrent-1', 'sync-concurrent-2');
    const answers = await Promise.all([post(body, {'x-fivetran-signature-256': sign(body)}), post(body, {'x-fivetran-signature-256': sign(body)}), post(body2, {'x-fivetran-signature-256': sign(body2)})]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.filter((a) => JSON.parse(a.text).duplicate)).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect((received[0]!.changes as {opened: unknown[]}).opened).toHaveLength(1);
    await runSync();
  });

  it('refuses a delivery without a signature or with a wrong one with 401, and accepts a "sha256=" prefix', async () => {
    const body = JSON.stringify({event: 'test_event', created: '2026-12-03T10:00:00Z'});
    const unsigned = await post(body);
    expect(unsigned.status).toBe(401);
    expect(JSON.parse(unsigned.text).error).toBe('x-fivetran-signature-256 is missing; only signed Fivetran deliveries are accepted');
    expect((await post(body, {'x-fivetran-signature-256': sign(body, 'another-secret')})).status).toBe(401);
    // signed over other bytes: the same JSON with a space more
    expect((await post(body.replace(':', ': '), {'x-fivetran-signature-256': sign(body)})).status).toBe(401);
    expect((await post(body, {'x-fivetran-signature-256': 'not-hex'})).status).toBe(401);
    expect((await post(body, {'x-fivetran-signature-256': `sha256=${sign(body)}`})).status).toBe(200);
    expect((await post(body, {'x-fivetran-signature-256': sign(body).toUpperCase()})).status).toBe(200);
    expect(validSignature(secret, Buffer.from(body), sign(body).slice(0, 63))).toBe(false);
    expect(logs.join('\n')).not.toContain(secret);
  });

  it('answers malformed JSON with 400, and unknown or other events with 200, acting on none', async () => {
    const bad = '{"event": "sync_end",';
    expect((await post(bad, {'x-fivetran-signature-256': sign(bad)})).status).toBe(400);
    for (const event of ['sync_start', 'dbt_run_failed', 'connector_renamed']) {
      const body = JSON.stringify({event, connector_id: connectionId, sync_id: `s-${event}`, data: {status: 'FAILURE'}});
      const answer = await post(body, {'x-fivetran-signature-256': sign(body)});
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.text).message).toBe(`${event} is not acted on (only sync_end raises or resolves alerts)`);
    }
    expect(received).toEqual([]);
  });

  it('answers 502 when a sink fails, so Fivetran redelivers, and keeps the secrets out of the answer and the logs', async () => {
    const smtp = new SMTPServer({authOptional: false, disabledCommands: ['STARTTLS'], onAuth: (_auth, _session, callback) => callback(new Error('bad credentials')), logger: false});
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    const withEmail = {...env, SMTP_HOST: '127.0.0.1', SMTP_PORT: String((smtp.server.address() as AddressInfo).port), SMTP_IGNORE_TLS: 'true', SMTP_USER: 'alerts', SMTP_PASSWORD, ALERT_EMAIL_FROM: 'fleet@example.com', ALERT_EMAIL_TO: 'ops@example.com'};
    const server = createFunctionServer('fivetran-webhooks-email', webhookHandler({env: withEmail, now: () => new Date(sim.now()), logSink: (line) => logs.push(line)}));
    const url = await listen(server, 0);
    try {
      const body = JSON.stringify({event: 'sync_end', created: new Date(sim.now()).toISOString(), connector_type: 'postgres', connector_id: connectionId, connector_name: 'orders', sync_id: 'sync-email-1', destination_group_id: 'g', data: {status: 'FAILURE', reason: 'timeout'}});
      const deliver = () => fetch(url, {method: 'POST', headers: {'content-type': 'application/json', 'x-fivetran-signature-256': sign(body)}, body}).then(async (r) => ({status: r.status, text: await r.text()}));
      const first = await deliver();
      expect(first.status).toBe(502);
      expect(JSON.parse(first.text).error).toMatch(/^email: 127\.0\.0\.1:\d+ did not take the message/);
      // the ledger did not move: the redelivery tries again (the webhook sink, which took it, gets it again)
      expect((await deliver()).status).toBe(502);
      expect(received).toHaveLength(2);
      for (const text of [first.text, ...logs]) {
        for (const value of [SMTP_PASSWORD, secret, SINK_SECRET, db.password]) expect(text).not.toContain(value);
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => smtp.close(resolve));
    }
  });
});
