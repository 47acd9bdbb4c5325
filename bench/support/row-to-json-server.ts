// The replication benchmark's comparison with the design it replaced: PostgreSQL building each row's JSON.
// A bare Node.js HTTP server (no functions-framework, no SDK) that, for each POST {"state": {"after": <order_id>}},
// opens a new connection, streams ONE binary COPY of the next CALL_ROWS rows of public.orders (keyset on
// order_id, the same ORDER BY and LIMIT shape as the connector) straight into the response in 1 MiB writes,
// closes the connection, and answers {"insert":{"orders":[...]},"state":{"after":N},"hasMore":...}.
// No discovery, no budgets, no checkpoints: what is left is PostgreSQL writing row_to_json, two loopback hops
// and Node moving the bytes — the least a connector whose JSON PostgreSQL writes can do per call. Run as a child process by bench/replication.bench.ts (PG_URL, CALL_ROWS, PORT).
import http from 'node:http';
import pg from 'pg';
import {copyOut} from '../../connectors/replication/copy-out.js';

const url = process.env.PG_URL!;
const callRows = Number(process.env.CALL_ROWS);
const PART = 1024 * 1024;
const SIGNATURE_BYTES = 19;

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const {state} = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {state?: {after?: number}};
    void answer(state?.after ?? 0, res).catch((error: Error) => {
      res.destroy(error);
    });
  });
});

async function answer(after: number, res: http.ServerResponse): Promise<void> {
  const client = new pg.Client({connectionString: url});
  await client.connect();
  try {
    res.writeHead(200, {'content-type': 'application/json'});
    res.write('{"insert":{"orders":[');
    let part = Buffer.allocUnsafe(PART);
    let length = 0;
    let rows = 0;
    let last = after;
    let started = false;
    const flush = () => {
      if (!length) return;
      res.write(part.subarray(0, length));
      part = Buffer.allocUnsafe(PART);
      length = 0;
    };
    const text = `COPY (SELECT row_to_json(t), t.order_id::text FROM public.orders t WHERE t.order_id > ${Math.floor(after)} ORDER BY t.order_id LIMIT ${callRows}) TO STDOUT (FORMAT binary)`;
    await copyOut(client, text, (row, begin, end) => {
      let offset = begin;
      if (!started) {
        started = true;
        offset = begin + SIGNATURE_BYTES + row.readUInt32BE(begin + 15);
        if (offset >= end) return;
      }
      if (row.readInt16BE(offset) === -1) return;
      const size = row.readInt32BE(offset + 2);
      const start = offset + 6;
      if (length + size + 1 > part.length) flush();
      if (rows > 0) part[length++] = 0x2c;
      row.copy(part, length, start, start + size);
      length += size;
      rows++;
      const keyAt = start + size;
      last = Number(row.toString('utf8', keyAt + 4, keyAt + 4 + row.readInt32BE(keyAt)));
    });
    flush();
    res.end(`]},"state":{"after":${last}},"hasMore":${rows === callRows}}`);
  } finally {
    await client.end();
  }
}

server.listen(Number(process.env.PORT), '127.0.0.1');
