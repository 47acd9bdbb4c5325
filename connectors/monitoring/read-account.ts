// Reads a whole Fivetran account with the list endpoints (docs/fivetran.md §2): every list item carries the
// connection's full details, so the account costs one request per 1,000 connections plus one per page of
// groups, never one per connection. Two ways:
//   - every group: `GET /v1/connections?limit=1000` pages, in order, resumable from the page cursor;
//   - chosen groups: `GET /v1/groups/{id}/connections` for each, several groups at once (bounded), yielded in
//     group order so a resumed read restarts from the first group not yet delivered.
// Rate limits (429 with Retry-After) and 5xx are retried by FivetranApi, which also checks each page's
// shape and refuses a cursor it already gave.
import {ConnectionSchema, GroupSchema, type Connection, type FivetranApi, type Group} from '../../sdk/fivetran-api.js';
import {ConfigError} from '../../sdk/index.js';

export const MAX_PAGE_SIZE = 1000;

export interface ReadPosition {
  /** every-group mode: the cursor of the next page of /v1/connections */
  cursor?: string;
  /** chosen-groups mode: index of the next group (in the sorted group_ids) */
  group_index?: number;
  /** connections of that page already delivered (a check stopped in the middle of a page) */
  skip?: number;
}

export interface AccountPage {
  connections: Connection[];
  /** where this page starts (to resume inside it) */
  at: ReadPosition;
  /** where to continue after this page; null when the account has been read */
  next: ReadPosition | null;
}

export interface ReadAccountOptions {
  /** only these groups; all groups when absent or empty */
  groupIds?: readonly string[];
  /** groups read at once in chosen-groups mode (default 4) */
  concurrency?: number;
  /** where a previous call stopped */
  resume?: ReadPosition;
  pageSize?: number;
}

/** Every group of the account (one request per 1,000 groups). */
export async function readGroups(api: FivetranApi): Promise<Group[]> {
  return api.listAll('groups', GroupSchema, 'the list of groups');
}

/** Checks that every chosen group exists; returns them sorted (the order resumption relies on). */
export function chosenGroups(groupIds: readonly string[], groups: readonly Group[], setting = 'group_ids'): string[] {
  const known = new Set(groups.map((group) => group.id));
  const unknown = groupIds.filter((id) => !known.has(id));
  if (unknown.length) {
    throw new ConfigError(`${setting} names ${unknown.length === 1 && setting.startsWith('--') ? 'a group' : 'groups'} this API key cannot see: ${unknown.join(', ')}; fix ${setting} or leave it ${setting.startsWith('--') ? 'out' : 'empty'} for every group`);
  }
  return [...new Set(groupIds)].sort();
}

async function readGroupConnections(api: FivetranApi, groupId: string, pageSize: number): Promise<Connection[]> {
  const connections: Connection[] = [];
  const pages = api.pages(`groups/${encodeURIComponent(groupId)}/connections`, ConnectionSchema, {searchParams: {limit: pageSize}, what: `the connections of group "${groupId}"`});
  for await (const page of pages) connections.push(...page.items);
  return connections;
}

/** Pages of connections from `resume` on; each page says where the next one starts. */
export async function* readConnectionPages(api: FivetranApi, options: ReadAccountOptions = {}): AsyncGenerator<AccountPage> {
  const pageSize = Math.min(MAX_PAGE_SIZE, Math.max(1, options.pageSize ?? MAX_PAGE_SIZE));
  const groupIds = options.groupIds ?? [];
  if (groupIds.length === 0) {
    const pages = api.pages('connections', ConnectionSchema, {searchParams: {limit: pageSize}, what: 'the list of connections', cursor: options.resume?.cursor});
    for await (const page of pages) {
      yield {connections: page.items, at: page.cursor ? {cursor: page.cursor} : {}, next: page.next ? {cursor: page.next} : null};
    }
    return;
  }

  // Chosen groups: a window of at most `concurrency` requests in flight, delivered in order, so memory and
  // concurrency stay bounded and a stop after group i resumes at group i + 1.
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const start = options.resume?.group_index ?? 0;
  const inFlight: Promise<Connection[]>[] = [];
  let next = start;
  const fill = () => {
    while (inFlight.length < concurrency && next < groupIds.length) {
      const promise = readGroupConnections(api, groupIds[next]!, pageSize);
      // A rejection is observed when its turn comes; until then keep it from counting as unhandled.
      promise.catch(() => undefined);
      inFlight.push(promise);
      next++;
    }
  };
  fill();
  for (let index = start; index < groupIds.length; index++) {
    const connections = await inFlight.shift()!;
    fill();
    yield {connections, at: {group_index: index}, next: index + 1 < groupIds.length ? {group_index: index + 1} : null};
  }
  if (start >= groupIds.length) yield {connections: [], at: {group_index: start}, next: null};
}
