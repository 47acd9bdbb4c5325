// npm run bench partner-sdk: the replication connector as a Partner SDK source connector against the same
// connector on the Function path, over the wire both, on the same orders table in the same run (100k rows by
// default; BENCH_ROWS=100000,1000000). Each side runs in a child process and this process plays Fivetran:
// - function (the reference): functions-framework serving the bundle ./fivetran deploy ships, with the
//   replication function's deploy.yaml budgets; every call of a full sync over HTTP (bench/support/function-driver.ts,
//   the driver of bench/replication.bench.ts: bodies' rows counted, not parsed);
// - grpc: bench/support/partner-sdk-server.ts (as `./fivetran serve replication --grpc`); one Update streamed
//   to a @grpc/grpc-js client over loopback that reads every record of every message: the protobuf wire
//   format walked (message kind, each Record's table_name, its data entries), as cheap a read as the HTTP
//   driver's; the orders records are counted and must equal the table's rows;
// - grpc, decoded (informational, not judged): the same Update read by the proto-loader client of the tests,
//   which builds a JavaScript object of every record and value: what a Node.js client itself costs.
// Each side does one untimed warm-up sync first (the function's first sync also loads pg), then BENCH_RUNS (3)
// timed ones; the medians are compared. BENCH_CPU_PROF=<dir>
// writes a V8 CPU profile of the gRPC server process there (node --cpu-prof; open it in Chrome DevTools). Prints rows/s of
// each, the ratio grpc / function (target >= 0.8), the number of Records batches and the largest one (<= 100).
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import {CHANNEL_OPTIONS, loadPartnerSdk} from '../sdk/partner-sdk/protocol.js';
import {recordsOf, update} from '../test/fixtures/grpc/client.js';
import {startProcess} from '../test/support/bundled-function.js';
import {closeDriver, driveSync} from './support/function-driver.js';
import {median} from './support/stats.js';
import {commitOrderUpdates, decodeAll, peakRssBytes} from './support/cdc-backlog.js';
import {startReplicationSource, type ReplicationSource} from './support/replication-source.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const sizes = (process.env.BENCH_ROWS ?? '100000').split(',').map(Number).filter((n) => n > 0);
// timed runs of each side after its warm-up: one sync of 100k rows is under a second, so a single run is at the
// mercy of whatever else the machine does; the median of several, and their range, are printed
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const UPDATE_PATH = '/fivetran_sdk.v2.SourceConnector/Update';

/** What the reading client keeps of one UpdateResponse: its kind, and for Records the orders records and the batch size. */
interface ReadMessage {
  kind: number;
  records: number;
  orders: number;
}

function varint(bytes: Buffer, at: {pos: number}): number {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at.pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return value;
    shift += 7;
  }
}

function skip(bytes: Buffer, at: {pos: number}, wire: number): void {
  if (wire === 0) varint(bytes, at);
  else if (wire === 1) at.pos += 8;
  else if (wire === 5) at.pos += 4;
  else if (wire === 2) {
    const length = varint(bytes, at);
    at.pos += length;
  }
  else throw new Error(`unexpected wire type ${wire}`);
}

const ORDERS = Buffer.from('orders');

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; NaN where there is none. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Walks an UpdateResponse: field 6 (Records) → each Record (field 1) → its table_name (2) and data entries (4). */
function readUpdateResponse(bytes: Buffer): ReadMessage {
  const at = {pos: 0};
  const key = varint(bytes, at);
  const kind = key >>> 3;
  const message: ReadMessage = {kind, records: 0, orders: 0};
  if (kind !== 6) return message;
  const end = varint(bytes, at) + at.pos;
  while (at.pos < end) {
    varint(bytes, at); // Records.records (1)
    const recordEnd = varint(bytes, at) + at.pos;
    let orders = false;
    let entries = 0;
    while (at.pos < recordEnd) {
      const field = varint(bytes, at);
      if (field === 0x12) {
        const length = varint(bytes, at);
        orders = bytes.subarray(at.pos + length - ORDERS.length, at.pos + length).equals(ORDERS);
        at.pos += length;
      } else if (field === 0x22) {
        entries++;
        const length = varint(bytes, at);
        at.pos += length;
      } else {
        skip(bytes, at, field & 7);
      }
    }
    if (entries === 0) throw new Error('a record without data');
    message.records++;
    if (orders) message.orders++;
  }
  return message;
}

/** One Update read by a raw @grpc/grpc-js client: the request encoded by proto-loader, the responses walked. */
function readUpdate(address: string, configuration: Record<string, string>, stateJson?: string): Promise<{orders: number; batches: number[]; seconds: number}> {
  const {definition} = loadPartnerSdk();
  const method = (definition['fivetran_sdk.v2.SourceConnector'] as grpc.ServiceDefinition).Update!;
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const stream = client.makeServerStreamRequest(UPDATE_PATH, method.requestSerialize, readUpdateResponse, {configuration, ...(stateJson ? {state_json: stateJson} : {})});
    let orders = 0;
    const batches: number[] = [];
    stream.on('data', (message: ReadMessage) => {
      if (message.kind === 6) batches.push(message.records);
      orders += message.orders;
    });
    stream.on('error', (error) => (client.close(), reject(error)));
    stream.on('end', () => (client.close(), resolve({orders, batches, seconds: (performance.now() - started) / 1000})));
  });
}

