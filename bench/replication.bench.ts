// npm run bench replication: the replication connector's throughput against PostgreSQL's own COPY.
//
// For each size (100k and 1M rows by default; BENCH_ROWS=100000,1000000,10000000 to choose), it fills an
// orders table with generate_orders() from sql/replication/setup.sql, then:
// - reference: COPY (SELECT row_to_json(t) FROM public.orders t) TO STDOUT, read over the wire protocol into
//   this process (bytes counted, nothing parsed) — PostgreSQL producing the same JSON as fast as it can;
//   the median of BENCH_COPY_RUNS (3) runs;
// - connector: a fresh child process serves the connector as deployed (the esbuild bundle ./fivetran deploy
//   ships, on functions-framework, as Cloud Functions runs it); this process plays Fivetran, POSTing with the returned
//   state until hasMore is false, counting bytes and rows and discarding the bodies. The child's peak RSS
//   is read from /proc/<pid>/status (VmHWM) after the syncs. Once with a connection per call (the default),
//   once with keep_connection_between_calls; each time two syncs on the same child: the first (cold: pg is
//   loaded and the code compiled along the way) and the second, warm as the COPY reference's reader is,
//   which is the one compared;
// - row_to_json server: bench/support/row-to-json-server.ts, a bare server streaming one row_to_json COPY per call
//   (see driveRowToJsonServer): the least a connector whose JSON PostgreSQL writes could do.
// - cdc: the same function with update_method cdc, after a full load of the last size: BENCH_CDC_UPDATES
//   (100,000) updates of orders in transactions of BENCH_CDC_TRANSACTION (1,000), delivered by one sync from
//   the slot; its reference is PostgreSQL decoding the same changes (pg_logical_slot_peek_binary_changes of
//   the same slot and publication, read into this process, median of BENCH_COPY_RUNS), its keyset figure the
//   per-call row above it. BENCH_CDC_UPDATES=0 skips it.
// It prints rows/s and MB/s side by side, the ratio, the child's peak RSS, the number of calls and the CPU
// seconds of PostgreSQL, the function and this process. The child
// gets the budgets deploy.yaml gives the replication function; BENCH_RESPONSE_CAP_BYTES and
// BENCH_NODE_OPTIONS (e.g. --max-old-space-size=128) try other deployments; BENCH_DEBUG=1 with BENCH_DUMP_OUTPUT=1
// writes the function's debug log (per batch: rows, bytes, ms, at_ms) to /tmp/fn-default.log and /tmp/fn-keep.log.
// Then with custom_threads (BENCH_THREADS, default 2,4; a connection per call): the table is larger than a
// response, so each call reads that many primary key ranges of it at once, on as many connections.
import {chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import pg from 'pg';
import {bundleConnector, writeFunctionBundle} from '../cli/bundle.js';
import {startEmbeddedPostgres} from '../emulator/embedded-postgres.js';
import {loadDeployConfig, memoryMb, timeoutSeconds, type DeployFunction} from '../project/deploy-yaml.js';
import {DEFAULT_RESPONSE_CAP_BYTES, MALLOC_ENVIRONMENT} from '../sdk/budget.js';
import {firstAnswer, startBundledFunction, startProcess} from '../test/support/bundled-function.js';
import {commitOrderUpdates, decodeAll, peakRssBytes} from './support/cdc-backlog.js';
import {measureCopy} from './support/copy-reference.js';
import {closeDriver, driveSync} from './support/function-driver.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);

/** /proc/<pid>/stat fields after the command name: utime is [11], stime [12], cutime [13], cstime [14] (clock ticks). */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

const TICKS_PER_SECOND = 100;

/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  const f = statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND : NaN;
}

/**
 * CPU seconds PostgreSQL has used: the postmaster's own and its ended backends' (cutime/cstime, counted when
 * it reaps them) plus its live backends'. Comparing the COPY's figure with the sync's says whether the
 * connector made PostgreSQL work harder, or left it waiting.
 */
