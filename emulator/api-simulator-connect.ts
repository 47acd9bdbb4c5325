// The API simulator's endpoints for wiring a Google Cloud Function connection (docs/fivetran.md §2, "Creating and
// wiring a Function connection"): what `./fivetran connect`, `resync` and `state` talk to. Registered by
// emulator/api-simulator.ts before its own routes (the first match wins), through the small core below.
//
//   GET   /v1/groups/{group_id}/service-account   {service_account}: g-<group>@fivetran-production.iam.gserviceaccount.com
//   POST  /v1/connections                         201 with the connection (+ setup_tests when run_setup_tests);
//                                                 404 NotFound_Group, 409 when the group has the schema already
//   PATCH /v1/connections/{id}                    also config.{function_trigger, secrets_list, custom_payloads}
//                                                 and run_setup_tests; config.schema cannot change (400)
//   POST  /v1/connections/{id}/test               setup_tests [{title, status, message}]; sim.connect.failSetupTests
//                                                 makes them fail
//   POST  /v1/connections/{id}/resync             {scope?: {schema: [table]}}: a historical sync (409 when paused)
//   POST  /v1/connections/{id}/schemas/{schema}/tables/{table}/resync
//
// secrets_list values are masked ("******") in every answer, list endpoints included, as Fivetran does: the
// connection keeps only masked values, and the values as sent live beside it (sim.connect.secrets(id)).
import {createHash} from 'node:crypto';
import type {RouteHandler} from './api-simulator-routes.js';
import {makeConnection, SYNC_FREQUENCIES, type Fleet, type FleetConnection} from './fleet.js';

export const MASKED_SECRET = '******';

/** What the simulator lends this module: its router and the connection machinery it already has. */
export interface SimulatorCore {
  route(method: string, template: string, handle: RouteHandler): void;
  fleet: Fleet;
  /** the settled connection; an HTTP 404 for an unknown id */
  find(id: string): FleetConnection;
  /** adds a new connection to the fleet and the simulator's bookkeeping */
  add(connection: FleetConnection): void;
  patchConnection(connection: FleetConnection, body: Record<string, unknown>): void;
  runSetupTests(connection: FleetConnection): Record<string, unknown>;
  /** starts a sync (force restarts a running one); HTTP 409 when paused */
  triggerSync(connection: FleetConnection, force: boolean): string;
  publicView(connection: FleetConnection): Record<string, unknown>;
  requireObject(body: unknown): Record<string, unknown>;
  /** an error answer with Fivetran's envelope */
  answer(status: number, code: string, message: string): Error;
  now(): number;
}

export interface SimulatedResync {
  connectionId: string;
  /** null: the whole connection */
  scope: Record<string, string[]> | null;
  at: number;
}

/** Control hooks for tests: `sim.connect`. */
export interface ConnectSimulator {
  /** the service account Fivetran invokes a group's functions with */
  serviceAccount(groupId: string): string;
  /** the secrets as last sent for a connection (the API itself only shows them masked) */
  secrets(id: string): {key: string; value: string}[];
  /** setup tests of the connection with this id or destination schema fail with `message` until cleared */
  failSetupTests(idOrSchema: string, message?: string): void;
  clearSetupTestFailures(): void;
  /** every resync requested */
  resyncs: SimulatedResync[];
}

const SCHEMA_RULE = /^[a-z_][a-z0-9_]{0,127}$/;
const CONFIG_KEYS = ['schema', 'function_trigger', 'secrets_list', 'custom_payloads'] as const;

export function serviceAccountOf(groupId: string): string {
  const name = groupId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `g-${name || 'group'}@fivetran-production.iam.gserviceaccount.com`;
}

