// The freshness connector: runs a freshness query on PostgreSQL, triggers a sync of a Fivetran connection
// when the share of stale rows is above a threshold, and lands every check (data_freshness_monitor) and
// every decision and API call (sync_events). The modules: secrets.ts (configuration), client.ts (PostgreSQL
// and the Fivetran API), analyze.ts (the query), trigger.ts (the decision and the API calls), sync.ts (one
// check across calls), state.ts, tables.ts.
import {createMain, defineConnector} from '../../sdk/index.js';
import {withPostgres} from '../../sdk/postgres.js';
import {checkFreshnessQuery} from './analyze.js';
import {fivetranApi, postgresConfig, QUERY_TIMEOUT_MS} from './client.js';
import {FreshnessSecrets} from './secrets.js';
import {FreshnessState} from './state.js';
import {freshnessSync, type FreshnessOptions} from './sync.js';
import {EVENTS_TABLE, EVENTS_TABLE_SPEC, MONITOR_TABLE, monitorTableSpec} from './tables.js';
import {findConnection} from './trigger.js';

const SETUP_TESTS = [
  {name: 'postgres', label: 'Connect to PostgreSQL and check that freshness_query parses and returns the required columns'},
  {name: 'fivetran', label: 'Find fivetran_connector_id with the Fivetran API credentials'},
];

/** The connector; tests build one with faster API retries, everything else uses `connector`. */
export function createFreshnessConnector(options: FreshnessOptions = {}) {
  return defineConnector({
    name: 'freshness',
    description: 'PostgreSQL freshness checks that trigger Fivetran syncs',
    secrets: FreshnessSecrets,
    state: FreshnessState,
    tables: {[EVENTS_TABLE]: EVENTS_TABLE_SPEC},
    setupTests: SETUP_TESTS,
    async test({secrets, testName, signal}) {
      if (!testName || testName === 'postgres') {
        const config = postgresConfig(secrets);
        await withPostgres(config, (client) =>
          checkFreshnessQuery({client, sql: secrets.freshness_query, idColumn: secrets.id_column, timeoutMs: QUERY_TIMEOUT_MS, source: config}),
        );
      }
      if (!testName || testName === 'fivetran') {
        await findConnection(fivetranApi(secrets, options.api, {signal}), secrets.fivetran_connector_id);
      }
    },
    // data_freshness_monitor's key depends on id_column; this lists it before any sync (Partner SDK Schema)
    discover: async ({secrets}) => ({[MONITOR_TABLE]: monitorTableSpec(secrets.id_column)}),
    sync: (ctx) => freshnessSync(ctx, options),
  });
}

export const connector = createFreshnessConnector();
export const main = createMain(connector);
