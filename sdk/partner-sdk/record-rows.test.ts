// RecordRows (record-rows.ts) writes, byte for byte, the Records the general path writes (toValueType →
// record-encoder.ts) for the JavaScript value each method stands for, in every declared type and undeclared
// columns: written directly for the natural pairs, through toValueType for the others (the same bytes, the
// same errors); excluded columns dropped; and its chunks are batched as record-by-record adds are (at most
// 100 records / the byte cap, an oversized record alone), whatever was pending before them.
import {describe, expect, it} from 'vitest';
import type {ColumnType} from '../types.js';
import {BATCH_ROOM, RecordBatcher, RecordEncoder} from './record-encoder.js';
import {isUtf8} from 'node:buffer';
import {isUtf8Short, RecordRows, type RecordLayout, type RecordsChunk} from './record-rows.js';
import {toValueType} from './values.js';

const TABLE = 'items';

function layoutOf(
  encoder: RecordEncoder, columns: [string, ColumnType | undefined][], options: {excluded?: string[]; schemaName?: string; maxRecords?: number; maxBytes?: number} = {},
): RecordLayout {
  return {
    table: TABLE,
    header: encoder.headerOf(TABLE, options.schemaName, 'UPSERT'),
    columns: columns.map(([name, type]) => ({name, type, key: (options.excluded ?? []).includes(name) ? null : encoder.keyOf(name)})),
    maxRecords: options.maxRecords ?? 100,
    maxBytes: options.maxBytes ?? 100 * 1024,
    declaration: {},
  };
}

/** A chunk's Records entries, one after another (without the room before each batch). */
const entriesOf = (chunk: RecordsChunk): Buffer =>
  Buffer.concat(chunk.batches.flatMap((_, k) => (k % 3 === 0 ? [chunk.bytes.subarray(chunk.batches[k]! + BATCH_ROOM, chunk.batches[k + 1])] : [])));

/** The general path's Records entry (field 1, length, Record) of a row of JavaScript values. */
function generalEntry(row: [string, ColumnType | undefined, unknown][], options: {excluded?: string[]; schemaName?: string} = {}): Buffer {
  const encoder = new RecordEncoder();
  encoder.begin(TABLE, options.schemaName, 'UPSERT');
  for (const [name, type, value] of row) if (!(options.excluded ?? []).includes(name)) encoder.value(name, toValueType(value, type, name));
  const record = encoder.end();
  const length: number[] = [];
  for (let value = record.length; ; value >>>= 7) {
    if (value < 0x80) {
      length.push(value);
      break;
    }
    length.push((value & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...length]), record]);
}

/** One row {id: long 1, v: <value>} through RecordRows, `write` writing v; the entry's bytes. */
function written(type: ColumnType | undefined, write: (rows: RecordRows) => void): Buffer {
  const rows = new RecordRows(layoutOf(new RecordEncoder(), [['id', 'long'], ['v', type]]));
  rows.begin();
  rows.integer(0, 1);
  write(rows);
  rows.end();
  const chunk = rows.take();
  expect(chunk.count).toBe(1);
  return entriesOf(chunk);
}

/** Both ways: the same bytes, or the same error. */
function same(type: ColumnType | undefined, value: unknown, write: (rows: RecordRows) => void): void {
  let expected: Buffer | Error;
  try {
    expected = generalEntry([['id', 'long', 1], ['v', type, value]]);
  } catch (error) {
    expected = error as Error;
  }
  if (expected instanceof Error) {
    expect(() => written(type, write), `${JSON.stringify(type)} ${String(value)}`).toThrow(expected.message);
  } else {
    expect(written(type, write).toString('hex'), `${JSON.stringify(type)} ${String(value)}`).toBe(expected.toString('hex'));
  }
}

const TYPES: (ColumnType | undefined)[] = [
  undefined, 'string', 'xml', {type: 'decimal', precision: 38, scale: 9}, {type: 'decimal'}, 'long', 'int', 'short', 'double', 'float', 'boolean',
  'utc_datetime', 'naive_datetime', 'naive_date', 'json', 'binary',
];

const utf8 = (text: string) => Buffer.from(`..${text}..`, 'utf8');

