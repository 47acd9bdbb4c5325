// The monitoring connector in `./fivetran demo`: checks the API simulator's mixed fleet twice (the second
// check compares with the first, so events appear when syncs finished in between), then prints the health
// counts, the open alerts and the alert history, read back from the warehouse as a user would see them.
import type {DemoScript} from '../../sdk/index.js';
import {HEALTHS} from './health.js';

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

export const demo: DemoScript = async (ctx) => {
  const secrets = {
    fivetran_api_key: ctx.api.apiKey,
    fivetran_api_secret: ctx.api.apiSecret,
    fivetran_api_url: ctx.api.url,
    // the simulator's schemas are <service>_<group>_<n>: the group name stands in for the tenant
    tenant_pattern: '^[a-z]+_([a-z]+)_',
  };
  const first = await ctx.sync(secrets, {label: 'first check'});
  const second = await ctx.sync(secrets, {label: 'second check'});
  const s = q(ctx.schema);
  const latest = `(SELECT max(checked_at) FROM ${s}.connections)`;
  const counts = await ctx.warehouse(`SELECT health, count(*) AS n FROM ${s}.connections WHERE checked_at = ${latest} GROUP BY health`);
  const byHealth = new Map(counts.map((row) => [String(row.health), Number(row.n)]));
  const total = [...byHealth.values()].reduce((a, b) => a + b, 0);
  if (total === 0) throw new Error('the monitoring check landed no connections; is the API simulator running?');
  ctx.print(`checked ${total} connections in ${first.calls + second.calls} calls: ${HEALTHS.filter((h) => byHealth.get(h)).map((h) => `${byHealth.get(h)} ${h}`).join(', ')}`);

  const tenants = await ctx.warehouse(`SELECT coalesce(tenant_id, '(none)') AS tenant, count(*) AS n, sum(CASE WHEN health IN ('broken', 'failing') THEN 1 ELSE 0 END) AS critical
    FROM ${s}.connections WHERE checked_at = ${latest} GROUP BY 1 ORDER BY 1`);
  ctx.print(`per tenant: ${tenants.map((t) => `${t.tenant} ${t.n} (${t.critical} critical)`).join(', ')}`);

  const alerts = await ctx.warehouse(`SELECT connection_id, severity, rule, tenant_id, message FROM ${s}.alerts WHERE checked_at = (SELECT max(checked_at) FROM ${s}.alerts)
    ORDER BY CASE severity WHEN 'critical' THEN 0 ELSE 1 END, tenant_id, connection_id, rule`);
  const critical = alerts.filter((a) => a.severity === 'critical').length;
  ctx.print(`alerts: ${critical} critical, ${alerts.length - critical} warning`);
  if (byHealth.get('broken') || byHealth.get('failing')) {
    if (critical === 0) throw new Error('broken or failing connections raised no critical alert');
  }
  const shown = 8;
  for (const alert of alerts.slice(0, shown)) ctx.print(`  ${String(alert.severity).toUpperCase().padEnd(8)} ${String(alert.rule).padEnd(17)} ${alert.message}`);
  if (alerts.length > shown) ctx.print(`  …and ${alerts.length - shown} more (./fivetran warehouse query "select * from ${ctx.schema}.alerts")`);
  const [history] = await ctx.warehouse(`SELECT sum(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END) AS open, sum(CASE WHEN resolved_at IS NULL THEN 0 ELSE 1 END) AS resolved FROM ${s}.alert_history`);
  // one open alert per connection with a problem, kept across the two checks rather than opened twice
  const alerting = new Set(alerts.map((alert) => alert.connection_id)).size;
  if (Number(history?.open ?? 0) !== alerting) throw new Error(`alert_history has ${history?.open ?? 0} open alerts for ${alerting} connections with a problem`);
  ctx.print(`alert history: ${history?.open ?? 0} open (one per connection, kept across both checks), ${history?.resolved ?? 0} resolved`);
  const events = await ctx.warehouse(`SELECT event_type, count(*) AS n FROM ${s}.connection_events GROUP BY 1 ORDER BY 1`).catch(() => []);
  ctx.print(`events since the first check: ${events.length ? events.map((e) => `${e.n} ${e.event_type}`).join(', ') : 'none'}`);
};
