// The fivetran-webhooks function answering Fivetran's deliveries: signed sync_end events over HTTP to the
// function on loopback, each one read-notify-written under the PostgreSQL ledger's row lock, its change posted
// to a sink (a local HTTP receiver). Beside it, in the same run, the same deliveries with the JSON-file ledger
// (one process, no database). Prints the time per delivery (p50, p95) one at a time, and the rate of 200
// deliveries to 50 connections sent 16 at a time, where the row lock makes them take turns.
// Target: a delivery well within Fivetran's delivery timeout, and every change posted exactly once.
import {createHmac} from 'node:crypto';
import {chmodSync, mkdtempSync, rmSync} from 'node:fs';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import pg from 'pg';
import {startEmbeddedPostgres} from '../emulator/embedded-postgres.js';
import {webhookHandler} from '../functions/fivetran-webhooks/index.js';
import {createFunctionServer, listen} from '../sdk/server.js';
import {percentile} from './support/stats.js';

const SEQUENTIAL = Number(process.env.BENCH_DELIVERIES ?? 100);
const CONCURRENT = 200;
const CONNECTIONS = 50;
const SECRET = 'bench-webhook-secret-0123456789abcdef';

const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-bench-webhooks-'));
chmodSync(dir, 0o755);
const postgres = await startEmbeddedPostgres({dataDir: path.join(dir, 'data')});
const admin = new pg.Client({connectionString: postgres.url});
await admin.connect();
await admin.query('CREATE DATABASE ledger');
await admin.end();
const databaseUrl = postgres.url.replace(/\/postgres$/, '/ledger');

let posted = 0;
const sink = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    posted++;
    res.writeHead(200).end();
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkEnv = {ALERT_WEBHOOK_URL: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`, ALERT_WEBHOOK_SECRET: 'bench-sink-secret'};

let sequence = 0;
/** A delivery that changes something: connection `c` failing (odd turns) or recovering (even turns). */
function delivery(connection: string, failed: boolean): string {
  sequence++;
  return JSON.stringify({
    event: 'sync_end', created: new Date(Date.UTC(2026, 11, 3) + sequence * 1000).toISOString(), connector_type: 'postgres', connector_id: connection,
    connector_name: `schema_${connection}`, sync_id: `sync-${sequence}`, destination_group_id: 'bench', data: failed ? {status: 'FAILURE_WITH_TASK', reason: 'bench'} : {status: 'SUCCESSFUL'},
  });
}

async function send(url: string, body: string): Promise<void> {
  const response = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json', 'x-fivetran-signature-256': createHmac('sha256', SECRET).update(body).digest('hex')}, body});
  if (response.status !== 200) throw new Error(`the function answered ${response.status}: ${await response.text()}`);
}


async function measure(name: string, ledger: Record<string, string>): Promise<string> {
  const server = createFunctionServer(`bench-${name}`, webhookHandler({env: {...sinkEnv, ...ledger, FIVETRAN_WEBHOOK_SECRET: SECRET}, logSink: () => undefined}));
  const url = await listen(server, 0);
  try {
    posted = 0;
    const times: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const started = performance.now();
      await send(url, delivery('one', i % 2 === 0));
      times.push(performance.now() - started);
    }
    const sequentialPosts = posted;
    posted = 0;
    const limit = pLimit(16);
    const bodies = Array.from({length: CONCURRENT}, (_, i) => delivery(`c${i % CONNECTIONS}`, Math.floor(i / CONNECTIONS) % 2 === 0));
    const started = performance.now();
    await Promise.all(bodies.map((body) => limit(() => send(url, body))));
    const seconds = (performance.now() - started) / 1000;
    return `${name.padEnd(10)} one at a time: p50 ${percentile(times, 0.5).toFixed(1)} ms, p95 ${percentile(times, 0.95).toFixed(1)} ms (${sequentialPosts} of ${SEQUENTIAL} posted); ` +
      `${CONCURRENT} to ${CONNECTIONS} connections 16 at a time: ${(CONCURRENT / seconds).toFixed(0)} deliveries/s (${posted} posted)`;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

try {
  console.log(await measure('postgres', {ALERT_LEDGER_DATABASE_URL: databaseUrl}));
  console.log(await measure('file', {ALERT_LEDGER_FILE: path.join(dir, 'alerts.json')}));
} finally {
  await new Promise<void>((resolve) => sink.close(() => resolve()));
  await postgres.stop();
  rmSync(dir, {recursive: true, force: true});
}
