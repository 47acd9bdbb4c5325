// Output helpers: progress only on a terminal, plain lines in pipes and CI, JSON when asked.

export const isInteractive = (): boolean => Boolean(process.stderr.isTTY) && !process.env.CI;

/** A single status line redrawn in place on a terminal; silent otherwise. */
export class ProgressLine {
  private lastLength = 0;
  private readonly enabled: boolean;
  constructor(enabled = isInteractive()) {
    this.enabled = enabled;
  }
  update(text: string): void {
    if (!this.enabled) return;
    const padded = text.padEnd(this.lastLength);
    process.stderr.write(`\r${padded}`);
    this.lastLength = text.length;
  }
  done(): void {
    if (!this.enabled || this.lastLength === 0) return;
    process.stderr.write(`\r${' '.repeat(this.lastLength)}\r`);
    this.lastLength = 0;
  }
}

/** Renders rows as an aligned text table. */
export function formatTable(rows: Record<string, unknown>[], columns?: string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? Object.keys(rows[0]!);
  const text = (value: unknown) => (value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value));
  const widths = cols.map((col) => Math.max(col.length, ...rows.map((row) => text(row[col]).length)));
  const line = (values: string[]) => values.map((value, i) => value.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((row) => line(cols.map((col) => text(row[col]))))].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2) + '\n');
}
