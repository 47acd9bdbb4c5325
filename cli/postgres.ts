// ./fivetran postgres: a local source to run the README's examples against. Starts the embedded PostgreSQL
// with the demo's databases (one per deploy.yaml function whose connector reads PostgreSQL: demo_<function>,
// loaded from sql/<connector>/), and the Fivetran REST API simulator the freshness connector triggers syncs
// on; writes one ready-to-use secrets file per function (.fivetran/postgres/<function>.secrets.json), prints
// the connection URL and the sync command to paste, and stays up until Ctrl-C, which stops both cleanly.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {startApiSimulator, type ApiSimulator} from '../emulator/api-simulator.js';
import {EmbeddedPostgresError, startEmbeddedPostgres, type RunningPostgres} from '../emulator/embedded-postgres.js';
import {generateFleet} from '../emulator/fleet.js';
import {schemaNameFor} from '../emulator/warehouse.js';
import {connectorEntries, loadDeployConfig} from '../project/deploy-yaml.js';
import {projectRoot} from '../project/root.js';
import {databaseNameFor} from './demo.js';
import {CliConfigError, portInUse, UsageError} from './errors.js';

export const DEFAULT_POSTGRES_PORT = 5432;
export const POSTGRES_SECRETS_DIR = path.join('.fivetran', 'postgres');

interface Server {
  host: string;
  port: number;
  /** the administrator, who owns the demo databases */
  user: string;
  password: string;
}

interface PostgresSource {
  /** the demo data, under sql/ */
  setupSql: string;
  secrets(root: string, server: Server, database: string, api: ApiSimulator, connectionId: string): Record<string, unknown>;
}

/** The connectors that read PostgreSQL, with their demo data and the secrets that reach it. */
const POSTGRES_SOURCES: Record<string, PostgresSource> = {
  freshness: {
    setupSql: 'freshness/setup_postgres.sql',
    // the example file, pointed here: its user freshness_reader is the one setup_postgres.sql creates
    secrets: (root, server, database, api, connectionId) => ({
      ...(JSON.parse(readFileSync(path.join(root, 'connectors', 'freshness', 'secrets.example.json'), 'utf8')) as Record<string, unknown>),
      postgres_host: server.host,
      postgres_port: String(server.port),
      postgres_database: database,
      postgres_sslmode: 'disable',
      fivetran_api_url: api.url,
      fivetran_api_key: api.apiKey,
      fivetran_api_secret: api.apiSecret,
      fivetran_connector_id: connectionId,
    }),
  },
  replication: {
    setupSql: 'replication/setup.sql',
    secrets: (_root, server, database) => ({
      host: server.host,
      port: String(server.port),
      database,
      username: server.user,
      password: server.password,
      sslmode: 'disable',
      schemas: 'public',
    }),
  },
};

export interface PostgresCommandOptions {
  cwd?: string;
  /** PostgreSQL's port (default 5432, as the example secrets files say) */
  port?: number;
  /** where the secrets files go (default .fivetran/postgres) */
  secretsDir?: string;
  write?: (text: string) => void;
}

