// fivetran-webhooks: the Cloud Function that receives Fivetran's account or group webhooks (docs/fivetran.md,
// "Webhooks") and turns a failed sync_end into the alert the monitoring connector's check would raise (rule
// failing, critical), sent through the same sinks and deduplicated against the same ledger of open alerts; a
// later successful sync_end of that connection resolves it. Monitoring by push: minutes earlier than a poll.
//
// Not a Fivetran connector: Fivetran POSTs deliveries to it, it answers nothing but an acknowledgement. Every
// delivery is signed (X-Fivetran-Signature-256: hex HMAC-SHA256 of the raw body with the webhook's secret);
// one that is not is refused with 401 before its body is read. It keeps nothing between requests: the ledger
// is a PostgreSQL table (ALERT_LEDGER_DATABASE_URL), shared by every instance and by `monitor alerts`.
import {createHmac, timingSafeEqual} from 'node:crypto';
import type {HttpFunction, Request} from '@google-cloud/functions-framework';
import {failedSyncAlert, fileLedgerStore, notify, postgresLedgerStore, reconcileConnection, SinkError, sinksFrom, type AlertChanges, type LedgerStore} from '../../connectors/monitoring/public.js';
import * as z from 'zod';
import {Logger, type LogSink} from '../../sdk/index.js';

const SIGNATURE_HEADER = 'x-fivetran-signature-256';
/** data.status of a sync_end that failed (docs/fivetran.md, "Webhooks"): RESCHEDULED and CANCELED are neither failure nor success. */
const FAILED = new Set(['FAILURE', 'FAILURE_WITH_TASK']);

const DeliverySchema = z.looseObject({
  event: z.string(),
  created: z.string().optional(),
  connector_type: z.string().optional(),
  connector_id: z.string().optional(),
  connector_name: z.string().optional(),
  sync_id: z.string().optional(),
  destination_group_id: z.string().optional(),
  data: z.looseObject({status: z.string().optional(), reason: z.string().nullish()}).nullish(),
});
type Delivery = z.infer<typeof DeliverySchema>;

export interface WebhookHandlerOptions {
  /** FIVETRAN_WEBHOOK_SECRET, the ledger and the sinks' settings (default process.env, read per request) */
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
  /** where log lines go (default stdout/stderr, as Cloud Logging reads them) */
  logSink?: LogSink;
}

/** The body exactly as sent: what the signature covers (functions-framework keeps it as req.rawBody). */
function rawBodyOf(req: Request): Buffer {
  if (Buffer.isBuffer(req.rawBody)) return req.rawBody;
  if (Buffer.isBuffer(req.body)) return req.body;
  if (typeof req.body === 'string') return Buffer.from(req.body);
  return Buffer.alloc(0);
}

/** Whether `header` is the hex HMAC-SHA256 of `body` with `secret` ("sha256=" prefix allowed), in constant time. */
export function validSignature(secret: string, body: Buffer, header: string | undefined): boolean {
  const hex = (header ?? '').trim().replace(/^sha256=/i, '');
  if (!/^[0-9a-f]{64}$/i.test(hex)) return false;
  return timingSafeEqual(createHmac('sha256', secret).update(body).digest(), Buffer.from(hex, 'hex'));
}

/** The values no log line or answer may show. */
function secretValues(env: NodeJS.ProcessEnv): string[] {
  const names = ['FIVETRAN_WEBHOOK_SECRET', 'SLACK_WEBHOOK_URL', 'SMTP_PASSWORD', 'ALERT_WEBHOOK_SECRET', 'ALERT_LEDGER_DATABASE_URL'];
  const values = names.map((name) => env[name]).filter((value): value is string => Boolean(value));
  const databasePassword = env.ALERT_LEDGER_DATABASE_URL ? safeUrlPassword(env.ALERT_LEDGER_DATABASE_URL) : undefined;
  return databasePassword ? [...values, databasePassword] : values;
}

function safeUrlPassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

function ledgerStoreFrom(env: NodeJS.ProcessEnv): LedgerStore {
  if (env.ALERT_LEDGER_DATABASE_URL) return postgresLedgerStore(env.ALERT_LEDGER_DATABASE_URL, {setting: 'ALERT_LEDGER_DATABASE_URL'});
  if (env.ALERT_LEDGER_FILE) return fileLedgerStore(env.ALERT_LEDGER_FILE);
  throw new Error('set ALERT_LEDGER_DATABASE_URL (postgres://...) to the database that keeps the open alerts (ALERT_LEDGER_FILE for a local serve)');
}

type Outcome = {status: number; body: Record<string, unknown>};

