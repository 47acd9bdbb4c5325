// Parses the pre-serialized rows of `upsertJson` without losing digits: JSON.parse turns 12345678901234567.89
// or a bigint past 2^53 into the nearest double, so number literals that a double cannot hold exactly are
// quoted first and stay exact text (decimal and long columns accept text). Node 20 has no JSON.parse source access.

function needsQuoting(literal: string): boolean {
  if (!/[.eE]/.test(literal)) return !Number.isSafeInteger(Number(literal));
  const significant = literal.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return significant.length > 15;
}

/** A character of a JSON number literal: 0-9 . e E + - */
const isNumberChar = (char: number): boolean => (char >= 48 && char <= 57) || char === 46 || char === 101 || char === 69 || char === 43 || char === 45;

/**
 * Quotes number literals outside strings that would lose precision as doubles. One pass of charCode checks
 * that jumps over strings with indexOf: on replication's rows (mostly strings and short numbers) a regex
 * pre-check alone (`/[0-9.eE+-]{16,}/`) cost ~2 µs a row, more than the rest of the parse.
 */
export function quoteLongNumbers(json: string): string {
  let out = '';
  let last = 0;
  let index = 0;
  const length = json.length;
  while (index < length) {
    const char = json.charCodeAt(index);
    if (char === 34 /* " */) {
      // the closing quote is the next one not escaped (preceded by an even number of backslashes)
      let end = json.indexOf('"', index + 1);
      while (end !== -1) {
        let slashes = 0;
        while (json.charCodeAt(end - 1 - slashes) === 92 /* \ */) slashes++;
        if (slashes % 2 === 0) break;
        end = json.indexOf('"', end + 1);
      }
      if (end === -1) break;
      index = end + 1;
    } else if (char === 45 /* - */ || (char >= 48 && char <= 57)) {
      const start = index;
      index++;
      while (index < length && isNumberChar(json.charCodeAt(index))) index++;
      if (index - start >= 16) {
        const literal = json.slice(start, index);
        if (needsQuoting(literal)) {
          out += json.slice(last, start) + '"' + literal + '"';
          last = index;
        }
      }
    } else {
      index++;
    }
  }
  return last === 0 ? json : out + json.slice(last);
}

/** The rows of one `upsertJson` emit: `json` is one or more objects separated by commas, as text or UTF-8 bytes. */
export function parseJsonRows(json: string | Buffer): Record<string, unknown>[] {
  const text = typeof json === 'string' ? json : json.toString('utf8');
  const rows = JSON.parse(`[${quoteLongNumbers(text)}]`) as unknown[];
  return rows.filter((row): row is Record<string, unknown> => typeof row === 'object' && row !== null && !Array.isArray(row));
}
