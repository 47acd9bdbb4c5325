// The replication connector: PostgreSQL tables to Fivetran, a full load by primary key and then incremental
// syncs by cursor column that do not skip late commits, with batches sized from each table's size category,
// its row width, and the function's live response, time and memory budgets. See README.md.
import {createMain, defineConnector} from '../../sdk/index.js';
import {describePostgresError, qualifiedName, quoteIdent, withPostgres} from '../../sdk/postgres.js';
import {candidateNames, discover} from './discovery.js';
import {planReplication} from './plan.js';
import {ensurePublication, ensureSlot} from './cdc/slot.js';
import {cdcNames, postgresConfig, ReplicationSecrets} from './secrets.js';
import {ReplicationState} from './state.js';
import {cdcTables, checkCdc, replicatedSpec, replicate} from './sync.js';
import {TABLES} from './tables.js';

export const connector = defineConnector({
  name: 'replication',
  description: 'Replicates PostgreSQL tables (full load, then incremental), adapting batches to table size and to the function budgets',
  secrets: ReplicationSecrets,
  state: ReplicationState,
  tables: TABLES,
  setupTests: [{name: 'connection', label: 'Connect, and check the configured schemas and tables exist and are readable (with update_method cdc: the server settings, the publication and the slot)'}],
  async test({secrets}) {
    const config = postgresConfig(secrets, 30_000);
    await withPostgres(config, async (client) => {
      const plans = planReplication(await discover(client, secrets.schemas, {names: candidateNames(secrets.include_tables)}), secrets);
      // reading zero rows proves the SELECT privilege and that every configured column and filter is valid
      for (const plan of plans) {
        const columns = [...new Set([...plan.columns.slice(0, 1), ...plan.filters.map((f) => f.column), ...(plan.cursor ? [plan.cursor] : [])])];
        const list = columns.length ? columns.map((c) => quoteIdent(c.name)).join(', ') : '1';
        await client.query(`SELECT ${list} FROM ${qualifiedName(plan.source.schema, plan.source.name)} LIMIT 0`).catch((error: unknown) => {
          throw describePostgresError(error, config);
        });
      }
      if (secrets.update_method === 'cdc') {
        // every missing server setting in one message, then the publication and the slot the first sync reads
        await checkCdc(client, plans);
        const names = cdcNames(secrets);
        await ensurePublication(client, names.publication, cdcTables(plans));
        await ensureSlot(client, names.slot);
      }
    });
  },
  // the tables a sync declares, found from the catalog without syncing (the Partner SDK's Schema call)
  async discover({secrets}) {
    return withPostgres(postgresConfig(secrets, 30_000), async (client) => {
      const plans = planReplication(await discover(client, secrets.schemas, {names: candidateNames(secrets.include_tables)}), secrets);
      return {...TABLES, ...Object.fromEntries(plans.map((plan) => [plan.dest, replicatedSpec(plan, secrets)]))};
    });
  },
  sync: replicate,
});

export const main = createMain(connector);
