// Where alerts go (`monitor alerts`, and the fivetran-webhooks function): what changed: Slack (an incoming webhook), email over SMTP (nodemailer), and a
// generic webhook (a JSON POST signed with HMAC-SHA256, so the receiver can check it came from us). Several at
// once (--notify slack,email,webhook); each is configured from the environment, and a failing one does not stop
// the others: its failure is one line naming it, and the command exits non-zero after all have run.
//
// The webhook's signature: header X-Fleet-Timestamp (Unix seconds) and X-Fleet-Signature-256
// `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with ALERT_WEBHOOK_SECRET>`. A receiver recomputes it
// over the raw body, compares in constant time, and refuses timestamps older than a few minutes (replays).
import {createHmac} from 'node:crypto';
import type {OpenAlert} from './lifecycle.js';
import {formatDuration} from './health.js';
import {changeCount, changeLines, type AlertChanges} from './lifecycle.js';
import type {Alert} from './alerts.js';

/** got's HTTPError, recognised without loading got (it is imported when a sink first sends). */
const isHttpError = (error: unknown): error is {response: {statusCode: number; body: unknown}} =>
  (error as {name?: string} | null)?.name === 'HTTPError' && typeof (error as {response?: {statusCode?: unknown}}).response?.statusCode === 'number';

/** What one run tells the sinks: the changes since the last run, and every alert still open. */
export interface AlertReport {
  checkedAt: string;
  connections: number;
  changes: AlertChanges;
  open: OpenAlert[];
}

export const SINK_NAMES = ['slack', 'email', 'webhook'] as const;
export type SinkName = (typeof SINK_NAMES)[number];

export interface Sink {
  name: SinkName;
  send(report: AlertReport): Promise<void>;
}

/** A sink that cannot be used as configured: one line naming it and what to set. */
export class SinkError extends Error {
  constructor(
    readonly sink: SinkName,
    message: string,
    options?: {cause?: unknown},
  ) {
    super(`${sink}: ${message}`, options);
    this.name = 'SinkError';
  }
}

// ---- Slack: posting to an incoming webhook (the URL is a secret: it never appears in output or errors)
export interface SlackBlock {
  type: string;
  [key: string]: unknown;
}

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Slack mrkdwn treats &, < and > as markup. */
export const escapeMrkdwn = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function countBySeverity(alerts: Pick<Alert, 'severity'>[]): {critical: number; warning: number} {
  return {critical: alerts.filter((a) => a.severity === 'critical').length, warning: alerts.filter((a) => a.severity === 'warning').length};
}

/** Posts once; Slack answers 200 "ok" or an error code in the body. */
async function postToSlack(webhookUrl: string, message: SlackMessage): Promise<void> {
  let url: URL;
  try {
    url = new URL(webhookUrl);
  } catch {
    throw new SinkError('slack', 'SLACK_WEBHOOK_URL (or --slack-webhook) is not a URL; give the incoming webhook URL from Slack (https://hooks.slack.com/services/...)');
  }
  try {
    const {default: got} = await import('got');
    await got.post(url, {json: message, timeout: {request: 15_000}, retry: {limit: 2, methods: ['POST'], statusCodes: [429, 500, 502, 503, 504]}});
  } catch (error) {
    const detail = isHttpError(error) ? `${error.response.statusCode} ${String(error.response.body).slice(0, 100)}` : (error as {code?: string}).code ?? 'network error';
    throw new SinkError('slack', `did not accept the alerts (${detail}); check the webhook URL and that its app is still installed`);
  }
}

/** `1 connection` (a webhook event's report), `20 connections` (a check's). */
const connectionCount = (report: AlertReport) => `${report.connections} connection${report.connections === 1 ? '' : 's'}`;

