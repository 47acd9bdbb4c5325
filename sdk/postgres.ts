// PostgreSQL for connectors: one client per call (closed in finally), application_name and a statement
// timeout on every session, quoted identifiers, read-only transactions for user-written SQL, and errors
// mapped to messages a person can act on (which credential, which table, which permission).
// pg itself is loaded on the first connection, not at import: a function answers requests that never reach
// the database (invalid secrets, a missing configuration) without paying for the driver at cold start.
import type pg from 'pg';
import {AuthError, ConfigError, SourceError} from './errors.js';

type Pg = typeof pg;
let pgModule: Pg | undefined;
let pgLoading: Promise<Pg> | undefined;

/** The pg module, imported once on first use (in a bundle: evaluated then, not when the function loads). */
export function loadPg(): Promise<Pg> {
  pgLoading ??= import('pg').then((module) => (pgModule = module.default));
  return pgLoading;
}

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;

export interface PostgresConfig {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  sslmode?: SslMode;
  /** PEM CA certificate for verify-ca / verify-full */
  sslRootCert?: string;
  applicationName: string;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /**
   * Session settings sent with the connection's startup message (`-c name=value`), so they cost no round
   * trip; names must exist on every server version the connector supports
   */
  settings?: Readonly<Record<string, string>>;
  /**
   * `database`: a logical replication connection (walsender), which takes replication commands such as
   * START_REPLICATION besides SQL; the role needs the REPLICATION attribute (pg_hba.conf matches it by database
   * name, as any connection), and a pooler such as PgBouncer does not pass it
   */
  replication?: 'database';
}

// pg returns int8 and numeric as strings already (exact); keep dates/timestamps as the server's text too, so
// values keep their meaning (offsets, dates without time zones) instead of passing through JS Date.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    // 1082 date, 1083 time, 1114 timestamp, 1184 timestamptz, 1266 timetz, 1186 interval
    if (oid === 1082 || oid === 1083 || oid === 1114 || oid === 1184 || oid === 1266 || oid === 1186) return (value: string) => value;
    // called by a client of the pg module, so that module is loaded by now
    return pgModule!.types.getTypeParser(oid, format as 'text');
  },
};

/**
 * pg's TLS options for the first attempt of `sslmode`, as libpq: `allow` starts without TLS and `prefer` with
 * it (unverified); connect() makes the second attempt when the server refuses the first.
 */
function sslOptions(config: PostgresConfig): pg.ClientConfig['ssl'] {
  switch (config.sslmode ?? 'prefer') {
    case 'disable':
    case 'allow':
      return false;
    case 'prefer':
    case 'require':
      return {rejectUnauthorized: false};
    case 'verify-ca':
      return {rejectUnauthorized: true, ca: config.sslRootCert, checkServerIdentity: () => undefined};
    case 'verify-full':
      return {rejectUnauthorized: true, ca: config.sslRootCert};
  }
}

/** `-c name=value ...` for the startup message; spaces and backslashes in values are escaped with a backslash. */
/**
 * postgres://user:password@host:port/database?sslmode=... → connection settings, the rest from `base` (its
 * sslmode is the default when the URL names none; else prefer). `setting` names the URL in errors.
 */
export function postgresConfigFromUrl(url: string, setting: string, base: Omit<PostgresConfig, 'host' | 'port' | 'database' | 'user' | 'password'>): PostgresConfig {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`${setting} is not a URL; give postgres://user:password@host:5432/database`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new ConfigError(`${setting} must start with postgres:// (postgres://user:password@host:5432/database)`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!parsed.hostname || !database || !parsed.username) throw new ConfigError(`${setting} must name a user, a host and a database: postgres://user:password@host:5432/database`);
  const sslmode = parsed.searchParams.get('sslmode') ?? base.sslmode ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(sslmode)) throw new ConfigError(`${setting} has sslmode=${sslmode}; use one of ${SSL_MODES.join(', ')}`);
  return {
    ...base,
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || 5432),
    database,
    user: decodeURIComponent(parsed.username),
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    sslmode: sslmode as SslMode,
  };
}

