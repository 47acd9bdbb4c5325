// replication_runs: one row per call recording what the call decided and why — batch sizes and what
// limited them, the budgets it started and ended with, memory pressure, retries, and why it stopped —
// so a slow or memory-bound sync can be explained from the warehouse alone.
import {randomUUID} from 'node:crypto';
import type {BudgetReason, BudgetView, Row, TableSpec} from '../../sdk/index.js';
import type {BatchDecision} from './batching.js';
import {PressureMonitor, type PressureReading} from './pressure.js';

export const RUNS_TABLE = 'replication_runs';

export const RUNS_SPEC: TableSpec = {
  primaryKey: ['call_id'],
  columns: {
    call_id: 'string', sync_id: 'string', pass: 'int', started_at: 'utc_datetime', duration_ms: 'long', stop_reason: 'string',
    tables: 'json', rows: 'long', bytes: 'long', batches: 'int', min_batch_rows: 'int', max_batch_rows: 'int', batch_decisions: 'json',
    pressure_events: 'int', retries: 'int', response_cap_bytes: 'long', response_bytes_used: 'long', time_limit_ms: 'long',
    time_left_ms: 'long', memory_limit_bytes: 'long', peak_rss_bytes: 'long', min_memory_headroom_bytes: 'long', last_error: 'string',
    connection_reused: 'boolean', carried_rows: 'int', slot_lag_bytes: 'long',
    truncated_tables: 'json',
    cpu_ms: 'long', cpu_ratio: 'double', cpu_pressure_events: 'int', min_tmp_free_bytes: 'long', tmp_size_bytes: 'long', disk_pressure_events: 'int',
  },
  description: 'One row per function call: batch sizes, budgets, and memory, CPU and disk pressure decisions',
};

/** Decisions kept per call in batch_decisions (the counters cover all of them). */
const MAX_DECISIONS = 40;

/**
 * `key_reinserted`: a change stream call ended early because a key it deleted came back; `truncate_reload`:
 * before reloading a truncated table in a response that holds deletes (see sync.ts)
 */
export type StopReason = BudgetReason | 'finished' | 'error' | 'key_reinserted' | 'truncate_reload' | 'peek_memory';

interface DecisionRecord {
  table: string;
  step: string;
  category: string;
  limit_rows: number;
  reason: string;
  rows: number;
  bytes: number;
  ms: number;
  bytes_per_row: number;
}

export class RunRecorder {
  readonly callId = randomUUID();
  private readonly startedAt = new Date();
  private readonly tables = new Set<string>();
  private readonly decisions: DecisionRecord[] = [];
  private rows = 0;
  private bytes = 0;
  private batches = 0;
  private minRows: number | null = null;
  private maxRows: number | null = null;
  private pressureEvents = 0;
  private cpuPressureEvents = 0;
  private diskPressureEvents = 0;
  private readonly monitor = new PressureMonitor();
  private minTmpFree: number | null = null;
  private peakRss = process.memoryUsage.rss();
  private minHeadroom: number;
  pass = 0;
  stopReason: StopReason | null = null;
  lastError: string | null = null;
  retries = 0;
  /** the call took the connection the previous call left open */
  connectionReused = false;
  /** rows of the batch the previous call requested for this one (0 when none was usable) */
  carriedRows = 0;
  /** update_method cdc: bytes of WAL the server keeps for the slot, after this call advanced it */
  slotLagBytes: number | null = null;
  /** update_method cdc: source tables (schema.table) a TRUNCATE emptied in the changes this call delivered */
  readonly truncated: string[] = [];

  constructor(
    private readonly budget: BudgetView,
    private readonly syncId: string | undefined,
  ) {
    this.minHeadroom = budget.memoryHeadroomBytes();
  }

  /** Samples memory; returns the headroom now. */
  sampleMemory(): number {
    const rss = this.budget.rssBytes();
    if (rss > this.peakRss) this.peakRss = rss;
    const headroom = this.budget.memoryHeadroomBytes();
    if (headroom < this.minHeadroom) this.minHeadroom = headroom;
    return headroom;
  }

  pressure(): void {
    this.pressureEvents++;
  }

  /** Reads CPU and disk pressure; returns the reading now. */
  samplePressure(): PressureReading {
    const reading = this.monitor.read();
    if (reading.tmpFreeBytes !== null && (this.minTmpFree === null || reading.tmpFreeBytes < this.minTmpFree)) this.minTmpFree = reading.tmpFreeBytes;
    return reading;
  }

  batch(table: string, step: string, category: string, decision: BatchDecision, rows: number, bytes: number, ms: number, bytesPerRow: number): void {
    this.tables.add(table);
    this.batches++;
    this.rows += rows;
    this.bytes += bytes;
    if (decision.memoryPressure) this.pressureEvents++;
    if (decision.shrunk?.includes('cpu')) this.cpuPressureEvents++;
    if (decision.shrunk?.includes('disk')) this.diskPressureEvents++;
    this.minRows = this.minRows === null ? rows : Math.min(this.minRows, rows);
    this.maxRows = this.maxRows === null ? rows : Math.max(this.maxRows, rows);
    if (this.decisions.length < MAX_DECISIONS) {
      this.decisions.push({table, step, category, limit_rows: decision.rows, reason: decision.reason, rows, bytes, ms: Math.round(ms), bytes_per_row: Math.round(bytesPerRow)});
    }
  }

  /** Rows of change data capture (upserts and deletes) delivered to a table. */
  changes(table: string, rows: number, bytes: number): void {
    this.tables.add(table);
    this.rows += rows;
    this.bytes += bytes;
  }

  /** The size of this call's row as emitted now, plus room for it to grow by a few decisions. */
  rowBytes(): number {
    return JSON.stringify(this.row()).length + 4 * 160;
  }

  /** Rows read in this call so far. */
  get rowCount(): number {
    return this.rows;
  }

  row(): Row {
    this.sampleMemory();
    const pressure = this.samplePressure();
    return {
      call_id: this.callId,
      sync_id: this.syncId ?? null,
      pass: this.pass,
      started_at: this.startedAt.toISOString(),
      duration_ms: Date.now() - this.startedAt.getTime(),
      stop_reason: this.stopReason,
      tables: [...this.tables],
      rows: this.rows,
      bytes: this.bytes,
      batches: this.batches,
      min_batch_rows: this.minRows,
      max_batch_rows: this.maxRows,
      batch_decisions: this.decisions,
      pressure_events: this.pressureEvents,
      retries: this.retries,
      response_cap_bytes: this.budget.limits.responseCapBytes,
      response_bytes_used: this.budget.bytesUsed,
      time_limit_ms: this.budget.limits.timeoutSeconds * 1000,
      time_left_ms: this.budget.timeLeftMs(),
      memory_limit_bytes: this.budget.memoryLimitBytes(),
      peak_rss_bytes: this.peakRss,
      min_memory_headroom_bytes: Math.round(this.minHeadroom),
      last_error: this.lastError,
      connection_reused: this.connectionReused,
      carried_rows: this.carriedRows,
      slot_lag_bytes: this.slotLagBytes,
      truncated_tables: this.truncated,
      cpu_ms: Math.round(pressure.cpuMs),
      cpu_ratio: Math.round(pressure.cpuRatio * 1000) / 1000,
      cpu_pressure_events: this.cpuPressureEvents,
      min_tmp_free_bytes: this.minTmpFree,
      tmp_size_bytes: pressure.tmpSizeBytes,
      disk_pressure_events: this.diskPressureEvents,
    };
  }
}
