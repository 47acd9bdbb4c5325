// The simulated account behind the Fivetran REST API simulator (emulator/api-simulator.ts): its connections and
// the sync state machine each one runs, driven by the simulator's clock. The routes (emulator/api-simulator-routes.ts)
// and the control hooks call it; it knows nothing of HTTP beyond the API's error answers (HttpAnswer).
import {SYNC_FREQUENCIES, type Fleet, type FleetConnection} from './fleet.js';

export interface SimulatedSync {
  connectionId: string;
  startedAt: number;
  endsAt: number;
  outcome: 'running' | 'succeeded' | 'failed' | 'canceled' | 'restarted';
  message?: string;
}

export interface ConnectionRuntime {
  sync?: SimulatedSync;
  failNext: string[];
  brokenMessage?: string;
  quotaUntil?: number;
  durationMs?: number;
  state: Record<string, unknown>;
}

/** An answer other than 200: the API's envelope {code, message} with this status (and headers). */
export class HttpAnswer extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();
const PATCHABLE = ['paused', 'schedule_type', 'sync_frequency', 'daily_sync_time', 'pause_after_trial', 'data_delay_sensitivity', 'data_delay_threshold'] as const;

/** A connection as the API shows it: without the fleet's health label, its lists copied. */
export function publicView(connection: FleetConnection): Record<string, unknown> {
  const {health: _health, ...rest} = connection;
  return {...rest, status: {...rest.status, tasks: [...rest.status.tasks], warnings: [...rest.status.warnings]}};
}

