import {describe, expect, it} from 'vitest';
import type {Connection} from '../../sdk/fivetran-api.js';
import {alertsFor, sortAlerts, type AlertOptions} from './alerts.js';
import {decodeEntry, diffConnection, encodeEntry, removedEvent, type ConnectionMemory} from './events.js';
import {assessHealth} from './health.js';

const T0 = Date.parse('2026-01-10T12:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();
const sec = (minutes: number) => Math.floor((T0 + minutes * 60_000) / 1000);
const OPTIONS = {errorWindowHours: 24, maxRecentFailures: 3, checkNumber: 1};

function connection(patch: Partial<Connection> & {status?: Partial<Connection['status']>} = {}): Connection {
  const {status, ...rest} = patch;
  return {
    id: 'c1', group_id: 'g1', service: 'postgres', schema: 't_acme_sales', paused: false, schedule_type: 'auto', sync_frequency: 60,
    succeeded_at: at(-10), failed_at: null, ...rest,
    status: {setup_state: 'connected', sync_state: 'scheduled', update_state: 'on_schedule', ...status},
  };
}

/** The memory a check at `checkMinutes` keeps of `c`. */
function remember(c: Connection, checkMinutes: number, previous: ConnectionMemory | null = null): ConnectionMemory {
  const now = T0 + checkMinutes * 60_000;
  return diffConnection(c, assessHealth(c, now).health, previous, now, OPTIONS).memory;
}

function diff(c: Connection, previous: ConnectionMemory | null, checkMinutes: number) {
  const now = T0 + checkMinutes * 60_000;
  return diffConnection(c, assessHealth(c, now).health, previous, now, OPTIONS);
}

describe('connection events against the previous check', () => {
  it('gives no events the first time a connection is seen', () => {
    expect(diff(connection({failed_at: at(-5)}), null, 0).events).toEqual([]);
  });

  it('reports a new failure at failed_at', () => {
    const before = remember(connection(), 0);
    const {events} = diff(connection({failed_at: at(20)}), before, 30);
    expect(events.map((e) => [e.event_type, e.event_at, e.previous_health, e.health])).toEqual([['failure', at(20), 'healthy', 'failing']]);
  });

  it('reports a recovery and the success when a failing connection succeeds again', () => {
    const failing = remember(connection({failed_at: at(-5)}), 0);
    expect(failing.health).toBe('failing');
    const {events} = diff(connection({failed_at: at(-5), succeeded_at: at(25)}), failing, 30);
    expect(events.map((e) => [e.event_type, e.event_at])).toEqual([['success', at(25)], ['recovery', at(25)]]);
  });

  it('measures a success from the first check that saw the sync running', () => {
    const idle = remember(connection(), 0);
    const running = remember(connection({status: {sync_state: 'syncing'}}), 15, idle);
    const stillRunning = remember(connection({status: {sync_state: 'syncing'}}), 30, running);
    expect(stillRunning.syncingSince).toBe(sec(15));
    const {events} = diff(connection({succeeded_at: at(40)}), stillRunning, 45);
    expect(events).toEqual([expect.objectContaining({event_type: 'success', event_at: at(40), duration_seconds: 25 * 60})]);
  });

  it('leaves the duration unknown when no check saw the sync running', () => {
    const {events} = diff(connection({succeeded_at: at(40)}), remember(connection(), 0), 45);
    expect(events).toEqual([expect.objectContaining({event_type: 'success', duration_seconds: null})]);
  });

  it('reports paused and unpaused at the check time', () => {
    const running = remember(connection(), 0);
    const paused = diff(connection({paused: true, status: {sync_state: 'paused'}}), running, 30);
    expect(paused.events.map((e) => [e.event_type, e.event_at])).toEqual([['paused', at(30)]]);
    const unpaused = diff(connection(), paused.memory, 60);
    expect(unpaused.events.map((e) => e.event_type)).toEqual(['unpaused']);
  });

  it('reports nothing when nothing changed', () => {
    const first = remember(connection({failed_at: at(-50)}), 0);
    expect(diff(connection({failed_at: at(-50)}), first, 30).events).toEqual([]);
  });

  it('keeps failures inside the error window only, at most the count the rule needs', () => {
    let memory = remember(connection(), 0);
    for (let i = 1; i <= 5; i++) memory = remember(connection({failed_at: at(i * 60)}), i * 60 + 1, memory);
    expect(memory.recentFailures).toEqual([sec(180), sec(240), sec(300)]);
    const later = remember(connection({failed_at: at(300)}), 300 + 24 * 60 - 100, memory);
    expect(later.recentFailures).toEqual([sec(240), sec(300)]);
  });

  it('round-trips the compact memory', () => {
    const memory: ConnectionMemory = {succeededAt: 10, failedAt: 20, paused: true, health: 'delayed', syncingSince: 5, lastSeen: 30, recentFailures: [20, 25]};
    expect(encodeEntry(memory)).toEqual([10, 20, 1, 2, 5, 30, 20, 25]);
    expect(decodeEntry(encodeEntry(memory))).toEqual(memory);
    expect(decodeEntry(undefined)).toBeNull();
    expect(decodeEntry([1, 2])).toBeNull();
  });

  it('makes a removed event for a connection no longer listed', () => {
    const memory = remember(connection(), 0);
    expect(removedEvent('c1', memory, T0 + 60_000)).toMatchObject({event_type: 'removed', event_at: at(1), previous_health: 'healthy', health: null});
  });
});

describe('alerts', () => {
  const options: AlertOptions = {delayFactor: 2, errorWindowHours: 24, frequentFailureCount: 3, expectedPaused: new Set(['planned_pause'])};
  const alerts = (c: Connection, recentFailures: number[] = []) =>
    alertsFor({connection: c, assessment: assessHealth(c, T0), tenantId: 't_acme', groupName: 'prod', recentFailures}, at(0), options);

  it.each([
    {name: 'broken is critical and names the task', c: connection({status: {setup_state: 'broken', tasks: [{code: 'reconnect', message: 'Reconnect the source'}]}}), rule: 'broken', severity: 'critical', text: /is broken: Reconnect the source\. Fix the setup/},
    {name: 'failing is critical with the failure time', c: connection({failed_at: at(-1)}), rule: 'failing', severity: 'critical', text: /last sync failed at .*Read the sync logs at https:\/\/fivetran\.com\/dashboard\/connections\/c1/},
    {name: 'delayed is a warning with how late', c: connection({succeeded_at: at(-200)}), rule: 'delayed', severity: 'warning', text: /no success for 3h 20m \(expected every 1h, allowed 2×\)/},
    {name: 'an unexpected pause is a warning', c: connection({paused: true}), rule: 'paused', severity: 'warning', text: /paused and not listed in expected_paused/},
  ])('$name', ({c, rule, severity, text}) => {
    const [alert, ...rest] = alerts(c);
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({rule, severity, tenant_id: 't_acme', connection_id: 'c1', checked_at: at(0)});
    expect(alert!.message).toMatch(text);
  });

  it('raises nothing for healthy, syncing, incomplete or expectedly paused connections', () => {
    expect(alerts(connection())).toEqual([]);
    expect(alerts(connection({status: {sync_state: 'syncing'}}))).toEqual([]);
    expect(alerts(connection({status: {setup_state: 'incomplete'}}))).toEqual([]);
    expect(alerts(connection({id: 'planned_pause', paused: true}))).toEqual([]);
    expect(alerts(connection({schema: 'planned_pause', paused: true}))).toEqual([]);
  });

  it('warns about frequent failures from the count-th failure in the window, beside the health alert', () => {
    expect(alerts(connection(), [sec(-100), sec(-50)])).toEqual([]);
    const raised = alerts(connection({failed_at: at(-1)}), [sec(-100), sec(-50), sec(-1)]);
    expect(raised.map((a) => [a.rule, a.severity])).toEqual([['failing', 'critical'], ['frequent_failures', 'warning']]);
    expect(raised[1]!.message).toMatch(/failed 3 times in the last 24h/);
    expect(raised[1]!.since).toBe(at(-100));
  });

  it('sorts critical first, then by tenant and connection', () => {
    const sorted = sortAlerts([
      {severity: 'warning', tenant_id: 'a', connection_id: 'x', rule: 'delayed'},
      {severity: 'critical', tenant_id: 'b', connection_id: 'y', rule: 'failing'},
      {severity: 'critical', tenant_id: 'a', connection_id: 'z', rule: 'broken'},
    ] as const as {severity: 'critical' | 'warning'; tenant_id: string; connection_id: string; rule: 'delayed' | 'failing' | 'broken'}[]);
    expect(sorted.map((a) => a.connection_id)).toEqual(['z', 'y', 'x']);
  });
});
