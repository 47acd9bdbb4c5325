// ./fivetran postgres, run as a user runs it: in a child process until its ready line; its secrets files
// work as they are with ./fivetran sync (freshness reads as freshness_reader, the user the example names, and
// triggers on the simulator); Ctrl-C stops PostgreSQL (the port closes) and the command exits 0.
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import pg from 'pg';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {freePort} from '../emulator/embedded-postgres.js';
import {cliEnv, finished, runCli, startCli, waitForLine, type CliRun} from '../test/support/cli-process.js';

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

describe('./fivetran postgres', () => {
  let dir: string;
  let port: number;
  let child: ReturnType<typeof startCli>;
  let ended: Promise<CliRun>;
  let banner: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'fivetran-postgres-command-'));
    port = await freePort();
    const env = cliEnv();
    delete env.DATABASE_URL;
    child = startCli(['postgres', '--port', String(port), '--secrets-dir', dir], {env});
    ended = finished(child);
    banner = await waitForLine(child, /^ready; Ctrl-C stops PostgreSQL/, 90_000);
  }, 120_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, {recursive: true, force: true});
  });

  it('prints the URL and a sync command per function reading PostgreSQL', () => {
    expect(banner).toContain(`PostgreSQL    postgres://postgres:postgres@127.0.0.1:${port}/postgres (embedded)`);
    expect(banner).toContain(`customer-freshness (connector freshness): database demo_customer_freshness, loaded from sql/freshness/setup_postgres.sql`);
    expect(banner).toContain(`  try      ./fivetran sync customer-freshness --secrets ${path.join(dir, 'customer-freshness.secrets.json')}`);
    expect(banner).toContain('replication (connector replication): database demo_replication, loaded from sql/replication/setup.sql');
    expect(banner).not.toMatch(/monitoring/);
  });

  it('writes a freshness secrets file that ./fivetran sync runs as is, as the example file\'s user', async () => {
    const file = path.join(dir, 'customer-freshness.secrets.json');
    const secrets = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    const example = JSON.parse(readFileSync(path.resolve('connectors/freshness/secrets.example.json'), 'utf8')) as Record<string, string>;
    expect(secrets).toMatchObject({postgres_port: String(port), postgres_database: 'demo_customer_freshness', postgres_user: example.postgres_user, postgres_password: example.postgres_password});
    const run = await runCli(['sync', 'customer-freshness', '--secrets', file, '--warehouse', path.join(dir, 'warehouse.duckdb'), '--state', path.join(dir, 'freshness.state.json'), '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout) as {rows: Record<string, number>};
    expect(summary.rows).toEqual({data_freshness_monitor: 10, sync_events: 1});
  });

  it('writes a replication secrets file whose database holds the demo tables', async () => {
    const secrets = JSON.parse(readFileSync(path.join(dir, 'replication.secrets.json'), 'utf8')) as Record<string, string>;
    const client = new pg.Client({host: secrets.host, port: Number(secrets.port), database: secrets.database, user: secrets.username, password: secrets.password});
    await client.connect();
    try {
      const {rows} = await client.query<{table_name: string}>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`);
      expect(rows.map((r) => r.table_name)).toEqual(['customers', 'inventory', 'order_items', 'orders', 'products', 'suppliers']);
    } finally {
      await client.end();
    }
  });

  it('stops PostgreSQL on Ctrl-C and exits 0', async () => {
    expect(await accepts(port)).toBe(true);
    child.kill('SIGINT');
    const run = await ended;
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/SIGINT: stopping PostgreSQL and the simulator\nstopped\n$/);
    expect(await accepts(port)).toBe(false);
  });

  it('says a busy port is in use, naming --port', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const taken = (busy.address() as net.AddressInfo).port;
    try {
      const run = await runCli(['postgres', '--port', String(taken), '--secrets-dir', dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toBe(`fivetran: port ${taken} is in use (another server is listening there); stop it, or pick another port with --port\n`);
    } finally {
      busy.close();
    }
  });
});
