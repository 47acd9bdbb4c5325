import {describe, expect, it} from 'vitest';
import {ExactNumber, losesDigits, parseExactJson, stringifyExactJson} from './exact-json.js';

describe('parseExactJson', () => {
  it('keeps numbers a double would change as ExactNumber, and every other value as JSON.parse gives it', () => {
    const text = '{"big": 12345678901234567890, "neg": -9007199254740993, "dec": 0.12345678901234567890123, "small": 42, "float": 0.30000000000000004, "huge": 1e400, "s": "12345678901234567890", "nested": [{"x": 123456789012345678901234567890}]}';
    const value = parseExactJson(text) as Record<string, unknown>;
    expect(value.big).toBeInstanceOf(ExactNumber);
    expect((value.big as ExactNumber).plain).toBe('12345678901234567890');
    expect((value.neg as ExactNumber).plain).toBe('-9007199254740993');
    expect((value.dec as ExactNumber)).toMatchObject({plain: '0.12345678901234567890123', scale: 23, precision: 23, integer: false});
    expect(value.small).toBe(42);
    // a double written by a double keeps its shortest form: a plain number
    expect(value.float).toBe(0.30000000000000004);
    expect(value.huge).toBeInstanceOf(ExactNumber);
    expect(value.s).toBe('12345678901234567890');
    expect(((value.nested as Record<string, unknown>[])[0]!.x as ExactNumber).plain).toBe('123456789012345678901234567890');
  });

  it('writes ExactNumbers back digit for digit, and throws the SyntaxError JSON.parse throws', () => {
    const text = '{"a":[1,12345678901234567890,"x"],"b":{"c":-1.00000000000000000001},"d":"\\u0000"}';
    expect(stringifyExactJson(parseExactJson(text))).toBe(text);
    expect(JSON.stringify(parseExactJson(text))).toBe('{"a":[1,"12345678901234567890","x"],"b":{"c":"-1.00000000000000000001"},"d":"\\u0000"}');
    expect(() => parseExactJson('{"a": 12345678901234567890,')).toThrow(SyntaxError);
  });

  it('finds long numbers wherever JSON puts a value: at the start, after whitespace, in lists and objects', () => {
    expect((parseExactJson(' \n12345678901234567890') as ExactNumber).plain).toBe('12345678901234567890');
    const list = parseExactJson('[1,\n\t -12345678901234567890, 2.5e-400]') as unknown[];
    expect(list.map((item) => (item instanceof ExactNumber ? item.text : item))).toEqual([1, '-12345678901234567890', '2.5e-400']);
    expect((parseExactJson('{"a" :\r\n 1234567.890123456789}') as {a: ExactNumber}).a.plain).toBe('1234567.890123456789');
    const uuid = {call_id: '09d96a1e-264b-406e-8b8e-92de6b18e527', at: '2026-01-01T00:00:00.1234567890123Z', n: 1.5e300};
    expect(parseExactJson(JSON.stringify(uuid))).toEqual(uuid);
  });

  it('turns exponent forms into plain decimals', () => {
    expect(new ExactNumber('1.2345678901234567891e5').plain).toBe('123456.78901234567891');
    expect(new ExactNumber('-12345678901234567891E-25').plain).toBe('-0.0000012345678901234567891');
    expect(losesDigits('1e5')).toBe(false);
    expect(losesDigits('9007199254740993')).toBe(true);
    expect(losesDigits('123.456')).toBe(false);
  });
});
