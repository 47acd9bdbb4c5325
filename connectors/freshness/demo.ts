// The freshness connector in `./fivetran demo`: loads the demo source (10 companies, 3 stale), runs a check
// against the API simulator (30 % stale > 10 % → a sync is triggered), then a second one within the cooldown
// (skipped). What it prints is read back from the warehouse, as a user would see it.
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type {DemoContext, DemoScript} from '../../sdk/index.js';
import {quoteIdent} from '../../sdk/postgres.js';

/** The example secrets file pointed at the demo's PostgreSQL and API simulator. */
async function demoSecrets(ctx: DemoContext, connectionId: string): Promise<Record<string, unknown>> {
  const example = JSON.parse(await readFile(path.join(ctx.root, 'connectors/freshness/secrets.example.json'), 'utf8')) as Record<string, unknown>;
  return {
    ...example,
    postgres_host: ctx.postgres.host,
    postgres_port: String(ctx.postgres.port),
    postgres_database: ctx.postgres.database,
    postgres_user: ctx.postgres.user,
    postgres_password: ctx.postgres.password,
    postgres_sslmode: 'disable',
    fivetran_api_url: ctx.api.url,
    fivetran_api_key: ctx.api.apiKey,
    fivetran_api_secret: ctx.api.apiSecret,
    fivetran_connector_id: connectionId,
  };
}

async function loadDemoSource(ctx: DemoContext): Promise<void> {
  const sql = await readFile(path.join(ctx.root, 'sql/freshness/setup_postgres.sql'), 'utf8');
  const client = new pg.Client({connectionString: ctx.postgres.url});
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

interface CheckEvent {
  action: string;
  message: string;
}

/** The sync_events rows of the latest check, in order. */
async function latestCheck(ctx: DemoContext): Promise<CheckEvent[]> {
  const events = `${quoteIdent(ctx.schema)}.sync_events`;
  const rows = await ctx.warehouse(
    `SELECT action, message FROM ${events} WHERE check_timestamp = (SELECT max(check_timestamp) FROM ${events}) ORDER BY event_timestamp`,
  );
  return rows.map((row) => ({action: String(row.action), message: String(row.message)}));
}

function expectDecision(events: CheckEvent[], expected: string, check: string): CheckEvent {
  const decision = events.at(-1);
  if (decision?.action !== expected) {
    throw new Error(`the ${check} check should have decided ${expected}, but decided ${decision ? `${decision.action}: ${decision.message}` : 'nothing'}`);
  }
  return decision;
}

export const demo: DemoScript = async (ctx) => {
  const connectionId = ctx.api.connectionIds[0];
  if (!connectionId) throw new Error('the API simulator offers no connection for freshness to trigger');
  // ./fivetran demo may have loaded it already; the script runs twice safely and resets the ages to now
  await loadDemoSource(ctx);
  const secrets = await demoSecrets(ctx, connectionId);

  const first = await ctx.sync(secrets, {label: 'first check'});
  const firstEvents = await latestCheck(ctx);
  for (const event of firstEvents.slice(0, -1)) ctx.print(`${event.action}: ${event.message}`);
  ctx.print(expectDecision(firstEvents, 'trigger_sync', 'first').message);
  ctx.print(`data_freshness_monitor: ${first.rows.data_freshness_monitor ?? 0} rows; sync_events: ${first.rows.sync_events ?? 0}`);

  await ctx.sync(secrets, {label: 'second check'});
  ctx.print(`skipped: ${expectDecision(await latestCheck(ctx), 'skip_cooldown', 'second').message}`);
};
