// The live budgets of one function call: response bytes, time to the deadline, and memory headroom.
// Connectors read them through BudgetView (ctx.budget) to size batches and to know when a checkpoint is
// due; the Function adapter owns the rule: it counts the response's envelope, and stops at the first
// checkpoint past STOP_LINE of the cap (or past the deadline, or under memory pressure). That rule is
// written here once. Limits come from the deployment (environment variables set by ./fivetran deploy).

export const DEFAULT_RESPONSE_CAP_BYTES = 8 * 1024 * 1024;

/**
 * The C library's settings every connector function is deployed with (cli/deploy.ts), and served with where
 * its memory is measured. glibc's malloc raises its mmap threshold each time a large block is freed (up to
 * 32 MiB), so that later blocks of that size (a response's buffers, rows of megabytes) come from its heap,
 * whose pages it keeps: the process's RSS, which Cloud Functions holds to the memory limit, stays at its
 * highest. A fixed threshold returns every block of 128 KiB and more when it is freed. Measured on the
 * replication function of 256 MB syncing rows of 5 MB (connectors/replication/memory.test.ts): peak RSS
 * 176–179 MB with it, 205–227 MB without (and 312–317 MB in 2 runs of about 30); no change in its rows/s.
 */
export const MALLOC_ENVIRONMENT: Readonly<Record<string, string>> = {MALLOC_MMAP_THRESHOLD_: '131072'};
export const DEFAULT_TIMEOUT_SECONDS = 60;
export const DEFAULT_MEMORY_MB = 256;

export interface BudgetLimits {
  /** maximum response body size in bytes (FIVETRAN_RESPONSE_CAP_BYTES; default 8 MiB) */
  responseCapBytes: number;
  /** the function's timeout in seconds (FUNCTION_TIMEOUT_SECONDS; default 60) */
  timeoutSeconds: number;
  /** the function's memory limit in MB (FUNCTION_MEMORY_MB; default 256) */
  memoryMb: number;
  /** time kept in reserve before the deadline to serialize and send the response */
  reserveMs: number;
  /** share of the memory limit above which the call is under pressure */
  memoryPressureRatio: number;
  /**
   * How memory use is measured. `process`: the process's RSS, as the platform counts it (on Cloud Functions).
   * `call`: a nominal function baseline plus what the process grew since the call started, for calls run
   * inside a bigger process (tests, the local emulator) whose own RSS says nothing about the function's.
   */
  memoryAccounting: 'process' | 'call';
}

/** RSS of an idle deployed function (Node.js, the framework and a bundle), for `call` accounting. */
export const NOMINAL_FUNCTION_BASELINE_BYTES = 64 * 1024 * 1024;

/** Cloud Functions (2nd gen) and Cloud Run set K_SERVICE; the functions-framework sets FUNCTION_TARGET. */
export const runningOnCloudFunctions = (): boolean => Boolean(process.env.K_SERVICE || process.env.FUNCTION_TARGET);

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name}=${raw} is not a positive number; fix the deployment's environment variables`);
  }
  return value;
}

/** Limits from the environment (what ./fivetran deploy sets), with overrides. */
export function limitsFromEnv(overrides: Partial<BudgetLimits> = {}): BudgetLimits {
  const timeoutSeconds = overrides.timeoutSeconds ?? envNumber('FUNCTION_TIMEOUT_SECONDS', DEFAULT_TIMEOUT_SECONDS);
  return {
    responseCapBytes: overrides.responseCapBytes ?? envNumber('FIVETRAN_RESPONSE_CAP_BYTES', DEFAULT_RESPONSE_CAP_BYTES),
    timeoutSeconds,
    memoryMb: overrides.memoryMb ?? envNumber('FUNCTION_MEMORY_MB', DEFAULT_MEMORY_MB),
    reserveMs: overrides.reserveMs ?? Math.min(10_000, Math.max(1_000, timeoutSeconds * 1000 * 0.15)),
    memoryPressureRatio: overrides.memoryPressureRatio ?? 0.75,
    memoryAccounting: overrides.memoryAccounting ?? (runningOnCloudFunctions() ? 'process' : 'call'),
  };
}

export type BudgetReason = 'response_bytes' | 'deadline' | 'memory';

/** The share of the response cap past which the adapter ends the call at the next checkpoint. */
export const STOP_LINE = 0.95;
/**
 * The share of the cap a batch aims at: a little past the stopping line, so the checkpoint after the
 * batch is the one the call stops at, and short of the cap, past which the adapter drops the batch.
 */
export const AIM_LINE = 0.975;
/** The response's punctuation around state, rows and schema. */
export const ENVELOPE_PUNCTUATION_BYTES = 256;

/**
 * What a connector sees of the call's budgets (ctx.budget): read-only. Response sizes here are net of the
 * envelope (the state, the schema and the punctuation), which the adapter counts.
 */
