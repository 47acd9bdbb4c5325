// Plays Fivetran against a function over HTTP, for the benchmarks that compare with the Function path:
// POST with the returned state until hasMore is false, reading only the state and hasMore from each body's
// tail before the next call and counting the body's rows (a marker per row) while the next call runs, so
// the driver's own bookkeeping is not charged to the function. Every benchmark that drives a function uses it.
import http from 'node:http';

const agent = new http.Agent({keepAlive: true, maxSockets: 1});

export function post(url: string, body: string): Promise<{status: number; body: Buffer}> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {method: 'POST', agent, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}}, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({status: response.statusCode ?? 0, body: Buffer.concat(chunks)}));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end(body);
  });
}

const STATE_MARKER = Buffer.from(',"state":');
const HAS_MORE_MARKER = Buffer.from(',"hasMore":');

function countMarkers(body: Buffer, marker: Buffer): number {
  let rows = 0;
  for (let i = body.indexOf(marker); i !== -1; i = body.indexOf(marker, i + marker.length)) rows++;
  return rows;
}

export interface SyncRun {
  rows: number;
  bytes: number;
  calls: number;
  seconds: number;
  /** the state of the last response: where the next sync starts */
  state: unknown;
}

/**
 * A full sync: every call until hasMore is false, from `start` (a new connection's `{}` by default).
 * `rowMarker` starts each row of the counted table (`{"order_id":`).
 */
export async function driveSync(url: string, secrets: Record<string, unknown>, rowMarker = Buffer.from('{"order_id":'), start: unknown = {}): Promise<SyncRun> {
  let state: unknown = start;
  let rows = 0;
  let bytes = 0;
  let calls = 0;
  const started = performance.now();
  let response = await post(url, JSON.stringify({state, secrets, sync_id: 'bench'}));
  for (;;) {
    calls++;
    if (response.status !== 200) throw new Error(`call ${calls} failed with ${response.status}: ${response.body.toString().slice(0, 500)}`);
    const body = response.body;
    bytes += body.length;
    // the adapter ends the body with ...,"state":<state>,"hasMore":<bool>}: the state is in its tail
    const hasMoreAt = body.lastIndexOf(HAS_MORE_MARKER);
    state = JSON.parse(body.subarray(body.lastIndexOf(STATE_MARKER, hasMoreAt) + STATE_MARKER.length, hasMoreAt).toString());
    const hasMore = body.subarray(hasMoreAt).toString().startsWith(',"hasMore":true');
    const next = hasMore ? post(url, JSON.stringify({state, secrets, sync_id: 'bench'})) : null;
    rows += countMarkers(body, rowMarker);
    if (!next) break;
    response = await next;
  }
  return {rows, bytes, calls, seconds: (performance.now() - started) / 1000, state};
}

export function closeDriver(): void {
  agent.destroy();
}