function postgresCpuSeconds(dataDir: string): number {
  let postmaster = 0;
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(dataDir) && !cmdline.startsWith('postgres:')) postmaster = pid;
      const f = statFields(pid);
      if (f) parents.set(pid, Number(f[1]));
    } catch {
      // the process ended while listing
    }
  }
  if (!postmaster) return NaN;
  const own = statFields(postmaster)!;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const [pid, parent] of parents) {
    if (parent !== postmaster) continue;
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

const COPY_RUNS = Number(process.env.BENCH_COPY_RUNS ?? 3);

const cpuOf = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1e6;

/**
 * bench/support/row-to-json-server.ts: a bare server streaming one `row_to_json` COPY per call, a new
 * connection per call, as many rows per call as the connector's calls held on average. The least a connector
 * could do if PostgreSQL wrote the JSON (this connector's design until it wrote the JSON itself): its
 * figure next to the connector's shows what writing the JSON in the function gains.
 */
async function driveRowToJsonServer(url: string, callRows: number): Promise<{rows: number; bytes: number; calls: number; seconds: number; peak: number}> {
  const server = await startProcess(['--import', 'tsx', path.join(here, 'support', 'row-to-json-server.ts')], {cwd: root, env: {PG_URL: url, CALL_ROWS: String(callRows)}});
  try {
    await firstAnswer(server, {state: {}});
    // the same driver as the connector's: the server answers with the same tail (state, then hasMore); warm
    // like the connector's compared sync
    await driveSync(server.url, {});
    const sync = await driveSync(server.url, {});
    return {...sync, peak: peakRssBytes(server.child.pid!)};
  } finally {
    await server.stop();
  }
}

/**
 * update_method cdc: a full load (which creates the slot), then `updates` updates of orders in transactions of
 * BENCH_CDC_TRANSACTION, then one timed sync that delivers them from the slot. The reference is PostgreSQL
 * decoding the same changes for the same publication (a peek, which consumes nothing), read into this process.
 */
async function benchCdc(options: {
  db: pg.Client; bundleDir: string; env: NodeJS.ProcessEnv; secrets: Record<string, unknown>; dataDir: string; size: number; updates: number; keysetRowsPerSecond: string;
}): Promise<string[]> {
  const {db, size, updates} = options;
  const perTransaction = Number(process.env.BENCH_CDC_TRANSACTION ?? 1000);
  const slot = 'bench_cdc_slot';
  const publication = 'bench_cdc_pub';
  const secrets = {...options.secrets, update_method: 'cdc', cdc_slot: slot, cdc_publication: publication};
  const fn = await startBundledFunction(root, options.bundleDir, options.env as Record<string, string>);
  try {
    await firstAnswer(fn, {state: {}, secrets: {}});
    const load = await driveSync(fn.url, secrets);
    // a stream of updates, each transaction committed on its own; the same rows again once the table is done
    await commitOrderUpdates(db, updates, perTransaction, Math.min(size, updates));
    // the reference: PostgreSQL decoding these changes, as the connector asks for them
    const peeks: {seconds: number; bytes: number; messages: number}[] = [];
    for (let run = 0; run < COPY_RUNS; run++) peeks.push(await decodeAll(db, slot, publication));
    peeks.sort((a, b) => a.seconds - b.seconds);
    const peek = peeks[Math.floor(peeks.length / 2)]!;
    const pgBefore = postgresCpuSeconds(options.dataDir);
    const fnBefore = cpuSeconds(fn.child.pid!);
    const driverBefore = process.cpuUsage();
    const sync = await driveSync(fn.url, secrets, undefined, load.state);
    const cpu = {pg: postgresCpuSeconds(options.dataDir) - pgBefore, fn: cpuSeconds(fn.child.pid!) - fnBefore, driver: cpuOf(process.cpuUsage(driverBefore))};
    const peak = peakRssBytes(fn.child.pid!);
    // distinct rows: a row updated twice in the stream lands twice (one per transaction)
    if (sync.rows !== updates) throw new Error(`cdc delivered ${sync.rows} order rows for ${updates} updates`);
    const {rows: lag} = await db.query<{lag: string}>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    console.log(
      `cdc: ${updates.toLocaleString('en-US')} updates in transactions of ${perTransaction.toLocaleString('en-US')}: decoding ${peek.seconds.toFixed(2)} s (${peek.messages.toLocaleString('en-US')} messages), connector ${sync.seconds.toFixed(2)} s in ${sync.calls} calls; ` +
        `the slot holds ${(Number(lag[0]?.lag ?? 0) / 1024 / 1024).toFixed(1)} MB of WAL until the next call advances it; keyset per call ${options.keysetRowsPerSecond} rows/s`,
    );
    return [
      updates.toLocaleString('en-US'),
      `cdc, ${perTransaction.toLocaleString('en-US')}/txn`,
      `${Math.round(updates / peek.seconds).toLocaleString('en-US')}`,
      `${(peek.bytes / peek.seconds / 1e6).toFixed(1)}`,
      `${Math.round(sync.rows / sync.seconds).toLocaleString('en-US')}`,
      `${(sync.bytes / sync.seconds / 1e6).toFixed(1)}`,
      `${(peek.seconds / sync.seconds).toFixed(2)}`,
      `${(peak / 1024 / 1024).toFixed(0)} MB`,
      String(sync.calls),
      '',
      `${cpu.pg.toFixed(2)} / ${cpu.fn.toFixed(2)} / ${cpu.driver.toFixed(2)}`,
    ];
  } finally {
    await fn.stop();
    await db.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const sizes = (process.env.BENCH_ROWS ?? '100000,1000000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bench-pg-'));
  chmodSync(dir, 0o755);
  const buildDir = path.join(dir, 'build');
  const dataDir = path.join(dir, 'data');
  const server = await startEmbeddedPostgres({dataDir});
  const admin = new pg.Client({connectionString: server.url});
  admin.on('error', () => undefined);
  await admin.connect();
  const results: string[][] = [];
  try {
    await admin.query('CREATE DATABASE bench');
    const url = server.url.replace(/\/postgres$/, '/bench');
    const db = new pg.Client({connectionString: url});
    db.on('error', () => undefined);
    await db.connect();
    await db.query(readFileSync(path.join(root, 'sql/replication/setup.sql'), 'utf8'));
    const parsed = new URL(url);
    const secrets = {
      host: parsed.hostname, port: parsed.port, database: 'bench', username: 'postgres', password: decodeURIComponent(parsed.password),
      sslmode: 'disable', include_tables: 'orders', ...(process.env.BENCH_DEBUG ? {debug: 'true'} : {}),
    };
    // the budgets of the replication function as deploy.yaml deploys it (BENCH_RESPONSE_CAP_BYTES overrides the cap)
    const deployed = loadDeployConfig(root).find((fn) => fn.connector === 'replication');
    const memory = memoryMb(deployed?.memory);
    const cap = Number(process.env.BENCH_RESPONSE_CAP_BYTES ?? deployed?.response_cap_bytes ?? DEFAULT_RESPONSE_CAP_BYTES);
    const env: NodeJS.ProcessEnv = {
      FUNCTION_MEMORY_MB: String(memory),
      FUNCTION_TIMEOUT_SECONDS: String(timeoutSeconds(deployed?.timeout)),
      FIVETRAN_RESPONSE_CAP_BYTES: String(cap),
      LOG_LEVEL: process.env.BENCH_DEBUG ? 'DEBUG' : 'WARNING',
      NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '',
      ...MALLOC_ENVIRONMENT,
    };
    console.log(`response cap ${(cap / 1024 / 1024).toFixed(0)} MiB per call; function memory ${memory} MB${env.NODE_OPTIONS ? `; NODE_OPTIONS=${env.NODE_OPTIONS}` : ''}`);
    // the function as ./fivetran deploy ships it: the esbuild bundle served by functions-framework
    const fnEntry: DeployFunction = deployed ?? {name: 'replication', connector: 'replication', environment: 'dev'};
    const bundle = writeFunctionBundle(root, buildDir, fnEntry, await bundleConnector(root, 'replication', fnEntry.runtime));
    console.log(`reference: COPY (SELECT row_to_json(t) FROM public.orders t) TO STDOUT, streamed over the wire protocol into the benchmark process; median of ${COPY_RUNS} runs`);
    console.log('connector: every call of a full sync over HTTP to a child process: functions-framework serving the deployed bundle of connectors/replication\n');
    for (const size of sizes) {
      await db.query('TRUNCATE orders CASCADE');
      await db.query("SELECT setval(pg_get_serial_sequence('orders', 'order_id'), 1, false)");
      await db.query('SELECT generate_orders($1)', [size]);
      await db.query('VACUUM ANALYZE orders');
      // warm the cache the same way for both: one untimed pass
      await measureCopy(url);
      // the reference is the median of COPY_RUNS runs (one run varies by ±10 % on a shared machine); CPU
      // seconds are those of the median run
      const copies: {rows: number; bytes: number; seconds: number; cpu: {pg: number; reader: number}}[] = [];
      for (let run = 0; run < COPY_RUNS; run++) {
        const pgBeforeCopy = postgresCpuSeconds(dataDir);
        const benchBeforeCopy = process.cpuUsage();
        const measured = await measureCopy(url);
        await new Promise((resolve) => setTimeout(resolve, 50)); // the backend ends and is reaped
        copies.push({...measured, cpu: {pg: postgresCpuSeconds(dataDir) - pgBeforeCopy, reader: cpuOf(process.cpuUsage(benchBeforeCopy))}});
      }
      copies.sort((a, b) => a.seconds - b.seconds);
      const copy = copies[Math.floor(copies.length / 2)]!;
      const copyCpu = copy.cpu;
      // both ways a call can end: closing its connection (the default) and keeping it with the next batch
      // requested for the next call (keep_connection_between_calls)
      let callsPerSync = 1;
      const threads = (process.env.BENCH_THREADS ?? '2,4').split(',').map((n) => Number(n.trim())).filter((n) => n > 1);
      for (const mode of ['default', 'keep', ...threads.map((n) => `threads ${n}`)]) {
        const fn = await startBundledFunction(root, bundle.dir, env as Record<string, string>);
        const fnSecrets = {
          ...secrets,
          keep_connection_between_calls: String(mode === 'keep'),
          ...(mode.startsWith('threads ') ? {custom_threads: mode.slice('threads '.length)} : {}),
        };
        let cold;
        let sync;
        let peak = NaN;
        let cpu = {pg: NaN, fn: NaN, driver: NaN};
        try {
          await firstAnswer(fn, {state: {}, secrets: {}});
          // a new instance's first sync (pg loaded, code compiled along the way); then the same sync again on
          // the warm instance, as the COPY reference's reader is warm: the second is the one compared
          cold = await driveSync(fn.url, fnSecrets);
          const pgBefore = postgresCpuSeconds(dataDir);
          const fnBefore = cpuSeconds(fn.child.pid!);
          const driverBefore = process.cpuUsage();
          sync = await driveSync(fn.url, fnSecrets);
          const driver = cpuOf(process.cpuUsage(driverBefore));
          peak = peakRssBytes(fn.child.pid!);
          const fnCpu = cpuSeconds(fn.child.pid!) - fnBefore;
          await fn.stop();
          if (process.env.BENCH_DUMP_OUTPUT) (await import('node:fs')).writeFileSync(`/tmp/fn-${mode.replace(' ', '-')}.log`, fn.output());
          await new Promise((resolve) => setTimeout(resolve, 50));
          cpu = {pg: postgresCpuSeconds(dataDir) - pgBefore, fn: fnCpu, driver};
        } finally {
          await fn.stop();
        }
        for (const [run, label] of [[cold, 'cold'], [sync, 'warm']] as const) {
          if (copy.rows !== size || run.rows !== size) throw new Error(`row counts differ: table ${size}, COPY ${copy.rows}, connector (${label}) ${run.rows}`);
        }
        const mb = (bytes: number) => bytes / 1e6;
        const row = (run: typeof sync, label: string, cpuCells: string[]) => [
          size.toLocaleString('en-US'),
          label,
          `${Math.round(copy.rows / copy.seconds).toLocaleString('en-US')}`,
          `${mb(copy.bytes / copy.seconds).toFixed(1)}`,
          `${Math.round(run.rows / run.seconds).toLocaleString('en-US')}`,
          `${mb(run.bytes / run.seconds).toFixed(1)}`,
          `${(copy.seconds / run.seconds).toFixed(2)}`,
          `${(peak / 1024 / 1024).toFixed(0)} MB`,
          String(run.calls),
          ...cpuCells,
        ];
        const name = mode === 'keep' ? 'kept' : mode === 'default' ? 'per call' : mode;
        results.push(row(cold, `${name}, cold`, ['', '']));
        results.push(row(sync, name, [`${copyCpu.pg.toFixed(2)} / ${copyCpu.reader.toFixed(2)}`, `${cpu.pg.toFixed(2)} / ${cpu.fn.toFixed(2)} / ${cpu.driver.toFixed(2)}`]));
        console.log(
          `${size} rows (${mode}): COPY ${copy.seconds.toFixed(2)} s, connector ${sync.seconds.toFixed(2)} s in ${sync.calls} calls (first sync of the instance ${cold.seconds.toFixed(2)} s), peak RSS ${(peak / 1024 / 1024).toFixed(0)} MB`,
        );
        if (mode === 'default' || mode === 'keep') callsPerSync = sync.calls;
      }
      const bare = await driveRowToJsonServer(url, Math.ceil(size / callsPerSync));
      if (bare.rows !== size) throw new Error(`row counts differ: table ${size}, row_to_json server ${bare.rows}`);
      results.push([
        size.toLocaleString('en-US'),
        'row_to_json server',
        `${Math.round(copy.rows / copy.seconds).toLocaleString('en-US')}`,
        `${(copy.bytes / copy.seconds / 1e6).toFixed(1)}`,
        `${Math.round(bare.rows / bare.seconds).toLocaleString('en-US')}`,
        `${(bare.bytes / bare.seconds / 1e6).toFixed(1)}`,
        `${(copy.seconds / bare.seconds).toFixed(2)}`,
        `${(bare.peak / 1024 / 1024).toFixed(0)} MB`,
        String(bare.calls),
        '',
        '',
      ]);
      console.log(`${size} rows (row_to_json server): ${bare.seconds.toFixed(2)} s in ${bare.calls} calls`);
    }
    const updates = Number(process.env.BENCH_CDC_UPDATES ?? 100_000);
    if (updates > 0 && sizes.length) {
      const keyset = results.filter((r) => r[1] === 'per call').at(-1)!;
      results.push(await benchCdc({db, bundleDir: bundle.dir, env, secrets, dataDir, size: sizes.at(-1)!, updates, keysetRowsPerSecond: keyset[4]!}));
    }
    await db.end();
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    await admin.end();
    await server.stop();
    rmSync(dir, {recursive: true, force: true});
    closeDriver();
  }
  const header = ['rows', 'connection', 'COPY rows/s', 'COPY MB/s', 'connector rows/s', 'connector MB/s', 'ratio', 'peak RSS', 'calls', 'COPY cpu s: pg/reader', 'sync cpu s: pg/fn/driver'];
  const widths = header.map((h, i) => Math.max(h.length, ...results.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(`\n${line(header)}\n${results.map(line).join('\n')}`);
  console.log('ratio = connector rows/s ÷ COPY rows/s (target ≥ 0.9); MB/s counts each side\'s own bytes (HTTP bodies vs COPY text)');
  console.log('cpu s: CPU seconds used by PostgreSQL (all its processes), the COPY reader (this process), the function process, the driver (this process playing Fivetran)');
  console.log('row_to_json server: a bare Node server (bench/support/row-to-json-server.ts) streaming ONE COPY of PostgreSQL-built JSON per call, a new connection per call, the connector\'s rows per call; no functions-framework, discovery, budgets or checkpoints');
  console.log('connection: per call = one connection per call, closed when it ends (the default, one stream: custom_threads 1); kept = keep_connection_between_calls; threads N = custom_threads N (N connections per call, each closed when it ends)');
  console.log('cdc = update_method cdc delivering a stream of updates from the slot (one sync); its COPY columns are PostgreSQL decoding the same changes (pg_logical_slot_peek_binary_changes), its ratio against that; keyset = the per-call connector figure of the same table');
  console.log('cold = the first sync of a new function instance (pg loaded and code compiled during it); the rows without it are the next sync on the same instance, warm as the COPY reference\'s reader is; peak RSS covers both');
}

await main();