export function registerConnectRoutes(core: SimulatorCore): ConnectSimulator {
  const secretsById = new Map<string, {key: string; value: string}[]>();
  const failures = new Map<string, string>();
  const resyncs: SimulatedResync[] = [];
  /** connections created through POST /v1/connections: their setup form is complete once they have a trigger */
  const createdHere = new Set<string>();
  let created = 0;

  const groupOf = (groupId: unknown) => {
    if (typeof groupId !== 'string' || groupId === '') throw core.answer(400, 'InvalidInput', 'group_id is required: the id of the destination group');
    const group = core.fleet.groups.find((g) => g.id === groupId);
    if (!group) throw core.answer(404, 'NotFound_Group', `Group with id '${groupId}' doesn't exist`);
    return group;
  };

  const keyValues = (value: unknown, field: string): {key: string; value: string}[] => {
    if (!Array.isArray(value) || !value.every((item) => item && typeof item === 'object' && typeof (item as {key?: unknown}).key === 'string' && typeof (item as {value?: unknown}).value === 'string')) {
      throw core.answer(400, 'InvalidInput', `config.${field} must be a list of {"key": string, "value": string}`);
    }
    const pairs = value as {key: string; value: string}[];
    const keys = pairs.map((pair) => pair.key);
    const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
    if (duplicate !== undefined) throw core.answer(400, 'InvalidInput', `config.${field} has the key "${duplicate}" twice`);
    return pairs.map(({key, value: v}) => ({key, value: v}));
  };

  const checkTrigger = (value: unknown) => {
    if (typeof value !== 'string' || !/^https?:\/\/\S+$/.test(value)) throw core.answer(400, 'InvalidInput', 'config.function_trigger must be the function trigger URL (https://...)');
    return value;
  };

  /** Checks config fields and returns what applies them (nothing changes before every check passed). */
  const parseConfig = (connection: FleetConnection, config: Record<string, unknown>, creating: boolean): (() => void) => {
    const unknownKeys = Object.keys(config).filter((key) => !(CONFIG_KEYS as readonly string[]).includes(key));
    if (unknownKeys.length) throw core.answer(400, 'InvalidInput', `config has unknown field${unknownKeys.length > 1 ? 's' : ''} ${unknownKeys.map((k) => `"${k}"`).join(', ')}; fields: ${CONFIG_KEYS.join(', ')}`);
    if (!creating && 'schema' in config && config.schema !== connection.schema) {
      throw core.answer(400, 'InvalidInput', `config.schema cannot be changed (connection '${connection.id}' writes to '${connection.schema}'); create a new connection instead`);
    }
    const trigger = 'function_trigger' in config ? checkTrigger(config.function_trigger) : undefined;
    const secrets = 'secrets_list' in config ? keyValues(config.secrets_list, 'secrets_list') : undefined;
    const payloads = 'custom_payloads' in config ? keyValues(config.custom_payloads, 'custom_payloads') : undefined;
    return () => {
      if (trigger !== undefined) connection.config.function_trigger = trigger;
      // the connection keeps masked values only, so every answer (lists too) shows them masked
      if (secrets !== undefined) {
        secretsById.set(connection.id, secrets);
        connection.config.secrets_list = secrets.map(({key}) => ({key, value: MASKED_SECRET}));
      }
      if (payloads !== undefined) connection.config.custom_payloads = payloads;
    };
  };

  const setupTests = (connection: FleetConnection): Record<string, unknown> => {
    const failure = failures.get(connection.id) ?? failures.get(connection.schema);
    if (failure !== undefined) {
      connection.status.setup_state = 'broken';
      connection.status.tasks = [{code: 'setup_test_failed', message: failure}];
      return {
        ...core.publicView(connection),
        setup_tests: [
          {title: 'Connecting to the function', status: 'FAILED', message: failure},
          {title: 'Validating the response', status: 'SKIPPED', message: ''},
        ],
      };
    }
    // A Function connection created here is complete once it has a trigger URL; the core's tests then pass
    // unless the connection was marked broken. Connections of the generated fleet keep the core's rules.
    if (createdHere.has(connection.id) && connection.status.setup_state !== 'connected' && typeof connection.config.function_trigger === 'string') {
      connection.status.setup_state = 'connected';
      connection.status.tasks = [];
    }
    return core.runSetupTests(connection);
  };

  const newId = (groupId: string, schema: string) => {
    for (;;) {
      created += 1;
      const id = `gcf_${createHash('sha256').update(`${groupId}/${schema}/${created}`).digest('hex').slice(0, 10)}`;
      if (!core.fleet.connections.some((c) => c.id === id)) return id;
    }
  };

  core.route('GET', '/v1/groups/{group_id}/service-account', ([groupId]) => {
    const group = groupOf(groupId);
    return {message: 'Service account found', data: {service_account: serviceAccountOf(group.id)}};
  });

  core.route('POST', '/v1/{connections}', (_p, _q, raw) => {
    const body = core.requireObject(raw);
    const group = groupOf(body.group_id);
    if (body.service !== 'google_cloud_function') {
      throw core.answer(400, 'InvalidInput', `service ${JSON.stringify(body.service)} is not one this simulator creates; use "google_cloud_function"`);
    }
    const config = body.config;
    if (typeof config !== 'object' || config === null || Array.isArray(config)) throw core.answer(400, 'InvalidInput', 'config is required: {schema, function_trigger, secrets_list, custom_payloads}');
    const {schema, function_trigger: trigger} = config as Record<string, unknown>;
    if (typeof schema !== 'string' || !SCHEMA_RULE.test(schema)) throw core.answer(400, 'InvalidInput', 'config.schema must be a destination schema name: lowercase letters, digits and _, not starting with a digit');
    checkTrigger(trigger);
    const existing = core.fleet.connections.find((c) => c.group_id === group.id && c.schema === schema);
    if (existing) throw core.answer(409, 'Conflict', `Schema '${schema}' already exists in group '${group.id}' (connection '${existing.id}')`);
    for (const [field, check] of [
      ['paused', (v: unknown) => typeof v === 'boolean'],
      ['run_setup_tests', (v: unknown) => typeof v === 'boolean'],
      ['schedule_type', (v: unknown) => v === 'auto' || v === 'manual'],
      ['sync_frequency', (v: unknown) => (SYNC_FREQUENCIES as readonly unknown[]).includes(v)],
    ] as const) {
      if (field in body && !check(body[field])) throw core.answer(400, 'InvalidInput', `${field} has an invalid value ${JSON.stringify(body[field])}`);
    }
    const connection = makeConnection({
      id: newId(group.id, schema),
      group_id: group.id,
      schema,
      schedule_type: (body.schedule_type as 'auto' | 'manual' | undefined) ?? 'auto',
      sync_frequency: (body.sync_frequency as number | undefined) ?? 360,
      now: core.now(),
    });
    const at = new Date(core.now()).toISOString();
    Object.assign(connection, {created_at: at, succeeded_at: null, failed_at: null, connected_by: 'api', config: {schema}});
    Object.assign(connection.status, {setup_state: 'incomplete', sync_state: 'scheduled', update_state: 'on_schedule', is_historical_sync: true, tasks: [], warnings: []});
    parseConfig(connection, config as Record<string, unknown>, true)();
    core.add(connection);
    createdHere.add(connection.id);
    if (body.paused === true) core.patchConnection(connection, {paused: true});
    const data = body.run_setup_tests === true ? setupTests(connection) : core.publicView(connection);
    return {status: 201, message: 'Connection has been created', data};
  });

  core.route('PATCH', '/v1/{connections}/{id}', ([id], _q, raw) => {
    const connection = core.find(id!);
    const {config, run_setup_tests: runTests, ...rest} = core.requireObject(raw);
    if (config !== undefined) {
      if (typeof config !== 'object' || config === null || Array.isArray(config)) throw core.answer(400, 'InvalidInput', 'config must be an object');
      if (connection.service !== 'google_cloud_function') throw core.answer(400, 'InvalidInput', `this simulator updates the config of google_cloud_function connections only; '${id}' is ${connection.service}`);
    }
    if (runTests !== undefined && typeof runTests !== 'boolean') throw core.answer(400, 'InvalidInput', 'run_setup_tests must be true or false');
    // config is checked first and applied last: core.patchConnection checks all its fields before it changes any
    const applyConfig = config === undefined ? undefined : parseConfig(connection, config as Record<string, unknown>, false);
    core.patchConnection(connection, rest);
    applyConfig?.();
    return {message: 'Connection has been updated', data: runTests === true ? setupTests(connection) : core.publicView(connection)};
  });

  core.route('POST', '/v1/{connections}/{id}/test', ([id]) => ({message: 'Setup tests were completed', data: setupTests(core.find(id!))}));

  const resync = (connection: FleetConnection, scope: Record<string, string[]> | null) => {
    if (connection.paused) throw core.answer(409, 'Conflict', `Connection '${connection.id}' is paused; unpause it before a resync`);
    core.triggerSync(connection, true);
    connection.status.is_historical_sync = true;
    resyncs.push({connectionId: connection.id, scope, at: core.now()});
  };

  core.route('POST', '/v1/{connections}/{id}/resync', ([id], _q, raw) => {
    const connection = core.find(id!);
    const {scope} = core.requireObject(raw);
    if (scope !== undefined) {
      const valid =
        typeof scope === 'object' && scope !== null && !Array.isArray(scope) &&
        Object.values(scope).every((tables) => Array.isArray(tables) && tables.length > 0 && tables.every((t) => typeof t === 'string' && t !== ''));
      if (!valid) throw core.answer(400, 'InvalidInput', 'scope must be {"<schema>": ["<table>", ...]}');
    }
    resync(connection, (scope as Record<string, string[]> | undefined) ?? null);
    return {message: scope ? 'Re-sync has been triggered for the tables' : 'Re-sync has been triggered successfully'};
  });

  core.route('POST', '/v1/{connections}/{id}/schemas/{schema}/tables/{table}/resync', ([id, schema, table]) => {
    resync(core.find(id!), {[schema!]: [table!]});
    return {message: `Re-sync has been triggered for table '${schema}.${table}'`};
  });

  return {
    serviceAccount: serviceAccountOf,
    secrets(id) {
      if (!core.fleet.connections.some((c) => c.id === id)) throw new Error(`api simulator: no connection "${id}"`);
      return secretsById.get(id) ?? [];
    },
    failSetupTests(idOrSchema, message = 'The function answered 500: simulated setup test failure') {
      failures.set(idOrSchema, message);
    },
    clearSetupTestFailures() {
      failures.clear();
    },
    resyncs,
  };
}
