#!/usr/bin/env node
// The ./fivetran command line: declares commands and options and wires each to a plain async function.
// Errors a user can cause end with one line and a non-zero exit; nothing else lives here. createProgram() is
// the declaration and runCli() one run of it (tests call both in process); the last lines run it when this
// file is the entry.
import {readFileSync, realpathSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {Command, CommanderError, InvalidArgumentError} from 'commander';
import {ConnectorError} from '../sdk/errors.js';
import {EXIT_USAGE} from './errors.js';

const {version} = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {version: string};

/** Where commander writes its own help and errors (the terminal by default; tests capture them). */
export interface CliOutput {
  writeOut?: (text: string) => void;
  writeErr?: (text: string) => void;
}

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('must be a whole number');
  return n;
};

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const positiveNumber = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
};

/** The whole command line, declared and not yet parsed: `createProgram().parseAsync(args, {from: 'user'})`. */
export function createProgram(output: CliOutput = {}): Command {
  const program = new Command('fivetran')
    .description('Create, test, run, deploy and watch a fleet of Fivetran custom connectors on Google Cloud Functions')
    .version(version, '-V, --version', 'print the version of the fleet (package.json) and exit')
    .showHelpAfterError('(run ./fivetran --help for usage)')
    // commander's errors throw (inherited by every subcommand), so they exit 2 like every usage error (cli/errors.ts)
    .exitOverride()
    // set before any command is added: subcommands copy it when they are created
    .configureOutput({writeOut: output.writeOut ?? ((text) => process.stdout.write(text)), writeErr: output.writeErr ?? ((text) => process.stderr.write(text))});

  program
    .command('bootstrap')
    .description('install dependencies (idempotent; ./fivetran does it on first use)')
    .action(() => {
      console.error('fivetran: dependencies are up to date');
    });

  program
    .command('test')
    .description('lint, type-check and run the whole test suite (what CI runs)')
    .argument('[filters...]', 'only test files matching these filters')
    .option('--skip-lint', 'skip lint and type-check')
    .action(async (filters: string[], opts: {skipLint?: boolean}) => {
      const {runTests} = await import('./test-command.js');
      await runTests({vitestArgs: filters, skipLint: opts.skipLint});
    });

  program
    .command('serve')
    .description('serve a connector (or a deploy.yaml function) on functions-framework from the bundle deploy ships, as the deployed function answers; with --grpc as a Fivetran Partner SDK source connector')
    .argument('<target>', 'connector folder or function name')
    .option('--grpc', 'serve the Partner SDK v2 SourceConnector gRPC service (plaintext) instead of HTTP')
    .option('--port <n>', 'port to listen on (default 8080; 50051 with --grpc)', int)
    .option('--host <host>', 'address to listen on (default 127.0.0.1; 0.0.0.0 or :: to accept other machines)')
    .option('--dev', 'serve the TypeScript sources through tsx (no build step) instead of the bundle ./fivetran deploy ships')
    .action(async (target: string, opts: {port?: number; host?: string; grpc?: boolean; dev?: boolean}) => {
      const {serveFunction} = await import('./serve.js');
      const {url} = await serveFunction({target, port: opts.port ?? (opts.grpc ? 50051 : 8080), host: opts.host, grpc: opts.grpc, dev: opts.dev});
      console.error(opts.grpc
        ? `fivetran: serving ${target} as a Partner SDK source connector at ${url} (fivetran_sdk.v2.SourceConnector); Ctrl-C to stop`
        : `fivetran: serving ${target} at ${url} (POST JSON {state, secrets}); Ctrl-C to stop`);
    });

  // (command groups are added below by their modules' owners; keep each to declarations and one call)

  program
    .command('deploy')
    .description('bundle functions of deploy.yaml and deploy them with gcloud (GCLOUD_PROJECT), several at a time')
    .argument('[functions...]', 'function names from deploy.yaml')
    .option('--all', 'every function in deploy.yaml')
    .option('--env <environment>', 'the functions of one environment (deploy.yaml `environment`)')
    .option('--dry-run', 'build the bundles and print the gcloud commands without running them')
    .option('--concurrency <n>', 'deploys running at once', int, 4)
    .option('--project <id>', 'Google Cloud project (default: GCLOUD_PROJECT)')
    .option('--json', 'print the results as JSON')
    .action(async (functions: string[], opts: {all?: boolean; env?: string; dryRun?: boolean; concurrency: number; project?: string; json?: boolean}) => {
      const {deploy} = await import('./deploy.js');
      await deploy({functions, all: opts.all, environment: opts.env, dryRun: opts.dryRun, concurrency: opts.concurrency, project: opts.project, json: opts.json});
    });

  program
    .command('connect')
    .description('create or update the Fivetran connection of deployed functions: invoker role for the group\'s service account, setup tests, fivetran.lock.yaml (reads FIVETRAN_API_KEY, FIVETRAN_API_SECRET, optional FIVETRAN_API_URL)')
    .argument('[functions...]', 'function names from deploy.yaml')
    .option('--all', 'every function in deploy.yaml')
    .option('--group <id>', 'the Fivetran group (destination) to connect in (default: $FIVETRAN_GROUP_ID, then the group in fivetran.lock.yaml)')
    .option('--secrets <file>', 'JSON file of secrets: {key: value}, or {"<function>": {key: value}}')
    .option('--secrets-from <prefix>', 'secrets from environment variables <PREFIX><KEY> (and <PREFIX><FUNCTION>__<KEY> for one function)')
    .option('--secrets-from-gcp <secret>', 'secrets from a Secret Manager secret holding that JSON ({function} in the name is the function name)')
    .option('--url <url>', 'the trigger URL instead of gcloud functions describe (one function)')
    .option('--skip-grant', "the invoker role is granted elsewhere (CI's deploy job); with --url, connect runs no gcloud")
    .option('--sync-frequency <minutes>', 'minutes between syncs on an auto schedule (default 360 for a new connection)', int)
    .option('--dry-run', 'print what would change without changing anything')
    .option('--json', 'print the results as JSON')
    .action(async (functions: string[], opts: {all?: boolean; group?: string; secrets?: string; secretsFrom?: string; secretsFromGcp?: string; url?: string; skipGrant?: boolean; syncFrequency?: number; dryRun?: boolean; json?: boolean}) => {
      const {connect} = await import('./connect.js');
      await connect({functions, ...opts});
    });

  program
    .command('resync')
    .description("a historical resync of a function's Fivetran connection, or of some of its tables")
    .argument('<function>', 'function name from deploy.yaml (its connection id is in fivetran.lock.yaml)')
    .option('--table <table>', 'only this table of its schema (repeatable)', collect)
    .action(async (fn: string, opts: {table?: string[]}) => {
      const {resync} = await import('./connection-commands.js');
      await resync({function: fn, tables: opts.table});
    });

  program
    .command('reset')
    .description('delete the local warehouse schema and state file of a function (of every function without one), so the next sync starts over')
    .argument('[function]', 'function name from deploy.yaml')
    .option('--yes', 'do not ask (needed without a terminal)')
    .option('--warehouse <file>', 'DuckDB file (default .fivetran/warehouse.duckdb)')
    .action(async (fn: string | undefined, opts: {yes?: boolean; warehouse?: string}) => {
      const {reset} = await import('./connection-commands.js');
      await reset({function: fn, ...opts});
    });

  const stateCommand = program.command('state').description("the state Fivetran keeps for a deployed function's connection");
  stateCommand
    .command('get')
    .description('print the state (or write it to --file)')
    .argument('<function>', 'function name from deploy.yaml')
    .option('--file <file>', 'write the state here')
    .action(async (fn: string, opts: {file?: string}) => {
      const {stateGet} = await import('./connection-commands.js');
      await stateGet({function: fn, file: opts.file});
    });
  stateCommand
    .command('set')
    .description('replace the state from a JSON file: pauses the connection, writes, restores the pause (refused while syncing)')
    .argument('<function>', 'function name from deploy.yaml')
    .requiredOption('--file <file>', 'JSON file with the new state')
    .action(async (fn: string, opts: {file: string}) => {
      const {stateSet} = await import('./connection-commands.js');
      await stateSet({function: fn, file: opts.file});
    });

  program
    .command('status')
    .description('one table of the fleet: deployed commit and time (fivetran.lock.yaml), connection health, code changed since the deploy')
    .option('--json', 'print JSON')
    .action(async (opts: {json?: boolean}) => {
      const {fleetStatus} = await import('./connection-commands.js');
      await fleetStatus(opts);
    });

  const airflow = program.command('airflow').description('Airflow DAGs that trigger Fivetran syncs of the functions on a schedule');
  airflow
    .command('dag')
    .description('render the DAG of one function (stdout, or a file in --out)')
    .argument('<function>', 'function name from deploy.yaml')
    .option('--schedule <cron>', 'cron expression or preset like @daily (default: deploy.yaml airflow.schedule)')
    .option('--connector-id <id>', "the Fivetran connection's id (default: deploy.yaml airflow.connector_id)")
    .option('--out <dir>', 'write <dag_id>.py into this folder')
    .action(async (fn: string, opts: {schedule?: string; connectorId?: string; out?: string}) => {
      const {airflowDag} = await import('./airflow.js');
      await airflowDag({function: fn, schedule: opts.schedule, connectorId: opts.connectorId, out: opts.out});
    });
  airflow
    .command('dags')
    .description('render the DAG of every function with an airflow: block in deploy.yaml')
    .requiredOption('--out <dir>', 'folder to write the DAG files into (e.g. your Airflow dags/ folder)')
    .action(async (opts: {out: string}) => {
      const {airflowDags} = await import('./airflow.js');
      await airflowDags({out: opts.out});
    });

  const connectorCommand = program.command('connector').description('create and list the connectors of the fleet');
  connectorCommand
    .command('create')
    .description('render templates/connector/ into a new connector folder (an example paging an HTTP JSON API, with tests)')
    .argument('<name>', 'connector name: a lowercase letter, then lowercase letters, digits or _')
    .option('--destination <dir>', "folder to create <name>/ in, inside the project (default: the project's connectors/)")
    .action(async (name: string, opts: {destination?: string}) => {
      const {createConnector} = await import('./connector.js');
      await createConnector({name, destination: opts.destination});
    });
  connectorCommand
    .command('list')
    .description('connectors with their description, tables and the deploy.yaml functions using them')
    .option('--json', 'print JSON')
    .action(async (opts: {json?: boolean}) => {
      const {listConnectors} = await import('./connector.js');
      await listConnectors({json: opts.json});
    });

  const ciConfig = program.command('ci_config').description('the CircleCI config generated from deploy.yaml');
  ciConfig
    .command('update')
    .description('render templates/circleci/config.yml.hbs from deploy.yaml into .circleci/config.yml')
    .option('--dry-run', 'print the config instead of writing it')
    .action(async (opts: {dryRun?: boolean}) => {
      const {updateCiConfig} = await import('./ci-config.js');
      await updateCiConfig({dryRun: opts.dryRun});
    });
  ciConfig
    .command('check')
    .description('fail, naming the difference, when .circleci/config.yml is not what update would write')
    .action(async () => {
      const {checkCiConfig} = await import('./ci-config.js');
      await checkCiConfig();
    });
  ciConfig
    .command('changed')
    .description('exit 0 when <function> needs deploying (its connector, sdk/, the lockfile or its deploy.yaml entry changed, or [deploy all]), 1 when not')
    .argument('<function>', 'function name from deploy.yaml')
    .option('--base <ref>', 'the commit last deployed from (default HEAD~1)')
    .action(async (fn: string, opts: {base?: string}) => {
      const {functionChanged} = await import('./ci-config.js');
      const {deploy, reason} = await functionChanged({functionName: fn, base: opts.base});
      console.error(`fivetran: ${reason}`);
      if (!deploy) process.exitCode = 1;
    });

  const monitor = program
    .command('monitor')
    .description('the health of every Fivetran connection (reads FIVETRAN_API_KEY, FIVETRAN_API_SECRET and optional FIVETRAN_API_URL)');
  monitor
    .command('status')
    .description('a table of connections with health, last success, last failure and delay, worst first, with a summary per tenant')
    .option('--group <id>', 'only this group')
    .option('--tenant <tenant>', 'only this tenant')
    .option('--tenant-pattern <regex>', 'regular expression with one capture group giving the tenant (default $FIVETRAN_TENANT_PATTERN)')
    .option('--delay-factor <n>', 'delayed when the last success is older than n × sync_frequency', positiveNumber, 2)
    .option('--json', 'print JSON')
    .action(async (opts: {group?: string; tenant?: string; tenantPattern?: string; delayFactor: number; json?: boolean}) => {
      const {monitorStatus} = await import('./monitor.js');
      await monitorStatus(opts);
    });
  monitor
    .command('alerts')
    .description('print the open alerts, send what changed since the last run (Slack, email, webhook), and exit non-zero at the chosen severity (for cron or CI)')
    .option('--slack-webhook <url>', 'post what changed as one Block Kit message to this incoming webhook (default $SLACK_WEBHOOK_URL)')
    .option('--notify <sinks>', 'comma-separated: slack, email, webhook (default: each one configured in the environment; see docs)')
    .option('--ledger <file|url>', 'the open alerts between runs: a file (default .fivetran/monitor/alerts.json), or a postgres:// URL shared with the fivetran-webhooks function')
    .option('--no-ledger', 'no memory between runs: every open alert is sent as new')
    .option('--remind-after <duration>', 'send a reminder for alerts still open after this long (e.g. 24h)')
    .option('--fail-on <severity>', 'exit 1 when an alert at or above this severity is open: critical or warning')
    .option('--state <file>', 'remember failures between runs in this file (enables the frequent-failures rule)')
    .option('--tenant-pattern <regex>', 'regular expression with one capture group giving the tenant (default $FIVETRAN_TENANT_PATTERN)')
    .option('--expected-paused <ids>', 'comma-separated connection ids or schema names paused on purpose')
    .option('--delay-factor <n>', 'delayed when the last success is older than n × sync_frequency', positiveNumber, 2)
    .option('--json', 'print JSON')
    .action(async (opts: {slackWebhook?: string; notify?: string; ledger?: string | false; remindAfter?: string; failOn?: string; state?: string; tenantPattern?: string; expectedPaused?: string; delayFactor: number; json?: boolean}) => {
      const {monitorAlerts} = await import('./monitor.js');
      await monitorAlerts(opts);
    });
  monitor
    .command('wait')
    .description("wait for a connection's next sync to complete (the Airflow provider's rule); exit 0 on success, 1 on failure, 3 on timeout")
    .argument('[connection_id]', 'the Fivetran connection id, or a deploy.yaml function (its id from fivetran.lock.yaml); or --metadata')
    .option('--metadata', "wait for the Platform Connector's connection (fivetran_metadata)")
    .option('--timeout <duration>', 'give up after this long (e.g. 30m, 2h)', '30m')
    .option('--poll <duration>', 'time between polls (e.g. 15s)', '15s')
    .option('--trigger', 'trigger a sync first (unpausing the connection if paused)')
    .action(async (connectionId: string | undefined, opts: {timeout: string; poll: string; trigger?: boolean; metadata?: boolean}) => {
      const {monitorWait} = await import('./monitor.js');
      await monitorWait({connectionId, ...opts});
    });
  monitor
    .command('quickstart')
    .description('watch Quickstart data models (transformations) until their run ends, printing each status change; exit 0 on success, 1 naming the failing one and its error, 3 on timeout')
    .argument('[transformation_id]', 'the transformation to watch; or --connection, or --all')
    .option('--connection <id>', "the Quickstart transformations of this connection")
    .option('--all', "every Quickstart transformation of the account")
    .option('--run', 'start a run of each first')
    .option('--timeout <duration>', 'give up after this long (e.g. 30m, 2h)', '30m')
    .option('--interval <duration>', 'time between polls (e.g. 15s)', '15s')
    .option('--json', 'print the outcome of each as JSON')
    .action(async (transformationId: string | undefined, opts: {connection?: string; all?: boolean; run?: boolean; timeout: string; interval: string; json?: boolean}) => {
      const {monitorQuickstart} = await import('./monitor.js');
      await monitorQuickstart({transformationId, ...opts});
    });
  monitor
    .command('analyze')
    .description('the summary a person reads, from the local warehouse: health per tenant, open and recently resolved alerts, top errors, slowest syncs, monthly active rows, schema changes this week')
    .option('--warehouse <file>', 'the DuckDB warehouse (default .fivetran/warehouse.duckdb)')
    .option('--schema <name>', 'the schema the monitoring function writes to', 'monitoring')
    .option('--views-schema <name>', 'the schema of the monitoring views (./fivetran sql render monitoring)', 'fivetran_monitoring')
    .option('--top <n>', 'rows per list', int, 10)
    .option('--json', 'print JSON')
    .action(async (opts: {warehouse?: string; schema: string; viewsSchema: string; top: number; json?: boolean}) => {
      const {monitorAnalyze} = await import('./monitor.js');
      await monitorAnalyze(opts);
    });
  monitor
    .command('metadata')
    .description("the Platform Connector (fivetran_metadata): its sync state and lag; exit 1 when missing, failing or later than --max-lag")
    .option('--max-lag <duration>', 'the longest acceptable time since its last success', '24h')
    .option('--json', 'print JSON')
    .action(async (opts: {maxLag: string; json?: boolean}) => {
      const {monitorMetadata} = await import('./monitor.js');
      await monitorMetadata(opts);
    });
  monitor
    .command('dashboard')
    .description('write a self-contained HTML dashboard from the monitoring tables of the local warehouse (or a live read)')
    .option('--out <file>', 'where to write it', 'dashboard.html')
    .option('--warehouse <file>', 'the DuckDB warehouse (default .fivetran/warehouse.duckdb)')
    .option('--schema <name>', 'the schema the monitoring function writes to', 'monitoring')
    .option('--live', 'read the API now instead of the warehouse (no history charts)')
    .option('--tenant-pattern <regex>', 'with --live: regular expression with one capture group giving the tenant')
    .option('--ledger <file>', 'the alert ledger of monitor alerts, whose open alerts are shown when it exists (default .fivetran/monitor/alerts.json)')
    .option('--views-schema <name>', 'the schema of the monitoring views over the Platform Connector (schema changes)', 'fivetran_monitoring')
    .action(async (opts: {out: string; warehouse?: string; schema: string; live?: boolean; tenantPattern?: string; ledger?: string; viewsSchema: string}) => {
      const {monitorDashboard} = await import('./monitor.js');
      await monitorDashboard(opts);
    });

  const webhook = monitor
    .command('webhook')
    .description("Fivetran's webhooks for the fivetran-webhooks function: alerts pushed when a sync ends (functions/fivetran-webhooks/README.md)");
  webhook
    .command('create')
    .description('create an account (or group) webhook to the function, with a generated secret shown once, for its FIVETRAN_WEBHOOK_SECRET')
    .requiredOption('--url <url>', 'the trigger URL of the fivetran-webhooks function')
    .option('--group <id>', "only this group's connections (default: the whole account)")
    .option('--events <events>', 'comma-separated: sync_start, sync_end, status, dbt_run_start, dbt_run_succeeded, dbt_run_failed', 'sync_start,sync_end')
    .option('--secret-file <file>', 'keep the secret in this file (mode 0600) instead of printing it; an existing file\'s secret is used')
    .option('--json', 'print JSON')
    .action(async (opts: {url: string; group?: string; events: string; secretFile?: string; json?: boolean}) => {
      const {webhookCreate} = await import('./monitor/webhook.js');
      await webhookCreate(opts);
    });
  webhook
    .command('list')
    .description("the account's webhooks: id, scope, events and URL")
    .option('--json', 'print JSON')
    .action(async (opts: {json?: boolean}) => {
      const {webhookList} = await import('./monitor/webhook.js');
      await webhookList(opts);
    });
  webhook
    .command('test')
    .description('have Fivetran deliver a test event to a webhook now')
    .argument('<id>', 'the webhook id (monitor webhook list)')
    .option('--event <event>', 'the event to deliver', 'sync_end')
    .action(async (id: string, opts: {event: string}) => {
      const {webhookTest} = await import('./monitor/webhook.js');
      await webhookTest({id, ...opts});
    });

  const sqlCommand = program.command('sql').description('warehouse SQL rendered per dialect');
  sqlCommand
    .command('render')
    .description('render the views of sql/<set>/ (e.g. monitoring) for bigquery, snowflake, postgres or duckdb')
    .argument('<set>', 'the folder under sql/, e.g. monitoring')
    .requiredOption('--dialect <dialect>', 'bigquery, snowflake, postgres or duckdb')
    .option('--out <dir>', 'write one <view>.sql per view there instead of printing')
    .option('--source-schema <schema>', "schema of the Platform Connector's tables", 'fivetran_metadata')
    .option('--target-schema <schema>', 'schema to create the views in', 'fivetran_monitoring')
    .option('--tenants-table <table>', 'the tenants table (tenant_id, tenant_name); default <target-schema>.tenants')
    .option('--tenant-pattern <regex>', 'regular expression with one capture group giving the tenant from the connection name')
    .action(async (set: string, opts: {dialect: string; out?: string; sourceSchema: string; targetSchema: string; tenantsTable?: string; tenantPattern?: string}) => {
      const {renderSql} = await import('./sql.js');
      await renderSql({set, ...opts});
    });

  const replicationCommand = program.command('replication').description('the replication connector\'s server-side objects');
  replicationCommand
    .command('drop-slot')
    .description('drop the logical replication slot of a replication function with update_method cdc (a slot nobody advances keeps WAL forever)')
    .argument('<function>', 'function name from deploy.yaml, or the replication connector')
    .requiredOption('--secrets <file>', "JSON file with the function's secrets, as for ./fivetran sync")
    .option('--yes', 'drop without asking (needed without a terminal)')
    .action(async (target: string, opts: {secrets: string; yes?: boolean}) => {
      const {dropReplicationSlot} = await import('./replication.js');
      await dropReplicationSlot({target, ...opts});
    });

  const docsCommand = program.command('docs').description("the docs written from the code: connectors' Secrets and Tables sections, docs/cli-reference.md");
  docsCommand
    .command('update')
    .description("write each connector README's generated sections and docs/cli-reference.md")
    // the program is this command's root, so the docs document the very program that runs them
    .action(async (_options: unknown, command: Command) => {
      const {updateDocs, rootCommand} = await import('./docs.js');
      await updateDocs({program: rootCommand(command)});
    });
  docsCommand
    .command('check')
    .description('fail, naming the file and section, when a generated doc is not what update would write')
    .action(async (_options: unknown, command: Command) => {
      const {checkDocs, rootCommand} = await import('./docs.js');
      await checkDocs({program: rootCommand(command)});
    });

  program
    .command('sync')
    .description('run one sync of a function as Fivetran would, into the local DuckDB warehouse (.fivetran/warehouse.duckdb)')
    .argument('<target>', 'function name from deploy.yaml, or a connector folder; with --url, any other name syncs a function outside this repository into the schema of that name')
    .requiredOption('--secrets <file>', 'JSON file with the connection secrets')
    .option('--state <file>', 'state file (default .fivetran/state/<function>.json)')
    .option('--warehouse <file>', 'DuckDB file (default .fivetran/warehouse.duckdb)')
    .option('--url <url>', 'call a served or deployed function (of this repository or any other, in any language) over HTTP instead of in-process')
    .option('--id-token <token>', 'identity token for a private function; "gcloud" runs gcloud auth print-identity-token')
    .option('--max-calls <n>', 'stop after n calls (the state stays committed)', int)
    .option('--json', 'print one JSON summary instead of text')
    .action(async (target: string, opts: {secrets: string; state?: string; warehouse?: string; url?: string; idToken?: string; maxCalls?: number; json?: boolean}) => {
      const {syncFunction} = await import('./sync.js');
      await syncFunction({target, ...opts});
    });

  const warehouseCommand = program.command('warehouse').description('the local DuckDB warehouse that sync and demo write');
  warehouseCommand
    .command('query')
    .description('run SQL on the warehouse and print the result as a table')
    .argument('<sql>', 'the SQL, e.g. "select * from my_function.my_table limit 10"')
    .option('--warehouse <file>', 'DuckDB file (default .fivetran/warehouse.duckdb; the demo writes .fivetran/demo/warehouse.duckdb)')
    .option('--json', 'print rows as JSON')
    .action(async (sql: string, opts: {warehouse?: string; json?: boolean}) => {
      const {queryWarehouse} = await import('./warehouse.js');
      await queryWarehouse({sql, ...opts});
    });

  const simulate = program.command('simulate').description('local stand-ins for the services the fleet talks to');
  simulate
    .command('api')
    .description('serve a Fivetran REST API simulator (groups, connections, syncs, state) until Ctrl-C')
    .option('--port <n>', 'port to listen on', int, 8765)
    .option('--fleet <file>', 'JSON fleet {groups:[...], connections:[...]} or generator options {groups, connectionsPerGroup, seed}')
    .option('--groups <n>', 'generated groups (without --fleet)', int, 3)
    .option('--connections <n>', 'generated connections per group (without --fleet)', int, 20)
    .option('--seed <n>', 'generator seed', int, 1)
    .option('--api-key <key>', 'API key to accept', 'sim_api_key')
    .option('--api-secret <secret>', 'API secret to accept', 'sim_api_secret')
    .option('--latency-ms <n>', 'added to every answer', int, 0)
    .option('--sync-duration-ms <n>', 'how long a triggered sync runs', int, 5000)
    .action(async (opts: {port: number; fleet?: string; groups: number; connections: number; seed: number; apiKey: string; apiSecret: string; latencyMs: number; syncDurationMs: number}) => {
      const {simulateApi} = await import('./simulate.js');
      await simulateApi({...opts, connectionsPerGroup: opts.connections});
    });

  program
    .command('demo')
    .description('run every deploy.yaml function end to end on embedded PostgreSQL, the API simulator and a DuckDB warehouse')
    .argument('[functions...]', 'only these functions')
    .action(async (functions: string[]) => {
      const {demo} = await import('./demo.js');
      await demo({only: functions});
    });

  program
    .command('postgres')
    .description("run the embedded PostgreSQL with the demo's databases until Ctrl-C, and write ready-to-use secrets files (.fivetran/postgres/<function>.secrets.json)")
    .option('--port <n>', 'port PostgreSQL listens on (127.0.0.1)', int, 5432)
    .option('--secrets-dir <dir>', 'folder for the secrets files (default .fivetran/postgres)')
    .action(async (opts: {port: number; secretsDir?: string}) => {
      const {runLocalPostgres} = await import('./postgres.js');
      await runLocalPostgres(opts);
    });

  return program;
}