/** The same Update through the tests' client (proto-loader objects for every record). */
async function decodedUpdate(address: string, configuration: Record<string, string>): Promise<{orders: number; seconds: number; lastState: string}> {
  const {proto} = loadPartnerSdk();
  const client = new proto.fivetran_sdk.v2.SourceConnector(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  try {
    const started = performance.now();
    const streamed = await update(client, {configuration});
    if (streamed.error) throw streamed.error;
    const orders = recordsOf(streamed.messages).filter((r) => r.table_name.endsWith('orders')).length;
    const lastState = streamed.messages.filter((m) => m.checkpoint).at(-1)?.checkpoint?.state_json ?? '';
    return {orders, seconds: (performance.now() - started) / 1000, lastState};
  } finally {
    client.close();
  }
}

/** bench/support/partner-sdk-server.ts in a child process, once it listens. */
async function startGrpcServer(profile: string[] = []): Promise<Awaited<ReturnType<typeof startProcess>> & {address: string}> {
  const server = await startProcess([...profile, '--import', 'tsx', path.join(here, 'support', 'partner-sdk-server.ts')], {cwd: root, env: {LOG_LEVEL: 'WARNING'}});
  for (let waited = 0; !server.output().includes('listening'); waited += 20) {
    if (waited > 30_000 || server.child.exitCode !== null) {
      await server.stop();
      throw new Error(`the gRPC server did not start:\n${server.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Object.assign(server, {address: `127.0.0.1:${server.port}`});
}

/**
 * update_method cdc (BENCH_CDC_UPDATES, 100,000 by default; 0 skips it): a slot of its own for each side, each
 * created by a full load, then the same updates of orders in transactions of 1,000, then one timed Update
 * delivering them over gRPC (the slot streamed over a replication connection) and one timed sync of the
 * function (calls that peek). Each is judged against PostgreSQL decoding the same changes
 * (pg_logical_slot_peek_binary_changes of all of them, read into this process), and the gRPC server's peak
 * memory is printed: a stream holds what it has not yet sent, not the backlog.
 */
async function benchCdc(source: ReplicationSource, updates: number): Promise<void> {
  const db = new pg.Client({connectionString: source.url});
  await db.connect();
  const grpcSecrets = {...source.secrets, update_method: 'cdc', cdc_slot: 'bench_grpc_slot', cdc_publication: 'bench_grpc_pub'};
  const fnSecrets = {...source.secrets, update_method: 'cdc', cdc_slot: 'bench_fn_slot', cdc_publication: 'bench_fn_pub'};
  const grpcServer = await startGrpcServer(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF, 'cdc')}`] : []);
  const fn = await source.startFunction();
  try {
    await source.fillOrders(updates);
    const grpcLoad = await decodedUpdate(grpcServer.address, grpcSecrets);
    const fnLoad = await driveSync(fn.url, fnSecrets);
    await commitOrderUpdates(db, updates, 1000);
    const {seconds: decodeSeconds, messages} = await decodeAll(db, grpcSecrets.cdc_slot, grpcSecrets.cdc_publication);
    const rssBefore = peakRssBytes(grpcServer.child.pid);
    const cpuBefore = cpuSeconds(grpcServer.child.pid);
    const grpc = await readUpdate(grpcServer.address, grpcSecrets, grpcLoad.lastState);
    const grpcCpu = cpuSeconds(grpcServer.child.pid) - cpuBefore;
    const grpcPeak = peakRssBytes(grpcServer.child.pid);
    const fnCpuBefore = cpuSeconds(fn.child.pid);
    const fnSync = await driveSync(fn.url, fnSecrets, undefined, fnLoad.state);
    const fnCpu = cpuSeconds(fn.child.pid) - fnCpuBefore;
    if (grpc.orders !== updates) throw new Error(`the gRPC Update delivered ${grpc.orders} order rows for ${updates} updates`);
    if (fnSync.rows !== updates) throw new Error(`the function delivered ${fnSync.rows} order rows for ${updates} updates`);
    const rate = (rows: number, seconds: number) => Math.round(rows / seconds).toLocaleString('en-US');
    console.log(`\ncdc: ${updates.toLocaleString('en-US')} updates in transactions of 1,000 (${messages.toLocaleString('en-US')} messages); one run each, after a full load that made each side's slot`);
    console.log(`  PostgreSQL decoding them (one peek): ${decodeSeconds.toFixed(2)} s, ${rate(updates, decodeSeconds)} rows/s (the reference)`);
    console.log(
      `  grpc, the slot streamed:  ${grpc.seconds.toFixed(2)} s, ${rate(updates, grpc.seconds)} rows/s, ${(decodeSeconds / grpc.seconds).toFixed(2)} × decoding; ` +
        `${grpcCpu.toFixed(2)} CPU s; peak RSS ${(grpcPeak / 1024 / 1024).toFixed(0)} MB (${(rssBefore / 1024 / 1024).toFixed(0)} MB before the Update)`,
    );
    console.log(`  function, calls peeking:  ${fnSync.seconds.toFixed(2)} s, ${rate(updates, fnSync.seconds)} rows/s, ${(decodeSeconds / fnSync.seconds).toFixed(2)} × decoding; ${fnCpu.toFixed(2)} CPU s in ${fnSync.calls} calls`);
  } finally {
    await grpcServer.stop();
    await fn.stop();
    for (const slot of ['bench_grpc_slot', 'bench_fn_slot']) await db.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined);
    await db.end();
  }
}

function printResults(): void {
  const header = ['rows', 'function rows/s', 'grpc rows/s', 'grpc / function', 'decoded rows/s', 'cpu µs/row: function / grpc', 'function calls', 'Records batches', 'max batch'];
  const widths = header.map((h, i) => Math.max(h.length, ...results.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log(`${line(header)}\n${results.map(line).join('\n')}`);
  console.log(`rows/s: the median of ${RUNS} timed syncs of each side after an untimed one (BENCH_RUNS), their range in brackets`);
  console.log('grpc / function: the judged ratio of the medians (target >= 0.8), both over loopback in the same run; decoded rows/s is not judged');
  console.log('cpu µs/row: CPU of the function process and of the gRPC server process per row during the timed sync (steadier than rows/s on a loaded machine)');
}

const source = await startReplicationSource(root);
const {secrets} = source;
const results: string[][] = [];
try {
  console.log('function: every call of a full sync over HTTP to functions-framework serving the deployed bundle (child process); bodies\' rows counted');
  console.log('grpc:     one Update from bench/support/partner-sdk-server.ts (child process) to a @grpc/grpc-js client reading every record (wire format walked)');
  console.log('decoded:  the same Update read by the tests\' proto-loader client (a JavaScript object per record and value; informational)\n');
  for (const size of sizes) {
    await source.fillOrders(size);

    const fn = await source.startFunction();
    const fnRuns: Awaited<ReturnType<typeof driveSync>>[] = [];
    let fnCpu = NaN;
    let grpcCpu = NaN;
    try {
      await driveSync(fn.url, secrets); // warm-up: the instance's first sync loads pg
      const before = cpuSeconds(fn.child.pid);
      for (let run = 0; run < RUNS; run++) fnRuns.push(await driveSync(fn.url, secrets));
      fnCpu = (cpuSeconds(fn.child.pid) - before) / RUNS;
    } finally {
      await fn.stop();
    }

    const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];
    const grpcServer = await startGrpcServer(profile);
    const grpcRuns: Awaited<ReturnType<typeof readUpdate>>[] = [];
    let decoded;
    try {
      const {address} = grpcServer;
      await readUpdate(address, secrets); // warm-up, untimed
      const before = cpuSeconds(grpcServer.child.pid);
      for (let run = 0; run < RUNS; run++) grpcRuns.push(await readUpdate(address, secrets));
      grpcCpu = (cpuSeconds(grpcServer.child.pid) - before) / RUNS;
      decoded = await decodedUpdate(address, secrets);
    } finally {
      await grpcServer.stop();
    }
    for (const [label, rows] of [...fnRuns.map((run) => ['function', run.rows] as const), ...grpcRuns.map((run) => ['grpc', run.orders] as const), ['decoded', decoded.orders] as const]) {
      if (rows !== size) throw new Error(`${label} read ${rows} orders, expected ${size}`);
    }
    const fnRates = fnRuns.map((run) => run.rows / run.seconds);
    const grpcRates = grpcRuns.map((run) => run.orders / run.seconds);
    const fnRate = median(fnRates);
    const grpcRate = median(grpcRates);
    const range = (rates: number[]) => (rates.length > 1 ? ` (${Math.round(Math.min(...rates)).toLocaleString('en-US')}–${Math.round(Math.max(...rates)).toLocaleString('en-US')})` : '');
    const fnRun = fnRuns[0]!;
    const grpcRun = grpcRuns[0]!;
    results.push([
      size.toLocaleString('en-US'),
      `${Math.round(fnRate).toLocaleString('en-US')}${range(fnRates)}`,
      `${Math.round(grpcRate).toLocaleString('en-US')}${range(grpcRates)}`,
      (grpcRate / fnRate).toFixed(2),
      Math.round(decoded.orders / decoded.seconds).toLocaleString('en-US'),
      `${((fnCpu / size) * 1e6).toFixed(1)} / ${((grpcCpu / size) * 1e6).toFixed(1)}`,
      String(fnRun.calls),
      String(grpcRun.batches.length),
      String(Math.max(...grpcRun.batches)),
    ]);
  }
  printResults();
  const cdcUpdates = Number(process.env.BENCH_CDC_UPDATES ?? 100_000);
  if (cdcUpdates > 0) await benchCdc(source, cdcUpdates);
} finally {
  closeDriver();
  await source.stop();
}