export function startupOptions(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value.replace(/[\\ ]/g, (c) => `\\${c}`)}`)
    .join(' ');
}

/** pg's client options for `config`; its type parsers use the module loadPg() loads, so await that first. */
export function clientConfig(config: PostgresConfig): pg.ClientConfig {
  return {
    host: config.host,
    port: config.port,
    database: config.database,
    user: config.user,
    password: config.password,
    ssl: sslOptions(config),
    application_name: config.applicationName,
    statement_timeout: config.statementTimeoutMs ?? 5 * 60_000,
    connectionTimeoutMillis: config.connectTimeoutMs ?? 15_000,
    ...(config.settings ? {options: startupOptions(config.settings)} : {}),
    ...(config.replication ? {replication: config.replication} : {}),
    types,
  };
}

/**
 * The other attempt libpq makes for `allow` and `prefer`: `prefer` without TLS when the server does not offer
 * it; `allow` with TLS when the server accepts only encrypted connections. Null when there is none.
 */
function fallbackSsl(config: PostgresConfig, error: unknown): pg.ClientConfig['ssl'] | null {
  const message = error instanceof Error ? error.message : '';
  const mode = config.sslmode ?? 'prefer';
  if (mode === 'prefer' && /does not support SSL/i.test(message)) return false;
  if (mode === 'allow' && (error as {code?: string}).code === '28000' && /no encryption/i.test(message)) return {rejectUnauthorized: false};
  return null;
}

export async function connect(config: PostgresConfig): Promise<pg.Client> {
  const {Client} = await loadPg();
  // the first attempt as clientConfig has it; the fallback with the other TLS choice
  const attempt = async (ssl?: pg.ClientConfig['ssl']) => {
    const client = new Client(ssl === undefined ? clientConfig(config) : {...clientConfig(config), ssl});
    // An idle client that loses its server emits 'error'; without a listener Node would crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  };
  try {
    return await attempt();
  } catch (error) {
    const fallback = fallbackSsl(config, error);
    if (fallback === null) throw describePostgresError(error, config);
    try {
      return await attempt(fallback);
    } catch (second) {
      throw describePostgresError(second, config);
    }
  }
}

/** Runs `fn` with a fresh client and always closes it. */
export async function withPostgres<T>(config: PostgresConfig, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(config);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Quotes an identifier from the catalog or from config: `my table` → `"my table"`. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new ConfigError('an identifier must not contain a NUL character');
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A string as an SQL literal, as pg's escapeLiteral: quotes doubled; with a backslash, backslashes doubled
 * too and the literal written ` E'...'`. Here so that code quoting values does not need pg loaded.
 */
export function escapeLiteral(value: string): string {
  let escaped = "'";
  let hasBackslash = false;
  for (const c of value) {
    if (c === "'") escaped += "''";
    else if (c === '\\') {
      escaped += '\\\\';
      hasBackslash = true;
    } else escaped += c;
  }
  escaped += "'";
  return hasBackslash ? ` E${escaped}` : escaped;
}

/** `schema.table`, both quoted. */
export function qualifiedName(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/**
 * A query sent with the extended protocol (Parse/Bind/Execute), which runs exactly one statement: SQL
 * built from user-written text must never go through the simple protocol, which runs every statement of a
 * string, a `COMMIT; INSERT ...` smuggled into a subquery included. The server refuses a second statement
 * with ONE_STATEMENT_ONLY.
 */
export function oneStatement(text: string, values: unknown[] = []): pg.QueryConfig {
  return {text, values, queryMode: 'extended'} as pg.QueryConfig;
}

/** The server's answer to a second statement in a prepared (extended protocol) query. */
export const ONE_STATEMENT_ONLY = /cannot insert multiple commands into a prepared statement/i;

/** Runs user-written SQL in a READ ONLY transaction with a statement timeout; always ends the transaction. */
export async function readOnly<T>(client: pg.Client, timeoutMs: number, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  await client.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

const RETRIABLE_CODES = new Set(['40001', '40P01', '57P01', '57P02', '57P03', '53300', '08000', '08003', '08006', '08001', '08004']);
const RETRIABLE_NODE_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** True for failures a retry may fix: connection loss, serialization failures, deadlocks, admin shutdowns. */
export function isRetriablePostgresError(error: unknown): boolean {
  if (error instanceof SourceError) return error.retriable;
  const code = (error as {code?: string} | null)?.code;
  if (code && (RETRIABLE_CODES.has(code) || RETRIABLE_NODE_CODES.has(code))) return true;
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(message);
}

/** Maps a pg or network error to an error whose message says what to fix. Never includes the password. */
export function describePostgresError(error: unknown, config: Pick<PostgresConfig, 'host' | 'port' | 'database' | 'user'>): Error {
  if (error instanceof AuthError || error instanceof ConfigError || error instanceof SourceError) return error;
  const code = (error as {code?: string} | null)?.code ?? '';
  const raw = error instanceof Error ? error.message : String(error);
  const where = `${config.host}:${config.port}/${config.database}`;
  if (code === '28000' && /no encryption/i.test(raw)) {
    return new ConfigError(`PostgreSQL at ${config.host}:${config.port} accepts only encrypted connections; set sslmode to require, or to verify-full with sslrootcert`, {cause: error});
  }
  switch (code) {
    case '28P01':
    case '28000':
      return new AuthError(`PostgreSQL rejected user "${config.user}" at ${where} (${raw}); check the user name and password`, {cause: error});
    case '3D000':
      return new ConfigError(`database "${config.database}" does not exist on ${config.host}:${config.port}; check the database name`, {cause: error});
    case '42501':
      return new AuthError(`permission denied for user "${config.user}" (${raw}); grant SELECT on the tables to this user`, {cause: error});
    case '42P01':
      return new ConfigError(`${raw}; check the table names in the configuration`, {cause: error});
    case '42703':
      return new ConfigError(`${raw}; check the column names in the configuration`, {cause: error});
    case '57014':
      return new SourceError(`a query ran past its statement timeout at ${where}; simplify the query or add an index`, {cause: error, retriable: false});
    case 'ENOTFOUND':
      return new ConfigError(`cannot resolve PostgreSQL host "${config.host}"; check the host name`, {cause: error});
    case 'ECONNREFUSED':
      return new SourceError(`PostgreSQL at ${config.host}:${config.port} refused the connection; check the host, the port and that the server accepts connections from Fivetran`, {cause: error, retriable: true});
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return new ConfigError(
        // Node 24 appends advice about --use-system-ca, which a deployed function cannot take; sslrootcert is the fix
        `the TLS certificate of PostgreSQL at ${config.host}:${config.port} could not be verified (${raw.replace(/; if the root CA is installed locally.*$/s, '')}); set sslrootcert to the PEM of the CA that signed it, or sslmode to require to encrypt without verifying`,
        {cause: error},
      );
    case 'CERT_HAS_EXPIRED':
      return new ConfigError(`the TLS certificate of PostgreSQL at ${config.host}:${config.port} has expired; renew the server's certificate`, {cause: error});
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new ConfigError(`the TLS certificate of PostgreSQL is not for host "${config.host}" (${raw}); connect by a name the certificate lists, or use sslmode verify-ca`, {cause: error});
  }
  if (/does not support SSL/i.test(raw)) {
    return new ConfigError(`PostgreSQL at ${config.host}:${config.port} does not accept TLS connections; set sslmode to prefer or disable, or turn on ssl on the server`, {cause: error});
  }
  if (code.startsWith('42')) return new ConfigError(`PostgreSQL rejected a query: ${raw}`, {cause: error});
  return new SourceError(`PostgreSQL error at ${where}: ${raw}`, {cause: error, retriable: isRetriablePostgresError(error)});
}