export interface LocalPostgres {
  url: string;
  port: number;
  apiUrl: string;
  /** function name → its secrets file */
  secretsFiles: Record<string, string>;
  stop(): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function loadDatabase(adminUrl: string, database: string, sqlFile: string): Promise<void> {
  const admin = new pg.Client({connectionString: adminUrl});
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({connectionString: url.toString()});
  await client.connect();
  try {
    await client.query(readFileSync(sqlFile, 'utf8'));
  } finally {
    await client.end();
  }
}

/** Starts PostgreSQL and the API simulator, loads the databases and writes the secrets files. */
export async function startLocalPostgres(options: PostgresCommandOptions = {}): Promise<LocalPostgres> {
  const cwd = options.cwd ?? process.cwd();
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const port = options.port ?? DEFAULT_POSTGRES_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port ${options.port} must be a port number from 1 to 65535`);
  const root = projectRoot(cwd);
  const functions = connectorEntries(loadDeployConfig(root)).filter((fn) => fn.connector in POSTGRES_SOURCES);
  if (functions.length === 0) {
    throw new CliConfigError(`no function in deploy.yaml uses a connector that reads PostgreSQL (${Object.keys(POSTGRES_SOURCES).join(', ')}); add one, e.g. "my-freshness: {connector: freshness, environment: dev}"`);
  }
  if (!(await portIsFree(port))) throw portInUse(port);

  const secretsDir = path.resolve(cwd, options.secretsDir ?? path.join(root, POSTGRES_SECRETS_DIR));
  // the postgres user (PostgreSQL runs as it when we are root) must reach the data folder: under the
  // system temp folder, open to others
  const dataParent = mkdtempSync(path.join(tmpdir(), 'fivetran-postgres-'));
  chmodSync(dataParent, 0o755);
  let server: RunningPostgres | undefined;
  let api: ApiSimulator | undefined;
  const stop = async () => {
    await api?.close().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    rmSync(dataParent, {recursive: true, force: true});
  };
  try {
    try {
      server = await startEmbeddedPostgres({dataDir: path.join(dataParent, 'data'), port});
    } catch (error) {
      throw error instanceof EmbeddedPostgresError ? new CliConfigError(error.message) : error;
    }
    api = await startApiSimulator({fleet: generateFleet({groups: 1, connectionsPerGroup: 4, seed: 7}), rateLimit: false, syncDurationMs: 1500});
    const admin = {host: '127.0.0.1', port: server.port, user: 'postgres', password: 'postgres'};
    const say = (line = '') => write(`${line}\n`);
    say(`PostgreSQL    ${server.url} (embedded)`);
    say(`Fivetran API  simulator at ${api.url}/v1 (what the freshness secrets trigger syncs on)`);
    mkdirSync(secretsDir, {recursive: true});
    const secretsFiles: Record<string, string> = {};
    for (const fn of functions) {
      const source = POSTGRES_SOURCES[fn.connector]!;
      const database = databaseNameFor(fn.name);
      const sqlFile = path.join(root, 'sql', source.setupSql);
      if (!existsSync(sqlFile)) throw new CliConfigError(`sql/${source.setupSql} not found; it holds the demo data of the ${fn.connector} connector`);
      try {
        await loadDatabase(server.url, database, sqlFile);
      } catch (error) {
        throw new CliConfigError(`sql/${source.setupSql} failed in database ${database}: ${(error as Error).message}`);
      }
      const connectionId = `demo_${schemaNameFor(fn.name)}`;
      api.addConnection({id: connectionId, group_id: 'demo_functions', groupName: 'demo functions', schema: schemaNameFor(fn.name), schedule_type: 'manual'});
      const file = path.join(secretsDir, `${fn.name}.secrets.json`);
      writeFileSync(file, `${JSON.stringify(source.secrets(root, admin, database, api, connectionId), null, 2)}\n`, {mode: 0o600});
      secretsFiles[fn.name] = file;
      const relative = path.relative(cwd, file);
      const shown = relative && !relative.startsWith('..') ? relative : file;
      say();
      say(`${fn.name} (connector ${fn.connector}): database ${database}, loaded from sql/${source.setupSql}`);
      say(`  secrets  ${shown}`);
      say(`  try      ./fivetran sync ${fn.name} --secrets ${shown}`);
    }
    say();
    say('ready; Ctrl-C stops PostgreSQL and the simulator (the databases go with them)');
    return {url: server.url, port: server.port, apiUrl: api.url, secretsFiles, stop};
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The command: starts everything, then waits for Ctrl-C (or SIGTERM) and stops it all cleanly. */
export async function runLocalPostgres(options: PostgresCommandOptions = {}): Promise<void> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const running = await startLocalPostgres({...options, write});
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      write(`\n${signal}: stopping PostgreSQL and the simulator\n`);
      void running.stop().then(() => {
        write('stopped\n');
        resolve();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