describe('RecordRows writes the bytes of the general path', () => {
  for (const type of TYPES) {
    describe(`a column declared ${JSON.stringify(type) ?? 'undeclared'}`, () => {
      it('integers', () => {
        for (const value of [0, 1, -1, 127, 128, 300, 32767, -32768, 32768, -32769, 2147483647, -2147483648, 2147483648, -2147483649, 1099511627776, 9007199254740991, -9007199254740991]) {
          same(type, value, (rows) => rows.integer(1, value));
        }
      });

      it('doubles', () => {
        for (const value of [0.5, -0, 1e300, 5e-324, 3.14, -1.7976931348623157e308, 0.1, 1e21, 16777217.5]) {
          same(type, value, (rows) => rows.double(1, value));
        }
      });

      it('booleans and nulls', () => {
        for (const value of [true, false]) same(type, value, (rows) => rows.bool(1, value));
        same(type, null, (rows) => rows.null(1));
      });

      it('strings from UTF-8 bytes', () => {
        const texts = [
          'plain', '', 'São Paulo 🎉', 'x'.repeat(200), 'é'.repeat(100), 'y'.repeat(120), 'y'.repeat(121), `${'y'.repeat(118)}é`, `${'y'.repeat(119)}é`, '1029.98', '-0.01', '.5', '+1e10', '1e', 'NaN', '-Infinity', ' 1.5 ',
          '2024-01-15', '2024-01-15T10:30:00.5', '2024-01-15T10:30:00+05:30', 'infinity', '0044-03-15 BC', '{"a":1}', 'true', 't', '12345678901234567890',
          '42', 'AAEC/w==', '\\x00ff', 'line\nbreak\u0001',
        ];
        for (const text of texts) same(type, text, (rows) => rows.utf8(1, utf8(text), 2, 2 + Buffer.byteLength(text)));
      });

      it('bytes that are not UTF-8, as the string they decode to', () => {
        const bytes = Buffer.from([0x2e, 0x61, 0xff, 0xc3, 0x62, 0xe2, 0x82, 0x2e]);
        same(type, bytes.toString('utf8', 1, 7), (rows) => rows.utf8(1, bytes, 1, 7));
      });

      it('JSON text, parsed with long numbers kept exact', () => {
        for (const text of ['{"a": [1, 2]}', '[1, "x", {"b": null}]', '"text"', '12345678901234567890', '1.50', 'null', 'true', '{"2": 1, "1": 2}', '-0']) {
          const value: unknown = JSON.parse(text.replace(/12345678901234567890/, '"12345678901234567890"'));
          same(type, value, (rows) => rows.json(1, utf8(text), 2, 2 + Buffer.byteLength(text)));
        }
      });

      it('instants for the date/time types, and nothing for the others', () => {
        const instants: [number, number][] = [[0, 0], [1_705_314_600, 500_000_000], [-1, 999_999_000], [-62_135_596_800, 0], [253_402_300_799, 999_999_000], [86_399, 1000]];
        for (const [seconds, nanos] of instants) {
          const iso = new Date(seconds * 1000).toISOString().slice(0, 19);
          const fraction = nanos ? `.${String(nanos).padStart(9, '0')}` : '';
          const naive = type === 'naive_date' || type === 'naive_datetime';
          const text = `${iso}${fraction}${naive ? '' : '+00:00'}`;
          if (type === 'utc_datetime' || naive) {
            same(type, text, (rows) => expect(rows.timestamp(1, seconds, nanos)).toBe(true));
          } else {
            const rows = new RecordRows(layoutOf(new RecordEncoder(), [['v', type]]));
            rows.begin();
            expect(rows.timestamp(0, seconds, nanos)).toBe(false);
            rows.end();
            // nothing written but the Record's own fields
            expect(entriesOf(rows.take()).toString('hex')).toBe(generalEntry([]).toString('hex'));
          }
        }
      });
    });
  }

  it('drops excluded columns and writes the schema name, whatever the values', () => {
    const columns: [string, ColumnType | undefined][] = [['id', 'long'], ['secret', 'string'], ['n', 'int'], ['doc', 'json'], ['at', 'utc_datetime'], ['keep', 'string']];
    const options = {excluded: ['secret', 'n', 'doc', 'at'], schemaName: 'shop'};
    const rows = new RecordRows(layoutOf(new RecordEncoder(), columns, options));
    expect(columns.map((_, i) => rows.included(i))).toEqual([true, false, false, false, false, true]);
    rows.begin();
    rows.integer(0, 7);
    rows.utf8(1, utf8('s'), 2, 3);
    rows.integer(2, 3_000_000_000); // out of range for int, but not sent
    rows.json(3, utf8('{"a": 1}'), 2, 10);
    expect(rows.timestamp(4, 0, 0)).toBe(true);
    rows.utf8(5, utf8('k'), 2, 3);
    rows.end();
    expect(entriesOf(rows.take()).toString('hex')).toBe(generalEntry([['id', 'long', 7], ['keep', 'string', 'k']], options).toString('hex'));
  });

  it('writes rows one after another, their lengths however long they come out', () => {
    const columns: [string, ColumnType | undefined][] = [['id', 'long'], ['text', 'string']];
    const rows = new RecordRows(layoutOf(new RecordEncoder(), columns), 16);
    const expected: Buffer[] = [];
    // lengths of one, two and three bytes, in both orders
    for (const [id, length] of [[1, 10], [2, 200], [3, 20_000], [4, 5], [5, 130], [6, 16_500], [7, 0]] as const) {
      const text = 'é'.repeat(length);
      rows.begin();
      rows.integer(0, id);
      rows.utf8(1, Buffer.from(text), 0, Buffer.byteLength(text));
      rows.end();
      expected.push(generalEntry([['id', 'long', id], ['text', 'string', text]]));
    }
    const chunk = rows.take();
    expect(chunk.count).toBe(7);
    expect(entriesOf(chunk).toString('hex')).toBe(Buffer.concat(expected).toString('hex'));
    expect(chunk.batches).toEqual([0, chunk.bytes.length, 7]);
    expect(() => rows.begin()).toThrow('after take()');
  });

  it('fails on a value its column cannot take, naming the column, as the general path does', () => {
    expect(() => written('int', (rows) => rows.integer(1, 2_147_483_648))).toThrow('column "v" is declared int');
    expect(() => written('short', (rows) => rows.integer(1, -32_769))).toThrow('column "v" is declared short');
    expect(() => written('binary', (rows) => rows.integer(1, 5))).toThrow('column "v" is declared binary');
    expect(() => written('json', (rows) => rows.json(1, utf8('{"a":'), 2, 7))).toThrow('column "v" of items holds text that is not JSON');
  });
});

