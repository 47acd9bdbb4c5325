// npm run bench partner-sdk-records: the Update stream's encoding of upsertJson rows, in this process, without
// PostgreSQL or gRPC: orders rows as the replication connector writes their JSON (12 columns: long, int,
// strings with unicode, a decimal, three timestamps, nulls) become Records batches of at most 100 records /
// 100 KiB, through the fast path (json-records.ts: Record bytes straight from the JSON bytes) and through the
// general path it replaced (parseJsonRows → toValueType → record-encoder.ts), on the same rows in the same
// run. Prints CPU µs per row of each (process.cpuUsage, steadier than wall time on a shared machine) and the
// ratio; both must send the same bytes. BENCH_ROWS rows per pass (10,000 by default), 30 warm-up passes, 100 timed.
import {JsonRecords} from '../sdk/partner-sdk/json-records.js';
import {parseJsonRows} from '../sdk/partner-sdk/json-rows.js';
import {RecordBatcher} from '../sdk/partner-sdk/record-encoder.js';
import {toValueType} from '../sdk/partner-sdk/values.js';
import type {ColumnType} from '../sdk/types.js';

const rowsPerPass = Number(process.env.BENCH_ROWS ?? 10_000);
const cities = ['New York', 'London', 'Tokyo', 'São Paulo', 'Sydney', 'Madrid'];
const rows: string[] = [];
// as sql/replication/setup.sql's generate_orders fills the table, and read.ts writes it
for (let g = 1; g <= rowsPerPass; g++) {
  const at = new Date(Date.UTC(2024, 0, 1) + (g % 31_536_000) * 1000).toISOString().replace('.000Z', '+00:00');
  rows.push(JSON.stringify({
    order_id: g, order_number: `ORD-G-${String(g).padStart(10, '0')}`, customer_id: 1001 + (g % 8), order_date: at,
    status: ['pending', 'paid', 'shipped', 'completed', 'cancelled'][g % 5], total_amount: (10 + ((g * 7919) % 99_000) / 100).toFixed(2),
    currency: ['USD', 'EUR', 'JPY', 'BRL'][g % 4], region: ['North America', 'Europe', 'Asia Pacific', 'Latin America'][g % 4],
    shipping_city: cities[g % 6], notes: g % 3 === 0 ? null : `generated order ${g}`, created_at: at, updated_at: at,
  }));
}
const json = Buffer.from(rows.join(','));
const types: Record<string, ColumnType> = {
  order_id: 'long', order_number: 'string', customer_id: 'int', order_date: 'utc_datetime', status: 'string', total_amount: {type: 'decimal', precision: 12, scale: 2},
  currency: 'string', region: 'string', shipping_city: 'string', notes: 'string', created_at: 'utc_datetime', updated_at: 'utc_datetime',
};
const TABLE = 'public_orders';

/** A batcher whose sends keep a running checksum of the bytes (so both paths can be compared). */
function batcherOf(): {batcher: RecordBatcher; sent: () => {bytes: number; sum: number}} {
  let bytes = 0;
  let sum = 0;
  const batcher = new RecordBatcher(async (message) => {
    bytes += message.length;
    for (let i = 0; i < message.length; i += 61) sum = (sum * 31 + message[i]!) | 0;
  }, 100, 100 * 1024);
  return {batcher, sent: () => ({bytes, sum})};
}

async function fastPass(batcher: RecordBatcher, reader: JsonRecords): Promise<void> {
  reader.reset(json);
  for (let row = reader.next(); row !== null; row = reader.next()) {
    const sending = batcher.add();
    if (sending) await sending;
  }
  await batcher.flush();
}

async function generalPass(batcher: RecordBatcher): Promise<void> {
  const encoder = batcher.encoder;
  for (const row of parseJsonRows(json)) {
    encoder.begin(TABLE, undefined, 'UPSERT');
    for (const column in row) encoder.value(column, toValueType(row[column], types[column], column));
    const sending = batcher.add();
    if (sending) await sending;
  }
  await batcher.flush();
}

async function measure(pass: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 30; i++) await pass();
  const before = process.cpuUsage();
  const passes = 100;
  for (let i = 0; i < passes; i++) await pass();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (passes * rowsPerPass);
}

const fast = batcherOf();
const reader = new JsonRecords(fast.batcher.encoder, {name: TABLE, schemaName: undefined, columnType: (column) => types[column], includesColumn: () => true});
const general = batcherOf();
const generalMicros = await measure(() => generalPass(general.batcher));
const fastMicros = await measure(() => fastPass(fast.batcher, reader));
if (fast.sent().bytes !== general.sent().bytes || fast.sent().sum !== general.sent().sum) throw new Error('the fast path sent other bytes than the general path');
if (reader.generalValues !== 0) throw new Error(`${reader.generalValues} values of orders rows went the general way`);
console.log(`${rowsPerPass.toLocaleString('en-US')} orders rows a pass (${Math.round(json.length / rowsPerPass)} bytes of JSON a row), 100 timed passes after 30 warm-up; the same bytes sent by both`);
console.log(`general path (parseJsonRows → toValueType → record-encoder): ${generalMicros.toFixed(2)} µs CPU a row`);
console.log(`fast path (json-records.ts):                               ${fastMicros.toFixed(2)} µs CPU a row`);
console.log(`fast / general: ${(fastMicros / generalMicros).toFixed(2)}`);
