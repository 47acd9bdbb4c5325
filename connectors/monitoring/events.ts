// What changed for a connection since the previous check, computed against a compact memory of that check
// kept in the connector's state. One entry per connection, a short array of numbers, so the state of an
// account with thousands of connections stays a few hundred kilobytes:
//
//   [succeeded_at, failed_at, paused, health, syncing_since, last_seen, recent_failures...]
//
// timestamps in epoch seconds (0 = none); health as its index in HEALTHS; syncing_since = the first check
// that saw the current sync running (the API gives no start time, so a success's duration is measured from
// there: a lower bound, exact to the check interval); last_seen = the check that saw it last (to notice
// removed connections; a check number, as two checks may fall in the same second); recent_failures = failure times inside the error window, for the frequent-failure rule.
import type {Connection} from '../../sdk/fivetran-api.js';
import {HEALTHS, timestampMs, type Health} from './health.js';

export type CompactEntry = number[];

export interface ConnectionMemory {
  succeededAt: number;
  failedAt: number;
  paused: boolean;
  health: Health;
  syncingSince: number;
  lastSeen: number;
  recentFailures: number[];
}

export const EVENT_TYPES = ['failure', 'success', 'recovery', 'paused', 'unpaused', 'removed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ConnectionEvent {
  connection_id: string;
  event_at: string;
  event_type: EventType;
  checked_at: string;
  previous_health: Health | null;
  health: Health | null;
  /** success only: seconds from the first check that saw the sync running to succeeded_at */
  duration_seconds: number | null;
}

const seconds = (ms: number | null): number => (ms === null ? 0 : Math.floor(ms / 1000));
const isoSeconds = (s: number): string => new Date(s * 1000).toISOString();

export function decodeEntry(entry: CompactEntry | undefined): ConnectionMemory | null {
  if (!Array.isArray(entry) || entry.length < 6) return null;
  const [succeededAt, failedAt, paused, health, syncingSince, lastSeen, ...recentFailures] = entry as number[];
  return {
    succeededAt: succeededAt ?? 0,
    failedAt: failedAt ?? 0,
    paused: paused === 1,
    health: HEALTHS[health ?? 0] ?? 'healthy',
    syncingSince: syncingSince ?? 0,
    lastSeen: lastSeen ?? 0,
    recentFailures,
  };
}

export function encodeEntry(memory: ConnectionMemory): CompactEntry {
  return [memory.succeededAt, memory.failedAt, memory.paused ? 1 : 0, HEALTHS.indexOf(memory.health), memory.syncingSince, memory.lastSeen, ...memory.recentFailures];
}

export interface DiffOptions {
  /** failures older than this many hours drop out of recent_failures */
  errorWindowHours: number;
  /** at most this many recent failures are remembered (all the frequent-failure rule needs) */
  maxRecentFailures: number;
  /** the number of this check (1, 2, ...), kept as last_seen */
  checkNumber: number;
}

/**
 * Compares a connection as read now with its memory from the previous check. Returns the events and the
 * memory to keep. A connection seen for the first time gives no events: there is nothing to compare with.
 */
export function diffConnection(
  connection: Connection,
  health: Health,
  previous: ConnectionMemory | null,
  checkedAtMs: number,
  options: DiffOptions,
): {events: ConnectionEvent[]; memory: ConnectionMemory} {
  const checkedAt = new Date(checkedAtMs).toISOString();
  const checkSeconds = seconds(checkedAtMs);
  const succeededAt = seconds(timestampMs(connection.succeeded_at));
  const failedAt = seconds(timestampMs(connection.failed_at));
  const paused = connection.paused === true;
  const syncing = connection.status?.sync_state === 'syncing';
  const windowStart = checkSeconds - options.errorWindowHours * 3600;

  const events: ConnectionEvent[] = [];
  const event = (event_type: EventType, atSeconds: number, duration_seconds: number | null = null): void => {
    events.push({
      connection_id: connection.id,
      event_at: atSeconds > 0 ? isoSeconds(atSeconds) : checkedAt,
      event_type,
      checked_at: checkedAt,
      previous_health: previous?.health ?? null,
      health,
      duration_seconds,
    });
  };

  let recentFailures = previous ? [...previous.recentFailures] : [];
  if (previous) {
    if (failedAt > previous.failedAt) {
      event('failure', failedAt);
      recentFailures.push(failedAt);
    }
    if (succeededAt > previous.succeededAt) {
      const started = previous.syncingSince;
      event('success', succeededAt, started > 0 && started <= succeededAt ? succeededAt - started : null);
    }
    const wasDown = previous.health === 'failing' || previous.health === 'broken';
    const isDown = health === 'failing' || health === 'broken' || health === 'incomplete' || health === 'paused';
    if (wasDown && !isDown) event('recovery', succeededAt > previous.succeededAt ? succeededAt : 0);
    if (paused && !previous.paused) event('paused', 0);
    if (!paused && previous.paused) event('unpaused', 0);
  } else if (failedAt > 0) {
    recentFailures.push(failedAt);
  }
  recentFailures = recentFailures.filter((at) => at > windowStart).slice(-options.maxRecentFailures);

  // Keep the first sighting of a running sync; a finished or not-running sync resets it.
  const syncingSince = syncing ? (previous?.syncingSince && previous.syncingSince > succeededAt && previous.syncingSince > failedAt ? previous.syncingSince : checkSeconds) : 0;
  return {
    events,
    memory: {succeededAt, failedAt, paused, health, syncingSince, lastSeen: options.checkNumber, recentFailures},
  };
}

/** The `removed` event of a connection the previous check saw and this one did not. */
export function removedEvent(connectionId: string, previous: ConnectionMemory, checkedAtMs: number): ConnectionEvent {
  const checkedAt = new Date(checkedAtMs).toISOString();
  return {connection_id: connectionId, event_at: checkedAt, event_type: 'removed', checked_at: checkedAt, previous_health: previous.health, health: null, duration_seconds: null};
}