function summary(report: AlertReport): string {
  const {changes} = report;
  const parts = [
    changes.opened.length ? `${changes.opened.length} new` : '',
    changes.escalated.length ? `${changes.escalated.length} escalated` : '',
    changes.resolved.length ? `${changes.resolved.length} resolved` : '',
    changes.reminders.length ? `${changes.reminders.length} still open` : '',
  ].filter(Boolean);
  const critical = report.open.filter((alert) => alert.severity === 'critical').length;
  return `Fivetran alerts: ${parts.join(', ') || 'no change'} (${critical} critical, ${report.open.length - critical} warning open)`;
}

// ---- Slack

const MAX_SLACK_SECTIONS = 45;

export function slackChangesMessage(report: AlertReport): SlackMessage {
  const title = summary(report);
  const {changes} = report;
  const icon = (severity: string) => (severity === 'critical' ? ':red_circle:' : ':large_yellow_circle:');
  const where = (alert: OpenAlert) => [alert.tenant_id ? `tenant *${escapeMrkdwn(alert.tenant_id)}*` : null, `\`${escapeMrkdwn(alert.schema_name)}\``].filter(Boolean).join(' · ');
  const sections: string[] = [
    ...changes.opened.map((a) => `${icon(a.severity)} *new ${a.rule.replace(/_/g, ' ')}* · ${where(a)}\n${escapeMrkdwn(a.message)}`),
    ...changes.escalated.map((a) => `:rotating_light: *escalated to critical: ${a.rule.replace(/_/g, ' ')}* · ${where(a)}\n${escapeMrkdwn(a.message)}`),
    ...changes.reminders.map((a) => `${icon(a.severity)} *still open for ${formatDuration(a.open_for_ms)}* · ${where(a)}\n${escapeMrkdwn(a.message)}`),
    ...changes.resolved.map((a) => `:large_green_circle: *resolved* · ${where(a)}\n${escapeMrkdwn(a.schema_name)} recovered after ${formatDuration(a.duration_ms)} (was ${a.rule.replace(/_/g, ' ')})`),
  ];
  const shown = sections.slice(0, MAX_SLACK_SECTIONS);
  const blocks: SlackBlock[] = [
    {type: 'header', text: {type: 'plain_text', text: title, emoji: true}},
    {type: 'context', elements: [{type: 'mrkdwn', text: `Checked ${report.checkedAt} · ${connectionCount(report)}`}]},
    ...shown.map((text): SlackBlock => ({type: 'section', text: {type: 'mrkdwn', text: text.length > 2900 ? `${text.slice(0, 2899)}…` : text}})),
  ];
  if (sections.length > shown.length) {
    blocks.push({type: 'context', elements: [{type: 'mrkdwn', text: `…and ${sections.length - shown.length} more; run \`./fivetran monitor alerts\` for the full list`}]});
  }
  return {text: title, blocks};
}

function slackSink(webhookUrl: string): Sink {
  return {
    name: 'slack',
    async send(report) {
      await postToSlack(webhookUrl, slackChangesMessage(report));
    },
  };
}

// ---- email