describe('isUtf8Short', () => {
  it('says what isUtf8 says of every sequence of up to three bytes and of random short texts', () => {
    const edges = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff];
    const check = (bytes: Buffer) => expect(isUtf8Short(Buffer.concat([Buffer.from('ab'), bytes, Buffer.from('cd')]), 2, 2 + bytes.length), bytes.toString('hex')).toBe(isUtf8(bytes));
    for (const a of edges) {
      check(Buffer.from([a]));
      for (const b of edges) {
        check(Buffer.from([a, b]));
        for (const c of edges) check(Buffer.from([a, b, c]));
      }
    }
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pieces = [Buffer.from('a'), Buffer.from('é'), Buffer.from('日'), Buffer.from('🎉'), Buffer.from([0x80]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xc3])];
    for (let n = 0; n < 3000; n++) {
      const bytes = Buffer.concat(Array.from({length: 1 + Math.floor(random() * 8)}, () => pieces[Math.floor(random() * pieces.length)]!));
      check(bytes);
    }
  });
});

describe('RecordRows batches and RecordBatcher.addChunk', () => {
  /** Rows of the given text lengths through RecordRows and addChunk, and the same Records one by one (`add`): the same messages. */
  async function bothWays(lengths: number[], pending: number[] = []): Promise<RecordsChunk> {
    const sendsOf = async (fill: (batcher: RecordBatcher) => Promise<void>) => {
      const sent: string[] = [];
      const batcher = new RecordBatcher(async (message) => void sent.push(Buffer.from(message).toString('hex')), 100, 4096);
      await fill(batcher);
      await batcher.flush();
      expect(batcher.batches).toBe(sent.length);
      return sent;
    };
    const record = (batcher: RecordBatcher, id: number, length: number) => {
      batcher.encoder.begin(TABLE, undefined, 'UPSERT');
      batcher.encoder.value('id', {long: id});
      batcher.encoder.value('text', {string: 'x'.repeat(length)});
      return batcher.add();
    };
    const expected = await sendsOf(async (batcher) => {
      for (const [id, length] of [...pending, ...lengths].entries()) await record(batcher, id, length);
    });
    let chunk: RecordsChunk | undefined;
    const actual = await sendsOf(async (batcher) => {
      for (const [id, length] of pending.entries()) await record(batcher, id, length);
      const rows = new RecordRows(layoutOf(new RecordEncoder(), [['id', 'long'], ['text', 'string']], {maxRecords: 100, maxBytes: 4096}), 100);
      for (const [index, length] of lengths.entries()) {
        rows.begin();
        rows.integer(0, pending.length + index);
        rows.utf8(1, Buffer.alloc(length, 'x'), 0, length);
        rows.end();
      }
      chunk = rows.take();
      await batcher.addChunk(chunk);
    });
    expect(actual).toEqual(expected);
    // the Records' own sizes, as `add` counts them for the budget
    const sizes = lengths.map((length, index) => generalEntry([['id', 'long', pending.length + index], ['text', 'string', 'x'.repeat(length)]]));
    expect(chunk!.recordBytes).toBe(sizes.reduce((sum, entry) => sum + entry.length - (entry[1]! < 0x80 ? 2 : entry[2]! < 0x80 ? 3 : 4), 0));
    expect(chunk!.count).toBe(lengths.length);
    return chunk!;
  }

  it('cuts batches of at most 100 records', async () => {
    const chunk = await bothWays(Array.from({length: 250}, () => 3));
    expect(chunk.batches.filter((_, k) => k % 3 === 2)).toEqual([100, 100, 50]);
  });

  it('cuts batches of at most the byte cap, a record over it alone', async () => {
    const chunk = await bothWays([1000, 1000, 1000, 1000, 1000, 10_000, 50, 4000, 4090, 1, 2000, 2000, 4070]);
    expect(chunk.batches.filter((_, k) => k % 3 === 2)).toEqual([3, 2, 1, 1, 1, 1, 2, 1, 1]);
  });

  it('adds to the records pending before the chunk, as one add after another would', async () => {
    await bothWays([1000, 1000, 3000, 10], [1500, 1500]);
    await bothWays(Array.from({length: 120}, () => 1), Array.from({length: 99}, () => 1));
    await bothWays([4000, 4000, 100], [10]);
  });
});
