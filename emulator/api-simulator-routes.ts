// The Fivetran REST API simulator's endpoints as data: method, path pattern and handler, one line each in
// API_ROUTES (emulator/api-simulator.ts serves them; emulator/api-simulator-connect.ts adds the connection
// wiring endpoints ahead of them). `{connections}` in a path stands for both nouns the API answers to,
// /connections and the legacy /connectors; `{name}` is one path segment, passed to the handler in order.
import {HttpAnswer, publicView, requireObject, type SimulatedConnections} from './api-simulator-connections.js';
import type {FleetConnection} from './fleet.js';

export interface RouteAnswer {
  message: string;
  data?: unknown;
  status?: number;
}

/** A handler of an endpoint: the path's segments, the query, the parsed JSON body (undefined when none). */
export type RouteHandler = (params: string[], query: URLSearchParams, body: unknown) => RouteAnswer;

export interface ApiRoute {
  method: string;
  path: string;
  handle: (connections: SimulatedConnections, params: string[], query: URLSearchParams, body: unknown) => RouteAnswer;
}

/** A route ready to match: one per noun, its pattern compiled, its name for sim.requestCount. */
export interface CompiledRoute {
  method: string;
  pattern: RegExp;
  /** e.g. `GET /v1/connections/{id}` */
  route: string;
  handle: RouteHandler;
}

function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const match = /^o:(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) throw new HttpAnswer(400, 'InvalidInput', `cursor "${cursor}" is not one this API returned; pass data.next_cursor from the previous page`);
  return Number(match[1]);
}

/** `limit` (1..1000, default 100) and `cursor` (from data.next_cursor; null on the last page). */
export function paginate<T>(items: T[], query: URLSearchParams): {items: T[]; next_cursor: string | null} {
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

const groupMissing = (groupId: string | undefined) => new HttpAnswer(404, 'NotFound_Group', `Group with id '${groupId}' doesn't exist`);

export const API_ROUTES: readonly ApiRoute[] = [
  {method: 'GET', path: '/v1/groups', handle: (c, _p, query) => ({message: 'Groups listed', data: paginate(c.fleet.groups, query)})},
  {
    method: 'GET',
    path: '/v1/groups/{group_id}',
    handle: (c, [groupId]) => {
      const group = c.fleet.groups.find((g) => g.id === groupId);
      if (!group) throw groupMissing(groupId);
      return {message: 'Group found', data: group};
    },
  },
  {
    method: 'GET',
    path: '/v1/groups/{group_id}/{connections}',
    handle: (c, [groupId], query) => {
      if (!c.fleet.groups.some((g) => g.id === groupId)) throw groupMissing(groupId);
      return {message: 'Connections listed', data: listPage(c.connectionsOf(groupId!), query)};
    },
  },
  {method: 'GET', path: '/v1/{connections}', handle: (c, _p, query) => ({message: 'Connections listed', data: listPage(c.connectionsOf(query.get('group_id')), query)})},
  {method: 'GET', path: '/v1/{connections}/{id}', handle: (c, [id]) => ({message: 'Connection found', data: publicView(c.find(id!))})},
  {
    method: 'PATCH',
    path: '/v1/{connections}/{id}',
    handle: (c, [id], _q, body) => {
      const connection = c.find(id!);
      c.patchConnection(connection, requireObject(body));
      return {message: 'Connection has been updated', data: publicView(connection)};
    },
  },
  {
    method: 'POST',
    path: '/v1/{connections}/{id}/sync',
    handle: (c, [id], _q, body) => {
      const force = requireObject(body).force;
      if (force !== undefined && typeof force !== 'boolean') throw new HttpAnswer(400, 'InvalidInput', `force must be true or false; got ${JSON.stringify(force)}`);
      return {message: c.triggerSync(c.find(id!), force === true)};
    },
  },
  {method: 'POST', path: '/v1/connectors/{id}/force', handle: (c, [id]) => ({message: c.triggerSync(c.find(id!), true)})},
  {method: 'POST', path: '/v1/{connections}/{id}/test', handle: (c, [id]) => ({message: 'Setup tests were completed', data: c.runSetupTests(c.find(id!))})},
  {
    method: 'GET',
    path: '/v1/{connections}/{id}/state',
    handle: (c, [id]) => {
      c.find(id!);
      return {message: 'Connection state', data: {state: c.runtimeOf(id!).state}};
    },
  },
  {
    method: 'PATCH',
    path: '/v1/{connections}/{id}/state',
    handle: (c, [id], _q, body) => {
      const connection = c.find(id!);
      const {state} = requireObject(body);
      if (typeof state !== 'object' || state === null || Array.isArray(state)) throw new HttpAnswer(400, 'InvalidInput', 'the body must be {"state": {...}} with a JSON object');
      if (connection.status.sync_state === 'syncing') throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' is syncing; wait for the sync to finish, pause it, then update the state`);
      if (!connection.paused) throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' must be paused before its state is updated; PATCH {"paused": true} first`);
      c.runtimeOf(connection.id).state = state as Record<string, unknown>;
      return {message: 'Connection state has been updated', data: {state}};
    },
  },
];

/** One compiled route per noun of `path` (`{connections}`: /connections and /connectors). */
export function compileRoute(method: string, path: string, handle: RouteHandler): CompiledRoute[] {
  return (path.includes('{connections}') ? ['connections', 'connectors'] : ['']).map((noun) => {
    const concrete = path.replace('{connections}', noun);
    return {method, pattern: new RegExp(`^${concrete.replace(/\{[a-z_]+\}/g, '([^/]+)')}$`), route: `${method} ${concrete}`, handle};
  });
}

/**
 * The route for `method` and `path` with its decoded segments; a 405 naming the allowed methods when only
 * other methods answer the path, a 404 when none does. The first matching route wins.
 */
export function matchRoute(routes: readonly CompiledRoute[], method: string, path: string): {route: CompiledRoute; params: string[]} {
  const matches = routes.filter((r) => r.pattern.test(path));
  const match = matches.find((r) => r.method === method);
  if (!match) {
    if (matches.length) throw new HttpAnswer(405, 'MethodNotAllowed', `${method} is not allowed on ${path}; use ${[...new Set(matches.map((r) => r.method))].join(' or ')}`);
    throw new HttpAnswer(404, 'NotFound', `No such endpoint: ${method} ${path}`);
  }
  return {route: match, params: match.pattern.exec(path)!.slice(1).map(decodeURIComponent)};
}
