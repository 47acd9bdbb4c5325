// The alert lifecycle end to end against the API simulator, and the sinks against real servers on loopback:
// an SMTP server (smtp-server) whose received message is parsed and read, and an HTTP receiver that checks the
// webhook's signature. Slack is nock at the network edge.
import {createHmac, timingSafeEqual} from 'node:crypto';
import {mkdtempSync, readFileSync} from 'node:fs';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {simpleParser, type ParsedMail} from 'mailparser';
import nock from 'nock';
import {SMTPServer} from 'smtp-server';
import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {monitorAlerts} from './alerts.js';
import {readLedger} from './ledger-file.js';

const SLACK = 'https://hooks.slack.com';
const HOOK_PATH = '/services/T0001/B0001/lifecycleT0k3n';
const WEBHOOK_SECRET = 'whsec_4f9a8b7c6d';
const SMTP_PASSWORD = 'smtp-pw-71c2e9';

let sim: ApiSimulator;
let env: NodeJS.ProcessEnv;
let ledger: string;
let smtp: SMTPServer;
let smtpPort: number;
let mails: ParsedMail[];
let receiver: Server;
let receiverUrl: string;
let received: {body: string; valid: boolean}[];
let receiverStatus = 200;

beforeAll(async () => {
  // 6 connections in one tenant: 2 failing, 1 delayed, 3 healthy
  sim = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 6, seed: 11, mix: {failing: 2, delayed: 1, healthy: 3}}), rateLimit: false});
  env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url};
  smtp = new SMTPServer({
    authOptional: false,
    disabledCommands: ['STARTTLS'],
    onAuth(auth, _session, callback) {
      callback(auth.username === 'alerts' && auth.password === SMTP_PASSWORD ? null : new Error('bad credentials'), {user: auth.username});
    },
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        mails.push(mail);
        callback();
      }, callback);
    },
    logger: false,
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const expected = Buffer.from(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(`${req.headers['x-fleet-timestamp']}.${body}`).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-fleet-signature-256'] ?? ''));
      received.push({body, valid: given.length === expected.length && timingSafeEqual(given, expected)});
      res.writeHead(receiverStatus).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
});

