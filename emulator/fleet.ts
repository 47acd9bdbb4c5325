// Fleets of Fivetran groups and connections for the API simulator, tests and benchmarks: N groups × M
// connections with every field of docs/fivetran.md §2, in a mix of health states chosen deterministically from a
// seed, with timestamps placed relative to `now` so "delayed" and "healthy" mean what they say.
//
//   generateFleet({groups: 3, connectionsPerGroup: 50, seed: 7})
//   generateFleet({groups: 1, connectionsPerGroup: 10, seed: 1, mix: {healthy: 6, broken: 2, paused: 2}})
//
// `mix` weights are normalised; counts are exact (largest remainder), then shuffled by the seed. Each
// connection carries `health` (the state it was generated in) so tests can pick one of a kind; the API
// simulator does not send it.
import {readFileSync} from 'node:fs';

export const SYNC_FREQUENCIES = [1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440] as const;

export type ConnectionHealth = 'healthy' | 'delayed' | 'broken' | 'failing' | 'paused' | 'syncing' | 'rescheduled' | 'incomplete';
export const CONNECTION_HEALTHS: readonly ConnectionHealth[] = ['healthy', 'delayed', 'broken', 'failing', 'paused', 'syncing', 'rescheduled', 'incomplete'];

export const DEFAULT_MIX: Readonly<Record<ConnectionHealth, number>> = {
  healthy: 70,
  delayed: 8,
  broken: 6,
  failing: 4,
  paused: 6,
  syncing: 3,
  rescheduled: 2,
  incomplete: 1,
};

export interface FleetGroup {
  id: string;
  name: string;
  created_at: string;
}

export interface FleetMessage {
  code: string;
  message: string;
}

export interface FleetConnectionStatus {
  setup_state: 'incomplete' | 'connected' | 'broken';
  sync_state: 'scheduled' | 'syncing' | 'paused' | 'rescheduled';
  update_state: 'on_schedule' | 'delayed';
  is_historical_sync: boolean;
  rescheduled_for: string | null;
  tasks: FleetMessage[];
  warnings: FleetMessage[];
}

export interface FleetConnection {
  id: string;
  group_id: string;
  service: string;
  service_version: number;
  schema: string;
  connected_by: string;
  created_at: string;
  succeeded_at: string | null;
  failed_at: string | null;
  sync_frequency: number;
  schedule_type: 'auto' | 'manual';
  paused: boolean;
  pause_after_trial: boolean;
  daily_sync_time: string;
  data_delay_sensitivity: 'LOW' | 'NORMAL' | 'HIGH' | 'CUSTOM' | 'SYSTEM';
  data_delay_threshold: number;
  status: FleetConnectionStatus;
  config: Record<string, unknown>;
  /** the health it was generated in (not part of the API; the simulator strips it) */
  health: ConnectionHealth;
}

export interface Fleet {
  groups: FleetGroup[];
  connections: FleetConnection[];
}

export interface GenerateFleetOptions {
  groups: number;
  connectionsPerGroup: number;
  seed: number;
  /** relative weights per health; missing healths get 0 when a mix is given */
  mix?: Partial<Record<ConnectionHealth, number>>;
  /** reference time (ms) for timestamps; default Date.now() */
  now?: number;
}