export interface EmailSettings {
  host: string;
  port: number;
  /** TLS from the first byte (port 465); otherwise STARTTLS when the server offers it, unless ignoreTls */
  secure: boolean;
  ignoreTls: boolean;
  user?: string;
  password?: string;
  from: string;
  to: string[];
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The plain text and HTML bodies: the changes, then a table of the open alerts per tenant. */
export function emailBodies(report: AlertReport): {subject: string; text: string; html: string} {
  const subject = summary(report);
  const byTenant = new Map<string, OpenAlert[]>();
  for (const alert of report.open) {
    const tenant = alert.tenant_id ?? '(no tenant)';
    byTenant.set(tenant, [...(byTenant.get(tenant) ?? []), alert]);
  }
  const tenants = [...byTenant.keys()].sort();
  const text = [
    subject,
    `Checked ${report.checkedAt} across ${connectionCount(report)}.`,
    '',
    'What changed since the last check:',
    ...changeLines(report.changes).map((line) => `  ${line}`),
    '',
    ...tenants.flatMap((tenant) => [
      `Open alerts, tenant ${tenant}:`,
      ...byTenant.get(tenant)!.map((a) => `  ${a.severity.toUpperCase().padEnd(8)} ${a.schema_name.padEnd(24)} ${a.rule.padEnd(17)} open since ${a.opened_at}`),
      '',
    ]),
  ].join('\n');
  const cell = 'style="border:1px solid #ccc;padding:4px 8px;text-align:left"';
  const html = [
    `<h2>${escapeHtml(subject)}</h2>`,
    `<p>Checked ${escapeHtml(report.checkedAt)} across ${connectionCount(report)}.</p>`,
    '<h3>What changed since the last check</h3>',
    `<ul>${changeLines(report.changes).map((line) => `<li>${escapeHtml(line)}</li>`).join('')}</ul>`,
    ...tenants.map(
      (tenant) =>
        `<h3>Open alerts, tenant ${escapeHtml(tenant)}</h3><table style="border-collapse:collapse"><tr><th ${cell}>severity</th><th ${cell}>connection</th><th ${cell}>problem</th><th ${cell}>open since</th><th ${cell}>message</th></tr>` +
        byTenant
          .get(tenant)!
          .map((a) => `<tr><td ${cell}>${a.severity}</td><td ${cell}>${escapeHtml(a.schema_name)}</td><td ${cell}>${escapeHtml(a.rule.replace(/_/g, ' '))}</td><td ${cell}>${escapeHtml(a.opened_at)}</td><td ${cell}>${escapeHtml(a.message)}</td></tr>`)
          .join('') +
        '</table>',
    ),
  ].join('\n');
  return {subject, text, html};
}

export function emailSettingsFromEnv(env: NodeJS.ProcessEnv): EmailSettings {
  const missing = ['SMTP_HOST', 'ALERT_EMAIL_FROM', 'ALERT_EMAIL_TO'].filter((name) => !env[name]);
  if (missing.length) throw new SinkError('email', `set ${missing.join(', ')} (and SMTP_PORT, SMTP_SECURE, SMTP_USER, SMTP_PASSWORD as your server needs)`);
  const port = Number(env.SMTP_PORT ?? (env.SMTP_SECURE === 'true' ? 465 : 587));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new SinkError('email', `SMTP_PORT=${env.SMTP_PORT} is not a port number`);
  return {
    host: env.SMTP_HOST!,
    port,
    secure: env.SMTP_SECURE === 'true',
    ignoreTls: env.SMTP_IGNORE_TLS === 'true',
    user: env.SMTP_USER || undefined,
    password: env.SMTP_PASSWORD || undefined,
    from: env.ALERT_EMAIL_FROM!,
    to: env.ALERT_EMAIL_TO!.split(',').map((address) => address.trim()).filter(Boolean),
  };
}

function emailSink(settings: EmailSettings): Sink {
  return {
    name: 'email',
    async send(report) {
      const {createTransport} = await import('nodemailer');
      const transport = createTransport({
        host: settings.host,
        port: settings.port,
        secure: settings.secure,
        ignoreTLS: settings.ignoreTls,
        ...(settings.user ? {auth: {user: settings.user, pass: settings.password ?? ''}} : {}),
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 30_000,
      });
      const {subject, text, html} = emailBodies(report);
      try {
        await transport.sendMail({from: settings.from, to: settings.to, subject, text, html});
      } catch (error) {
        const detail = (error as {code?: string; responseCode?: number}).responseCode ?? (error as {code?: string}).code ?? 'error';
        const message = ((error as Error).message || '').split('\n')[0]!.replaceAll(settings.password ?? '\u0000', '[REDACTED]');
        throw new SinkError('email', `${settings.host}:${settings.port} did not take the message (${detail}: ${message}); check SMTP_HOST, SMTP_PORT, SMTP_SECURE and the credentials`, {cause: error});
      } finally {
        transport.close();
      }
    },
  };
}

// ---- generic webhook

export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function webhookSink(url: string, secret: string, now: () => Date): Sink {
  return {
    name: 'webhook',
    async send(report) {
      const body = JSON.stringify({event: 'fivetran_alerts', checked_at: report.checkedAt, connections: report.connections, changes: report.changes, open: report.open});
      const timestamp = Math.floor(now().getTime() / 1000);
      let host = 'the webhook';
      try {
        host = new URL(url).host;
      } catch {
        throw new SinkError('webhook', 'ALERT_WEBHOOK_URL is not a URL; give the http(s) address that receives the alerts');
      }
      try {
        // once: a receiver that got the POST but answered late would otherwise see it twice
        const {default: got} = await import('got');
        await got.post(url, {
          body,
          headers: {'content-type': 'application/json', 'x-fleet-timestamp': String(timestamp), 'x-fleet-signature-256': signWebhook(secret, timestamp, body)},
          timeout: {request: 15_000},
          retry: {limit: 0},
        });
      } catch (error) {
        const detail = isHttpError(error) ? `HTTP ${error.response.statusCode}` : (error as {code?: string}).code ?? 'network error';
        throw new SinkError('webhook', `${host} did not accept the alerts (${detail}); check ALERT_WEBHOOK_URL and that the receiver is up`, {cause: error});
      }
    },
  };
}

/**
 * The sinks to notify. `names` from --notify; without it, every sink whose settings are present (Slack when a
 * webhook URL is given). A sink named but not configured is an error naming what to set.
 */
export function sinksFrom(names: readonly string[] | undefined, env: NodeJS.ProcessEnv, options: {slackWebhook?: string; now?: () => Date} = {}): Sink[] {
  const slackUrl = options.slackWebhook ?? env.SLACK_WEBHOOK_URL;
  const configured = (name: SinkName) => (name === 'slack' ? Boolean(slackUrl) : name === 'email' ? Boolean(env.SMTP_HOST) : Boolean(env.ALERT_WEBHOOK_URL));
  const wanted = names ?? SINK_NAMES.filter(configured);
  const sinks: Sink[] = [];
  for (const name of wanted) {
    if (!(SINK_NAMES as readonly string[]).includes(name)) throw new SinkError(name as SinkName, `is not a sink; --notify takes ${SINK_NAMES.join(', ')}`);
    if (name === 'slack') {
      if (!slackUrl) throw new SinkError('slack', 'set SLACK_WEBHOOK_URL or --slack-webhook to the incoming webhook URL');
      sinks.push(slackSink(slackUrl));
    } else if (name === 'email') {
      sinks.push(emailSink(emailSettingsFromEnv(env)));
    } else {
      if (!env.ALERT_WEBHOOK_URL || !env.ALERT_WEBHOOK_SECRET) throw new SinkError('webhook', 'set ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET (the shared secret the receiver checks the signature with)');
      sinks.push(webhookSink(env.ALERT_WEBHOOK_URL, env.ALERT_WEBHOOK_SECRET, options.now ?? (() => new Date())));
    }
  }
  return sinks;
}

/** Sends the report to every sink; returns the names that took it and the failures (one line each). */
export async function notify(sinks: readonly Sink[], report: AlertReport): Promise<{sent: SinkName[]; failures: SinkError[]}> {
  if (changeCount(report.changes) === 0) return {sent: [], failures: []};
  const outcomes = await Promise.allSettled(sinks.map((sink) => sink.send(report)));
  const sent: SinkName[] = [];
  const failures: SinkError[] = [];
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') sent.push(sinks[i]!.name);
    else failures.push(outcome.reason instanceof SinkError ? outcome.reason : new SinkError(sinks[i]!.name, (outcome.reason as Error).message));
  });
  return {sent, failures};
}