afterAll(async () => {
  await sim.close();
  await new Promise<void>((resolve) => smtp.close(resolve));
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

beforeEach(() => {
  mails = [];
  received = [];
  receiverStatus = 200;
});

const sinksEnv = () => ({
  ...env,
  SLACK_WEBHOOK_URL: `${SLACK}${HOOK_PATH}`,
  SMTP_HOST: '127.0.0.1',
  SMTP_PORT: String(smtpPort),
  SMTP_IGNORE_TLS: 'true',
  SMTP_USER: 'alerts',
  SMTP_PASSWORD,
  ALERT_EMAIL_FROM: 'fleet@example.test',
  ALERT_EMAIL_TO: 'data-team@example.test, oncall@example.test',
  ALERT_WEBHOOK_URL: receiverUrl,
  ALERT_WEBHOOK_SECRET: WEBHOOK_SECRET,
});

function slackPosts(): {texts: string[]} {
  const texts: string[] = [];
  nock(SLACK)
    .post(HOOK_PATH, (body: {text: string}) => {
      texts.push(body.text);
      return true;
    })
    .reply(200, 'ok')
    .persist();
  return {texts};
}

const run = (options: Partial<Parameters<typeof monitorAlerts>[0]> = {}) =>
  monitorAlerts({env: sinksEnv(), ledger, notify: 'slack,email,webhook', write: () => undefined, ...options});

describe('the alert lifecycle', () => {
  beforeAll(() => {
    ledger = path.join(mkdtempSync(path.join(tmpdir(), 'monitor-lifecycle-')), 'alerts.json');
  });

  it('opens each alert once, sends it to every sink, and sends nothing when nothing changed', async () => {
    const slack = slackPosts();
    const first = await run();
    expect(first.changes.opened.map((a) => a.severity)).toEqual(['critical', 'critical', 'warning']);
    expect(first.notified.sort()).toEqual(['email', 'slack', 'webhook']);
    expect(slack.texts).toEqual(['Fivetran alerts: 3 new (2 critical, 1 warning open)']);

    // email: the message that arrived, with a table per tenant and no secret
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('Fivetran alerts: 3 new (2 critical, 1 warning open)');
    expect((mails[0]!.to as {value: {address: string}[]}).value.map((v) => v.address)).toEqual(['data-team@example.test', 'oncall@example.test']);
    expect(mails[0]!.text).toMatch(/What changed since the last check:\n {2}NEW {7}CRITICAL /);
    expect(mails[0]!.html).toMatch(/<h3>Open alerts, tenant [^<]+<\/h3><table/);
    expect(mails[0]!.text).not.toContain(SMTP_PASSWORD);

    // webhook: signed, and the receiver can verify it
    expect(received).toHaveLength(1);
    expect(received[0]!.valid).toBe(true);
    expect(JSON.parse(received[0]!.body)).toMatchObject({event: 'fivetran_alerts', connections: 6, changes: {opened: [{}, {}, {}]}});

    const ledgerFile = readLedger(ledger);
    expect(ledgerFile.open).toHaveLength(3);

    const second = await run();
    expect(second.notified).toEqual([]);
    expect(slack.texts).toHaveLength(1); // no second post, mail or webhook
    expect(mails).toHaveLength(1);
    expect(received).toHaveLength(1);
    expect(second.alerts).toHaveLength(3); // still open, still printed
    nock.cleanAll();
  });

  it('sends one resolution when a connection recovers, with how long it was open', async () => {
    const slack = slackPosts();
    const opened = readLedger(ledger).open.find((a) => a.severity === 'critical')!;
    sim.markHealthy(opened.connection_id);
    const out: string[] = [];
    const later = new Date(Date.parse(opened.opened_at) + (3 * 60 + 10) * 60_000);
    const result = await run({now: () => later, write: (text) => out.push(text)});
    expect(result.changes.opened).toEqual([]);
    expect(result.changes.resolved).toHaveLength(1);
    expect(result.changes.resolved[0]!.connection_id).toBe(opened.connection_id);
    expect(out.join('')).toContain(`RESOLVED  ${opened.schema_name} (${opened.connection_id}`);
    expect(out.join('')).toContain('recovered after 3h 10m');
    expect(slack.texts).toEqual(['Fivetran alerts: 1 resolved (1 critical, 1 warning open)']);
    expect(mails[0]!.text).toContain('recovered after 3h 10m');
    expect(readLedger(ledger).resolved[0]!.connection_id).toBe(opened.connection_id);
    nock.cleanAll();
  });

  it('escalates a warning that becomes critical, and reminds of alerts open past --remind-after', async () => {
    const slack = slackPosts();
    const warning = readLedger(ledger).open.find((a) => a.severity === 'warning')!;
    sim.markBroken(warning.connection_id, 'the function answered 500');
    const escalated = await run();
    expect(escalated.changes.escalated.map((a) => a.connection_id)).toEqual([warning.connection_id]);
    expect(slack.texts.at(-1)).toBe('Fivetran alerts: 1 escalated (2 critical, 0 warning open)');

    const nextDay = new Date(Date.now() + 25 * 3_600_000);
    const reminded = await run({remindAfter: '24h', now: () => nextDay});
    expect(reminded.changes.reminders).toHaveLength(2);
    expect(slack.texts.at(-1)).toBe('Fivetran alerts: 2 still open (2 critical, 0 warning open)');
    const again = await run({remindAfter: '24h', now: () => new Date(nextDay.getTime() + 60_000)});
    expect(again.changes.reminders).toHaveLength(0);
    nock.cleanAll();
  });

  it('keeps going when one sink fails, names it in one line, exits non-zero and sends the changes again next run', async () => {
    const slack = slackPosts();
    const fresh = path.join(mkdtempSync(path.join(tmpdir(), 'monitor-lifecycle-')), 'alerts.json');
    receiverStatus = 503;
    const error = (await run({ledger: fresh}).catch((e: unknown) => e)) as Error & {exitCode?: number};
    expect(error.message).toBe(`webhook: 127.0.0.1:${new URL(receiverUrl).port} did not accept the alerts (HTTP 503); check ALERT_WEBHOOK_URL and that the receiver is up`);
    expect(error.exitCode).toBe(1);
    expect(slack.texts).toHaveLength(1); // the others were sent
    expect(mails).toHaveLength(1);
    receiverStatus = 200;
    const retried = await run({ledger: fresh});
    expect(retried.changes.opened.length).toBeGreaterThan(0); // the ledger did not move
    expect(received.at(-1)!.valid).toBe(true);
    nock.cleanAll();
  });

  it('says what to set for a sink that is named but not configured', async () => {
    await expect(monitorAlerts({env, ledger: false, notify: 'email', write: () => undefined})).rejects.toThrow(
      /^--notify email: set SMTP_HOST, ALERT_EMAIL_FROM, ALERT_EMAIL_TO/,
    );
    await expect(monitorAlerts({env, ledger: false, notify: 'pager', write: () => undefined})).rejects.toThrow(/pager: is not a sink; --notify takes slack, email, webhook/);
    await expect(monitorAlerts({env, ledger: false, remindAfter: 'tomorrow', write: () => undefined})).rejects.toThrow(/--remind-after "tomorrow" is not a duration/);
  });

  it('refuses an SMTP server that refuses the credentials, without showing the password', async () => {
    const error = (await run({ledger: false, notify: 'email', env: {...sinksEnv(), SMTP_PASSWORD: 'wrong-pw-0000'}}).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(new RegExp(`^email: 127\\.0\\.0\\.1:${smtpPort} did not take the message \\(`));
    expect(error.message).not.toContain('wrong-pw-0000');
  });
});

// keep the shared file's reader honest about what it wrote
it('writes a ledger a person can read', () => {
  expect(JSON.parse(readFileSync(ledger, 'utf8'))).toMatchObject({version: 1});
});
