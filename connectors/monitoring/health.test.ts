import {describe, expect, it} from 'vitest';
import type {Connection} from '../../sdk/fivetran-api.js';
import {assessHealth, formatMinutes, HEALTHS, lastCompletionFailed, type Health} from './health.js';
import {compileTenantPattern} from './tenants.js';

const NOW = Date.parse('2026-01-10T12:00:00Z');
const ago = (minutes: number) => new Date(NOW - minutes * 60_000).toISOString();

function connection(patch: Partial<Connection> & {status?: Partial<Connection['status']>} = {}): Connection {
  const {status, ...rest} = patch;
  return {
    id: 'brisk_otter', group_id: 'g1', service: 'postgres', schema: 't_acme_sales', paused: false, schedule_type: 'auto', sync_frequency: 60,
    succeeded_at: ago(10), failed_at: null, created_at: ago(100_000),
    ...rest,
    status: {setup_state: 'connected', sync_state: 'scheduled', update_state: 'on_schedule', ...status},
  };
}

describe('assessHealth', () => {
  const cases: {name: string; connection: Connection; delayFactor?: number; health: Health}[] = [
    {name: 'a recent success is healthy', connection: connection(), health: 'healthy'},
    {name: 'paused wins over everything', connection: connection({paused: true, status: {setup_state: 'broken', sync_state: 'paused'}, failed_at: ago(1)}), health: 'paused'},
    {name: 'an unfinished setup is incomplete', connection: connection({succeeded_at: null, status: {setup_state: 'incomplete'}}), health: 'incomplete'},
    {name: 'incomplete wins over broken tasks and failures', connection: connection({failed_at: ago(1), status: {setup_state: 'incomplete'}}), health: 'incomplete'},
    {name: 'setup_state broken is broken', connection: connection({status: {setup_state: 'broken'}}), health: 'broken'},
    {name: 'broken wins over failing and delayed', connection: connection({succeeded_at: ago(5000), failed_at: ago(1), status: {setup_state: 'broken', update_state: 'delayed'}}), health: 'broken'},
    {name: 'a failure after the last success is failing', connection: connection({succeeded_at: ago(30), failed_at: ago(5)}), health: 'failing'},
    {name: 'a failure and never a success is failing', connection: connection({succeeded_at: null, failed_at: ago(5)}), health: 'failing'},
    {name: 'a failure before the last success is not failing', connection: connection({succeeded_at: ago(5), failed_at: ago(30)}), health: 'healthy'},
    {name: 'failing wins over delayed', connection: connection({succeeded_at: ago(1000), failed_at: ago(5)}), health: 'failing'},
    {name: 'update_state delayed is delayed even when recent', connection: connection({status: {update_state: 'delayed'}}), health: 'delayed'},
    {name: 'a success older than 2 × frequency is delayed', connection: connection({succeeded_at: ago(121)}), health: 'delayed'},
    {name: 'exactly 2 × frequency is still on time', connection: connection({succeeded_at: ago(120)}), health: 'healthy'},
    {name: 'the delay factor is configurable', connection: connection({succeeded_at: ago(121)}), delayFactor: 3, health: 'healthy'},
    {name: 'a manual schedule is never late by age', connection: connection({schedule_type: 'manual', succeeded_at: ago(10_000)}), health: 'healthy'},
    {name: 'a manual schedule is delayed when the API says so', connection: connection({schedule_type: 'manual', status: {update_state: 'delayed'}}), health: 'delayed'},
    {name: 'never succeeded: age counts from creation', connection: connection({succeeded_at: null, created_at: ago(500)}), health: 'delayed'},
    {name: 'never succeeded, just created: healthy', connection: connection({succeeded_at: null, created_at: ago(5)}), health: 'healthy'},
    {name: 'a running sync on time is syncing', connection: connection({status: {sync_state: 'syncing'}}), health: 'syncing'},
    {name: 'a running sync that is late is delayed', connection: connection({succeeded_at: ago(500), status: {sync_state: 'syncing'}}), health: 'delayed'},
    {name: 'a rescheduled sync on time is healthy', connection: connection({status: {sync_state: 'rescheduled'}}), health: 'healthy'},
    {name: 'an unparseable timestamp counts as absent', connection: connection({succeeded_at: 'yesterday', created_at: undefined}), health: 'healthy'},
  ];
  it.each(cases)('$name', ({connection, delayFactor, health}) => {
    expect(assessHealth(connection, NOW, {delayFactor}).health).toBe(health);
  });

  it('reports minutes since success and the delay beyond the allowance', () => {
    expect(assessHealth(connection({succeeded_at: ago(200)}), NOW)).toEqual({health: 'delayed', minutesSinceSuccess: 200, delayMinutes: 80});
    expect(assessHealth(connection({succeeded_at: ago(30)}), NOW)).toEqual({health: 'healthy', minutesSinceSuccess: 30, delayMinutes: 0});
    expect(assessHealth(connection({schedule_type: 'manual', succeeded_at: ago(30)}), NOW).delayMinutes).toBeNull();
  });

  it('ranks every health worst first', () => {
    expect(HEALTHS[0]).toBe('broken');
    expect(HEALTHS.at(-1)).toBe('healthy');
  });

  it('decides the last completion by comparing timestamps, nulls as never', () => {
    expect(lastCompletionFailed({succeeded_at: null, failed_at: null})).toBe(false);
    expect(lastCompletionFailed({succeeded_at: ago(1), failed_at: ago(1)})).toBe(false);
    expect(lastCompletionFailed({succeeded_at: ago(2), failed_at: ago(1)})).toBe(true);
  });

  it('formats minutes for people', () => {
    expect([formatMinutes(null), formatMinutes(45), formatMinutes(125), formatMinutes(60), formatMinutes(3 * 1440 + 240)]).toEqual(['', '45m', '2h 5m', '1h', '3d 4h']);
  });
});

describe('tenant extraction', () => {
  const tenant = compileTenantPattern('^(t_[a-z0-9]+)_');

  it('takes the capture group from the schema name first', () => {
    expect(tenant('t_acme_sales', 't_other_group')).toBe('t_acme');
  });

  it('falls back to the group name when the schema does not match', () => {
    expect(tenant('salesforce', 't_globex_prod')).toBe('t_globex');
  });

  it('gives null when neither matches, or when no pattern is set', () => {
    expect(tenant('salesforce', 'analytics')).toBeNull();
    expect(compileTenantPattern(undefined)('t_acme_sales', null)).toBeNull();
    expect(compileTenantPattern('  ')('t_acme_sales', null)).toBeNull();
  });

  it('accepts non-capturing groups beside the one capture group', () => {
    expect(compileTenantPattern('^(?:pg|sf)_([a-z]+)_')('sf_initech_crm', null)).toBe('initech');
  });

  it('rejects a pattern without exactly one capture group, saying how to fix it', () => {
    expect(() => compileTenantPattern('^t_[a-z]+_')).toThrow(/exactly one capture group.*\(it has 0\)/);
    expect(() => compileTenantPattern('^(t)_([a-z]+)')).toThrow(/\(it has 2\)/);
    expect(() => compileTenantPattern('^(t_[a-z')).toThrow(/not a valid regular expression/);
  });
});
