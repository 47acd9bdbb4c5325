// The API simulator's webhooks (docs/fivetran.md, "Webhooks"): what `./fivetran monitor webhook` talks to, and
// the deliveries Fivetran makes, so the fivetran-webhooks function can be tested against the whole loop.
// Registered by emulator/api-simulator.ts through the small core below.
//
//   POST   /v1/webhooks/account             {url, events, active?, secret?} → 201 the webhook (secret masked);
//                                           Fivetran sends it a test_event at once
//   POST   /v1/webhooks/group/{group_id}    the same for one group's connections (404 NotFound_Group)
//   GET    /v1/webhooks                     {items, next_cursor: null}
//   GET    /v1/webhooks/{id}                one webhook
//   DELETE /v1/webhooks/{id}                removes it
//   POST   /v1/webhooks/{id}/test           {event?}: delivers a test event now → {succeed, status, message}
//
// Deliveries: when a simulated sync starts or ends (the simulator's clock settles it), every active webhook
// that covers the connection and lists the event gets a JSON POST {event, created, connector_type,
// connector_id, connector_name, sync_id, destination_group_id, data: {status, reason}} signed in
// X-Fivetran-Signature-256 (hex HMAC-SHA256 of the body with the webhook's secret). sync_end's status is
// SUCCESSFUL, or FAILURE_WITH_TASK with the failure's message as reason. Deliveries run in the background:
// `sim.webhooks.settled()` waits for them, `sim.webhooks.deliveries` records each, `redeliver` repeats one
// byte for byte (as Fivetran does when it got no 2xx).
import {createHmac, randomBytes, randomUUID} from 'node:crypto';
import type {SimulatedSync} from './api-simulator-connections.js';
import type {RouteHandler} from './api-simulator-routes.js';
import type {FleetConnection} from './fleet.js';

export const WEBHOOK_EVENTS = ['sync_start', 'sync_end', 'status', 'dbt_run_start', 'dbt_run_succeeded', 'dbt_run_failed'] as const;
const MASKED = '******';

export interface SimulatedWebhook {
  id: string;
  type: 'account' | 'group';
  group_id?: string;
  url: string;
  events: string[];
  active: boolean;
  secret: string;
  created_at: string;
}

export interface SimulatedDelivery {
  webhookId: string;
  event: string;
  url: string;
  /** the body exactly as sent (what the signature covers) */
  body: string;
  signature: string;
  /** the receiver's HTTP status; 0 when it could not be reached */
  status: number;
  at: number;
}

/** What the simulator lends this module. */
export interface WebhookCore {
  route(method: string, template: string, handle: RouteHandler): void;
  groupExists(groupId: string): boolean;
  /** called when a simulated sync starts and when it ends */
  onSync(listener: (event: 'sync_start' | 'sync_end', connection: FleetConnection, sync: SimulatedSync) => void): void;
  requireObject(body: unknown): Record<string, unknown>;
  answer(status: number, code: string, message: string): Error;
  now(): number;
}

/** Control hooks for tests: `sim.webhooks`. */
export interface WebhookSimulator {
  /** the webhooks as stored, secrets included */
  list(): SimulatedWebhook[];
  deliveries: SimulatedDelivery[];
  /** resolves once every delivery started so far has been answered (or failed) */
  settled(): Promise<void>;
  /** sends a recorded delivery again, byte for byte; resolves with the receiver's status */
  redeliver(delivery: SimulatedDelivery): Promise<number>;
}

const publicWebhook = (webhook: SimulatedWebhook) => ({...webhook, secret: MASKED});

