// npm run bench local-sync: `./fivetran sync` (the local Fivetran: emulator/sync-runner.ts into the DuckDB
// warehouse) against the function it runs, on the replication benchmark's orders table.
//
// For each size (100k and 1M rows; BENCH_ROWS=100000,1000000 to choose) it fills public.orders with
// generate_orders() and starts the replication function as deployed (bench/support/replication-source.ts), then
// measures, alternating, BENCH_RUNS (2) times each on the same warm function process:
// - reference: the function's own rate over HTTP, as bench/replication.bench.ts measures it (a driver that
//   reads only each body's state and hasMore before the next call);
// - local sync: the code path of cli/sync.ts (runSync with httpTransport, every response checked strictly,
//   applied to a new DuckDB file in one transaction per response, the state file written after each commit),
//   timed from opening the warehouse to closing it; the warehouse's row count is checked.
// It prints both rates, each run's figures (the machine is shared: ranges, not one number) and the ratio of
// the medians (target >= 0.8).
import {mkdtempSync, rmSync} from 'node:fs';
import {loadavg, tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {httpTransport, runSync} from '../emulator/sync-runner.js';
import {Warehouse} from '../emulator/warehouse.js';
import {closeDriver, driveSync as driveFunction} from './support/function-driver.js';
import {startReplicationSource} from './support/replication-source.js';
import {median} from './support/stats.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const sizes = (process.env.BENCH_ROWS ?? '100000,1000000').split(',').map((s) => Number(s.trim())).filter((n) => n > 0);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 2));
const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bench-local-sync-'));

async function localSync(url: string, secrets: Record<string, unknown>, run: string, size: number): Promise<{rows: number; calls: number; seconds: number; cpu: number}> {
  const file = path.join(dir, `${run}.duckdb`);
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const warehouse = await Warehouse.open(file);
  let summary;
  try {
    summary = await runSync({functionName: 'replication', transport: httpTransport(url, {timeoutMs: 600_000}), secrets, stateFile: path.join(dir, `${run}.state.json`), warehouse, schema: 'replication'});
  } finally {
    await warehouse.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const check = await Warehouse.open(file, {readOnly: true});
  const {rows} = await check.query('SELECT count(*) AS n, count(DISTINCT order_id) AS keys FROM replication.public_orders');
  await check.close();
  rmSync(file, {force: true});
  if (Number(rows[0]!.n) !== size || Number(rows[0]!.keys) !== size) throw new Error(`the warehouse has ${rows[0]!.n} rows (${rows[0]!.keys} keys) of ${size}`);
  return {rows: summary.rows.public_orders ?? 0, calls: summary.calls, seconds, cpu: (cpu.user + cpu.system) / 1e6};
}

const rate = (rows: number, seconds: number) => Math.round(rows / seconds);
const fmt = (n: number) => n.toLocaleString('en-US');

const source = await startReplicationSource(root);
const lines: string[][] = [];
try {
  console.log(`replication function as deployed (${source.memoryMb} MB, response cap ${(source.capBytes / 1024 / 1024).toFixed(0)} MiB), orders table of 8 columns plus keys; ${RUNS} runs of each, alternating`);
  for (const size of sizes) {
    await source.fillOrders(size);
    const fn = await source.startFunction();
    try {
      await driveFunction(fn.url, source.secrets); // the first sync of the instance (code compiled, pg loaded): not compared
      const fnRates: number[] = [];
      const syncRates: number[] = [];
      let calls = 0;
      for (let run = 0; run < RUNS; run++) {
        const reference = await driveFunction(fn.url, source.secrets);
        if (reference.rows !== size) throw new Error(`the function sent ${reference.rows} rows of ${size}`);
        fnRates.push(rate(size, reference.seconds));
        const sync = await localSync(fn.url, source.secrets, `${size}-${run}`, size);
        syncRates.push(rate(size, sync.seconds));
        calls = sync.calls;
        console.log(`${fmt(size)} rows, run ${run + 1}: function ${reference.seconds.toFixed(2)} s (${reference.calls} calls), local sync ${sync.seconds.toFixed(2)} s (${sync.calls} calls, ${sync.cpu.toFixed(2)} CPU s in this process, DuckDB's threads included); load ${loadavg()[0]!.toFixed(1)}`);
      }
      const range = (rates: number[]) => (rates.length > 1 ? `${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}` : fmt(rates[0]!));
      lines.push([fmt(size), String(calls), fmt(median(fnRates)), range(fnRates), fmt(median(syncRates)), range(syncRates), (median(syncRates) / median(fnRates)).toFixed(2)]);
    } finally {
      await fn.stop();
    }
  }
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  closeDriver();
  await source.stop();
  rmSync(dir, {recursive: true, force: true});
}
const header = ['rows', 'calls', 'function rows/s', 'function runs', 'local sync rows/s', 'local sync runs', 'ratio'];
const widths = header.map((h, i) => Math.max(h.length, ...lines.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(`\n${line(header)}\n${lines.map(line).join('\n')}`);
console.log('function = the replication function over HTTP, bodies read only for state and hasMore (as bench/replication.bench.ts)');
console.log('local sync = runSync + Warehouse as ./fivetran sync --url runs them: strict checks, one DuckDB transaction per response, state after each commit');
console.log('ratio = median local sync rows/s ÷ median function rows/s (target >= 0.8)');
