// monitor dashboard: three checks of the monitoring connector synced into a real DuckDB warehouse through
// the local sync loop, the page rendered from it, then opened in headless Chromium (Debian's `chromium`)
// to check what a browser shows: the counts, the rows per tenant, the chart bars, and that its inline script
// ran. Chromium is required: without it this test fails and says what to install.
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {inProcessTransport, runSync} from '../../emulator/sync-runner.js';
import {Warehouse} from '../../emulator/warehouse.js';
import {connector} from '../../connectors/monitoring/index.js';
import {HEALTHS} from '../../connectors/monitoring/health.js';
import {monitorDashboard, renderDashboard} from './dashboard.js';

const CHROMIUM_CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter(Boolean) as string[];

function chromium(): string {
  const found = CHROMIUM_CANDIDATES.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new Error('the dashboard test renders the page in headless Chromium, which is not installed: apt-get update && apt-get install -y chromium (or set CHROMIUM_PATH)');
  }
  return found;
}

/** The DOM after the page loaded and its scripts ran, as headless Chromium sees it, with network off. */
function renderInChromium(file: string): string {
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-profile-'));
  const result = spawnSync(chromium(), [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-extensions', '--no-first-run',
    `--user-data-dir=${profile}`, '--virtual-time-budget=2000', '--dump-dom', pathToFileURL(file).href,
  ], {encoding: 'utf8', timeout: 60_000});
  if (result.status !== 0 || !result.stdout.includes('</html>')) {
    throw new Error(`chromium failed (${result.status ?? result.signal}): ${result.stderr.slice(0, 500)}`);
  }
  return result.stdout;
}

const all = (html: string, pattern: RegExp) => [...html.matchAll(pattern)];

let sim: ApiSimulator;
let dir: string;
let warehouseFile: string;
let counts: Record<string, number>;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'monitor-dashboard-'));
  warehouseFile = path.join(dir, 'warehouse.duckdb');
  sim = await startApiSimulator({
    fleet: generateFleet({groups: 2, connectionsPerGroup: 6, seed: 17, mix: {healthy: 6, failing: 2, broken: 1, delayed: 2, paused: 1}}),
    rateLimit: false,
    syncDurationMs: 500,
  });
  const secrets = {fivetran_api_key: sim.apiKey, fivetran_api_secret: sim.apiSecret, fivetran_api_url: sim.url, tenant_pattern: '^[a-z]+_([a-z]+)_'};
  const healthy = sim.fleet.connections.filter((c) => c.health === 'healthy').map((c) => c.id);
  const api = (id: string) => fetch(`${sim.url}/v1/connections/${id}/sync`, {
    method: 'POST',
    headers: {authorization: `Basic ${Buffer.from(`${sim.apiKey}:${sim.apiSecret}`).toString('base64')}`, 'content-type': 'application/json'},
    body: '{}',
  });
  const warehouse = await Warehouse.open(warehouseFile);
  const sync = () => runSync({functionName: 'monitoring', transport: inProcessTransport(connector), secrets, stateFile: path.join(dir, 'state.json'), warehouse, schema: 'monitoring'});
  try {
    await sync();
    // two syncs start (the next check sees them running), one fails
    await api(healthy[0]!);
    await api(healthy[1]!);
    await sync();
    sim.failNextSync(healthy[2]!);
    await api(healthy[2]!);
    sim.advance(60_000);
    await sync();
    const latest = await warehouse.query(`SELECT health, count(*) AS n FROM monitoring.connections WHERE checked_at = (SELECT max(checked_at) FROM monitoring.connections) GROUP BY health`);
    counts = Object.fromEntries(latest.rows.map((r) => [String(r.health), Number(r.n)]));
  } finally {
    await warehouse.close();
  }
});

afterAll(async () => {
  await sim?.close();
});

