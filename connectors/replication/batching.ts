// How many rows the next batch reads. The table's size category sets the ceiling (the original connector's
// rule: the larger the table, the smaller the batch, so one query stays short and cheap to retry); the
// measured JSON width of its rows turns bytes into rows; the call's live budgets clamp it: response bytes
// left, time to the deadline, and memory headroom; CPU and disk pressure halve it. Every decision says which
// of these decided it.
import type {SizeCategory} from './discovery.js';

export const CATEGORY_LIMITS: Record<SizeCategory, {rows: number; bytes: number}> = {
  small: {rows: 100_000, bytes: 8 * 1024 * 1024},
  medium: {rows: 50_000, bytes: 4 * 1024 * 1024},
  large: {rows: 25_000, bytes: 2 * 1024 * 1024},
};

/**
 * The first batch of a table in a call is a probe: it measures the real JSON width before larger batches.
 * It is bounded by bytes as well as rows, at the width known before it (the state's measure, the catalog's
 * estimate, or a sample of the table's widest rows when values live in TOAST): 1,000 rows of 5 MB would be
 * 5 GB read at once.
 */
export const PROBE_ROWS = 1_000;
export const PROBE_BYTES = 1024 * 1024;

/**
 * Memory a batch of B bytes may cost while in flight: pg's receive buffers, the batch's own buffer (which the
 * response holds without copying), the body text and its UTF-8 copy when a response is not streamed (small
 * responses, in-process calls), and garbage the GC has not collected yet. Streamed responses cost less; the
 * factor stays on the safe side.
 */
export const MEMORY_COST_FACTOR = 6;

export type BatchReason = 'category' | 'custom' | 'probe' | 'pipeline' | 'cpu' | 'disk' | 'response_bytes' | 'deadline' | 'memory';

export interface BatchInputs {
  category: SizeCategory;
  /** custom_batch_size; 0 = adaptive */
  customRows: number;
  /** measured (or estimated) JSON bytes per row */
  bytesPerRow: number;
  /** response bytes this batch may use */
  responseBytesLeft: number;
  timeLeftMs: number;
  /** measured milliseconds per row, or null before the first batch */
  msPerRow: number | null;
  /** memory left below the function's pressure line, bytes (may be negative) */
  memoryHeadroomBytes: number;
  /** response bytes already held by this call (copied about three more times when the response is sent) */
  responseBytesHeld: number;
  /** true for the first batch of a table in this call */
  probe: boolean;
  /**
   * Bytes after which an adaptive batch is split (0 or absent: never): the adapter streams each batch to the
   * caller when its checkpoint commits, so while the call goes on, the next batch is read as the
   * previous one is sent, and only the call's last batch is sent after PostgreSQL is done.
   */
  pipelineBytes?: number;
  /** the call's CPU time is near its wall time (pressure.ts): the batch is halved */
  cpuPressure?: boolean;
  /** the temp dir is nearly full (pressure.ts): the batch is halved */
  diskPressure?: boolean;
}

export interface BatchDecision {
  rows: number;
  reason: BatchReason;
  /** true when memory headroom, not the category or the response, decided the size */
  memoryPressure: boolean;
  /** the pressures that halved the batch, when any did */
  shrunk?: ('cpu' | 'disk')[];
}

/** The batch size for the given inputs: the smallest of the category's, the response's, the time's and the memory's limits. */
export function decideBatch(input: BatchInputs): BatchDecision {
  const width = Math.max(1, input.bytesPerRow);
  const limits = CATEGORY_LIMITS[input.category];
  let rows: number;
  let reason: BatchReason;
  if (input.customRows > 0) {
    rows = input.customRows;
    reason = 'custom';
  } else {
    rows = Math.min(limits.rows, Math.floor(limits.bytes / width));
    reason = 'category';
    const probeRows = Math.max(1, Math.min(PROBE_ROWS, Math.floor(PROBE_BYTES / width)));
    if (input.probe && probeRows < rows) {
      rows = probeRows;
      reason = 'probe';
    } else if (input.pipelineBytes && input.pipelineBytes > 0 && input.pipelineBytes < rows * width) {
      rows = Math.floor(input.pipelineBytes / width);
      reason = 'pipeline';
    }
  }
  // Under CPU pressure the event loop is saturated: smaller batches are encoded and streamed in shorter turns,
  // so the time budget's per-batch estimate stays close. Under disk pressure the temp dir (memory, on Cloud
  // Functions) is nearly full: smaller batches hold less beside it. Each halves; both quarter.
  const shrunk: ('cpu' | 'disk')[] = [];
  if (input.cpuPressure) shrunk.push('cpu');
  if (input.diskPressure) shrunk.push('disk');
  for (const pressure of shrunk) {
    rows = Math.max(1, Math.floor(rows / 2));
    reason = pressure;
  }
  const clamp = (limit: number, why: BatchReason) => {
    if (limit < rows) {
      rows = limit;
      reason = why;
    }
  };
  clamp(Math.floor(Math.max(0, input.responseBytesLeft) / width), 'response_bytes');
  // keep one query to a quarter of the time left, so a slow batch cannot run past the deadline
  if (input.msPerRow && input.msPerRow > 0) clamp(Math.floor((input.timeLeftMs * 0.25) / input.msPerRow), 'deadline');
  const memoryForBatch = input.memoryHeadroomBytes - 3 * input.responseBytesHeld;
  clamp(Math.floor(Math.max(0, memoryForBatch) / (MEMORY_COST_FACTOR * width)), 'memory');
  const decision: BatchDecision = {rows: Math.max(1, rows), reason, memoryPressure: (reason as BatchReason) === 'memory'};
  if (shrunk.length) decision.shrunk = shrunk;
  return decision;
}

/** Bytes per row before anything was measured: the heap width plus the JSON keys and punctuation. */
export function estimateBytesPerRow(averageRowBytes: number, columnNames: readonly string[]): number {
  const keys = columnNames.reduce((sum, name) => sum + name.length + 4, 2);
  return Math.max(16, Math.round(averageRowBytes * 1.5) + keys);
}
