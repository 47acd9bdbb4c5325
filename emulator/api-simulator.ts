// A local Fivetran REST API v1 (docs/fivetran.md §2) for tests, benchmarks, the demo and `./fivetran simulate api`:
// the real envelope, Basic auth, Accept/Content-Type checks, cursor pagination, rate limiting, and a sync
// state machine driven by a clock, over a fleet of groups and connections (emulator/fleet.ts).
//
// API (stable; tests and benchmarks import it):
//
//   const sim = await startApiSimulator({
//     port?: number,                 // 0 / absent = a free port; host?: string (default 127.0.0.1)
//     apiKey?: string, apiSecret?: string,   // default 'sim_api_key' / 'sim_api_secret'
//     fleet?: Fleet,                 // default generateFleet({groups: 2, connectionsPerGroup: 10, seed: 1})
//     latencyMs?: number,            // added before every answer (default 0)
//     rateLimit?: {requestsPerWindow, windowMs} | false,  // default Fivetran's 20,000 an hour; false = none
//     syncDurationMs?: number,       // how long a triggered sync runs (default 1000)
//     now?: number | Date | () => number,  // the clock: a start time that then runs, or a function (tests)
//   });
//   sim.url                 // http://127.0.0.1:<port> (FivetranApi appends /v1; pass as fivetran_api_url)
//   sim.apiKey, sim.apiSecret, sim.port, sim.fleet (live objects)
//   await sim.close()
//
// Control hooks (all take a connection id and throw on an unknown one):
//   sim.connection(id)                 the connection as the API would show it now (settled)
//   sim.addConnection(init)            add a connection (fleet.makeConnection fields; group created if new)
//   sim.failNextSync(id, message?)     the next sync of id fails (queued: call twice to fail two)
//   sim.markBroken(id, message?)       setup_state broken: syncs fail and setup tests fail until markHealthy
//   sim.markDelayed(id)                update_state delayed, last success 3 intervals ago
//   sim.markPaused(id, paused = true)  paused (sync_state paused); a running sync is canceled
//   sim.markRescheduled(id, untilMs)   syncs triggered before untilMs go `rescheduled` (rescheduled_for = untilMs)
//   sim.markHealthy(id)                connected, on schedule, recent success; clears injected faults
//   sim.setSyncDuration(ms, id?)       sync duration for one connection or all
//   sim.setState(id, state) / sim.getState(id)   the function state behind /state
//   sim.now(), sim.advance(ms)         the simulator clock (advance moves it forward for every clock kind)
//   sim.requestCount(key?)             requests seen: all, or by `METHOD /path`, `/path`, or route
//                                      (`POST /v1/connections/{id}/sync`); sim.requests holds each one
//   sim.resetRequests()
//   sim.syncs                          every sync started: {connectionId, startedAt, endsAt, outcome, message?}
//   sim.connect                        Function connection wiring (emulator/api-simulator-connect.ts): create,
//                                      configure, setup tests, service accounts, resync; its control hooks
//
// Behaviour:
//   - Every answer is JSON {code, message, data?}. Wrong or missing credentials: 401 AuthFailed. An Accept
//     header that does not allow application/json: 406 (no Accept is fine). POST/PATCH with a body and a
//     Content-Type other than application/json: 415; a body that is not JSON: 400.
//   - Lists take `limit` (1..1000, default 100; else 400) and `cursor` (from data.next_cursor; null on the last page).
//   - Rate limit: fixed windows; X-Rate-Limit and X-Rate-Limit-Remaining on each answer; over it 429
//     TooManyRequests with Retry-After in seconds.
//   - POST /connections/{id}/sync {force?}: 409 when syncing unless force (which restarts it); 409 when
//     paused (unpause with PATCH {"paused": false}); 400 when setup is incomplete. The sync runs for
//     syncDurationMs, then sets succeeded_at, or failed_at when a failure was injected or the connection is
//     broken. POST /v1/connectors/{id}/force is the legacy trigger (force = true).
//   - PATCH /connections/{id}/state {state}: 409 while syncing or unless paused (docs/fivetran.md §2: pause first).
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {registerConnectRoutes, type ConnectSimulator} from './api-simulator-connect.js';
import {applyHealth, generateFleet, makeConnection, SYNC_FREQUENCIES, type Fleet, type FleetConnection} from './fleet.js';

