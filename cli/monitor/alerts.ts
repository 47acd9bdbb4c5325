// ./fivetran monitor alerts: the open problems of the account now, printed; what changed since the last run
// (new, escalated, resolved, and reminders with --remind-after) sent to the sinks (Slack, email, a signed
// webhook: connectors/monitoring/sinks.ts), nothing when nothing changed; and an exit code for cron or CI (--fail-on
// critical|warning). Open alerts live in a ledger (connectors/monitoring/lifecycle.ts, cli/monitor/ledger-file.ts): a file beside
// the local warehouse, or with --ledger postgres://... the table the fivetran-webhooks function shares.
// With --state FILE the check remembers failures between runs, as the connector does, so frequent failures
// are caught too. The alerts are printed whatever happens to the sinks; a failed sink then fails the command.
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {changeCount, changeLines, collectCheck, countBySeverity, emptyLedger, notify, reconcile, SinkError, sinksFrom, sortAlerts, type Alert, type AlertChanges, type AlertLedger, type MonitoringState, type Severity, type SinkName} from '../../connectors/monitoring/public.js';
import {CliConfigError, CommandFailed, UsageError} from '../errors.js';
import {apiFromEnv, parseDuration, settingsFromOptions, type MonitorCommonOptions} from './common.js';
import {DEFAULT_LEDGER_FILE, ledgerStore} from './ledger-file.js';

export interface MonitorAlertsOptions extends MonitorCommonOptions {
  slackWebhook?: string;
  failOn?: string;
  state?: string;
  tenantPattern?: string;
  expectedPaused?: string;
  delayFactor?: number;
  json?: boolean;
  /** the ledger of open alerts: a file (default .fivetran/monitor/alerts.json under cwd) or a postgres:// URL; false: every run is the first */
  ledger?: string | false;
  /** post a reminder for alerts still open after this long (e.g. 24h) */
  remindAfter?: string;
  /** comma-separated sinks: slack, email, webhook (default: those configured in the environment) */
  notify?: string;
  now?: () => Date;
}

export interface AlertsResult {
  checked_at: string;
  connections: number;
  alerts: Alert[];
  counts: {critical: number; warning: number};
  /** what changed since the last run (all of it is new without a ledger) */
  changes: AlertChanges;
  /** the sinks that took the changes */
  notified: SinkName[];
  /** Slack took them */
  posted: boolean;
}

function readState(file: string): MonitoringState {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MonitoringState;
  } catch (error) {
    throw new CliConfigError(`--state ${file} is not valid JSON (${(error as Error).message}); delete it to start over`);
  }
}

export async function monitorAlerts(options: MonitorAlertsOptions): Promise<AlertsResult> {
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const env = options.env ?? process.env;
  const failOn = options.failOn;
  if (failOn !== undefined && failOn !== 'critical' && failOn !== 'warning') {
    throw new UsageError(`--fail-on must be critical or warning, not "${failOn}"`);
  }
  const cwd = options.cwd ?? process.cwd();
  const statePath = options.state ? path.resolve(cwd, options.state) : undefined;
  const remindAfterMs = options.remindAfter === undefined ? undefined : parseDuration(options.remindAfter, '--remind-after');
  let sinks;
  try {
    sinks = sinksFrom(options.notify?.split(',').map((name) => name.trim()).filter(Boolean), env, {slackWebhook: options.slackWebhook, now: options.now});
  } catch (error) {
    if (error instanceof SinkError) throw new CliConfigError(`--notify ${error.message}`);
    throw error;
  }
  const store = options.ledger === false ? undefined : ledgerStore(options.ledger ?? DEFAULT_LEDGER_FILE, cwd);
  const api = apiFromEnv(env, options.retries);
  const settings = settingsFromOptions({...options, env});
  const check = await collectCheck(api, settings, statePath ? readState(statePath) : {});
  if (statePath) {
    mkdirSync(path.dirname(statePath), {recursive: true});
    writeFileSync(statePath, JSON.stringify(check.state));
  }
  const alerts = sortAlerts(check.alerts);
  const counts = countBySeverity(alerts);
  // read, notify and write under the store's lock: a webhook delivery meanwhile sees this run's alerts, and this run its
  const decide = async (ledger: AlertLedger) => {
    const reconciled = reconcile(ledger, alerts, options.now?.() ?? new Date(check.checkedAt), {remindAfterMs});
    const outcome = await notify(sinks, {checkedAt: check.checkedAt, connections: check.connections.length, changes: reconciled.changes, open: reconciled.ledger.open});
    // the ledger moves only when every sink took the changes: otherwise the next run sends them again
    return {ledger: outcome.failures.length === 0 ? reconciled.ledger : null, result: {reconciled, ...outcome}};
  };
  const {reconciled, sent, failures} = store ? await store.update(decide) : (await decide(emptyLedger())).result;
  const result: AlertsResult = {checked_at: check.checkedAt, connections: check.connections.length, alerts, counts, changes: reconciled.changes, notified: sent, posted: sent.includes('slack')};
  const changed = changeCount(reconciled.changes);
  if (options.json) {
    write(JSON.stringify(result, null, 2) + '\n');
  } else {
    if (alerts.length === 0) {
      write(`no open alerts across ${check.connections.length} connections (checked ${check.checkedAt})\n`);
    } else {
      const lines = alerts.map((a) => `${a.severity.toUpperCase().padEnd(8)} ${(a.tenant_id ?? '-').padEnd(12)} ${a.rule.padEnd(17)} ${a.message}`);
      write(`${lines.join('\n')}\n\n${counts.critical} critical, ${counts.warning} warning across ${check.connections.length} connections (checked ${check.checkedAt})\n`);
    }
    const where = sent.length ? `; sent to ${sent.join(', ')}` : '';
    write(changed ? `\nsince the last run${where}:\n${changeLines(reconciled.changes).map((line) => `  ${line}`).join('\n')}\n` : `nothing changed since the last run${sinks.length ? '; nothing sent' : ''}\n`);
  }
  // after the alerts are out, so that whoever reads the output still sees them
  if (failures.length) {
    throw new CommandFailed(failures.length === 1 ? failures[0]!.message : `${failures.length} sinks failed: ${failures.map((f) => f.message).join('; ')}`);
  }
  const failing: Severity[] = failOn === 'warning' ? ['critical', 'warning'] : failOn === 'critical' ? ['critical'] : [];
  const over = alerts.filter((a) => failing.includes(a.severity)).length;
  if (over > 0) throw new CommandFailed(`${over} alert${over === 1 ? '' : 's'} at or above ${failOn}`, 1);
  return result;
}
