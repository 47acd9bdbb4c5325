// monitor status and monitor alerts against the API simulator; Slack mocked with nock at the network edge.
import {mkdtempSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import nock from 'nock';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {emptyLedger, reconcile, slackChangesMessage, type Alert} from '../../connectors/monitoring/public.js';
import {CliConfigError, CommandFailed} from '../errors.js';
import {monitorAlerts} from './alerts.js';
import {monitorStatus} from './status.js';

const SLACK = 'https://hooks.slack.com';
const HOOK_PATH = '/services/T0001/B0001/s3cr3tW3bh00kT0k3n';
const WEBHOOK = `${SLACK}${HOOK_PATH}`;

let sim: ApiSimulator;
let healthySim: ApiSimulator;
let env: NodeJS.ProcessEnv;
let healthyEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  // 24 connections: 6 broken, 4 failing, 6 delayed, 4 paused, 4 healthy, in two groups
  sim = await startApiSimulator({fleet: generateFleet({groups: 2, connectionsPerGroup: 12, seed: 8, mix: {broken: 6, failing: 4, delayed: 6, paused: 4, healthy: 4}}), rateLimit: false});
  healthySim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 5, seed: 9, mix: {healthy: 1}}), rateLimit: false});
  env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url, FIVETRAN_TENANT_PATTERN: '^[a-z]+_([a-z]+)_'};
  healthyEnv = {FIVETRAN_API_KEY: healthySim.apiKey, FIVETRAN_API_SECRET: healthySim.apiSecret, FIVETRAN_API_URL: healthySim.url};
});
afterAll(async () => {
  await sim.close();
  await healthySim.close();
});

function capture() {
  const out: string[] = [];
  return {write: (text: string) => out.push(text), text: () => out.join('')};
}

describe('monitor status', () => {
  it('lists every connection worst first with a summary per tenant', async () => {
    const out = capture();
    const result = await monitorStatus({env, write: out.write});
    const healths = result.connections.map((c) => c.health);
    expect(healths).toEqual([...Array(6).fill('broken'), ...Array(4).fill('failing'), ...Array(6).fill('delayed'), ...Array(4).fill('paused'), ...Array(4).fill('healthy')]);
    expect(result.tenants.map((t) => t.tenant_id).sort()).toEqual(['analytics', 'finance']);
    expect(result.tenants.reduce((n, t) => n + t.connections, 0)).toBe(24);
    const text = out.text();
    expect(text.split('\n')[0]).toMatch(/^health\s+tenant\s+connection\s+schema\s+service\s+last success\s+last failure\s+delay$/);
    expect(text).toMatch(/^analytics: 12 connections \(.*\)$/m);
    expect(text).toMatch(/^finance: 12 connections \(.*\)$/m);
    // delayed rows show how late they are
    expect(text).toMatch(/^delayed .* \d+[mhd][^\n]*$/m);
  });

  it('filters by tenant and by group (one list request for the group)', async () => {
    const byTenant = await monitorStatus({env, tenant: 'finance', json: true, write: () => undefined});
    expect(byTenant.connections.every((c) => c.tenant_id === 'finance')).toBe(true);
    expect(byTenant.connections).toHaveLength(12);
    const group = sim.fleet.groups[0]!.id;
    sim.resetRequests();
    const byGroup = await monitorStatus({env, group, json: true, write: () => undefined});
    expect(new Set(byGroup.connections.map((c) => c.group_id))).toEqual(new Set([group]));
    expect(sim.requestCount('GET /v1/groups/{group_id}/connections')).toBe(1);
  });

  it('prints JSON with --json', async () => {
    const out = capture();
    await monitorStatus({env, json: true, write: out.write});
    const parsed = JSON.parse(out.text());
    expect(parsed.connections).toHaveLength(24);
    expect(parsed.tenants[0]).toMatchObject({tenant_id: expect.any(String), connections: 12});
  });

  it('explains the missing credentials', async () => {
    await expect(monitorStatus({env: {}})).rejects.toThrow(/set FIVETRAN_API_KEY and FIVETRAN_API_SECRET/);
  });
});