export interface BudgetView {
  readonly limits: Readonly<BudgetLimits>;
  /**
   * True once the adapter ends the call at the checkpoint just emitted. It then asks `sync` for one more item
   * only to tell "more to do" from "done", and drops it: yield something cheap (or return) rather than start
   * work that will be thrown away.
   */
  readonly stopping: boolean;
  /**
   * True in a streamed Partner SDK Update: the call never ends at a budget, and a checkpoint is known to be
   * committed only when the next Update starts with its state. False in a Function call.
   */
  readonly streaming: boolean;
  /** response bytes of rows so far (in a streamed Partner SDK sync: since the last checkpoint) */
  readonly bytesUsed: number;
  /** why the adapter would end the call at a checkpoint emitted now, `nextBytes` of rows later; null when it would go on */
  spent(nextBytes?: number): BudgetReason | null;
  /**
   * True when a checkpoint is due now: a budget is spent (the call ends at the next checkpoint), or another
   * run of rows as large as those since the last checkpoint would pass the stopping line.
   */
  shouldCheckpoint(): boolean;
  /** whether `bytes` more rows (default: as many as since the last checkpoint) fit before the stopping line */
  roomFor(bytes?: number): boolean;
  /** bytes of rows the response can still hold before the adapter drops what follows */
  bytesLeft(): number;
  /** the bytes a batch may aim at, with `held` bytes of rows in the response (default: those held now) */
  aimBytes(held?: number): number;
  timeLeftMs(): number;
  elapsedMs(): number;
  /** the call's clock, milliseconds since the epoch (CallOptions.now in tests): for ages that outlive a call */
  nowMs(): number;
  memoryLimitBytes(): number;
  /** bytes of memory left before the pressure threshold (may be negative) */
  memoryHeadroomBytes(): number;
  underMemoryPressure(): boolean;
  rssBytes(): number;
}

/** How long a reading of the resident memory stays current. */
const RSS_SAMPLE_MS = 5;

/** The adapter's side of a call's budgets; connectors get it as a BudgetView. */
export class Budget implements BudgetView {
  readonly limits: BudgetLimits;
  readonly startedAt: number;
  private usedBytes = 0;
  private envelope = 0;
  private usedAtCheckpoint = 0;
  private stopReason: BudgetReason | null = null;
  private readonly now: () => number;
  private readonly rssAtStart = process.memoryUsage.rss();
  private rssSampledAt = -Infinity;
  private rssSample = 0;

  constructor(limits: BudgetLimits, options: {now?: () => number; startedAt?: number} = {}) {
    this.limits = limits;
    this.now = options.now ?? Date.now;
    this.startedAt = options.startedAt ?? this.now();
  }

  /** Set by the adapter when it ends the call at the checkpoint just emitted (see BudgetView.stopping). */
  markStopping(reason: BudgetReason): void {
    this.stopReason = reason;
  }

  get stopping(): boolean {
    return this.stopReason !== null;
  }

  /** false: a Function call (StreamingBudget, the Partner SDK's, is true) */
  get streaming(): boolean {
    return false;
  }

  /** Called by the adapter as records are added to the response. */
  addBytes(bytes: number): void {
    this.usedBytes += bytes;
  }

  get bytesUsed(): number {
    return this.usedBytes;
  }

  /** Called by the adapter when the envelope changes: `stateBytes` of committed state, `schemaBytes` of schema. */
  setEnvelope(stateBytes: number, schemaBytes: number): void {
    this.envelope = ENVELOPE_PUNCTUATION_BYTES + schemaBytes + stateBytes;
  }

  /** The response's bytes around the rows: committed state, schema, punctuation. */
  envelopeBytes(): number {
    return this.envelope;
  }

  /** Called by the adapter at each checkpoint it commits. */
  checkpointed(): void {
    this.usedAtCheckpoint = this.bytesUsed;
  }

  /** Bytes of rows since the last checkpoint. */
  protected sinceCheckpoint(): number {
    return this.bytesUsed - this.usedAtCheckpoint;
  }

  bytesLeft(): number {
    return Math.max(0, this.limits.responseCapBytes - this.bytesUsed - this.envelope);
  }

  spent(nextBytes = 0): BudgetReason | null {
    return this.exhausted(this.envelope + nextBytes);
  }

  roomFor(bytes = this.sinceCheckpoint()): boolean {
    return this.bytesUsed + this.envelope + bytes < this.limits.responseCapBytes * STOP_LINE;
  }

  shouldCheckpoint(): boolean {
    return this.spent() !== null || !this.roomFor();
  }

  aimBytes(held = this.bytesUsed): number {
    return this.limits.responseCapBytes * AIM_LINE - held - this.envelope;
  }

  deadline(): number {
    return this.startedAt + this.limits.timeoutSeconds * 1000 - this.limits.reserveMs;
  }

  timeLeftMs(): number {
    return Math.max(0, this.deadline() - this.now());
  }

  elapsedMs(): number {
    return this.now() - this.startedAt;
  }

  nowMs(): number {
    return this.now();
  }

  memoryLimitBytes(): number {
    return this.limits.memoryMb * 1024 * 1024;
  }

  /**
   * The process's resident memory, read at most every RSS_SAMPLE_MS: reading it is a system call (measured
   * at 4 % of the replication function's CPU when every batch decision read it afresh).
   */
  rssBytes(): number {
    const at = performance.now();
    if (at - this.rssSampledAt >= RSS_SAMPLE_MS) {
      this.rssSample = process.memoryUsage.rss();
      this.rssSampledAt = at;
    }
    return this.rssSample;
  }

  memoryUsedBytes(): number {
    const rss = this.rssBytes();
    if (this.limits.memoryAccounting === 'process') return rss;
    return NOMINAL_FUNCTION_BASELINE_BYTES + Math.max(0, rss - this.rssAtStart);
  }

  /** Bytes of memory left before the pressure threshold (may be negative). */
  memoryHeadroomBytes(): number {
    return this.memoryLimitBytes() * this.limits.memoryPressureRatio - this.memoryUsedBytes();
  }

  underMemoryPressure(): boolean {
    return this.memoryHeadroomBytes() <= 0;
  }

  /**
   * Why the call should stop now, or null. `nextBytes` is the expected size of the next batch: stopping
   * before it would overflow the response is better than dropping it.
   */
  exhausted(nextBytes = 0): BudgetReason | null {
    if (this.usedBytes + nextBytes >= this.limits.responseCapBytes * STOP_LINE) return 'response_bytes';
    if (this.timeLeftMs() <= 0) return 'deadline';
    if (this.underMemoryPressure()) return 'memory';
    return null;
  }
}
