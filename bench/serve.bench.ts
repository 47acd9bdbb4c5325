// npm run bench serve: the first sync through `./fivetran serve replication` on a fresh process, against
// PostgreSQL's own COPY-to-JSON in the same run (1M rows by default; BENCH_ROWS=100000,1000000).
// - reference: COPY (SELECT row_to_json(t) FROM public.orders t) TO STDOUT into this process, the median of
//   BENCH_COPY_RUNS (3) runs (bench/support/copy-reference.ts, as bench/replication.bench.ts measures it);
// - serve: `node --import tsx cli/index.ts serve replication` (what ./fivetran runs) in a child process, which
//   builds and serves the deployed bundle; this process plays Fivetran (bench/support/function-driver.ts) for
//   the first sync of the fresh process, so pg loading and JIT warm-up are in it, as a new instance's are;
// - serve --dev (informational): the same with the TypeScript sources through tsx (bench/support/serve-dev.ts).
// The child gets the replication function's deploy.yaml budgets, as the replication benchmark's child does.
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {firstAnswer, startProcess} from '../test/support/bundled-function.js';
import {medianCopy} from './support/copy-reference.js';
import {closeDriver, driveSync, type SyncRun} from './support/function-driver.js';
import {startReplicationSource} from './support/replication-source.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const sizes = (process.env.BENCH_ROWS ?? '1000000').split(',').map(Number).filter((n) => n > 0);
const COPY_RUNS = Number(process.env.BENCH_COPY_RUNS ?? 3);

const SERVE_BUNDLE = ['--import', 'tsx', path.join(root, 'cli', 'index.ts'), 'serve', 'replication', '--port', '{port}'];
const SERVE_DEV = ['--import', 'tsx', path.join(root, 'bench', 'support', 'serve-dev.ts')];

async function firstSyncThroughServe(args: string[], env: Record<string, string>, secrets: Record<string, string>): Promise<SyncRun & {startMs: number}> {
  const serve = await startProcess(args, {cwd: root, env});
  try {
    // answered once listening (the bundle built); the 400 for missing secrets loads no driver
    await firstAnswer(serve, {state: {}, secrets: {}}, 60_000);
    const startMs = performance.now() - serve.startedAt;
    return {...(await driveSync(serve.url, secrets)), startMs};
  } finally {
    await serve.stop();
  }
}

const source = await startReplicationSource(root);
const {url, secrets, env} = source;
const results: string[][] = [];
try {
  for (const size of sizes) {
    await source.fillOrders(size);
    const copy = await medianCopy(url, COPY_RUNS);
    const copyRate = copy.rows / copy.seconds;
    for (const [label, args] of [['serve (bundle)', SERVE_BUNDLE], ['serve --dev (tsx)', SERVE_DEV]] as const) {
      const run = await firstSyncThroughServe(args, env, secrets);
      if (run.rows !== size) throw new Error(`${label} synced ${run.rows} rows, expected ${size}`);
      const rate = run.rows / run.seconds;
      results.push([size.toLocaleString('en-US'), label, Math.round(copyRate).toLocaleString('en-US'), Math.round(rate).toLocaleString('en-US'), (rate / copyRate).toFixed(2), String(run.calls), `${Math.round(run.startMs)} ms`]);
      console.log(`${size} rows, ${label}: first sync ${run.seconds.toFixed(2)} s in ${run.calls} calls; COPY ${copy.seconds.toFixed(2)} s`);
    }
  }
} finally {
  closeDriver();
  await source.stop();
}
const header = ['rows', 'served', 'COPY rows/s', 'first sync rows/s', 'ratio', 'calls', 'ready after'];
const widths = header.map((h, i) => Math.max(h.length, ...results.map((r) => r[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
console.log(`\n${line(header)}\n${results.map(line).join('\n')}`);
console.log('ratio = first sync rows/s of a fresh ./fivetran serve process ÷ COPY-to-JSON rows/s (target >= 1.0 for the bundle); --dev is not judged');
console.log('ready after: spawn → first answered POST (the bundle is built before serve listens)');