describe('monitor alerts', () => {
  it('prints the alerts, sends the new ones to Slack in one message and exits 1 with --fail-on critical', async () => {
    let posted: {text: string; blocks: {type: string; text?: {text: string}}[]} | undefined;
    const slack = nock(SLACK).post(HOOK_PATH, (body) => {
      posted = body;
      return true;
    }).once().reply(200, 'ok');
    const out = capture();
    const ledger = path.join(mkdtempSync(path.join(tmpdir(), 'monitor-ledger-')), 'alerts.json');
    const failure = await monitorAlerts({env, slackWebhook: WEBHOOK, failOn: 'critical', ledger, write: out.write}).catch((error: unknown) => error);
    expect(failure).toMatchObject({exitCode: 1, message: '10 alerts at or above critical'});
    expect(slack.isDone()).toBe(true);
    expect(posted!.text).toBe('Fivetran alerts: 20 new (10 critical, 10 warning open)');
    expect(posted!.blocks[0]).toEqual({type: 'header', text: {type: 'plain_text', text: 'Fivetran alerts: 20 new (10 critical, 10 warning open)', emoji: true}});
    const sections = posted!.blocks.filter((b) => b.type === 'section');
    expect(sections).toHaveLength(20);
    expect(sections.slice(0, 10).every((s) => s.text!.text.startsWith(':red_circle: *new '))).toBe(true);
    expect(sections[10]!.text!.text).toMatch(/^:large_yellow_circle: \*new (delayed|paused)\* · tenant \*(analytics|finance)\* · `/);
    const text = out.text();
    expect(text.match(/^CRITICAL /gm)).toHaveLength(10);
    expect(text.match(/^WARNING /gm)).toHaveLength(10);
    expect(text).toMatch(/10 critical, 10 warning across 24 connections/);
    expect(text).toMatch(/since the last run; sent to slack:\n {2}NEW {7}CRITICAL /);
    expect(text).not.toContain('s3cr3tW3bh00kT0k3n');
  });

  it('exits 0 with --fail-on critical when only warnings are open, and 1 with --fail-on warning', async () => {
    const quiet = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 4, seed: 2, mix: {delayed: 1, healthy: 3}}), rateLimit: false});
    try {
      const quietEnv = {FIVETRAN_API_KEY: quiet.apiKey, FIVETRAN_API_SECRET: quiet.apiSecret, FIVETRAN_API_URL: quiet.url};
      const ok = await monitorAlerts({env: quietEnv, failOn: 'critical', ledger: false, write: () => undefined});
      expect(ok.counts).toEqual({critical: 0, warning: 1});
      await expect(monitorAlerts({env: quietEnv, failOn: 'warning', ledger: false, write: () => undefined})).rejects.toMatchObject({exitCode: 1, message: '1 alert at or above warning'});
    } finally {
      await quiet.close();
    }
  });

  it('posts nothing when there are no alerts', async () => {
    const slack = nock(SLACK).post(HOOK_PATH).reply(200, 'ok');
    const out = capture();
    const result = await monitorAlerts({env: healthyEnv, slackWebhook: WEBHOOK, failOn: 'warning', ledger: false, write: out.write});
    expect(result).toMatchObject({posted: false, alerts: [], counts: {critical: 0, warning: 0}});
    expect(slack.isDone()).toBe(false);
    expect(out.text()).toMatch(/^no open alerts across 5 connections/);
  });

  it('reports a Slack failure without revealing the webhook', async () => {
    nock(SLACK).post(HOOK_PATH).reply(404, 'no_service');
    const error = await monitorAlerts({env, slackWebhook: WEBHOOK, ledger: false, write: () => undefined}).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^slack: did not accept the alerts \(404 no_service\); check the webhook URL/);
    expect((error as Error).message).not.toContain('s3cr3tW3bh00kT0k3n');
  });

  it('prints the alerts with --json when the Slack post fails, then fails with one line naming Slack', async () => {
    nock(SLACK).post(HOOK_PATH).reply(404, 'no_service');
    const out = capture();
    const error = await monitorAlerts({env, slackWebhook: WEBHOOK, json: true, ledger: false, write: out.write}).catch((e: unknown) => e as Error);
    const printed = JSON.parse(out.text()) as {alerts: unknown[]; posted: boolean; connections: number};
    expect(printed).toMatchObject({posted: false, connections: 24});
    expect(printed.alerts).toHaveLength(20);
    expect(error).toBeInstanceOf(CommandFailed);
    expect((error as CommandFailed).message).toBe('slack: did not accept the alerts (404 no_service); check the webhook URL and that its app is still installed');
    expect((error as CommandFailed).exitCode).not.toBe(0);
    expect(out.text()).not.toContain('s3cr3tW3bh00kT0k3n');
  });

  it('rejects an unknown --fail-on', async () => {
    await expect(monitorAlerts({env, failOn: 'error', ledger: false})).rejects.toThrow(/--fail-on must be critical or warning, not "error"/);
  });

  it('remembers failures in --state and warns about frequent failures', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'monitor-state-'));
    const state = path.join(dir, 'state.json');
    const local = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 2, seed: 4, mix: {healthy: 1}}), rateLimit: false, syncDurationMs: 10});
    try {
      const localEnv = {FIVETRAN_API_KEY: local.apiKey, FIVETRAN_API_SECRET: local.apiSecret, FIVETRAN_API_URL: local.url};
      const id = local.fleet.connections[0]!.id;
      const run = () => monitorAlerts({env: localEnv, state, cwd: dir, json: true, write: () => undefined});
      const failOnce = async () => {
        local.failNextSync(id);
        await fetch(`${local.url}/v1/connections/${id}/sync`, {method: 'POST', headers: {authorization: `Basic ${Buffer.from(`${local.apiKey}:${local.apiSecret}`).toString('base64')}`, 'content-type': 'application/json'}, body: '{}'});
        local.advance(1000);
      };
      await run();
      for (let i = 0; i < 3; i++) {
        await failOnce();
        await run();
      }
      const last = await run();
      expect(last.alerts.filter((a) => a.connection_id === id).map((a) => a.rule)).toEqual(['failing', 'frequent_failures']);
      expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({checks: 5});
    } finally {
      await local.close();
    }
  });
});

describe('the Slack message', () => {
  const alert = (i: number, severity: 'critical' | 'warning'): Alert => ({
    checked_at: '2026-01-01T00:00:00.000Z', connection_id: `c${i}`, rule: severity === 'critical' ? 'failing' : 'delayed', severity, tenant_id: 't_<acme>',
    group_id: 'g', group_name: 'prod', schema_name: `s_${i}`, service: 'postgres', since: null, message: `connection ${i} & co need <attention>`,
  });
  const report = (alerts: Alert[]) => {
    const {changes, ledger} = reconcile(emptyLedger(), alerts, new Date('2026-01-01T00:00:00.000Z'));
    return {checkedAt: '2026-01-01T00:00:00.000Z', connections: 100, changes, open: ledger.open};
  };

  it('stays within Slack limits: at most 45 sections, then how many more', () => {
    const alerts = Array.from({length: 60}, (_, i) => alert(i, i % 3 === 0 ? 'critical' : 'warning'));
    const message = slackChangesMessage(report(alerts));
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    expect(message.blocks.filter((b) => b.type === 'section')).toHaveLength(45);
    expect(JSON.stringify(message.blocks.at(-1))).toContain('…and 15 more');
    expect(message.text).toBe('Fivetran alerts: 60 new (20 critical, 40 warning open)');
  });

  it('escapes Slack markup in names and messages', () => {
    const message = slackChangesMessage(report([alert(1, 'critical')]));
    const section = JSON.stringify(message.blocks[2]);
    expect(section).toContain('t_&lt;acme&gt;');
    expect(section).toContain('connection 1 &amp; co need &lt;attention&gt;');
  });
});

describe('API errors on the command line', () => {
  it('name the environment variables to fix, not the connector secrets, and never the values', async () => {
    const {monitorStatus: status} = await import('../monitor.js');
    nock('https://api.fivetran.test').get('/v1/groups').query(true).reply(401, {code: 'AuthFailed', message: 'bad key'});
    const error = (await status({env: {FIVETRAN_API_KEY: 'key_9f8e7d', FIVETRAN_API_SECRET: 'secret_6c5b4a', FIVETRAN_API_URL: 'https://api.fivetran.test'}, write: () => undefined}).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/rejected the credentials \(401\).*check FIVETRAN_API_KEY and FIVETRAN_API_SECRET/);
    expect(error.message).not.toMatch(/key_9f8e7d|secret_6c5b4a/);
  });

  it('names FIVETRAN_API_URL and the variables for the key when the URL holds credentials, without repeating them', async () => {
    const {monitorStatus: status} = await import('../monitor.js');
    const withUserinfo = {FIVETRAN_API_KEY: 'k', FIVETRAN_API_SECRET: 's', FIVETRAN_API_URL: 'https://bob:pw-3c3c@api.fivetran.test'};
    await expect(status({env: withUserinfo, write: () => undefined})).rejects.toThrow(
      new CliConfigError('FIVETRAN_API_URL "https://[REDACTED]@api.fivetran.test" holds credentials (user:password@); remove them: the API key and secret go in FIVETRAN_API_KEY and FIVETRAN_API_SECRET'),
    );
  });

  it('names --group when the group is unknown', async () => {
    const {monitorStatus: status} = await import('../monitor.js');
    await expect(status({env, group: 'no_such_group', write: () => undefined})).rejects.toThrow(/--group names a group this API key cannot see: no_such_group; fix --group or leave it out/);
  });
});
