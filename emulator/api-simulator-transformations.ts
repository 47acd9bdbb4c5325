// The API simulator's transformations endpoints (docs/fivetran.md §2, "Transformations"): what
// `./fivetran monitor quickstart` watches. Registered by emulator/api-simulator.ts beside the other routes.
//
//   GET  /v1/transformations?type=&group_id=     paginated; type QUICKSTART or DBT_CORE (else 400)
//   GET  /v1/transformations/{id}                 404 NotFound_Transformation for an unknown id
//   POST /v1/transformations/{id}/run             {full_refresh?}: starts a run; 409 while one is in progress
//
// A run is SCHEDULING for its first quarter (at most 1 s), then RUNNING, then SUCCEEDED or FAILED, settled to
// the simulator's clock on each read like the syncs; last_started_at / last_ended_at follow it. A failed run
// carries `errors` (undocumented by Fivetran; this project reads it when given, docs/fivetran.md §2).
//
// Three Quickstart transformations exist from the start, each with a run begun when the simulator started (a
// Quickstart deployed a moment ago), over the fleet's first connections:
//   qs_hubspot      succeeds after `durationMs`
//   qs_stripe       fails after `durationMs`, at model stripe__balance_transactions (every run, until
//                   sim.transformations.fixRuns(id))
//   qs_salesforce   runs 40 × `durationMs`, then succeeds
import {HttpAnswer, iso, requireObject} from './api-simulator-connections.js';
import {paginate, type RouteHandler} from './api-simulator-routes.js';
import type {Fleet} from './fleet.js';

const TRANSFORMATION_TYPES = ['QUICKSTART', 'DBT_CORE'] as const;

interface SimulatedTransformationRun {
  transformationId: string;
  /** when it was asked for (SCHEDULING from then), when it started RUNNING, when it ends */
  queuedAt: number;
  startedAt: number;
  endsAt: number;
  outcome: 'SUCCEEDED' | 'FAILED';
  errors: string[];
}

interface TransformationRecord {
  id: string;
  type: (typeof TRANSFORMATION_TYPES)[number];
  group_id: string;
  paused: boolean;
  created_at: string;
  package_name: string;
  connection_ids: string[];
  output_model_names: string[];
  durationMs: number;
  /** every run fails with these errors while set */
  failWith?: string[];
  /** the next runs fail with these, first to last */
  failNext: string[][];
}

/** Control hooks for tests and the demo: `sim.transformations`. */
export interface TransformationSimulator {
  /** the transformation as GET /v1/transformations/{id} shows it now */
  transformation(id: string): Record<string, unknown>;
  /** adds a Quickstart transformation over `connection_ids`, with no run yet (status NEW) unless `run` */
  add(init: {id: string; package_name: string; connection_ids: string[]; group_id?: string; durationMs?: number; run?: boolean}): void;
  /** starts a run as POST .../run would (a deployment's first run); 409 answer while one is in progress */
  startRun(id: string): void;
  /** the next run of id fails with `message` (queued: call twice to fail two) */
  failNextRun(id: string, message: string): void;
  /** runs of id stop failing (qs_stripe fails every run until then) */
  fixRuns(id: string): void;
  setRunDuration(ms: number, id?: string): void;
  /** every run started, the initial ones included */
  runs: SimulatedTransformationRun[];
}

interface TransformationsCore {
  route(method: string, template: string, handle: RouteHandler): void;
  fleet: Fleet;
  now(): number;
}

const STRIPE_FAILURE =
  'step "dbt run --select package:stripe" failed at model stripe__balance_transactions: Database Error in model stripe__balance_transactions (models/stripe__balance_transactions.sql): column "reporting_category" does not exist';

const missing = (id: string) => new HttpAnswer(404, 'NotFound_Transformation', `Transformation with id '${id}' doesn't exist`);

