// CPU and disk pressure beside memory, as the original connector monitors them: the CPU time the call has used
// against its wall time, and the free space of the function's temp dir. Both shrink batches (batching.ts) and
// are recorded in replication_runs. Readings come from one place (ResourceReadings) so a test can put the
// function under pressure at that boundary without touching the database or the code that reacts to it.
import {statfsSync} from 'node:fs';
import {tmpdir} from 'node:os';

/** What the monitor reads: the process's CPU time and a wall clock, and the temp dir's space (null when unknown). */
export interface ResourceReadings {
  /** CPU time of the process (user + system), microseconds */
  cpuMicros(): number;
  /** a monotonic wall clock, ms */
  wallMs(): number;
  tmpSpace(): {freeBytes: number; sizeBytes: number} | null;
}

const systemReadings: ResourceReadings = {
  cpuMicros() {
    const usage = process.cpuUsage();
    return usage.user + usage.system;
  },
  wallMs: () => performance.now(),
  tmpSpace() {
    try {
      const stats = statfsSync(tmpdir());
      return {freeBytes: stats.bavail * stats.bsize, sizeBytes: stats.blocks * stats.bsize};
    } catch {
      return null;
    }
  },
};

let readings: ResourceReadings = systemReadings;

/** Replaces the readings (tests put the function under pressure); returns a function that restores them. */
export function useResourceReadings(replacement: ResourceReadings): () => void {
  readings = replacement;
  return () => void (readings = systemReadings);
}

/**
 * CPU pressure: the call's CPU time is at least this share of its wall time. Node runs the call on one
 * thread, so near 1 the event loop is saturated and the function, not PostgreSQL, sets the pace.
 */
export const CPU_PRESSURE_RATIO = 0.9;
/** Wall time before the CPU ratio means anything (a call's first milliseconds are all CPU: loading, discovery). */
export const CPU_MIN_WALL_MS = 250;
/**
 * Disk pressure: less than this share of the temp dir is free. On Cloud Functions the temp dir is in memory
 * and counts against the function's memory limit, so a full one is memory the call does not see in its RSS.
 */
export const DISK_FREE_RATIO = 0.1;
/** The temp dir's space is read at most this often (a system call). */
const TMP_SAMPLE_MS = 1_000;

export interface PressureReading {
  /** CPU time of the call so far, ms */
  cpuMs: number;
  /** cpuMs / wall ms of the call so far */
  cpuRatio: number;
  tmpFreeBytes: number | null;
  tmpSizeBytes: number | null;
  cpu: boolean;
  disk: boolean;
}

/** The call's CPU and disk pressure, measured from the call's start. */
export class PressureMonitor {
  private readonly readings = readings;
  private readonly cpuAtStart = this.readings.cpuMicros();
  private readonly startedAt = this.readings.wallMs();
  private tmpAt = -Infinity;
  private tmp: {freeBytes: number; sizeBytes: number} | null = null;

  read(): PressureReading {
    const now = this.readings.wallMs();
    const wallMs = now - this.startedAt;
    const cpuMs = (this.readings.cpuMicros() - this.cpuAtStart) / 1000;
    const cpuRatio = wallMs > 0 ? cpuMs / wallMs : 0;
    if (now - this.tmpAt >= TMP_SAMPLE_MS) {
      this.tmp = this.readings.tmpSpace();
      this.tmpAt = now;
    }
    const tmp = this.tmp;
    return {
      cpuMs,
      cpuRatio,
      tmpFreeBytes: tmp?.freeBytes ?? null,
      tmpSizeBytes: tmp?.sizeBytes ?? null,
      cpu: wallMs >= CPU_MIN_WALL_MS && cpuRatio >= CPU_PRESSURE_RATIO,
      disk: tmp !== null && tmp.sizeBytes > 0 && tmp.freeBytes < tmp.sizeBytes * DISK_FREE_RATIO,
    };
  }
}
