// The monitoring connector reading a large account: 5,000 connections in 200 groups, every API request
// answered after 50 ms by the simulator. Beside it, in the same run against the same simulator, the naive
// way: list the connection ids, then GET each connection (16 at a time, which is already kinder than a
// loop). Prints the requests and the wall time of each.
// Target: at most one request per 1,000 connections plus one per page of groups, and a check bounded by
// pages × latency, not by connections.
import pLimit from 'p-limit';
import {startApiSimulator} from '../emulator/api-simulator.js';
import {generateFleet} from '../emulator/fleet.js';
import {FivetranApi, type Connection} from '../sdk/fivetran-api.js';
import {handleFunctionCall} from '../sdk/function-adapter.js';
import {connector} from '../connectors/monitoring/index.js';
import {assessHealth} from '../connectors/monitoring/public.js';

const GROUPS = Number(process.env.BENCH_GROUPS ?? 200);
const PER_GROUP = Number(process.env.BENCH_PER_GROUP ?? 25);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 50);
const NAIVE_CONCURRENCY = 16;

const sim = await startApiSimulator({fleet: generateFleet({groups: GROUPS, connectionsPerGroup: PER_GROUP, seed: 1}), latencyMs: LATENCY_MS, rateLimit: false});
const total = GROUPS * PER_GROUP;
const secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, tenant_pattern: '^[a-z]+_([a-z]+)_'};

interface Run {
  name: string;
  requests: number;
  ms: number;
  connections: number;
  note: string;
}

/** A whole sync as Fivetran runs it: calls while hasMore. */
async function connectorRun(name: string, extra: Record<string, unknown>): Promise<Run> {
  sim.resetRequests();
  const started = performance.now();
  let state = {};
  let rows = 0;
  let calls = 0;
  let bytes = 0;
  for (;;) {
    const result = await handleFunctionCall(connector, {secrets: {...secrets, ...extra}, state}, {sink: () => undefined});
    if (result.status !== 200) throw new Error(`${name}: ${result.body}`);
    calls++;
    bytes += result.body.length;
    const body = JSON.parse(result.body) as {state: Record<string, unknown>; hasMore: boolean; insert: Record<string, unknown[]>};
    rows += body.insert.connections?.length ?? 0;
    state = body.state;
    if (!body.hasMore) break;
  }
  const ms = performance.now() - started;
  return {name, requests: sim.requestCount(), ms, connections: rows, note: `${calls} call${calls === 1 ? '' : 's'}, ${(bytes / 1024 / 1024).toFixed(1)} MiB of responses, state ${(JSON.stringify(state).length / 1024).toFixed(0)} KiB`};
}

/** The naive reader: ids from the list, then one GET per connection. */
async function naiveRun(): Promise<Run> {
  sim.resetRequests();
  const api = new FivetranApi({apiKey: sim.apiKey, apiSecret: sim.apiSecret, baseUrl: sim.url});
  const started = performance.now();
  const ids = (await api.listConnections()).map((c) => c.id);
  const limit = pLimit(NAIVE_CONCURRENCY);
  const connections = await Promise.all(ids.map((id) => limit(async () => (await api.getConnection(id)).data as Connection)));
  const now = Date.now();
  for (const connection of connections) assessHealth(connection, now);
  const ms = performance.now() - started;
  return {name: `naive: list ids, GET each (${NAIVE_CONCURRENCY} at a time)`, requests: sim.requestCount(), ms, connections: connections.length, note: 'health only: no events, alerts or rows'};
}

const runs: Run[] = [];
runs.push(await connectorRun('connector, every group (/v1/connections pages)', {}));
const groupIds = sim.fleet.groups.map((g) => g.id).join(',');
runs.push(await connectorRun('connector, group_ids = all 200 (8 groups at a time)', {group_ids: groupIds, concurrency: '8'}));
runs.push(await naiveRun());
await sim.close();

const pagesOfConnections = Math.ceil(total / 1000);
const pagesOfGroups = Math.ceil(GROUPS / 1000);
const targetRequests = pagesOfConnections + pagesOfGroups;
console.log(`${total} connections in ${GROUPS} groups, ${LATENCY_MS} ms latency per request\n`);
const width = Math.max(...runs.map((r) => r.name.length));
console.log(`${'run'.padEnd(width)}  requests  wall time  per connection  notes`);
for (const run of runs) {
  console.log(`${run.name.padEnd(width)}  ${String(run.requests).padStart(8)}  ${(run.ms / 1000).toFixed(2).padStart(8)}s  ${((run.ms / run.connections) * 1000).toFixed(0).padStart(11)} µs  ${run.note}`);
}
const main = runs[0]!;
const bound = (pagesOfConnections + pagesOfGroups) * LATENCY_MS;
console.log(`\ntarget: at most ${targetRequests} requests (${pagesOfConnections} pages of connections + ${pagesOfGroups} of groups): ${main.requests <= targetRequests ? 'met' : 'MISSED'} (${main.requests})`);
console.log(`pages × latency = ${bound} ms sequential; the check took ${main.ms.toFixed(0)} ms (${(main.ms / bound).toFixed(1)}×, the rest is building ${total} rows, events and alerts)`);
console.log(`naive / connector: ${(runs[2]!.requests / main.requests).toFixed(0)}× the requests, ${(runs[2]!.ms / main.ms).toFixed(1)}× the time; at Fivetran's 20,000 requests an hour the naive way checks the account ${Math.floor(20_000 / runs[2]!.requests)} times an hour, the connector ${Math.floor(20_000 / main.requests)}`);
if (main.requests > targetRequests || main.connections !== total) process.exitCode = 1;
