// Parses the pre-serialized rows of `upsertJson` without losing digits: JSON.parse turns 12345678901234567.89
// or a bigint past 2^53 into the nearest double, so number literals that a double cannot hold exactly are
// quoted first and stay exact text (decimal and long columns accept text). Node 20 has no JSON.parse source access.
const LONG_NUMBER_RUN = /[0-9.eE+-]{16,}/;

function needsQuoting(literal: string): boolean {
  if (!/[.eE]/.test(literal)) return !Number.isSafeInteger(Number(literal));
  const significant = literal.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return significant.length > 15;
}

/** Quotes number literals outside strings that would lose precision as doubles. */
export function quoteLongNumbers(json: string): string {
  if (!LONG_NUMBER_RUN.test(json)) return json;
  let out = '';
  let last = 0;
  let index = 0;
  const length = json.length;
  while (index < length) {
    const char = json.charCodeAt(index);
    if (char === 34 /* " */) {
      index++;
      while (index < length) {
        const inner = json.charCodeAt(index);
        if (inner === 92 /* \ */) index += 2;
        else if (inner === 34) break;
        else index++;
      }
      index++;
    } else if (char === 45 /* - */ || (char >= 48 && char <= 57)) {
      const start = index;
      index++;
      while (index < length && /[0-9.eE+-]/.test(json[index] as string)) index++;
      const literal = json.slice(start, index);
      if (literal.length >= 16 && needsQuoting(literal)) {
        out += json.slice(last, start) + '"' + literal + '"';
        last = index;
      }
    } else {
      index++;
    }
  }
  return out + json.slice(last);
}

/** The rows of one `upsertJson` emit: `json` is one or more objects separated by commas, as text or UTF-8 bytes. */
export function parseJsonRows(json: string | Buffer): Record<string, unknown>[] {
  const text = typeof json === 'string' ? json : json.toString('utf8');
  const rows = JSON.parse(`[${quoteLongNumbers(text)}]`) as unknown[];
  return rows.filter((row): row is Record<string, unknown> => typeof row === 'object' && row !== null && !Array.isArray(row));
}