/** What one verified delivery does to the ledger and the sinks. */
async function applyDelivery(delivery: Delivery, env: NodeJS.ProcessEnv, now: Date, log: Logger): Promise<Outcome> {
  const {event} = delivery;
  if (event === 'test_event') return {status: 200, body: {ok: true, event, message: 'test_event received; the webhook reaches this function and its signature checks out'}};
  if (event !== 'sync_end') return {status: 200, body: {ok: true, event, message: `${event} is not acted on (only sync_end raises or resolves alerts)`}};
  const status = delivery.data?.status;
  const connectionId = delivery.connector_id;
  if (!connectionId || !status) return {status: 400, body: {ok: false, error: 'a sync_end delivery needs connector_id and data.status'}};
  if (status !== 'SUCCESSFUL' && !FAILED.has(status)) return {status: 200, body: {ok: true, event, message: `sync_end with status ${status} neither raises nor resolves an alert`}};
  const at = delivery.created && !Number.isNaN(Date.parse(delivery.created)) ? new Date(delivery.created).toISOString() : now.toISOString();
  const alert = FAILED.has(status)
    ? failedSyncAlert({
      connectionId, schemaName: delivery.connector_name ?? connectionId, service: delivery.connector_type ?? 'unknown', groupId: delivery.destination_group_id ?? '',
      at, reason: delivery.data?.reason ?? null,
    })
    : null;
  const sinks = sinksFrom(undefined, env);
  const store = ledgerStoreFrom(env);
  // without a sync_id (no delivery Fivetran makes) the open alert alone dedupes
  const applied = delivery.sync_id ? {key: `sync_end:${delivery.sync_id}`, at} : undefined;
  type Turn = {ignored?: 'duplicate' | 'stale'; changes: AlertChanges; sent: string[]; failures: SinkError[]};
  const result = await store.update<Turn>(async (ledger) => {
    const turn = reconcileConnection(ledger, connectionId, alert, now, applied);
    if (turn.ignored) return {ledger: null, result: {ignored: turn.ignored, changes: turn.changes, sent: [], failures: []}};
    const {sent, failures} = await notify(sinks, {checkedAt: at, connections: 1, changes: turn.changes, open: turn.ledger.open});
    // the ledger moves only when every sink took the change: otherwise Fivetran's retry sends it again
    return {ledger: failures.length ? null : turn.ledger, result: {changes: turn.changes, sent, failures}};
  });
  const counts = {opened: result.changes.opened.length, escalated: result.changes.escalated.length, resolved: result.changes.resolved.length};
  if (result.failures.length) {
    const message = result.failures.map((failure) => failure.message).join('; ');
    log.error(`sync_end of ${connectionId}: ${message}`, {connection_id: connectionId});
    // a 5xx makes Fivetran deliver it again, when the sink may be back
    return {status: 502, body: {ok: false, error: message}};
  }
  const why = result.ignored === 'duplicate' ? ': a delivery already applied' : result.ignored === 'stale' ? ': older than the last event applied for the connection' : '';
  log.info(`sync_end ${status} of ${connectionId}${why}`, {connection_id: connectionId, ...counts, notified: result.sent, ledger: store.label});
  return {status: 200, body: {ok: true, event, connection_id: connectionId, status, duplicate: result.ignored === 'duplicate', stale: result.ignored === 'stale', ...counts, notified: result.sent}};
}

/** The function, with its environment and clock given (tests); `main` reads process.env at every request. */
export function webhookHandler(options: WebhookHandlerOptions = {}): HttpFunction {
  return async (req, res) => {
    const env = options.env ?? process.env;
    const log = new Logger({connector: 'fivetran-webhooks', redact: secretValues(env), sink: options.logSink});
    const answer = ({status, body}: Outcome) => {
      res.status(status).type('application/json').send(log.redact(JSON.stringify(body)));
    };
    if (req.method !== 'POST') return answer({status: 405, body: {ok: false, error: 'Fivetran delivers webhooks with POST'}});
    const secret = env.FIVETRAN_WEBHOOK_SECRET;
    if (!secret) {
      log.error('FIVETRAN_WEBHOOK_SECRET is not set');
      return answer({status: 500, body: {ok: false, error: 'FIVETRAN_WEBHOOK_SECRET is not set; set it to the secret ./fivetran monitor webhook create printed'}});
    }
    const raw = rawBodyOf(req);
    const signature = req.get(SIGNATURE_HEADER);
    if (!validSignature(secret, raw, signature)) {
      log.warn(signature ? 'refused a delivery with a wrong signature' : 'refused a delivery without a signature');
      return answer({status: 401, body: {ok: false, error: signature ? `${SIGNATURE_HEADER} does not match the body; check that FIVETRAN_WEBHOOK_SECRET is the webhook's secret` : `${SIGNATURE_HEADER} is missing; only signed Fivetran deliveries are accepted`}});
    }
    let delivery: Delivery;
    try {
      const parsed = DeliverySchema.safeParse(JSON.parse(raw.toString('utf8')));
      if (!parsed.success) return answer({status: 400, body: {ok: false, error: 'the delivery is not a Fivetran webhook event (a JSON object with a string "event")'}});
      delivery = parsed.data;
    } catch {
      return answer({status: 400, body: {ok: false, error: 'the delivery body is not valid JSON'}});
    }
    try {
      answer(await applyDelivery(delivery, env, options.now?.() ?? new Date(), log));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.error(`${delivery.event} of ${delivery.connector_id ?? '(no connection)'} failed: ${message}`, {connection_id: delivery.connector_id});
      answer({status: 500, body: {ok: false, error: message}});
    }
  };
}

export const main: HttpFunction = (req, res) => webhookHandler()(req, res);