/** mulberry32: small, fast, deterministic. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADJECTIVES = [
  'amber', 'bold', 'brisk', 'calm', 'clever', 'crisp', 'daring', 'eager', 'fair', 'gentle', 'glad', 'grand', 'hardy', 'honest', 'jolly', 'keen',
  'lively', 'lucid', 'merry', 'mild', 'neat', 'noble', 'plain', 'proud', 'quick', 'quiet', 'rapid', 'ready', 'sharp', 'shy', 'silent', 'sly',
  'smart', 'solid', 'steady', 'swift', 'tidy', 'vivid', 'warm', 'wise',
];
const NOUNS = [
  'acorn', 'anchor', 'badger', 'beacon', 'birch', 'canyon', 'cedar', 'comet', 'delta', 'ember', 'falcon', 'fjord', 'glacier', 'harbor', 'heron', 'island',
  'jaguar', 'kestrel', 'lagoon', 'lantern', 'maple', 'meadow', 'nebula', 'oasis', 'orchid', 'otter', 'pebble', 'prairie', 'quarry', 'raven', 'reef', 'ridge',
  'sequoia', 'summit', 'thistle', 'tundra', 'valley', 'walrus', 'willow', 'zephyr',
];
const GROUP_NAMES = ['analytics', 'finance', 'marketing', 'product', 'sales', 'support', 'operations', 'growth', 'platform', 'research'];
const SERVICES: readonly {service: string; weight: number; prefix: string}[] = [
  {service: 'google_cloud_function', weight: 6, prefix: 'gcf'},
  {service: 'postgres', weight: 1, prefix: 'pg'},
  {service: 'salesforce', weight: 1, prefix: 'sf'},
  {service: 'stripe', weight: 1, prefix: 'stripe'},
  {service: 'hubspot', weight: 1, prefix: 'hubspot'},
];

/** Unique Fivetran-like ids (`brisk_otter`, then `brisk_otter_2` ...), in a seeded order. */
function idMaker(random: () => number): () => string {
  const used = new Set<string>();
  return () => {
    for (let attempt = 0; ; attempt++) {
      const adjective = ADJECTIVES[Math.floor(random() * ADJECTIVES.length)]!;
      const noun = NOUNS[Math.floor(random() * NOUNS.length)]!;
      const base = `${adjective}_${noun}`;
      const id = attempt < 8 ? base : `${base}_${used.size}`;
      if (!used.has(id)) {
        used.add(id);
        return id;
      }
    }
  };
}

/** Exact counts per health for `total` connections (largest remainder). */
export function healthCounts(total: number, mix: Partial<Record<ConnectionHealth, number>> = DEFAULT_MIX): Record<ConnectionHealth, number> {
  const weights = CONNECTION_HEALTHS.map((health) => Math.max(0, mix[health] ?? 0));
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) throw new Error('fleet mix must give at least one health a positive weight');
  const exact = weights.map((weight) => (weight / sum) * total);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((value, i) => ({i, rest: value - Math.floor(value)})).sort((a, b) => b.rest - a.rest || a.i - b.i);
  for (const {i} of order) {
    if (left <= 0) break;
    counts[i]! += 1;
    left -= 1;
  }
  return Object.fromEntries(CONNECTION_HEALTHS.map((health, i) => [health, counts[i]!])) as Record<ConnectionHealth, number>;
}

const iso = (ms: number) => new Date(ms).toISOString();
const MINUTE = 60_000;