export interface RateLimit {
  requestsPerWindow: number;
  windowMs: number;
}

export interface ApiSimulatorOptions {
  port?: number;
  host?: string;
  apiKey?: string;
  apiSecret?: string;
  fleet?: Fleet;
  latencyMs?: number;
  rateLimit?: RateLimit | false;
  syncDurationMs?: number;
  now?: number | Date | (() => number);
}

export interface SimulatedRequest {
  method: string;
  path: string;
  /** the matched route, e.g. `GET /v1/connections/{id}` (`(unmatched)` otherwise) */
  route: string;
  status: number;
  at: number;
}

export interface SimulatedSync {
  connectionId: string;
  startedAt: number;
  endsAt: number;
  outcome: 'running' | 'succeeded' | 'failed' | 'canceled' | 'restarted';
  message?: string;
}

export interface ApiSimulator {
  url: string;
  port: number;
  apiKey: string;
  apiSecret: string;
  fleet: Fleet;
  requests: SimulatedRequest[];
  syncs: SimulatedSync[];
  close(): Promise<void>;
  now(): number;
  advance(ms: number): void;
  connection(id: string): Record<string, unknown>;
  addConnection(init: Parameters<typeof makeConnection>[0] & {groupName?: string}): FleetConnection;
  failNextSync(id: string, message?: string): void;
  markBroken(id: string, message?: string): void;
  markDelayed(id: string): void;
  markPaused(id: string, paused?: boolean): void;
  markRescheduled(id: string, untilMs: number): void;
  markHealthy(id: string): void;
  setSyncDuration(ms: number, id?: string): void;
  setState(id: string, state: Record<string, unknown>): void;
  getState(id: string): Record<string, unknown>;
  requestCount(key?: string): number;
  resetRequests(): void;
  connect: ConnectSimulator;
}

export const DEFAULT_SIMULATOR_CREDENTIALS = {apiKey: 'sim_api_key', apiSecret: 'sim_api_secret'} as const;
export const FIVETRAN_RATE_LIMIT: RateLimit = {requestsPerWindow: 20_000, windowMs: 3_600_000};

interface ConnectionRuntime {
  sync?: SimulatedSync;
  failNext: string[];
  brokenMessage?: string;
  quotaUntil?: number;
  durationMs?: number;
  state: Record<string, unknown>;
}

class HttpAnswer extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
const PATCHABLE = ['paused', 'schedule_type', 'sync_frequency', 'daily_sync_time', 'pause_after_trial', 'data_delay_sensitivity', 'data_delay_threshold'] as const;

function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^o:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new HttpAnswer(400, 'InvalidInput', `cursor "${cursor}" is not one this API returned; pass data.next_cursor from the previous page`);
  return Number(match[1]);
}

function publicView(connection: FleetConnection): Record<string, unknown> {
  const {health: _health, ...rest} = connection;
  return {...rest, status: {...rest.status, tasks: [...rest.status.tasks], warnings: [...rest.status.warnings]}};
}

function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((part) => {
    const type = part.split(';')[0]!.trim().toLowerCase();
    return type === 'application/json' || type === 'application/*' || type === '*/*';
  });
}

