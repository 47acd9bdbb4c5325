// monitor dashboard: three checks of the monitoring connector synced into a real DuckDB warehouse through
// the local sync loop, the page rendered from it, then opened in headless Chromium through playwright-core
// (a system Chromium when there is one, else the one the @sparticuz/chromium npm package ships) to check what
// a browser shows: the counts, the rows per tenant, the chart bars, the open alerts (from the function's
// alert_history, or the ledger of `monitor alerts`), the failed syncs and the schema changes (the monitoring
// views over the Platform Connector fixture), each list's empty state, that its inline script ran, and a
// screenshot of the page.
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startApiSimulator, type ApiSimulator} from '../../emulator/api-simulator.js';
import {generateFleet} from '../../emulator/fleet.js';
import {inProcessTransport, runSync} from '../../emulator/sync-runner.js';
import {Warehouse} from '../../emulator/warehouse.js';
import {connector} from '../../connectors/monitoring/index.js';
import {emptyLedger, HEALTHS} from '../../connectors/monitoring/public.js';
import {renderViews} from '../sql.js';
import {launchChromium} from '../../test/support/browser.js';
import {monitorDashboard, renderDashboard, type DashboardData} from './dashboard.js';

const all = (html: string, pattern: RegExp) => [...html.matchAll(pattern)];
const noLists: Pick<DashboardData, 'alerts' | 'errors' | 'schemaChanges'> = {alerts: {rows: [], source: 'test'}, errors: {rows: [], source: 'test'}, schemaChanges: {rows: [], source: 'test'}};

let sim: ApiSimulator;
let dir: string;
let warehouseFile: string;
let counts: Record<string, number>;
let failedLast: string;
let openAlerts: {connection_id: string; severity: string}[];
let schemaChanges: number;

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
    failedLast = healthy[2]!;
    openAlerts = (await warehouse.query('SELECT connection_id, severity FROM monitoring.alert_history WHERE resolved_at IS NULL')).rows as typeof openAlerts;
    // the Platform Connector's tables beside the function's, with the monitoring views over them
    const root = path.resolve(import.meta.dirname, '../..');
    const fixture = readFileSync(path.join(root, 'sql/monitoring/fixtures/platform_connector.sql'), 'utf8');
    for (const statement of fixture.split(/;\s*\n/).map((text) => text.replace(/^(\s*--.*\n)+/g, '').trim()).filter(Boolean)) await warehouse.query(statement);
    for (const view of renderViews(root, {set: 'monitoring', dialect: 'duckdb', targetSchema: 'fivetran_monitoring'})) await warehouse.query(view.sql);
    schemaChanges = Number((await warehouse.query("SELECT count(*) AS n FROM fivetran_metadata.log WHERE message_event IN ('create_table', 'alter_table', 'create_schema', 'change_schema_config')")).rows[0]!.n);
    const latest = await warehouse.query(`SELECT health, count(*) AS n FROM monitoring.connections WHERE checked_at = (SELECT max(checked_at) FROM monitoring.connections) GROUP BY health`);
    counts = Object.fromEntries(latest.rows.map((r) => [String(r.health), Number(r.n)]));
  } finally {
    await warehouse.close();
  }
});

afterAll(async () => {
  await sim?.close();
  rmSync(dir, {recursive: true, force: true});
});