export function registerWebhookRoutes(core: WebhookCore): WebhookSimulator {
  const webhooks = new Map<string, SimulatedWebhook>();
  const deliveries: SimulatedDelivery[] = [];
  const pending = new Set<Promise<unknown>>();
  const syncIds = new WeakMap<SimulatedSync, string>();
  const bad = (message: string) => core.answer(400, 'InvalidInput', message);

  const post = async (url: string, body: string, signature: string): Promise<number> => {
    try {
      const response = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json', 'x-fivetran-signature-256': signature}, body, signal: AbortSignal.timeout(10_000)});
      await response.arrayBuffer();
      return response.status;
    } catch {
      return 0;
    }
  };
  const deliver = (webhook: SimulatedWebhook, payload: Record<string, unknown>): Promise<number> => {
    const body = JSON.stringify(payload);
    const signature = createHmac('sha256', webhook.secret).update(body).digest('hex');
    const record: SimulatedDelivery = {webhookId: webhook.id, event: String(payload.event), url: webhook.url, body, signature, status: 0, at: core.now()};
    deliveries.push(record);
    const sent = post(webhook.url, body, signature).then((status) => (record.status = status));
    pending.add(sent);
    void sent.finally(() => pending.delete(sent));
    return sent;
  };

  const create = (body: unknown, groupId?: string) => {
    const fields = core.requireObject(body);
    if (typeof fields.url !== 'string' || !/^https?:\/\//.test(fields.url)) throw bad('url is required: the http(s) address Fivetran delivers to');
    if (!Array.isArray(fields.events) || fields.events.length === 0) throw bad(`events is required: a list of ${WEBHOOK_EVENTS.join(', ')}`);
    const unknown = fields.events.filter((event) => !(WEBHOOK_EVENTS as readonly unknown[]).includes(event));
    if (unknown.length) throw bad(`unknown events ${unknown.map((e) => JSON.stringify(e)).join(', ')}; events are ${WEBHOOK_EVENTS.join(', ')}`);
    if (fields.active !== undefined && typeof fields.active !== 'boolean') throw bad('active must be true or false');
    if (fields.secret !== undefined && (typeof fields.secret !== 'string' || fields.secret === '')) throw bad('secret must be a non-empty string');
    const webhook: SimulatedWebhook = {
      id: `webhook_${randomBytes(6).toString('hex')}`,
      type: groupId ? 'group' : 'account',
      ...(groupId ? {group_id: groupId} : {}),
      url: fields.url,
      events: fields.events as string[],
      active: fields.active ?? true,
      secret: (fields.secret as string | undefined) ?? randomBytes(16).toString('hex'),
      created_at: new Date(core.now()).toISOString(),
    };
    webhooks.set(webhook.id, webhook);
    if (webhook.active) void deliver(webhook, {event: 'test_event', created: webhook.created_at, webhook_id: webhook.id});
    return {message: 'Webhook has been created', status: 201, data: publicWebhook(webhook)};
  };
  const find = (id: string | undefined) => {
    const webhook = webhooks.get(id ?? '');
    if (!webhook) throw core.answer(404, 'NotFound_Webhook', `Webhook with id '${id}' doesn't exist`);
    return webhook;
  };

  core.route('POST', '/v1/webhooks/account', (_p, _q, body) => create(body));
  core.route('POST', '/v1/webhooks/group/{group_id}', ([groupId], _q, body) => {
    if (!core.groupExists(groupId!)) throw core.answer(404, 'NotFound_Group', `Group with id '${groupId}' doesn't exist`);
    return create(body, groupId);
  });
  core.route('GET', '/v1/webhooks', () => ({message: 'Webhooks listed', data: {items: [...webhooks.values()].map(publicWebhook), next_cursor: null}}));
  core.route('GET', '/v1/webhooks/{id}', ([id]) => ({message: 'Webhook found', data: publicWebhook(find(id))}));
  core.route('DELETE', '/v1/webhooks/{id}', ([id]) => {
    webhooks.delete(find(id).id);
    return {message: 'Webhook has been deleted'};
  });
  core.route('POST', '/v1/webhooks/{id}/test', ([id], _q, body) => {
    const webhook = find(id);
    const event = core.requireObject(body).event ?? 'sync_start';
    if (!(WEBHOOK_EVENTS as readonly unknown[]).includes(event)) throw bad(`event must be one of ${WEBHOOK_EVENTS.join(', ')}`);
    // Fivetran answers once the receiver did; a route answers at once, so the outcome is in sim.webhooks.deliveries
    void deliver(webhook, {event, created: new Date(core.now()).toISOString(), connector_type: 'test', connector_id: 'test_connection', connector_name: 'test_schema', sync_id: randomUUID(), destination_group_id: 'test_group', data: event === 'sync_end' ? {status: 'SUCCESSFUL'} : {}});
    return {message: 'Webhook test has been sent', data: {succeed: true, status: 200, message: `a test ${event} event was sent to ${webhook.url}`}};
  });

  core.onSync((event, connection, sync) => {
    let syncId = syncIds.get(sync);
    if (!syncId) syncIds.set(sync, (syncId = randomUUID()));
    const failed = sync.outcome === 'failed';
    const payload = {
      event,
      created: new Date(event === 'sync_start' ? sync.startedAt : sync.endsAt).toISOString(),
      connector_type: connection.service,
      connector_id: connection.id,
      connector_name: connection.schema,
      sync_id: syncId,
      destination_group_id: connection.group_id,
      data: event === 'sync_start' ? {} : failed ? {status: 'FAILURE_WITH_TASK', reason: sync.message ?? 'the sync failed'} : {status: 'SUCCESSFUL'},
    };
    for (const webhook of webhooks.values()) {
      if (!webhook.active || !webhook.events.includes(event)) continue;
      if (webhook.type === 'group' && webhook.group_id !== connection.group_id) continue;
      void deliver(webhook, payload);
    }
  });

  return {
    list: () => [...webhooks.values()],
    deliveries,
    async settled() {
      while (pending.size) await Promise.allSettled([...pending]);
    },
    async redeliver(delivery) {
      const status = await post(delivery.url, delivery.body, delivery.signature);
      deliveries.push({...delivery, status, at: core.now()});
      return status;
    },
  };
}
