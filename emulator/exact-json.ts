// JSON that keeps every digit. Fivetran reads a Function's numbers exactly; JSON.parse rounds integers past
// 2^53 (12345678901234567890 → 12345678901234567000) and decimals with more digits than a double keeps. The
// local Fivetran parses responses and state with parseExactJson: a number a double holds exactly stays a JS
// number; any other becomes an ExactNumber carrying its text, which the warehouse lands as BIGINT, HUGEINT,
// DECIMAL(38,s) or VARCHAR (see emulator/warehouse.ts) and stringifyExactJson writes back digit for digit.
//
// The common path stays JSON.parse: only a body with a number of 16 or more digits (a double keeps 15 for sure)
// or an exponent of three digits is parsed the slow way (number tokens swapped for placeholders, JSON.parse,
// then a reviver that puts the ExactNumbers in).
import {randomBytes} from 'node:crypto';

/** A JSON number a double cannot hold exactly, as the function wrote it. */
export class ExactNumber {
  /** no fraction and no exponent in the text */
  readonly integer: boolean;
  /** the value in plain decimal notation (no exponent), e.g. "-0.000123" or "12345678901234567890" */
  readonly plain: string;
  /** digits after the decimal point of `plain` */
  readonly scale: number;
  /** digits of `plain` without sign and leading zeros of the integer part (at least 1) */
  readonly precision: number;

  constructor(readonly text: string) {
    this.integer = !/[.eE]/.test(text);
    this.plain = this.integer ? text.replace(/^(-?)0+(?=\d)/, '$1') : toPlain(text);
    const [whole = '', fraction = ''] = this.plain.replace('-', '').split('.');
    this.scale = fraction.length;
    this.precision = Math.max(1, whole.replace(/^0+/, '').length + fraction.length);
  }

  /** JSON.stringify of an ExactNumber gives its text as a string; stringifyExactJson writes it as a number. */
  toJSON(): string {
    return this.plain;
  }

  toString(): string {
    return this.plain;
  }
}

/** Decimal notation of a JSON number token, without exponent. */
function toPlain(token: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (!match) return token;
  const [, sign, whole, fraction = '', exponentText = '0'] = match;
  const exponent = Number(exponentText);
  // an absurd exponent would make a gigantic string: keep the token as it is (it lands as VARCHAR)
  if (Math.abs(exponent) > 400) return token;
  let digits = whole! + fraction;
  let point = whole!.length + exponent;
  if (point <= 0) {
    digits = '0'.repeat(1 - point) + digits;
    point = 1;
  } else if (point > digits.length) {
    digits += '0'.repeat(point - digits.length);
  }
  let integerPart = digits.slice(0, point).replace(/^0+(?=\d)/, '');
  const fractionPart = digits.slice(point);
  if (integerPart === '') integerPart = '0';
  return `${sign}${integerPart}${fractionPart ? `.${fractionPart}` : ''}`;
}

/** Significant digits and decimal exponent of a plain or exponent-form number, for comparing values. */
function canonical(token: string): string {
  const match = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(token);
  if (!match) return token;
  const [, sign, whole, fraction = '', exponentText = '0'] = match;
  const digits = whole! + fraction;
  const leading = digits.length - digits.replace(/^0+/, '').length;
  const significant = digits.slice(leading).replace(/0+$/, '');
  if (significant === '') return '0';
  return `${sign}${significant}e${Number(exponentText) + whole!.length - leading}`;
}

/** True when JSON.parse would change the number: an integer past 2^53, or digits a double does not keep. */
export function losesDigits(token: string): boolean {
  const value = Number(token);
  if (!Number.isFinite(value)) return true;
  if (!/[.eE]/.test(token)) return !Number.isSafeInteger(value);
  return canonical(token) !== canonical(String(value));
}

// A number token (where JSON has values: at the start, after ':', ',' or '[') whose mantissa starts with 16 digits
// or points, or with an exponent of 3 digits: the only numbers a double may round. Anchored at a token's start so
// that text inside strings rarely matches (a UUID's "e527" sent every large response the slow way), which also
// makes the scan of an 8 MiB response about 40 % faster; a string that does match only costs the slow path.
const MAYBE_INEXACT = /(?:^|[:,[])[ \t\n\r]*-?\d(?:[\d.]{15}|[\d.]*[eE][+-]?\d{3})/;
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * JSON.parse that keeps every digit: numbers a double would change come back as ExactNumber. Throws
 * SyntaxError as JSON.parse does (and RangeError when a value with such numbers is nested extremely deep).
 */
export function parseExactJson(text: string, found?: {exactNumbers: number}): unknown {
  if (!MAYBE_INEXACT.test(text)) return JSON.parse(text);
  const exact: ExactNumber[] = [];
  const marker = `\u0000${randomBytes(6).toString('hex')}:`;
  const marked = text.replace(TOKENS, (token) => {
    if (token.charCodeAt(0) === 34 /* " */ || !losesDigits(token)) return token;
    exact.push(new ExactNumber(token));
    return JSON.stringify(`${marker}${exact.length - 1}`);
  });
  if (exact.length === 0) return JSON.parse(text);
  if (found) found.exactNumbers = exact.length;
  try {
    return JSON.parse(marked, (_key, value: unknown) =>
      typeof value === 'string' && value.charCodeAt(0) === 0 && value.startsWith(marker) ? exact[Number(value.slice(marker.length))] : value,
    );
  } catch (error) {
    // report a syntax error where the function's own text has it
    if (error instanceof SyntaxError) JSON.parse(text);
    throw error;
  }
}

/** True when `value` holds an ExactNumber anywhere (checked without recursion limits mattering for rows). */
export function hasExactNumber(value: unknown): boolean {
  if (value instanceof ExactNumber) return true;
  if (typeof value !== 'object' || value === null) return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (hasExactNumber(item)) return true;
  return false;
}

/**
 * JSON.stringify that writes each ExactNumber as the number it is (digit for digit). Without ExactNumbers
 * it is JSON.stringify.
 */
export function stringifyExactJson(value: unknown, space?: number): string {
  let marker: string | undefined;
  const text = JSON.stringify(
    value,
    function (this: Record<string, unknown>, key: string, item: unknown) {
      const original = this[key];
      if (original instanceof ExactNumber) {
        marker ??= `\u0001${randomBytes(6).toString('hex')}:`;
        return `${marker}${original.plain}`;
      }
      return item;
    },
    space,
  );
  if (marker === undefined) return text;
  const escaped = JSON.stringify(marker).slice(1, -1).replace(/\\/g, '\\\\');
  return text.replace(new RegExp(`"${escaped}(-?[0-9.]+(?:[eE][+-]?\\d+)?)"`, 'g'), '$1');
}