export function requireObject(body: unknown): Record<string, unknown> {
  if (body === undefined) return {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpAnswer(400, 'InvalidInput', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

export class SimulatedConnections {
  readonly byId = new Map<string, FleetConnection>();
  /** every sync started: {connectionId, startedAt, endsAt, outcome, message?} */
  readonly syncs: SimulatedSync[] = [];
  private readonly runtimes = new Map<string, ConnectionRuntime>();
  /** connections whose status can change with time (syncing or rescheduled) */
  readonly active = new Set<string>();
  /** told when a sync starts and when it ends (the webhooks' deliveries: api-simulator-webhooks.ts) */
  readonly syncListeners: ((event: 'sync_start' | 'sync_end', connection: FleetConnection, sync: SimulatedSync) => void)[] = [];

  constructor(
    readonly fleet: Fleet,
    readonly now: () => number,
    /** how long a triggered sync runs unless the connection has its own duration */
    public syncDurationMs: number,
  ) {
    for (const connection of fleet.connections) this.register(connection);
  }

  /** Adds a new connection to the fleet and to the bookkeeping. */
  add(connection: FleetConnection): void {
    this.fleet.connections.push(connection);
    this.register(connection);
  }

  private register(connection: FleetConnection): void {
    this.byId.set(connection.id, connection);
    const runtime: ConnectionRuntime = {failNext: [], state: {}};
    this.runtimes.set(connection.id, runtime);
    if (connection.status.setup_state === 'broken') runtime.brokenMessage = connection.status.tasks[0]?.message ?? 'the connection is broken';
    if (connection.status.sync_state === 'syncing') this.startSync(connection, this.now());
    if (connection.status.sync_state === 'rescheduled') {
      runtime.quotaUntil = connection.status.rescheduled_for ? Date.parse(connection.status.rescheduled_for) : this.now();
      this.active.add(connection.id);
    }
  }

  runtimeOf(id: string): ConnectionRuntime {
    return this.runtimes.get(id)!;
  }

  private startSync(connection: FleetConnection, at: number): void {
    const runtime = this.runtimeOf(connection.id);
    const duration = Math.max(1, runtime.durationMs ?? this.syncDurationMs);
    const sync: SimulatedSync = {connectionId: connection.id, startedAt: at, endsAt: at + duration, outcome: 'running'};
    runtime.sync = sync;
    this.syncs.push(sync);
    connection.status.sync_state = 'syncing';
    connection.status.rescheduled_for = null;
    this.active.add(connection.id);
    for (const listener of this.syncListeners) listener('sync_start', connection, sync);
  }

  private finishSync(connection: FleetConnection, runtime: ConnectionRuntime, sync: SimulatedSync): void {
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
    for (const listener of this.syncListeners) listener('sync_end', connection, sync);
  }

  /** Brings a connection's status up to the clock: finishes syncs, starts auto syncs whose reschedule passed. */
  settle(connection: FleetConnection, at = this.now()): void {
    if (!this.active.has(connection.id)) return;
    const runtime = this.runtimeOf(connection.id);
    const status = connection.status;
    if (status.sync_state === 'rescheduled' && runtime.quotaUntil !== undefined && at >= runtime.quotaUntil && connection.schedule_type === 'auto' && !connection.paused) {
      this.startSync(connection, runtime.quotaUntil);
      runtime.quotaUntil = undefined;
    }
    if (runtime.sync && at >= runtime.sync.endsAt) this.finishSync(connection, runtime, runtime.sync);
    if (!runtime.sync && status.sync_state !== 'rescheduled') this.active.delete(connection.id);
  }

  settleAll(at = this.now()): void {
    for (const id of [...this.active]) this.settle(this.byId.get(id)!, at);
  }

  /** The settled connection; an HTTP 404 for an unknown id. */
  find(id: string): FleetConnection {
    const connection = this.byId.get(id);
    if (!connection) throw new HttpAnswer(404, 'NotFound_Connector', `Connection with id '${id}' doesn't exist`);
    this.settle(connection);
    return connection;
  }

  /** The settled connection for a control hook; a plain error for an unknown id. */
  known(id: string): FleetConnection {
    const connection = this.byId.get(id);
    if (!connection) throw new Error(`api simulator: no connection "${id}" (known: ${[...this.byId.keys()].slice(0, 5).join(', ')}${this.byId.size > 5 ? ', ...' : ''})`);
    this.settle(connection);
    return connection;
  }

  /** The connections of a group (all when null), settled. */
  connectionsOf(groupId: string | null): FleetConnection[] {
    this.settleAll();
    return groupId === null ? this.fleet.connections : this.fleet.connections.filter((c) => c.group_id === groupId);
  }

  cancelSync(connection: FleetConnection, outcome: 'canceled' | 'restarted'): void {
    const runtime = this.runtimeOf(connection.id);
    if (!runtime.sync) return;
    runtime.sync.outcome = outcome;
    runtime.sync.endsAt = this.now();
    runtime.sync = undefined;
  }

  setPaused(connection: FleetConnection, paused: boolean): void {
    connection.paused = paused;
    if (paused) {
      this.cancelSync(connection, 'canceled');
      connection.status.sync_state = 'paused';
      this.active.delete(connection.id);
    } else if (connection.status.sync_state === 'paused') {
      connection.status.sync_state = 'scheduled';
    }
  }

  /** PATCH /connections/{id}: the updatable fields, each validated as the API does. */
  patchConnection(connection: FleetConnection, body: Record<string, unknown>): void {
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
    if ('paused' in body) this.setPaused(connection, body.paused as boolean);
  }

  /** Starts a sync (force restarts a running one), or reschedules it while a quota holds; the API's message. */
  triggerSync(connection: FleetConnection, force: boolean): string {
    const runtime = this.runtimeOf(connection.id);
    if (connection.paused) {
      throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' is paused; unpause it with PATCH /v1/connections/${connection.id} {"paused": false} before syncing`);
    }
    if (connection.status.setup_state === 'incomplete') {
      throw new HttpAnswer(400, 'InvalidState', `Connection '${connection.id}' setup is incomplete; finish its setup before syncing`);
    }
    if (connection.status.sync_state === 'syncing') {
      if (!force) throw new HttpAnswer(409, 'Conflict', `Connection '${connection.id}' is already syncing; pass {"force": true} to restart the sync`);
      this.cancelSync(connection, 'restarted');
    }
    const at = this.now();
    if (runtime.quotaUntil !== undefined && at < runtime.quotaUntil) {
      connection.status.sync_state = 'rescheduled';
      connection.status.rescheduled_for = iso(runtime.quotaUntil);
      this.active.add(connection.id);
      return `Sync has been rescheduled for connection with id '${connection.id}' until ${iso(runtime.quotaUntil)}`;
    }
    runtime.quotaUntil = undefined;
    this.startSync(connection, at);
    return `Sync has been successfully triggered for connection with id '${connection.id}'`;
  }

  /** POST /connections/{id}/test: passes unless broken or incomplete; a pass marks the connection connected. */
  runSetupTests(connection: FleetConnection): Record<string, unknown> {
    const runtime = this.runtimeOf(connection.id);
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
}
