// The reference of the replication benchmarks: COPY (SELECT row_to_json(t) FROM public.orders t) TO STDOUT read
// over the wire protocol into this process (bytes counted, nothing parsed): PostgreSQL producing the same JSON
// as fast as it can; every replication benchmark measures it this way.
import pg from 'pg';
import {copyOut} from '../../connectors/replication/copy-out.js';

export async function measureCopy(url: string): Promise<{rows: number; bytes: number; seconds: number}> {
  const client = new pg.Client({connectionString: url});
  await client.connect();
  try {
    let bytes = 0;
    const started = performance.now();
    const rows = await copyOut(client, 'COPY (SELECT row_to_json(t) FROM public.orders t) TO STDOUT', (_data, start, end) => {
      bytes += end - start;
    });
    return {rows, bytes, seconds: (performance.now() - started) / 1000};
  } finally {
    await client.end();
  }
}

/** The median run of `runs` (after one untimed pass that warms the cache). */
export async function medianCopy(url: string, runs: number): Promise<{rows: number; bytes: number; seconds: number}> {
  await measureCopy(url);
  const measured = [];
  for (let run = 0; run < runs; run++) measured.push(await measureCopy(url));
  measured.sort((a, b) => a.seconds - b.seconds);
  return measured[Math.floor(measured.length / 2)]!;
}