/**
 * Runs ./fivetran with `args` (what follows the script on the command line) and resolves with the exit code
 * the one rule (cli/errors.ts) gives its outcome: errors end as one line on writeErr, never as a throw.
 */
export async function runCli(args: readonly string[], output: CliOutput = {}): Promise<number> {
  const writeErr = output.writeErr ?? ((text: string) => void process.stderr.write(text));
  try {
    await createProgram(output).parseAsync(args, {from: 'user'});
    return 0;
  } catch (error) {
    // commander printed its message (or the help) already; help and --version are not errors
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_USAGE;
    const exitCode = (error as {exitCode?: number}).exitCode;
    const known = error instanceof ConnectorError || (error instanceof Error && typeof exitCode === 'number');
    const message = error instanceof Error ? error.message : String(error);
    // one write, ending with its newline, so the next command's output starts on a line of its own
    writeErr(`fivetran: ${known ? message.trimEnd() : `unexpected error: ${message.trimEnd()}`}\n`);
    if (!known && process.env.DEBUG && error instanceof Error) writeErr(`${error.stack}\n`);
    return typeof exitCode === 'number' && exitCode > 0 ? exitCode : 1;
  }
}

/** True when this file is the program node runs (./fivetran, tsx cli/index.ts), not a module a test imports. */
function isEntry(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(path.resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntry()) {
  const code = await runCli(process.argv.slice(2));
  // when it succeeded, the exit code is the command's own (ci_config changed sets 1 for "skip")
  if (code !== 0) process.exitCode = code;
}
