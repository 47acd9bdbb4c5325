// A local Fivetran REST API v1 (docs/fivetran.md §2) for tests, benchmarks, the demo and `./fivetran simulate api`:
// the real envelope, Basic auth, Accept/Content-Type checks, cursor pagination, rate limiting, and a sync
// state machine driven by a clock, over a fleet of groups and connections (emulator/fleet.ts).
// Its parts: the account and the sync state machine of each connection (api-simulator-connections.ts), the
// endpoints as a route table (api-simulator-routes.ts, then api-simulator-connect.ts for the wiring), and here
// the HTTP front every endpoint shares (auth, rate limit, Accept and body checks) and the control hooks.
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
//   sim.transformations                the transformations endpoints (emulator/api-simulator-transformations.ts):
//                                      three Quickstart transformations (one succeeds, one fails, one runs long)
//   sim.connect                        Function connection wiring (emulator/api-simulator-connect.ts): create,
//                                      configure, setup tests, service accounts, resync; its control hooks
//   sim.webhooks                       webhooks (emulator/api-simulator-webhooks.ts): signed sync_start/sync_end
//                                      deliveries as syncs run; deliveries, settled(), redeliver()
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
import {HttpAnswer, iso, publicView, requireObject, SimulatedConnections, type SimulatedSync} from './api-simulator-connections.js';
import {registerTransformationRoutes, type TransformationSimulator} from './api-simulator-transformations.js';
import {API_ROUTES, compileRoute, matchRoute, type CompiledRoute, type RouteHandler} from './api-simulator-routes.js';
import {registerWebhookRoutes, type WebhookSimulator} from './api-simulator-webhooks.js';
import {applyHealth, generateFleet, makeConnection, type Fleet, type FleetConnection} from './fleet.js';
import type {DemoSimulator} from '../sdk/index.js';


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
  transformationDurationMs?: number;
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

/** The control hooks a demo may use (sdk/demo.ts's DemoSimulator), and the rest tests use. */
export interface ApiSimulator extends DemoSimulator {
  url: string;
  port: number;
  apiKey: string;
  apiSecret: string;
  fleet: Fleet;
  requests: SimulatedRequest[];
  syncs: SimulatedSync[];
  close(): Promise<void>;
  addConnection(init: Parameters<typeof makeConnection>[0] & {groupName?: string}): FleetConnection;
  resetRequests(): void;
  connect: ConnectSimulator;
  transformations: TransformationSimulator;
  webhooks: WebhookSimulator;
}

export const DEFAULT_SIMULATOR_CREDENTIALS = {apiKey: 'sim_api_key', apiSecret: 'sim_api_secret'} as const;
export const FIVETRAN_RATE_LIMIT: RateLimit = {requestsPerWindow: 20_000, windowMs: 3_600_000};


function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true;
  return accept.split(',').some((part) => {
    const type = part.split(';')[0]!.trim().toLowerCase();
    return type === 'application/json' || type === 'application/*' || type === '*/*';
  });
}

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

/** Fixed windows: counts a request, sets X-Rate-Limit(-Remaining), and answers 429 with Retry-After over the limit. */
function fixedWindowLimiter(rateLimit: RateLimit, now: () => number): (headers: Record<string, string>) => void {
  let windowStart = -Infinity;
  let windowCount = 0;
  return (headers) => {
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
  };
}

interface Front {
  routes: readonly CompiledRoute[];
  requests: SimulatedRequest[];
  now: () => number;
  latencyMs: number;
  /** the Authorization header a request must carry */
  expectedAuth: string;
  limit?: (headers: Record<string, string>) => void;
}