/** Sets the status fields of `connection` to a health, relative to `now`. Used by the generator and the simulator. */
export function applyHealth(connection: FleetConnection, health: ConnectionHealth, now: number, random: () => number = Math.random): void {
  const frequencyMs = connection.sync_frequency * MINUTE;
  const status = connection.status;
  connection.health = health;
  connection.paused = false;
  status.setup_state = 'connected';
  status.sync_state = 'scheduled';
  status.update_state = 'on_schedule';
  status.is_historical_sync = false;
  status.rescheduled_for = null;
  status.tasks = [];
  status.warnings = [];
  // a last success within one sync interval is on schedule
  const recent = now - Math.floor(random() * frequencyMs * 0.9) - MINUTE;
  switch (health) {
    case 'healthy':
      connection.succeeded_at = iso(recent);
      connection.failed_at = random() < 0.3 ? iso(recent - frequencyMs * (2 + Math.floor(random() * 20))) : null;
      break;
    case 'delayed':
      connection.succeeded_at = iso(now - frequencyMs * (3 + Math.floor(random() * 5)) - 10 * MINUTE);
      connection.failed_at = null;
      status.update_state = 'delayed';
      status.warnings = [{code: 'sync_delayed', message: 'The last sync finished later than the sync frequency allows'}];
      break;
    case 'broken':
      connection.succeeded_at = iso(now - frequencyMs * (4 + Math.floor(random() * 10)) - 60 * MINUTE);
      connection.failed_at = iso(recent);
      status.setup_state = 'broken';
      status.update_state = 'delayed';
      status.tasks = [{code: 'reconnect', message: 'The source rejected the credentials; edit the connection and reconnect'}];
      break;
    case 'failing':
      connection.succeeded_at = iso(now - frequencyMs * 2 - 30 * MINUTE);
      connection.failed_at = iso(recent);
      status.warnings = [{code: 'sync_failed', message: 'The last sync failed; Fivetran will retry'}];
      break;
    case 'paused':
      connection.paused = true;
      connection.succeeded_at = iso(now - (3 + Math.floor(random() * 30)) * 24 * 60 * MINUTE);
      connection.failed_at = null;
      status.sync_state = 'paused';
      break;
    case 'syncing':
      connection.succeeded_at = iso(now - frequencyMs - 5 * MINUTE);
      connection.failed_at = null;
      status.sync_state = 'syncing';
      break;
    case 'rescheduled':
      connection.succeeded_at = iso(now - frequencyMs - 20 * MINUTE);
      connection.failed_at = null;
      status.sync_state = 'rescheduled';
      status.rescheduled_for = iso(now + 30 * MINUTE);
      status.warnings = [{code: 'rate_limited', message: 'The source API quota is exhausted; the sync is rescheduled'}];
      break;
    case 'incomplete':
      connection.succeeded_at = null;
      connection.failed_at = null;
      status.setup_state = 'incomplete';
      status.is_historical_sync = true;
      status.tasks = [{code: 'finish_setup', message: 'Finish the connection setup form'}];
      break;
  }
}

/** A new connection with every field, healthy unless `health` says otherwise. */
export function makeConnection(init: {id: string; group_id: string; service?: string; schema?: string; sync_frequency?: number; schedule_type?: 'auto' | 'manual'; health?: ConnectionHealth; now?: number}): FleetConnection {
  const now = init.now ?? Date.now();
  const service = init.service ?? 'google_cloud_function';
  const connection: FleetConnection = {
    id: init.id,
    group_id: init.group_id,
    service,
    service_version: 1,
    schema: init.schema ?? init.id,
    connected_by: 'simulated_user',
    created_at: iso(now - 90 * 24 * 60 * MINUTE),
    succeeded_at: null,
    failed_at: null,
    sync_frequency: init.sync_frequency ?? 60,
    schedule_type: init.schedule_type ?? 'auto',
    paused: false,
    pause_after_trial: false,
    daily_sync_time: '03:00',
    data_delay_sensitivity: 'NORMAL',
    data_delay_threshold: 0,
    status: {setup_state: 'connected', sync_state: 'scheduled', update_state: 'on_schedule', is_historical_sync: false, rescheduled_for: null, tasks: [], warnings: []},
    config: service === 'google_cloud_function' ? {function_trigger: `https://us-central1-example.cloudfunctions.net/${init.id}`} : {},
    health: 'healthy',
  };
  applyHealth(connection, init.health ?? 'healthy', now, seededRandom(init.id.length * 7919));
  return connection;
}

