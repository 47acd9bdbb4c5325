// ./fivetran monitor webhook create|list|test: Fivetran's webhooks (docs/fivetran.md, "Webhooks") pointed at
// the fivetran-webhooks function, so a failed sync raises its alert when it ends instead of at the next poll.
// `create` makes the webhook with a secret generated here: Fivetran signs every delivery with it, and the
// function refuses what it cannot verify, so the secret is shown once (or kept in --secret-file, mode 0600)
// for FIVETRAN_WEBHOOK_SECRET and never again (the API answers it masked).
import {randomBytes} from 'node:crypto';
import {chmodSync, existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import type {Webhook} from '../../sdk/fivetran-api.js';
import {CliConfigError, UsageError} from '../errors.js';
import {apiFromEnv, type MonitorCommonOptions} from './common.js';

/** The events a webhook may carry (docs/fivetran.md, "Webhooks"); the function acts on sync_end. */
const WEBHOOK_EVENTS = ['sync_start', 'sync_end', 'status', 'dbt_run_start', 'dbt_run_succeeded', 'dbt_run_failed'] as const;
const DEFAULT_EVENTS = ['sync_start', 'sync_end'];

export interface WebhookCreateOptions extends MonitorCommonOptions {
  url: string;
  group?: string;
  /** comma-separated events (default sync_start,sync_end) */
  events?: string;
  /** keep the secret in this file (mode 0600) instead of printing it; an existing file's secret is used as it is */
  secretFile?: string;
  json?: boolean;
}

function parseEvents(text: string | undefined): string[] {
  const events = text === undefined ? DEFAULT_EVENTS : text.split(',').map((event) => event.trim()).filter(Boolean);
  const unknown = events.filter((event) => !(WEBHOOK_EVENTS as readonly string[]).includes(event));
  if (unknown.length || events.length === 0) throw new UsageError(`--events takes a comma-separated list of ${WEBHOOK_EVENTS.join(', ')}${unknown.length ? `; not ${unknown.join(', ')}` : ''}`);
  return [...new Set(events)];
}

/** The secret of --secret-file when it exists (made earlier, e.g. to deploy the function first), else a new one. */
function webhookSecret(file: string | undefined): {secret: string; reused: boolean} {
  if (file && existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length < 16) throw new CliConfigError(`--secret-file ${file} holds no secret of at least 16 characters; delete it to have one generated`);
    return {secret, reused: true};
  }
  return {secret: randomBytes(32).toString('hex'), reused: false};
}

export async function webhookCreate(options: WebhookCreateOptions): Promise<Webhook> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new UsageError(`--url "${options.url}" is not a URL; give the trigger URL of the fivetran-webhooks function (https://...)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--url must be an http(s) address, not ${url.protocol}`);
  const events = parseEvents(options.events);
  const secretFile = options.secretFile ? path.resolve(options.cwd ?? process.cwd(), options.secretFile) : undefined;
  const {secret, reused} = webhookSecret(secretFile);
  const api = apiFromEnv(options.env ?? process.env, options.retries);
  // written before the webhook exists: a secret Fivetran signs with but nobody kept would be useless
  if (secretFile && !reused) {
    writeFileSync(secretFile, `${secret}\n`, {mode: 0o600});
    chmodSync(secretFile, 0o600);
  }
  const {data: webhook} = await api.createWebhook({url: options.url, events, secret, groupId: options.group});
  const scope = options.group ? `group ${options.group}` : 'the account';
  if (options.json) {
    write(`${JSON.stringify({...webhook, ...(secretFile ? {secret_file: secretFile} : {secret})}, null, 2)}\n`);
    return webhook;
  }
  const lines = [`created webhook ${webhook.id} for ${scope}: ${events.join(', ')} → ${webhook.url}`];
  if (secretFile) {
    lines.push(
      `its secret is in ${path.relative(options.cwd ?? process.cwd(), secretFile) || secretFile}${reused ? '' : ' (mode 0600)'}; make it FIVETRAN_WEBHOOK_SECRET of the function, e.g.`,
      `  gcloud secrets create fivetran-webhook-secret --data-file=${shellPath(secretFile)}`,
    );
  } else {
    lines.push(
      'its secret, shown this once (the API never shows it again):',
      `  ${secret}`,
      'make it FIVETRAN_WEBHOOK_SECRET of the fivetran-webhooks function (deploy.yaml: FIVETRAN_WEBHOOK_SECRET: {secret: fivetran-webhook-secret}),',
      'e.g. printf %s "<the secret>" | gcloud secrets create fivetran-webhook-secret --data-file=-  (or pass --secret-file FILE to keep it in a file)',
    );
  }
  lines.push('Fivetran sent the function a test_event; deliveries that fail the signature check are refused with 401 (see the function\'s logs)');
  write(`${lines.join('\n')}\n`);
  return webhook;
}

const shellPath = (file: string) => (/^[A-Za-z0-9_./-]+$/.test(file) ? file : `'${file.replace(/'/g, `'\\''`)}'`);

export interface WebhookListOptions extends MonitorCommonOptions {
  json?: boolean;
}

export async function webhookList(options: WebhookListOptions = {}): Promise<Webhook[]> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const webhooks = await apiFromEnv(options.env ?? process.env, options.retries).listWebhooks();
  if (options.json) {
    write(`${JSON.stringify(webhooks, null, 2)}\n`);
  } else if (webhooks.length === 0) {
    write('no webhooks; create one with ./fivetran monitor webhook create --url <the fivetran-webhooks function URL>\n');
  } else {
    const rows = webhooks.map((w) => [w.id, w.type === 'group' ? `group ${w.group_id ?? ''}` : w.type, w.active ? 'active' : 'inactive', w.events.join(','), w.url]);
    const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
    write(`${rows.map((row) => row.map((cell, i) => (i < 4 ? cell.padEnd(widths[i]!) : cell)).join('  ')).join('\n')}\n`);
  }
  return webhooks;
}

export interface WebhookTestOptions extends MonitorCommonOptions {
  id: string;
  /** the event Fivetran delivers (default sync_end) */
  event?: string;
}

export async function webhookTest(options: WebhookTestOptions): Promise<{succeed: boolean; message?: string}> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const event = options.event ?? 'sync_end';
  if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) throw new UsageError(`--event must be one of ${WEBHOOK_EVENTS.join(', ')}`);
  const {data} = await apiFromEnv(options.env ?? process.env, options.retries).testWebhook(options.id, event);
  write(`${data.succeed ? 'sent' : 'failed to send'} a test ${event} to webhook ${options.id}${data.message ? `: ${data.message}` : ''}\n`);
  return data;
}
