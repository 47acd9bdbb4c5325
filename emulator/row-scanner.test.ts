import {describe, expect, it} from 'vitest';
import {RowScanner} from './row-scanner.js';
import {inferType, widen, type ColumnSqlType} from './warehouse.js';

/** Scans `rows` (as JSON) in chunks of `chunkBytes`, as ResponseReader feeds a scanner. */
function scan(rows: unknown[], chunkBytes = Infinity): RowScanner {
  const text = Buffer.from(`${JSON.stringify(rows).slice(1)}`);
  const scanner = new RowScanner();
  let pending = Buffer.alloc(0);
  for (let at = 0; at < text.length; at += chunkBytes) {
    const buf = Buffer.concat([pending, text.subarray(at, at + chunkBytes)]);
    const next = scanner.scan(buf, 0);
    pending = scanner.state === 'incomplete' ? buf.subarray(next) : Buffer.alloc(0);
    if (scanner.state !== 'incomplete') break;
  }
  return scanner;
}

/** The type the warehouse gives a column of these values when it infers them from parsed rows. */
const folded = (values: unknown[]) => values.reduce<ColumnSqlType | undefined>((type, value) => widen(type, inferType(value)), undefined);

describe('RowScanner', () => {
  // strings near the date and date-time shapes, each compared with inferType on the parsed string
  const shapes = [
    '2026-01-02', '2024-02-29', '2023-02-29', '0000-01-01', '2026-13-01', '2026-00-10', '2026-04-31', '2026-1-02', '2026/01/02',
    '2026-01-02T03:04:05', '2026-01-02 03:04:05', '2026-01-02t03:04:05', '2026-01-02T24:00:00', '2026-01-02T23:60:00', '2026-01-02T23:59:60',
    '2026-01-02T03:04', '2026-01-02T03:04Z', '2026-01-02T03:04:05Z', '2026-01-02T03:04:05z', '2026-01-02T03:04:05.1Z', '2026-01-02T03:04:05.123456789Z',
    '2026-01-02T03:04:05.1234567890Z', '2026-01-02T03:04:05.Z', '2026-01-02T03:04:05+01', '2026-01-02T03:04:05+0130', '2026-01-02T03:04:05+01:30',
    '2026-01-02T03:04:05-23:59', '2026-01-02T03:04:05+24:00', '2026-01-02T03:04:05+01:60', '2026-01-02T03:04:05+01:3', '2026-01-02T03:04:05+1',
    '2026-01-02T03:04:05.5+01:00', '2026-01-02T03:04:05 ', '2026-01-02T03:04:05+01:00:00', 'x2026-01-02', '2026-01-02x', '', 'São Paulo', '2026-01-02T03:04:05.123',
  ];
  it.each(shapes)('types %j as inferType does', (value) => {
    const scanner = scan([{v: value}]);
    expect(scanner.state).toBe('done');
    expect(scanner.columns).toEqual([{name: 'v', type: inferType(value)}]);
  });

  it('folds the types of a column over its rows as the warehouse does, whatever the chunks', () => {
    const columns: Record<string, unknown[]> = {
      a: [1, 2.5, null, -3],
      b: ['2026-01-02', '2026-01-02T03:04:05', '2026-01-02T03:04:05Z'],
      c: ['2026-01-02', 'x'],
      d: [true, false, null],
      e: [null, null],
      f: [1, 'one'],
      g: ['\u00e9t\u00e9', 'a\\"b', 'line\nbreak'],
    };
    const rows = Array.from({length: 4}, (_, i) => Object.fromEntries(Object.entries(columns).map(([name, values]) => [name, values[i % values.length]])));
    for (const chunkBytes of [1, 3, 17, Infinity]) {
      const scanner = scan(rows, chunkBytes);
      expect(scanner.state).toBe('done');
      expect(scanner.count).toBe(4);
      expect(scanner.columns).toEqual(Object.keys(columns).map((name) => ({name, type: folded(rows.map((row) => row[name]))})));
    }
  });

  it('counts the rows that have a value for each key and the range of integer keys', () => {
    const scanner = scan([{id: 3, k: 'a'}, {id: 5, k: null}, {id: 9}]);
    expect([scanner.nonNull('id'), scanner.nonNull('k'), scanner.nonNull('ghost')]).toEqual([3, 1, 0]);
    expect(scanner.integerRange('id')).toEqual({min: 3, max: 9, ascending: true});
    expect(scanner.integerRange('k')).toBeUndefined();
    expect(scan([{id: 3}, {id: 3}]).integerRange('id')).toEqual({min: 3, max: 3, ascending: false});
  });

  it.each([
    ['a nested value (a JSON column)', '{"id":1,"v":{"a":1}}]'],
    ['a number a double may round', '{"id":12345678901234567}]'],
    ['a whole number written as a decimal', '{"id":1.0}]'],
    ['a key twice', '{"id":1,"id":2}]'],
    ['a key twice, spelled two ways', '{"id":1,"\\u0069d":2}]'],
    ['a system column', '{"id":1,"_fivetran_synced":"x"}]'],
    ['a row that is not an object', '5]'],
    ['a trailing comma', '{"id":1},]'],
    ['a raw control character in a string', '{"id":"a\u0001"}]'],
    ['an unknown escape', '{"id":"\\x"}]'],
    ['a leading zero', '{"id":01}]'],
  ])('leaves %s to the object path', (_name, text) => {
    const scanner = new RowScanner();
    scanner.scan(Buffer.from(text), 0);
    expect(scanner.state).toBe('doubt');
  });

  it('gives any run of rows as newline-delimited JSON, the separators between them turned to a newline and spaces, whatever the chunks', () => {
    const body = Buffer.from('{"rows":[ {"a": 1, "b": "x,y"} ,\n\t{"a": 2, "b": "}{"},{"a":3,"b":null}  ]}');
    const first = body.indexOf('[') + 1;
    for (const chunkBytes of [1, 7, body.length]) {
      // as ResponseReader reads: the scanner is given the body from the start of an unfinished row, with its offset
      const scanner = new RowScanner();
      let from = first;
      for (let end = Math.min(body.length, first + chunkBytes); scanner.state !== 'done'; end = Math.min(body.length, end + chunkBytes)) {
        from += scanner.scan(body.subarray(from, end), 0, from);
        if (scanner.state === 'doubt') throw new Error('doubt');
      }
      expect(scanner.count).toBe(3);
      const lines = (at: number, to: number) => scanner.lines(body, at, to).toString().split('\n');
      expect(lines(0, 3).map((line) => JSON.parse(line) as unknown)).toEqual([{a: 1, b: 'x,y'}, {a: 2, b: '}{'}, {a: 3, b: null}]);
      expect(lines(0, 3)[1]).toBe('   {"a": 2, "b": "}{"}');
      expect(lines(1, 3).map((line) => JSON.parse(line) as unknown)).toEqual([{a: 2, b: '}{'}, {a: 3, b: null}]);
      expect(lines(2, 3)).toEqual(['{"a":3,"b":null}']);
      expect(scanner.lines(body, 3, 3).length).toBe(0);
    }
  });
});