describe('monitor dashboard', () => {
  it('renders the warehouse checks into a page Chromium shows with the right counts, rows and charts', async () => {
    const out = path.join(dir, 'dashboard.html');
    const messages: string[] = [];
    const {data} = await monitorDashboard({warehouse: warehouseFile, schema: 'monitoring', out, cwd: dir, write: (t) => messages.push(t)});
    expect(messages.join('')).toMatch(/wrote dashboard\.html: 12 connections, 3 checks of history/);
    expect(data.history).toHaveLength(3);

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(pathToFileURL(out).href);
      // the inline script marks the page ready once its filters ran; the charts are laid out by then
      await page.waitForSelector('body[data-ready="true"]');
      await page.waitForSelector('#chart-health rect.bar');
      expect(pageErrors).toEqual([]);
      expect(await page.textContent('#total-count')).toBe('12');
      for (const health of HEALTHS) {
        expect(Number(await page.textContent(`#count-${health} .n`)), health).toBe(counts[health] ?? 0);
      }
      expect(counts).toMatchObject({failing: 3, broken: 1, delayed: 2, paused: 1});

      // one table per tenant, every connection once, worst first
      const sections = await page.$$eval('section.tenant', (elements) => elements.map((e) => e.getAttribute('data-tenant')));
      expect(sections.sort()).toEqual(['analytics', 'finance']);
      const rows = await page.$$eval('tr[data-connection]', (elements) => elements.map((e) => ({health: e.getAttribute('data-health'), id: e.getAttribute('data-connection')})));
      expect(rows).toHaveLength(12);
      expect(new Set(rows.map((r) => r.id)).size).toBe(12);
      expect(rows[0]!.health).toBe('broken');
      expect(await page.textContent('#shown-count')).toBe('12');

      // health bars: one per health present in each check; outcomes and durations of the last check
      const healthBars = await page.$$eval('#chart-health rect.bar', (elements) => elements.map((e) => ({check: e.getAttribute('data-check')!, value: Number(e.getAttribute('data-value'))})));
      const perCheck = new Map<string, number>();
      for (const bar of healthBars) perCheck.set(bar.check, (perCheck.get(bar.check) ?? 0) + bar.value);
      expect([...perCheck.values()]).toEqual([12, 12, 12]);
      const lastCheck = data.history.at(-1)!.checked_at;
      const outcome = async (kind: string) => Number(await page.getAttribute(`#chart-outcomes rect[data-check="${lastCheck}"][data-outcome="${kind}"]`, 'data-value'));
      expect(await outcome('success')).toBe(2);
      expect(await outcome('failure')).toBe(1);
      expect(await page.locator('#chart-durations rect.bar').count()).toBe(1);
      const chart = await page.locator('#chart-health').boundingBox();
      expect(chart?.width).toBeGreaterThan(100);
      expect(chart?.height).toBeGreaterThan(50);

      // the filter the page's script wires: only the broken connection stays
      await page.selectOption('#filter-health', 'broken');
      expect(await page.textContent('#shown-count')).toBe('1');
      expect(await page.locator('tr[data-connection]:not(.hidden)').count()).toBe(1);
      await page.selectOption('#filter-health', '');

      // open alerts from the function's alert_history (no ledger here): one per connection, critical first
      const alerts = await page.$$eval('#open-alerts tr[data-alert]', (elements) => elements.map((e) => ({id: e.getAttribute('data-alert'), severity: e.getAttribute('data-severity')})));
      expect(alerts.map((a) => a.id).sort()).toEqual(openAlerts.map((a) => a.connection_id).sort());
      expect(alerts).toHaveLength(7); // 3 failing, 1 broken, 2 delayed, 1 paused
      expect(alerts.map((a) => a.severity)).toEqual([...alerts.map((a) => a.severity)].sort());
      expect(await page.textContent('#open-alerts h2')).toContain('alert_history');
      expect(await page.textContent('#open-alerts tr[data-alert] td.message')).toMatch(/https:\/\/fivetran\.com\/dashboard\/connections\//);

      // failed syncs, newest first: the one failed last leads, with Fivetran's message
      const errors = await page.$$eval('#recent-errors tr[data-error]', (elements) => elements.map((e) => ({id: e.getAttribute('data-error'), at: e.getAttribute('data-failed-at')!, message: e.querySelector('td.message')!.textContent})));
      expect(errors.length).toBeGreaterThanOrEqual(4);
      expect(errors[0]).toMatchObject({id: failedLast, message: 'The function answered 500: simulated failure'});
      expect(errors.map((e) => e.at)).toEqual([...errors.map((e) => e.at)].sort().reverse());

      // schema changes from the monitoring views, newest first
      const changes = await page.$$eval('#schema-changes tr[data-change]', (elements) => elements.map((e) => ({type: e.getAttribute('data-change'), at: e.getAttribute('data-changed-at')!, text: e.textContent})));
      expect(changes).toHaveLength(schemaChanges);
      expect(changes.map((c) => c.at)).toEqual([...changes.map((c) => c.at)].sort().reverse());
      expect(changes.map((c) => c.text).join(' ')).toContain('t_acme_sales.orders');
      expect(await page.locator('.empty-state').count()).toBe(0);

      const screenshot = path.join(dir, 'dashboard.png');
      await page.screenshot({path: screenshot, fullPage: true});
      const png = readFileSync(screenshot);
      expect(png.length).toBeGreaterThan(10_000);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    } finally {
      await browser.close();
    }
  });

  it('is self-contained: no external scripts, styles, images or fonts', async () => {
    const out = path.join(dir, 'self-contained.html');
    await monitorDashboard({warehouse: warehouseFile, schema: 'monitoring', out, cwd: dir, write: () => undefined});
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<link\b|<img\b|\bsrc=|@import|url\(/i);
    expect(html).not.toMatch(/https?:\/\/(?!fivetran\.com\/dashboard)/);
  });

  it('shows the alert ledger of monitor alerts when there is one, escaped, and every list\'s empty state', async () => {
    const ledgerFile = path.join(dir, 'ledger', 'alerts.json');
    mkdirSync(path.dirname(ledgerFile), {recursive: true});
    writeFileSync(ledgerFile, JSON.stringify({
      ...emptyLedger(),
      open: [{
        connection_id: 'c_<b>1</b>', rule: 'failing', severity: 'critical', tenant_id: 't_acme', schema_name: 'pg_<i>acme</i>',
        message: 'pg_acme failed: <script>document.title="pwned"</script> & more', opened_at: '2026-12-01T10:00:00.000Z', last_seen_at: '2026-12-01T12:00:00.000Z', reminded_at: '2026-12-01T10:00:00.000Z',
      }],
    }));
    const withLedger = path.join(dir, 'ledger.html');
    await monitorDashboard({warehouse: warehouseFile, schema: 'monitoring', out: withLedger, cwd: dir, ledger: 'ledger/alerts.json', write: () => undefined});
    const empty = path.join(dir, 'empty.html');
    writeFileSync(empty, renderDashboard({
      source: 'test', checked_at: '2026-01-01T00:00:00.000Z', history: [], connections: [],
      alerts: {rows: [], source: 'warehouse w.duckdb, schema monitoring, alert_history'},
      errors: {rows: [], source: 'warehouse w.duckdb, schema monitoring, connections'},
      schemaChanges: {rows: [], source: 'warehouse w.duckdb', missing: 'no fivetran_monitoring.schema_changes view: sync the Platform Connector'},
    }));

    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(pathToFileURL(withLedger).href);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.locator('#open-alerts tr[data-alert]').count()).toBe(1);
      expect(await page.getAttribute('#open-alerts tr[data-alert]', 'data-alert')).toBe('c_<b>1</b>');
      expect(await page.textContent('#open-alerts h2')).toContain('alert ledger ledger/alerts.json');
      // the message shows as text: no element came from it, and its script did not run
      expect(await page.textContent('#open-alerts td.message')).toBe('pg_acme failed: <script>document.title="pwned"</script> & more');
      expect(await page.locator('#open-alerts script, #open-alerts b, #open-alerts i').count()).toBe(0);
      expect(await page.title()).not.toContain('pwned');
      expect(await page.textContent('#open-alerts tr[data-alert]')).toContain('pg_<i>acme</i> (c_<b>1</b>, tenant t_acme)');

      await page.goto(pathToFileURL(empty).href);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.textContent('#open-alerts .empty-state')).toBe('no open alerts');
      expect(await page.textContent('#recent-errors .empty-state')).toBe('no failed syncs in the checks kept');
      expect(await page.textContent('#schema-changes .empty-state')).toBe('no fivetran_monitoring.schema_changes view: sync the Platform Connector');
      expect(await page.locator('.lists table').count()).toBe(0);
      expect(pageErrors).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it('escapes names from the API', () => {
    const html = renderDashboard({
      ...noLists,
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
    expect(data.alerts.rows.map((a) => a.severity)).toContain('critical');
    expect(data.errors.rows.length).toBeGreaterThan(0);
    expect(html).toContain('the API has no schema change log');
    expect(all(html, /<section class="tenant"/g)).toHaveLength(2);
  });

  it('says how to get data when the warehouse has none', async () => {
    await expect(monitorDashboard({warehouse: path.join(dir, 'missing.duckdb'), cwd: dir, write: () => undefined})).rejects.toThrow(/no warehouse at .*sync the monitoring function first/);
  });
});

describe('monitor dashboard after ./fivetran demo', () => {
  it('suggests the demo warehouse when the default one has no monitoring table', async () => {
    const project = mkdtempSync(path.join(tmpdir(), 'monitor-dashboard-demo-'));
    mkdirSync(path.join(project, 'connectors'));
    writeFileSync(path.join(project, 'package.json'), '{}');
    mkdirSync(path.join(project, '.fivetran', 'demo'), {recursive: true});
    copyFileSync(warehouseFile, path.join(project, '.fivetran', 'demo', 'warehouse.duckdb'));
    const empty = await Warehouse.open(path.join(project, '.fivetran', 'warehouse.duckdb'));
    await empty.close();
    const run = () => monitorDashboard({cwd: project, out: path.join(project, 'out.html'), write: () => undefined});
    await expect(run()).rejects.toThrow(/^the warehouse has no monitoring\.connections table; .*; after \.\/fivetran demo, pass --warehouse \.fivetran\/demo\/warehouse\.duckdb$/);
    rmSync(path.join(project, '.fivetran', 'warehouse.duckdb'));
    await expect(run()).rejects.toThrow(/^no warehouse at .*; after \.\/fivetran demo, pass --warehouse \.fivetran\/demo\/warehouse\.duckdb$/);
    // and the suggestion works
    const {data} = await monitorDashboard({cwd: project, warehouse: '.fivetran/demo/warehouse.duckdb', out: path.join(project, 'out.html'), write: () => undefined});
    expect(data.connections).toHaveLength(12);
    rmSync(project, {recursive: true, force: true});
  });
});
