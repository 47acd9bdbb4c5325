// The change data capture benchmarks' backlog and reference (bench/replication.bench.ts, bench/partner-sdk.bench.ts):
// updates of the orders table committed one transaction at a time, and PostgreSQL decoding all of them for a
// slot in one peek, read into the benchmark process. Also the peak memory both benchmarks print.
import {readFileSync} from 'node:fs';
import type pg from 'pg';

/**
 * `updates` updates of orders (status flipped, updated_at moved) in transactions of `perTransaction`, over its
 * first `rows` rows and then the same rows again. Flushed at commit, as production servers do (the embedded
 * server commits asynchronously), so a peek right after sees all of them.
 */
export async function commitOrderUpdates(db: pg.Client, updates: number, perTransaction: number, rows = updates): Promise<void> {
  await db.query('SET synchronous_commit = on');
  for (let done = 0; done < updates; done += perTransaction) {
    const from = (done % rows) + 1;
    await db.query(`UPDATE orders SET status = CASE WHEN status = 'shipped' THEN 'paid' ELSE 'shipped' END, updated_at = now() WHERE order_id BETWEEN $1 AND $2`, [
      from,
      from + Math.min(perTransaction, updates - done) - 1,
    ]);
  }
}

/** PostgreSQL decoding every change the slot holds for `publication`, as the connector asks for them (a peek, which consumes nothing). */
export async function decodeAll(db: pg.Client, slot: string, publication: string): Promise<{seconds: number; bytes: number; messages: number}> {
  const started = performance.now();
  const {rows} = await db.query<{data: Buffer}>(`SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`, [slot, publication]);
  return {seconds: (performance.now() - started) / 1000, bytes: rows.reduce((sum, m) => sum + m.data.length, 0), messages: rows.length};
}

/** Peak resident memory of a process (VmHWM), bytes. */
export function peakRssBytes(pid: number | undefined): number {
  const match = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : NaN;
}