export async function startApiSimulator(options: ApiSimulatorOptions = {}): Promise<ApiSimulator> {
  const apiKey = options.apiKey ?? DEFAULT_SIMULATOR_CREDENTIALS.apiKey;
  const apiSecret = options.apiSecret ?? DEFAULT_SIMULATOR_CREDENTIALS.apiSecret;
  const latencyMs = options.latencyMs ?? 0;
  const rateLimit = options.rateLimit === false ? undefined : options.rateLimit ?? FIVETRAN_RATE_LIMIT;
  let syncDurationMs = Math.max(1, options.syncDurationMs ?? 1000);

  // the clock: a function as given, or a start time that runs with real time; advance() adds to both
  let offset = 0;
  const clockSource = options.now;
  const realStart = Date.now();
  const base =
    typeof clockSource === 'function' ? clockSource
    : clockSource !== undefined ? ((start: number) => () => start + (Date.now() - realStart))(clockSource instanceof Date ? clockSource.getTime() : clockSource)
    : () => Date.now();
  const now = () => base() + offset;

  const fleet = options.fleet ?? generateFleet({groups: 2, connectionsPerGroup: 10, seed: 1, now: now()});
  const byId = new Map<string, FleetConnection>();
  const runtimes = new Map<string, ConnectionRuntime>();
  /** connections whose status can change with time (syncing or rescheduled) */
  const active = new Set<string>();
  const requests: SimulatedRequest[] = [];
  const syncs: SimulatedSync[] = [];

  const register = (connection: FleetConnection) => {
    byId.set(connection.id, connection);
    const runtime: ConnectionRuntime = {failNext: [], state: {}};
    runtimes.set(connection.id, runtime);
    if (connection.status.setup_state === 'broken') runtime.brokenMessage = connection.status.tasks[0]?.message ?? 'the connection is broken';
    if (connection.status.sync_state === 'syncing') startSync(connection, now());
    if (connection.status.sync_state === 'rescheduled') {
      runtime.quotaUntil = connection.status.rescheduled_for ? Date.parse(connection.status.rescheduled_for) : now();
      active.add(connection.id);
    }
  };

  function runtimeOf(id: string): ConnectionRuntime {
    return runtimes.get(id)!;
  }

  function startSync(connection: FleetConnection, at: number): void {
    const runtime = runtimeOf(connection.id);
    const duration = Math.max(1, runtime.durationMs ?? syncDurationMs);
    const sync: SimulatedSync = {connectionId: connection.id, startedAt: at, endsAt: at + duration, outcome: 'running'};
    runtime.sync = sync;
    syncs.push(sync);
    connection.status.sync_state = 'syncing';
    connection.status.rescheduled_for = null;
    active.add(connection.id);
  }

  function finishSync(connection: FleetConnection, runtime: ConnectionRuntime, sync: SimulatedSync): void {
    const failure = runtime.failNext.shift() ?? runtime.brokenMessage;
    const status = connection.status;
    status.sync_state = connection.paused ? 'paused' : 'scheduled';
    if (failure !== undefined) {
      sync.outcome = 'failed';
      sync.message = failure;
      connection.failed_at = iso(sync.endsAt);
      status.warnings = [{code: 'sync_failed', message: failure}];
    } else {
      sync.outcome = 'succeeded';
      connection.succeeded_at = iso(sync.endsAt);
      status.update_state = 'on_schedule';
      status.is_historical_sync = false;
      status.warnings = [];
    }
    runtime.sync = undefined;
  }

  /** Brings a connection's status up to the clock: finishes syncs, starts auto syncs whose reschedule passed. */
  function settle(connection: FleetConnection, at = now()): void {
    if (!active.has(connection.id)) return;
    const runtime = runtimeOf(connection.id);
    const status = connection.status;
    if (status.sync_state === 'rescheduled' && runtime.quotaUntil !== undefined && at >= runtime.quotaUntil && connection.schedule_type === 'auto' && !connection.paused) {
      startSync(connection, runtime.quotaUntil);
      runtime.quotaUntil = undefined;
    }
    if (runtime.sync && at >= runtime.sync.endsAt) finishSync(connection, runtime, runtime.sync);
    if (!runtime.sync && status.sync_state !== 'rescheduled') active.delete(connection.id);
  }

  function settleAll(at = now()): void {
    for (const id of [...active]) settle(byId.get(id)!, at);
  }

  function find(id: string): FleetConnection {
    const connection = byId.get(id);
    if (!connection) throw new HttpAnswer(404, 'NotFound_Connector', `Connection with id '${id}' doesn't exist`);
    settle(connection);
    return connection;
  }

  function known(id: string): FleetConnection {
    const connection = byId.get(id);
    if (!connection) throw new Error(`api simulator: no connection "${id}" (known: ${[...byId.keys()].slice(0, 5).join(', ')}${byId.size > 5 ? ', ...' : ''})`);
    settle(connection);
    return connection;
  }

  function cancelSync(connection: FleetConnection, outcome: 'canceled' | 'restarted'): void {
    const runtime = runtimeOf(connection.id);
    if (!runtime.sync) return;
    runtime.sync.outcome = outcome;
    runtime.sync.endsAt = now();
    runtime.sync = undefined;
  }

  function setPaused(connection: FleetConnection, paused: boolean): void {
    connection.paused = paused;
    if (paused) {
      cancelSync(connection, 'canceled');
      connection.status.sync_state = 'paused';
      active.delete(connection.id);
    } else if (connection.status.sync_state === 'paused') {
      connection.status.sync_state = 'scheduled';
    }
  }

  for (const connection of fleet.connections) register(connection);

  // ---- HTTP ----

  function paginate<T>(items: T[], query: URLSearchParams): {items: T[]; next_cursor: string | null} {
    const limitText = query.get('limit');
    let limit = 100;
    if (limitText !== null) {
      limit = Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new HttpAnswer(400, 'InvalidInput', `limit must be a whole number from 1 to 1000; got "${limitText}"`);
      }
    }
    const cursor = query.get('cursor');
    const start = cursor ? decodeCursor(cursor) : 0;
    const page = items.slice(start, start + limit);
    const next = start + limit < items.length ? encodeCursor(start + limit) : null;
    return {items: page, next_cursor: next};
  }

  /** one page of connections as the API shows them (only the page is copied: fleets run to thousands) */
  function listPage(connections: FleetConnection[], query: URLSearchParams): {items: Record<string, unknown>[]; next_cursor: string | null} {
    const page = paginate(connections, query);
    return {items: page.items.map(publicView), next_cursor: page.next_cursor};
  }

  function connectionsOf(groupId: string | null): FleetConnection[] {
    settleAll();
    return groupId === null ? fleet.connections : fleet.connections.filter((c) => c.group_id === groupId);
  }

  function requireObject(body: unknown): Record<string, unknown> {
    if (body === undefined) return {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpAnswer(400, 'InvalidInput', 'the request body must be a JSON object');
    return body as Record<string, unknown>;
  }

  function patchConnection(connection: FleetConnection, body: Record<string, unknown>): void {
    const unknownKeys = Object.keys(body).filter((key) => !(PATCHABLE as readonly string[]).includes(key));
    if (unknownKeys.length) throw new HttpAnswer(400, 'InvalidInput', `cannot update ${unknownKeys.map((k) => `"${k}"`).join(', ')}; updatable fields: ${PATCHABLE.join(', ')}`);
    const bad = (field: string, rule: string) => new HttpAnswer(400, 'InvalidInput', `${field} ${rule}; got ${JSON.stringify(body[field])}`);
    if ('paused' in body && typeof body.paused !== 'boolean') throw bad('paused', 'must be true or false');
    if ('pause_after_trial' in body && typeof body.pause_after_trial !== 'boolean') throw bad('pause_after_trial', 'must be true or false');
    if ('schedule_type' in body && body.schedule_type !== 'auto' && body.schedule_type !== 'manual') throw bad('schedule_type', 'must be "auto" or "manual"');
    if ('sync_frequency' in body && !(SYNC_FREQUENCIES as readonly unknown[]).includes(body.sync_frequency)) throw bad('sync_frequency', `must be one of ${SYNC_FREQUENCIES.join(', ')} (minutes)`);
    if ('daily_sync_time' in body && (typeof body.daily_sync_time !== 'string' || !/^([01]\d|2[0-3]):00$/.test(body.daily_sync_time))) throw bad('daily_sync_time', 'must be a whole hour like "03:00"');
    if ('data_delay_sensitivity' in body && !['LOW', 'NORMAL', 'HIGH', 'CUSTOM', 'SYSTEM'].includes(body.data_delay_sensitivity as string)) throw bad('data_delay_sensitivity', 'must be LOW, NORMAL, HIGH, CUSTOM or SYSTEM');
    if ('data_delay_threshold' in body && (!Number.isInteger(body.data_delay_threshold) || (body.data_delay_threshold as number) < 0)) throw bad('data_delay_threshold', 'must be a whole number of minutes >= 0');
    if ('schedule_type' in body) connection.schedule_type = body.schedule_type as 'auto' | 'manual';
    if ('sync_frequency' in body) connection.sync_frequency = body.sync_frequency as number;
    if ('daily_sync_time' in body) connection.daily_sync_time = body.daily_sync_time as string;
    if ('pause_after_trial' in body) connection.pause_after_trial = body.pause_after_trial as boolean;
    if ('data_delay_sensitivity' in body) connection.data_delay_sensitivity = body.data_delay_sensitivity as FleetConnection['data_delay_sensitivity'];
    if ('data_delay_threshold' in body) connection.data_delay_threshold = body.data_delay_threshold as number;
    if ('paused' in body) setPaused(connection, body.paused as boolean);
  }

  function triggerSync(connection: FleetConnection, force: boolean): string {
    const runtime = runtimeOf(connection.id);
    if (connection.paused) {
      throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' is paused; unpause it with PATCH /v1/connections/${connection.id} {"paused": false} before syncing`);
    }
    if (connection.status.setup_state === 'incomplete') {
      throw new HttpAnswer(400, 'InvalidState', `Connection '${connection.id}' setup is incomplete; finish its setup before syncing`);
    }
    if (connection.status.sync_state === 'syncing') {
      if (!force) throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' is already syncing; pass {"force": true} to restart the sync`);
      cancelSync(connection, 'restarted');
    }
    const at = now();
    if (runtime.quotaUntil !== undefined && at < runtime.quotaUntil) {
      connection.status.sync_state = 'rescheduled';
      connection.status.rescheduled_for = iso(runtime.quotaUntil);
      active.add(connection.id);
      return `Sync has been rescheduled for connection with id '${connection.id}' until ${iso(runtime.quotaUntil)}`;
    }
    runtime.quotaUntil = undefined;
    startSync(connection, at);
    return `Sync has been successfully triggered for connection with id '${connection.id}'`;
  }

  function runSetupTests(connection: FleetConnection): Record<string, unknown> {
    const runtime = runtimeOf(connection.id);
    const failure = runtime.brokenMessage ?? (connection.status.setup_state === 'incomplete' ? 'The setup form is incomplete' : undefined);
    if (failure === undefined) {
      connection.status.setup_state = 'connected';
      connection.status.tasks = [];
    }
    return {
      ...publicView(connection),
      setup_tests: [
        {title: 'Connecting to the function', status: failure === undefined ? 'PASSED' : 'FAILED', message: failure ?? ''},
        {title: 'Validating the response', status: failure === undefined ? 'PASSED' : 'SKIPPED', message: ''},
      ],
    };
  }

  type Handler = (params: string[], query: URLSearchParams, body: unknown) => {message: string; data?: unknown; status?: number};
  const routes: {method: string; pattern: RegExp; route: string; handle: Handler}[] = [];
  const route = (method: string, template: string, handle: Handler) => {
    for (const noun of template.includes('{connections}') ? ['connections', 'connectors'] : ['']) {
      const path = template.replace('{connections}', noun);
      const pattern = new RegExp(`^${path.replace(/\{[a-z_]+\}/g, '([^/]+)')}$`);
      routes.push({method, pattern, route: `${method} ${path.replace('{connections}', noun)}`, handle});
    }
  };

  // registered first: where both answer a path (PATCH /connections/{id}, POST .../test), the first route wins
  const connect = registerConnectRoutes({
    route,
    fleet,
    find,
    add(connection) {
      fleet.connections.push(connection);
      register(connection);
    },
    patchConnection,
    runSetupTests,
    triggerSync,
    publicView,
    requireObject,
    answer: (status, code, message) => new HttpAnswer(status, code, message),
    now,
  });

  route('GET', '/v1/groups', (_p, query) => ({message: 'Groups listed', data: paginate(fleet.groups, query)}));
  route('GET', '/v1/groups/{group_id}', ([groupId]) => {
    const group = fleet.groups.find((g) => g.id === groupId);
    if (!group) throw new HttpAnswer(404, 'NotFound_Group', `Group with id '${groupId}' doesn't exist`);
    return {message: 'Group found', data: group};
  });
  route('GET', '/v1/groups/{group_id}/{connections}', ([groupId], query) => {
    if (!fleet.groups.some((g) => g.id === groupId)) throw new HttpAnswer(404, 'NotFound_Group', `Group with id '${groupId}' doesn't exist`);
    return {message: 'Connections listed', data: listPage(connectionsOf(groupId!), query)};
  });
  route('GET', '/v1/{connections}', (_p, query) => ({message: 'Connections listed', data: listPage(connectionsOf(query.get('group_id')), query)}));
  route('GET', '/v1/{connections}/{id}', ([id]) => ({message: 'Connection found', data: publicView(find(id!))}));
  route('PATCH', '/v1/{connections}/{id}', ([id], _q, body) => {
    const connection = find(id!);
    patchConnection(connection, requireObject(body));
    return {message: 'Connection has been updated', data: publicView(connection)};
  });
  route('POST', '/v1/{connections}/{id}/sync', ([id], _q, body) => {
    const force = requireObject(body).force;
    if (force !== undefined && typeof force !== 'boolean') throw new HttpAnswer(400, 'InvalidInput', `force must be true or false; got ${JSON.stringify(force)}`);
    return {message: triggerSync(find(id!), force === true)};
  });
  route('POST', '/v1/connectors/{id}/force', ([id]) => ({message: triggerSync(find(id!), true)}));
  route('POST', '/v1/{connections}/{id}/test', ([id]) => ({message: 'Setup tests were completed', data: runSetupTests(find(id!))}));
  route('GET', '/v1/{connections}/{id}/state', ([id]) => {
    find(id!);
    return {message: 'Connection state', data: {state: runtimeOf(id!).state}};
  });
  route('PATCH', '/v1/{connections}/{id}/state', ([id], _q, body) => {
    const connection = find(id!);
    const {state} = requireObject(body);
    if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new HttpAnswer(400, 'InvalidInput', 'the body must be {"state": {...}} with a JSON object');
    if (connection.status.sync_state === 'syncing') throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' is syncing; wait for the sync to finish, pause it, then update the state`);
    if (!connection.paused) throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' must be paused before its state is updated; PATCH {"paused": true} first`);
    runtimeOf(connection.id).state = state as Record<string, unknown>;
    return {message: 'Connection state has been updated', data: {state}};
  });

  let windowStart = -Infinity;
  let windowCount = 0;

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 1024 * 1024) throw new HttpAnswer(413, 'PayloadTooLarge', 'the request body is over 1 MiB');
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://simulator');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const record: SimulatedRequest = {method, path, route: '(unmatched)', status: 0, at: now()};
    requests.push(record);
    const headers: Record<string, string> = {'content-type': 'application/json;charset=utf-8'};
    let status = 200;
    let payload: Record<string, unknown>;
    try {
      const text = await readBody(req);
      if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
      const auth = req.headers.authorization ?? '';
      const expected = `Basic ${Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')}`;
      if (auth !== expected) {
        throw new HttpAnswer(401, 'AuthFailed', auth ? 'Invalid API key or secret' : 'Missing Authorization header; use Basic auth with the API key and secret');
      }
      if (rateLimit) {
        const at = now();
        if (at >= windowStart + rateLimit.windowMs) {
          windowStart = at;
          windowCount = 0;
        }
        windowCount += 1;
        headers['x-rate-limit'] = String(rateLimit.requestsPerWindow);
        headers['x-rate-limit-remaining'] = String(Math.max(0, rateLimit.requestsPerWindow - windowCount));
        if (windowCount > rateLimit.requestsPerWindow) {
          const retryAfter = Math.max(1, Math.ceil((windowStart + rateLimit.windowMs - at) / 1000));
          throw new HttpAnswer(429, 'TooManyRequests', `Rate limit of ${rateLimit.requestsPerWindow} requests exceeded; retry after ${retryAfter} s`, {'retry-after': String(retryAfter)});
        }
      }
      if (!acceptsJson(req.headers.accept)) {
        throw new HttpAnswer(406, 'NotAcceptable', `Accept "${req.headers.accept}" does not allow application/json; send Accept: application/json;version=2`);
      }
      let body: unknown;
      if (text.length > 0 && (method === 'POST' || method === 'PATCH' || method === 'PUT')) {
        const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (contentType !== 'application/json') {
          throw new HttpAnswer(415, 'UnsupportedMediaType', `Content-Type "${req.headers['content-type'] ?? ''}" is not supported; send Content-Type: application/json`);
        }
        try {
          body = JSON.parse(text);
        } catch {
          throw new HttpAnswer(400, 'InvalidInput', 'the request body is not valid JSON');
        }
      }
      const matches = routes.filter((r) => r.pattern.test(path));
      const match = matches.find((r) => r.method === method);
      if (!match) {
        if (matches.length) throw new HttpAnswer(405, 'MethodNotAllowed', `${method} is not allowed on ${path}; use ${[...new Set(matches.map((r) => r.method))].join(' or ')}`);
        throw new HttpAnswer(404, 'NotFound', `No such endpoint: ${method} ${path}`);
      }
      record.route = match.route;
      const params = match.pattern.exec(path)!.slice(1).map(decodeURIComponent);
      const result = match.handle(params, url.searchParams, body);
      status = result.status ?? 200;
      payload = {code: 'Success', message: result.message, ...(result.data === undefined ? {} : {data: result.data})};
    } catch (error) {
      if (error instanceof HttpAnswer) {
        status = error.status;
        Object.assign(headers, error.headers);
        payload = {code: error.code, message: error.message};
      } else {
        status = 500;
        payload = {code: 'InternalServerError', message: (error as Error).message};
      }
    }
    record.status = status;
    if (!res.destroyed) {
      res.writeHead(status, headers);
      res.end(JSON.stringify(payload));
    }
  }

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '127.0.0.1';
  let closed = false;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    apiKey,
    apiSecret,
    /** the live fleet, settled to the clock on each read */
    get fleet() {
      settleAll();
      return fleet;
    },
    requests,
    /** syncs started so far, settled to the clock on each read */
    get syncs() {
      settleAll();
      return syncs;
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    now,
    advance(ms: number) {
      offset += ms;
      settleAll();
    },
    connection(id) {
      return publicView(known(id));
    },
    addConnection(init) {
      if (byId.has(init.id)) throw new Error(`api simulator: connection "${init.id}" already exists`);
      if (!fleet.groups.some((g) => g.id === init.group_id)) fleet.groups.push({id: init.group_id, name: init.groupName ?? init.group_id, created_at: iso(now())});
      const connection = makeConnection({now: now(), ...init});
      fleet.connections.push(connection);
      register(connection);
      return connection;
    },
    failNextSync(id, message = 'The function answered 500: simulated failure') {
      known(id);
      runtimeOf(id).failNext.push(message);
    },
    markBroken(id, message = 'The source rejected the credentials; edit the connection and reconnect') {
      const connection = known(id);
      const runtime = runtimeOf(id);
      runtime.brokenMessage = message;
      connection.health = 'broken';
      connection.status.setup_state = 'broken';
      connection.status.tasks = [{code: 'reconnect', message}];
    },
    markDelayed(id) {
      const connection = known(id);
      connection.health = 'delayed';
      connection.status.update_state = 'delayed';
      connection.succeeded_at = iso(now() - 3 * connection.sync_frequency * 60_000);
    },
    markPaused(id, paused = true) {
      const connection = known(id);
      setPaused(connection, paused);
      connection.health = paused ? 'paused' : connection.health === 'paused' ? 'healthy' : connection.health;
    },
    markRescheduled(id, untilMs) {
      known(id);
      runtimeOf(id).quotaUntil = untilMs;
    },
    markHealthy(id) {
      const connection = known(id);
      const runtime = runtimeOf(id);
      cancelSync(connection, 'canceled');
      active.delete(id);
      runtime.brokenMessage = undefined;
      runtime.failNext = [];
      runtime.quotaUntil = undefined;
      applyHealth(connection, 'healthy', now(), () => 0.5);
    },
    setSyncDuration(ms, id) {
      if (id === undefined) syncDurationMs = Math.max(1, ms);
      else {
        known(id);
        runtimeOf(id).durationMs = Math.max(1, ms);
      }
    },
    setState(id, state) {
      known(id);
      runtimeOf(id).state = state;
    },
    getState(id) {
      known(id);
      return runtimeOf(id).state;
    },
    requestCount(key) {
      if (key === undefined) return requests.length;
      return requests.filter((r) => `${r.method} ${r.path}` === key || r.path === key || r.route === key).length;
    },
    resetRequests() {
      requests.length = 0;
    },
    connect,
  };
}