describe('monitor dashboard', () => {
  it('renders the warehouse checks into a page Chromium shows with the right counts, rows and charts', async () => {
    const out = path.join(dir, 'dashboard.html');
    const messages: string[] = [];
    const {data} = await monitorDashboard({warehouse: warehouseFile, schema: 'monitoring', out, cwd: dir, write: (t) => messages.push(t)});
    expect(messages.join('')).toMatch(/wrote dashboard\.html: 12 connections, 3 checks of history/);
    expect(data.history).toHaveLength(3);

    const dom = renderInChromium(out);
    expect(dom).toMatch(/<body data-ready="true"/);
    expect(dom).toMatch(/<span id="total-count">12<\/span>/);
    for (const health of HEALTHS) {
      const tile = new RegExp(`id="count-${health}"[^>]*><span class="n">(\\d+)</span>`).exec(dom);
      expect(Number(tile?.[1]), health).toBe(counts[health] ?? 0);
    }
    expect(counts).toMatchObject({failing: 3, broken: 1, delayed: 2, paused: 1});

    // one table per tenant, every connection once
    const sections = all(dom, /<section class="tenant" data-tenant="([^"]+)">/g).map((m) => m[1]);
    expect(sections.sort()).toEqual(['analytics', 'finance']);
    const rows = all(dom, /<tr data-health="([a-z]+)" data-connection="([^"]+)">/g);
    expect(rows).toHaveLength(12);
    expect(new Set(rows.map((r) => r[2])).size).toBe(12);
    expect(rows[0]![1]).toBe('broken');
    expect(dom).toMatch(/<span id="shown-count">12<\/span>/);

    // health bars: one per health present in each check; outcomes and durations of the last check
    const healthBars = all(dom, /<rect class="bar" data-check="([^"]+)" data-health="([a-z]+)" data-value="(\d+)"/g);
    const perCheck = new Map<string, number>();
    for (const bar of healthBars) perCheck.set(bar[1]!, (perCheck.get(bar[1]!) ?? 0) + Number(bar[3]));
    expect([...perCheck.values()]).toEqual([12, 12, 12]);
    const lastCheck = data.history.at(-1)!.checked_at;
    const outcome = (kind: string) => Number(new RegExp(`data-check="${lastCheck}" data-outcome="${kind}" data-value="(\\d+)"`).exec(dom)?.[1]);
    expect(outcome('success')).toBe(2);
    expect(outcome('failure')).toBe(1);
    const durations = all(dom, /<svg id="chart-durations"[\s\S]*?<\/svg>/g)[0]![0];
    expect(all(durations, /<rect class="bar"/g)).toHaveLength(1);
  });

  it('is self-contained: no external scripts, styles, images or fonts', async () => {
    const out = path.join(dir, 'self-contained.html');
    await monitorDashboard({warehouse: warehouseFile, schema: 'monitoring', out, cwd: dir, write: () => undefined});
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<link\b|<img\b|\bsrc=|@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\/(?!fivetran\.com\/dashboard)/);
  });

  it('escapes names from the API', () => {
    const html = renderDashboard({
      source: 'test', checked_at: '2026-01-01T00:00:00.000Z', history: [],
      connections: [{connection_id: 'c1', schema_name: '<img src=x onerror=alert(1)>', service: 's', tenant_id: '"t"', group_name: null, health: 'healthy', succeeded_at: null, failed_at: null, delay_minutes: null, sync_frequency: 60, schedule_type: 'auto'}],
    });
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toContain('<img');
    expect(html).toContain('data-tenant="&quot;t&quot;"');
  });

  it('reads the API live with --live: the current check, no history of outcomes', async () => {
    const env = {FIVETRAN_API_KEY: sim.apiKey, FIVETRAN_API_SECRET: sim.apiSecret, FIVETRAN_API_URL: sim.url};
    const out = path.join(dir, 'live.html');
    const {data} = await monitorDashboard({live: true, env, out, cwd: dir, tenantPattern: '^[a-z]+_([a-z]+)_', write: () => undefined});
    expect(data.connections).toHaveLength(12);
    expect(data.history).toHaveLength(1);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/<span id="total-count">12<\/span>/);
    expect(html).toContain('no sync completions seen between checks yet');
    expect(all(html, /<section class="tenant"/g)).toHaveLength(2);
  });

  it('says how to get data when the warehouse has none', async () => {
    await expect(monitorDashboard({warehouse: path.join(dir, 'missing.duckdb'), cwd: dir, write: () => undefined})).rejects.toThrow(/no warehouse at .*sync the monitoring function first/);
  });
});