/** One request through the checks every endpoint shares (auth, rate limit, Accept, body), then its route. */
async function answerRequest(front: Front, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://simulator');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const record: SimulatedRequest = {method, path, route: '(unmatched)', status: 0, at: front.now()};
  front.requests.push(record);
  const headers: Record<string, string> = {'content-type': 'application/json;charset=utf-8'};
  let status = 200;
  let payload: Record<string, unknown>;
  try {
    const text = await readBody(req);
    if (front.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, front.latencyMs));
    const auth = req.headers.authorization ?? '';
    if (auth !== front.expectedAuth) {
      throw new HttpAnswer(401, 'AuthFailed', auth ? 'Invalid API key or secret' : 'Missing Authorization header; use Basic auth with the API key and secret');
    }
    front.limit?.(headers);
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
    const {route, params} = matchRoute(front.routes, method, path);
    record.route = route.route;
    const result = route.handle(params, url.searchParams, body);
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

export async function startApiSimulator(options: ApiSimulatorOptions = {}): Promise<ApiSimulator> {
  const apiKey = options.apiKey ?? DEFAULT_SIMULATOR_CREDENTIALS.apiKey;
  const apiSecret = options.apiSecret ?? DEFAULT_SIMULATOR_CREDENTIALS.apiSecret;
  const rateLimit = options.rateLimit === false ? undefined : options.rateLimit ?? FIVETRAN_RATE_LIMIT;

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
  const connections = new SimulatedConnections(fleet, now, Math.max(1, options.syncDurationMs ?? 1000));
  const requests: SimulatedRequest[] = [];

  // the connection wiring endpoints first: where both answer a path (PATCH /connections/{id}, POST .../test),
  // the first route wins
  const routes: CompiledRoute[] = [];
  const route = (method: string, path: string, handle: RouteHandler) => void routes.push(...compileRoute(method, path, handle));
  const answer = (status: number, code: string, message: string) => new HttpAnswer(status, code, message);
  const connect = registerConnectRoutes({
    route,
    fleet,
    find: (id) => connections.find(id),
    add: (connection) => connections.add(connection),
    patchConnection: (connection, body) => connections.patchConnection(connection, body),
    runSetupTests: (connection) => connections.runSetupTests(connection),
    triggerSync: (connection, force) => connections.triggerSync(connection, force),
    publicView,
    requireObject,
    answer,
    now,
  });
  const transformations = registerTransformationRoutes(
    {route, fleet, now},
    {durationMs: options.transformationDurationMs ?? 45_000},
  );
  const webhooks = registerWebhookRoutes({
    route,
    groupExists: (groupId) => fleet.groups.some((g) => g.id === groupId),
    onSync: (listener) => connections.syncListeners.push(listener),
    requireObject,
    answer,
    now,
  });
  for (const {method, path, handle} of API_ROUTES) routes.push(...compileRoute(method, path, (params, query, body) => handle(connections, params, query, body)));

  const front: Front = {
    routes,
    requests,
    now,
    latencyMs: options.latencyMs ?? 0,
    expectedAuth: `Basic ${Buffer.from(`${apiKey}:${apiSecret}`).toString('base64')}`,
    limit: rateLimit ? fixedWindowLimiter(rateLimit, now) : undefined,
  };
  const server: Server = createServer((req, res) => {
    void answerRequest(front, req, res);
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
  const {syncs} = connections;
  const known = (id: string) => connections.known(id);
  const runtimeOf = (id: string) => connections.runtimeOf(id);
  const settleAll = () => connections.settleAll();

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
      if (connections.byId.has(init.id)) throw new Error(`api simulator: connection "${init.id}" already exists`);
      if (!fleet.groups.some((g) => g.id === init.group_id)) fleet.groups.push({id: init.group_id, name: init.groupName ?? init.group_id, created_at: iso(now())});
      const connection = makeConnection({now: now(), ...init});
      connections.add(connection);
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
      connections.setPaused(connection, paused);
      connection.health = paused ? 'paused' : connection.health === 'paused' ? 'healthy' : connection.health;
    },
    markRescheduled(id, untilMs) {
      known(id);
      runtimeOf(id).quotaUntil = untilMs;
    },
    markHealthy(id) {
      const connection = known(id);
      const runtime = runtimeOf(id);
      connections.cancelSync(connection, 'canceled');
      connections.active.delete(id);
      runtime.brokenMessage = undefined;
      runtime.failNext = [];
      runtime.quotaUntil = undefined;
      applyHealth(connection, 'healthy', now(), () => 0.5);
    },
    setSyncDuration(ms, id) {
      if (id === undefined) connections.syncDurationMs = Math.max(1, ms);
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
    transformations,
    webhooks,
  };
}