export function registerTransformationRoutes(core: TransformationsCore, options: {durationMs: number}): TransformationSimulator {
  const records: TransformationRecord[] = [];
  const runs: SimulatedTransformationRun[] = [];
  const byId = new Map<string, TransformationRecord>();
  let defaultDurationMs = Math.max(1, options.durationMs);

  const find = (id: string) => {
    const record = byId.get(id);
    if (!record) throw missing(id);
    return record;
  };
  const runsOf = (id: string) => runs.filter((r) => r.transformationId === id);
  const activeRun = (id: string) => runsOf(id).find((r) => r.endsAt > core.now());

  function startRun(record: TransformationRecord): SimulatedTransformationRun {
    const active = activeRun(record.id);
    if (active) throw new HttpAnswer(409, 'Conflict', `Transformation '${record.id}' is already running since ${iso(active.queuedAt)}; wait for it to finish`);
    const queuedAt = core.now();
    const startedAt = queuedAt + Math.min(1000, Math.round(record.durationMs / 4));
    const errors = record.failNext.shift() ?? record.failWith;
    const run: SimulatedTransformationRun = {transformationId: record.id, queuedAt, startedAt, endsAt: Math.max(startedAt, queuedAt + record.durationMs), outcome: errors ? 'FAILED' : 'SUCCEEDED', errors: errors ?? []};
    runs.push(run);
    return run;
  }

  /** The transformation as the API shows it, settled to the clock. */
  function view(record: TransformationRecord): Record<string, unknown> {
    const at = core.now();
    const own = runsOf(record.id);
    const latest = own.at(-1);
    const started = own.filter((r) => r.startedAt <= at).at(-1);
    const ended = own.filter((r) => r.endsAt <= at).at(-1);
    const status = !latest ? 'NEW' : latest.startedAt > at ? 'SCHEDULING' : latest.endsAt > at ? 'RUNNING' : latest.outcome;
    return {
      id: record.id,
      type: record.type,
      status,
      paused: record.paused,
      schedule: {schedule_type: 'INTEGRATED', days_of_week: []},
      created_at: record.created_at,
      created_by_id: 'sim_user',
      last_started_at: started ? iso(started.startedAt) : null,
      last_ended_at: ended ? iso(ended.endsAt) : null,
      output_model_names: record.output_model_names,
      transformation_config: {package_name: record.package_name, connection_ids: record.connection_ids, excluded_models: [], upgrade_available: false},
      ...(status === 'FAILED' && ended ? {errors: ended.errors} : {}),
    };
  }

  function add(init: Parameters<TransformationSimulator['add']>[0]): TransformationRecord {
    if (byId.has(init.id)) throw new Error(`api simulator: transformation "${init.id}" already exists`);
    const groupId = init.group_id ?? core.fleet.connections.find((c) => init.connection_ids.includes(c.id))?.group_id ?? core.fleet.groups[0]?.id ?? 'group';
    const record: TransformationRecord = {
      id: init.id,
      type: 'QUICKSTART',
      group_id: groupId,
      paused: false,
      created_at: iso(core.now()),
      package_name: init.package_name,
      connection_ids: init.connection_ids,
      output_model_names: [`${init.package_name}__overview`, `${init.package_name}__daily_summary`],
      durationMs: init.durationMs ?? defaultDurationMs,
      failNext: [],
    };
    records.push(record);
    byId.set(record.id, record);
    if (init.run) startRun(record);
    return record;
  }

  // The fleet's first connections of each package's service when it has them, else its first connections.
  const connections = core.fleet.connections;
  const connectionFor = (service: string, index: number) => (connections.find((c) => c.service === service) ?? connections[index])?.id;
  const seeds: {id: string; package_name: string; durationMs: number; failWith?: string[]}[] = [
    {id: 'qs_hubspot', package_name: 'hubspot', durationMs: defaultDurationMs},
    {id: 'qs_stripe', package_name: 'stripe', durationMs: defaultDurationMs, failWith: [STRIPE_FAILURE]},
    {id: 'qs_salesforce', package_name: 'salesforce', durationMs: 40 * defaultDurationMs},
  ];
  seeds.forEach((seed, index) => {
    const connectionId = connectionFor(seed.package_name, index);
    const record = add({id: seed.id, package_name: seed.package_name, connection_ids: connectionId ? [connectionId] : [], durationMs: seed.durationMs});
    record.failWith = seed.failWith;
    startRun(record);
  });

  core.route('GET', '/v1/transformations', (_params, query) => {
    const type = query.get('type');
    if (type !== null && !(TRANSFORMATION_TYPES as readonly string[]).includes(type)) throw new HttpAnswer(400, 'InvalidInput', `type must be ${TRANSFORMATION_TYPES.join(' or ')}; got "${type}"`);
    const groupId = query.get('group_id');
    const matching = records.filter((r) => (type === null || r.type === type) && (groupId === null || r.group_id === groupId));
    const page = paginate(matching, query);
    return {message: 'Operation performed.', data: {items: page.items.map(view), next_cursor: page.next_cursor}};
  });
  core.route('GET', '/v1/transformations/{id}', ([id]) => ({message: 'Operation performed.', data: view(find(id!))}));
  core.route('POST', '/v1/transformations/{id}/run', ([id], _query, body) => {
    const record = find(id!);
    const fullRefresh = requireObject(body ?? {}).full_refresh;
    if (fullRefresh !== undefined && typeof fullRefresh !== 'boolean') throw new HttpAnswer(400, 'InvalidInput', `full_refresh must be true or false; got ${JSON.stringify(fullRefresh)}`);
    startRun(record);
    return {message: 'Operation performed.'};
  });

  return {
    transformation: (id) => {
      if (!byId.has(id)) throw new Error(`api simulator: no transformation "${id}"`);
      return view(byId.get(id)!);
    },
    add: (init) => void add(init),
    startRun: (id) => void startRun(find(id)),
    failNextRun: (id, message) => void find(id).failNext.push([message]),
    fixRuns: (id) => {
      find(id).failWith = undefined;
    },
    setRunDuration: (ms, id) => {
      if (id === undefined) {
        defaultDurationMs = Math.max(1, ms);
        for (const record of records) record.durationMs = defaultDurationMs;
      } else find(id).durationMs = Math.max(1, ms);
    },
    runs,
  };
}
