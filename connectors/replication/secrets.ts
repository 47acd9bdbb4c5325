// The replication connector's secrets. The keys of the original Python connector keep their names and
// defaults (host, port, database, username, password, region, max_retries, retry_sleep_seconds, debug,
// table_filters, custom_batch_size); the rest choose what to replicate and how to connect.
import * as z from 'zod';
import {field} from '../../sdk/index.js';
import {SSL_MODES, type PostgresConfig} from '../../sdk/postgres.js';

const filterValue = z.union([z.string(), z.number(), z.boolean(), z.null()], {error: 'filter values must be strings, numbers, booleans or null'});

export const ReplicationSecrets = z.object({
  host: field.text({description: 'PostgreSQL host name or address'}),
  port: field.integer({min: 1, max: 65535, description: 'PostgreSQL port'}).default(5432),
  database: field.text({description: 'Database to replicate'}),
  username: field.text({description: 'A user with SELECT on the replicated tables'}),
  password: field.secret({description: "The user's password"}).optional(),
  sslmode: field.enum(SSL_MODES, {description: 'TLS mode, as libpq names it'}).default('prefer'),
  sslrootcert: field.text({description: 'PEM CA certificate for sslmode verify-ca / verify-full'}).optional(),
  schemas: field.list({description: 'Schemas to replicate (comma-separated or a JSON array)'}).default(['public']),
  include_tables: field.list({description: 'Only these tables (`table` or `schema.table`); empty means all'}).default([]),
  exclude_tables: field.list({description: 'Tables to leave out (`table` or `schema.table`)'}).default([]),
  cursor_columns: field
    .json(z.record(z.string(), z.string({error: 'must name a column'}), {error: 'must be a JSON object like {"orders": "modified_at"}'}), {
      description: 'Incremental cursor column per table; default updated_at',
    })
    .default({}),
  region: field.text({description: 'Replicate only rows whose `region` column equals this, in tables that have one'}).optional(),
  table_filters: field
    .json(z.record(z.string(), z.record(z.string(), filterValue), {error: 'must be a JSON object like {"orders": {"status": "paid"}}'}), {
      description: 'Per-table equality filters: {"orders": {"status": "paid"}}',
    })
    .default({}),
  custom_batch_size: field.integer({min: 0, max: 10_000_000, description: 'Rows per batch; 0 = adaptive'}).default(0),
  max_retries: field.integer({min: 0, max: 20, description: 'Retries of a failed query or connection'}).default(5),
  retry_sleep_seconds: field.number({min: 0, max: 600, description: 'First retry delay in seconds; doubles each retry, with jitter'}).default(5),
  debug: field.boolean({description: 'Log every batch decision'}).default(false),
  keep_connection_between_calls: field
    .boolean({
      description:
        'Keep the PostgreSQL connection, with the next batch already requested, open for the next call of the same sync on a warm instance (up to 60 s). Faster; off by default, so each call opens one connection and closes it when it ends',
    })
    .default(false),
  custom_threads: field
    .integer({min: 1, max: 16, description: 'Streams per call, each on its own connection: up to this many tables, or ranges of one large table, read at once (for functions with more than one vCPU)'})
    .default(1),
  custom_queue_size: field
    .integer({min: 1, max: 64, description: 'Batches each stream reads ahead of the response (bounded by the memory budget)'})
    .default(1),
  table_prefix: field
    .text({description: 'Destination tables named <prefix>_<table> in the prefix\'s case (SOURCE_FIVETRAN_CONNECTOR → SOURCE_FIVETRAN_CONNECTOR_ORDERS), as the original connector named them; default <schema>_<table>'})
    .optional(),
  update_method: field
    .enum(['keyset', 'cdc'], {
      description: 'keyset: full load, then incremental by cursor (no server setting); cdc: full load, then changes (deletes too) from a logical replication slot',
    })
    .default('keyset'),
  cdc_slot: field.text({description: 'Replication slot of update_method cdc; default fivetran_<database>_slot'}).optional(),
  cdc_publication: field.text({description: 'Publication of update_method cdc; default fivetran_<database>_pub'}).optional(),
  max_slot_lag_mb: field
    .number({min: 0, max: 10_000_000, description: 'update_method cdc: warn when the slot holds more WAL than this many MB after a call advanced it'})
    .default(1024),
  soft_delete: field
    .boolean({description: 'update_method cdc: a row deleted in the source is kept in the destination with _fivetran_deleted = true (Fivetran soft delete) instead of removed'})
    .default(false),
  truncate: field
    .enum(['report', 'resync'], {
      description: 'update_method cdc, after a TRUNCATE of a replicated table: report it (a warning and replication_runs.truncated_tables), or also reload the table from the source',
    })
    .default('report'),
});

export type ReplicationSecrets = z.infer<typeof ReplicationSecrets>;

export const APPLICATION_NAME = 'fivetran-replication';

export function postgresConfig(secrets: ReplicationSecrets, statementTimeoutMs: number): PostgresConfig {
  return {
    host: secrets.host,
    port: secrets.port,
    database: secrets.database,
    user: secrets.username,
    password: secrets.password,
    sslmode: secrets.sslmode,
    sslRootCert: secrets.sslrootcert,
    applicationName: APPLICATION_NAME,
    statementTimeoutMs,
  };
}

/** A slot or publication name from the database name: lower case letters, digits and underscores, at most 63 bytes. */
function derivedName(database: string, suffix: string): string {
  const base = database.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '') || 'db';
  return `fivetran_${base.slice(0, 63 - 'fivetran_'.length - suffix.length - 1)}_${suffix}`;
}

/** The slot and publication change data capture reads: the configured names, or names derived from the database. */
export function cdcNames(secrets: ReplicationSecrets): {slot: string; publication: string} {
  return {slot: secrets.cdc_slot ?? derivedName(secrets.database, 'slot'), publication: secrets.cdc_publication ?? derivedName(secrets.database, 'pub')};
}
