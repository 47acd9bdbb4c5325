// monitor analyze on a real DuckDB warehouse: the monitoring function's tables from a sync against the API
// simulator (through the strict local Fivetran), and the monitoring views created over the Platform
// Connector fixture, as a user gets them with ./fivetran sql render monitoring --dialect duckdb.
import {mkdtempSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {connector as monitoring} from '../../connectors/monitoring/index.js';
import {formatDuration} from '../../connectors/monitoring/public.js';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {syncAll, TestWarehouse} from '../../sdk/testing.js';
import {monitorAnalyze} from './analyze.js';

const root = path.resolve(import.meta.dirname, '../..');
let sim: ApiSimulator;
let dir: string;
let full: string;
let monitoringOnly: string;

beforeAll(async () => {
  sim = await startApiSimulator({fleet: generateFleet({groups: 2, connectionsPerGroup: 6, seed: 3, mix: {broken: 2, failing: 2, delayed: 2, healthy: 6}}), rateLimit: false});
  dir = mkdtempSync(path.join(tmpdir(), 'monitor-analyze-'));
  full = path.join(dir, 'full.duckdb');
  monitoringOnly = path.join(dir, 'function-only.duckdb');
  const secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, tenant_pattern: '^[a-z]+_([a-z]+)_'};
  for (const file of [full, monitoringOnly]) {
    const warehouse = await TestWarehouse.open(file);
    const first = await syncAll(monitoring, secrets, {warehouse, schema: 'monitoring'});
    if (file === full) {
      // one broken connection fixed an hour later: its alert resolves at the next check
      sim.markHealthy(sim.fleet.connections.find((c) => c.health === 'broken')!.id);
      sim.advance(3_600_000);
      await syncAll(monitoring, secrets, {warehouse, schema: 'monitoring', state: first.state});
      const fixture = readFileSync(path.join(root, 'sql/monitoring/fixtures/platform_connector.sql'), 'utf8');
      for (const statement of fixture.split(/;\s*\n/).map((s) => s.replace(/^(\s*--.*\n)+/g, '').trim()).filter(Boolean)) await warehouse.query(statement);
    }
    await warehouse.close();
  }
});
afterAll(async () => {
  await sim.close();
});

describe('monitor analyze', () => {
  it('summarizes health per tenant, the problems, the top errors, slowest syncs, MAR and this week\'s schema changes', async () => {
    const out: string[] = [];
    // the Platform Connector's tables are there, the views not yet: the first run creates them
    const result = await monitorAnalyze({warehouse: full, cwd: root, now: () => new Date('2026-01-08T00:00:00Z'), write: (text) => out.push(text)});
    const section = (title: string) => result.sections.find((s) => s.title.startsWith(title))!;
    const health = section('Connections by health per tenant').rows;
    expect(health.reduce((n, row) => n + Number(row.connections), 0)).toBe(12);
    expect(health[0]).toHaveProperty('broken');
    expect(section('Problems Fivetran reports').rows.length).toBeGreaterThan(0);
    expect(section('Top errors').rows[0]).toMatchObject({connection_name: expect.any(String), occurrences: expect.any(Number)});
    const slowest = section('Slowest syncs').rows.map((row) => Number(row.duration_seconds));
    expect(slowest.length).toBeGreaterThan(0);
    expect([...slowest].sort((a, b) => b - a)).toEqual(slowest);
    expect(section('Monthly active rows').rows[0]).toMatchObject({incremental_rows: expect.any(Number)});
    expect(section('Schema changes in the last 7 days').rows.length).toBeGreaterThan(0);
    // the lifecycle from alert_history: still open (worst first, as of the latest check) and resolved with its duration
    const open = section('Alerts open at the latest check').rows;
    expect(open.length).toBeGreaterThan(0);
    expect(open[0]).toMatchObject({severity: 'critical', open_for: expect.stringMatching(/^\d+(h|m|s)/)});
    expect(open.map((row) => row.severity)).toEqual([...open.map((row) => row.severity)].sort());
    const resolved = section('Alerts resolved in the last 7 days').rows;
    expect(resolved).toHaveLength(1);
    // opened when the API says the problem began (failed_at, before the first check), resolved at the second check
    const [fixed] = resolved as {rule: string; opened_at: unknown; resolved_at: unknown; lasted: string}[];
    expect(fixed!.rule).toBe('broken');
    expect(fixed!.lasted).toBe(formatDuration(Date.parse(String(fixed!.resolved_at)) - Date.parse(String(fixed!.opened_at))));
    expect(Date.parse(String(fixed!.resolved_at)) - Date.parse(String(fixed!.opened_at))).toBeGreaterThanOrEqual(3_600_000);
    const text = out.join('');
    expect(text).toMatch(/full\.duckdb, latest check .* \(created the \d+ monitoring views in fivetran_monitoring\)\n/);
    const again: string[] = [];
    await monitorAnalyze({warehouse: full, cwd: root, write: (text) => again.push(text)});
    expect(again.join('')).not.toContain('created the');
    expect(text).toContain('Slowest syncs\nconnection_name');
  });

  it('says how to get the views when only the monitoring function has synced, and still reports health', async () => {
    const out: string[] = [];
    const result = await monitorAnalyze({warehouse: monitoringOnly, cwd: dir, write: (text) => out.push(text)});
    expect(result.sections[0]!.rows.length).toBeGreaterThan(0);
    expect(result.sections.find((s) => s.title === 'Top errors')!.missing).toBe(
      "no fivetran_monitoring.error_reporting view: sync the Platform Connector (Fivetran's own metadata, schema fivetran_metadata) into the warehouse",
    );
    expect(out.join('')).toContain('Top errors\n  (no fivetran_monitoring.error_reporting view');
  });

  it('fails in one line on a warehouse with neither', async () => {
    await expect(monitorAnalyze({warehouse: path.join(dir, 'none.duckdb'), cwd: dir, write: () => undefined})).rejects.toThrow(/^no warehouse at .*none\.duckdb; sync the monitoring function first/);
    const empty = await TestWarehouse.open(path.join(dir, 'empty.duckdb'));
    await empty.close();
    await expect(monitorAnalyze({warehouse: path.join(dir, 'empty.duckdb'), cwd: dir, write: () => undefined})).rejects.toThrow(/has neither monitoring\.connections nor the fivetran_monitoring views/);
  });
});