export function generateFleet(options: GenerateFleetOptions): Fleet {
  const {groups: groupCount, connectionsPerGroup, seed} = options;
  if (!Number.isInteger(groupCount) || groupCount < 0 || !Number.isInteger(connectionsPerGroup) || connectionsPerGroup < 0) {
    throw new Error('generateFleet: groups and connectionsPerGroup must be whole numbers >= 0');
  }
  const now = options.now ?? Date.now();
  const random = seededRandom(seed);
  const nextId = idMaker(random);
  const total = groupCount * connectionsPerGroup;
  const counts = healthCounts(total, options.mix ?? DEFAULT_MIX);
  const healths: ConnectionHealth[] = CONNECTION_HEALTHS.flatMap((health) => Array.from({length: counts[health]}, () => health));
  for (let i = healths.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [healths[i], healths[j]] = [healths[j]!, healths[i]!];
  }
  const serviceWeight = SERVICES.reduce((sum, s) => sum + s.weight, 0);
  const pickService = () => {
    let r = random() * serviceWeight;
    for (const s of SERVICES) {
      r -= s.weight;
      if (r < 0) return s;
    }
    return SERVICES[0]!;
  };

  const groups: FleetGroup[] = [];
  const connections: FleetConnection[] = [];
  for (let g = 0; g < groupCount; g++) {
    const group: FleetGroup = {
      id: nextId(),
      name: `${GROUP_NAMES[g % GROUP_NAMES.length]}${g >= GROUP_NAMES.length ? `_${Math.floor(g / GROUP_NAMES.length) + 1}` : ''}`,
      created_at: iso(now - (400 + g) * 24 * 60 * MINUTE),
    };
    groups.push(group);
    for (let c = 0; c < connectionsPerGroup; c++) {
      const {service, prefix} = pickService();
      const frequencies = [15, 30, 60, 60, 60, 120, 360, 1440];
      const connection = makeConnection({
        id: nextId(),
        group_id: group.id,
        service,
        schema: `${prefix}_${group.name}_${c + 1}`,
        sync_frequency: frequencies[Math.floor(random() * frequencies.length)]!,
        schedule_type: random() < 0.2 ? 'manual' : 'auto',
        now,
      });
      connection.created_at = iso(now - (30 + Math.floor(random() * 300)) * 24 * 60 * MINUTE);
      applyHealth(connection, healths[connections.length]!, now, random);
      connections.push(connection);
    }
  }
  return {groups, connections};
}

/**
 * Reads a fleet file: either a fleet ({groups: [...], connections: [...]}, missing fields filled in) or the
 * generator's options ({groups: 3, connectionsPerGroup: 20, seed: 1, mix?}).
 */
export function loadFleetFile(file: string, now = Date.now()): Fleet {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `not valid JSON (${(error as Error).message})`;
    throw new Error(`fleet file ${file} is ${reason}; give {"groups": 3, "connectionsPerGroup": 20, "seed": 1} or {"groups": [...], "connections": [...]}`);
  }
  const object = (data ?? {}) as Record<string, unknown>;
  if (typeof object.groups === 'number') {
    return generateFleet({
      groups: object.groups,
      connectionsPerGroup: Number(object.connectionsPerGroup ?? 10),
      seed: Number(object.seed ?? 1),
      mix: object.mix as GenerateFleetOptions['mix'],
      now,
    });
  }
  if (!Array.isArray(object.groups) || !Array.isArray(object.connections)) {
    throw new Error(`fleet file ${file} must hold {"groups": [...], "connections": [...]} or generator options {"groups": N, "connectionsPerGroup": M, "seed": S}`);
  }
  const groups = (object.groups as Partial<FleetGroup>[]).map((group, i) => {
    if (typeof group.id !== 'string') throw new Error(`fleet file ${file}: groups[${i}] needs an "id"`);
    return {id: group.id, name: group.name ?? group.id, created_at: group.created_at ?? iso(now)};
  });
  const connections = (object.connections as (Partial<FleetConnection> & {status?: Partial<FleetConnectionStatus>})[]).map((raw, i) => {
    if (typeof raw.id !== 'string' || typeof raw.group_id !== 'string') throw new Error(`fleet file ${file}: connections[${i}] needs "id" and "group_id"`);
    const base = makeConnection({id: raw.id, group_id: raw.group_id, service: raw.service, schema: raw.schema, sync_frequency: raw.sync_frequency, schedule_type: raw.schedule_type, health: raw.health, now});
    const {status, ...rest} = raw;
    return {...base, ...rest, status: {...base.status, ...status}} as FleetConnection;
  });
  return {groups, connections};
}
