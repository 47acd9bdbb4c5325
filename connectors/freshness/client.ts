// The freshness connector's two clients, built per call from that call's secrets: the PostgreSQL source of
// the freshness query, and the Fivetran REST API that triggers syncs.
import {FivetranApi, type FivetranApiOptions} from '../../sdk/fivetran-api.js';
import type {PostgresConfig} from '../../sdk/postgres.js';
import type {FreshnessSecrets} from './secrets.js';

/** Statement timeout for the freshness query; the function's own deadline shortens it further. */
export const QUERY_TIMEOUT_MS = 60_000;

export function postgresConfig(secrets: FreshnessSecrets): PostgresConfig {
  return {
    host: secrets.postgres_host,
    port: secrets.postgres_port,
    database: secrets.postgres_database,
    user: secrets.postgres_user,
    password: secrets.postgres_password,
    sslmode: secrets.postgres_sslmode,
    sslRootCert: secrets.postgres_sslrootcert,
    applicationName: 'fivetran-freshness',
    statementTimeoutMs: QUERY_TIMEOUT_MS,
  };
}

/** Retry and timeout tuning: the sync fits them to the call's deadline; tests shorten the backoff. */
export type ApiTuning = Pick<FivetranApiOptions, 'retries' | 'baseDelayMs' | 'timeoutMs' | 'maxRetryAfterMs'>;

/**
 * A client built per call from this call's secrets (never cached: warm instances serve other connections);
 * `call` bounds its requests by the call's deadline.
 */
export function fivetranApi(secrets: FreshnessSecrets, tuning: ApiTuning = {}, call: Pick<FivetranApiOptions, 'signal' | 'timeLeftMs'> = {}): FivetranApi {
  return new FivetranApi({apiKey: secrets.fivetran_api_key, apiSecret: secrets.fivetran_api_secret, baseUrl: secrets.fivetran_api_url, ...call, ...tuning});
}
