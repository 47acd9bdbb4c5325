// ./fivetran monitor alerts: the open problems of the account now, printed, posted to Slack (one message,
// none when all is well), and an exit code for cron or CI (--fail-on critical|warning). With --state FILE
// the check remembers failures between runs, as the connector does, so frequent failures are caught too.
// The alerts are printed whatever happens to the Slack post; a failed post then fails the command.
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {collectCheck, sortAlerts, type Alert, type MonitoringState, type Severity} from '../../connectors/monitoring/public.js';
import {CliConfigError, CommandFailed, UsageError} from '../errors.js';
import {apiFromEnv, settingsFromOptions, type MonitorCommonOptions} from './common.js';
import {countBySeverity, postToSlack, slackMessage} from './slack.js';

export interface MonitorAlertsOptions extends MonitorCommonOptions {
  slackWebhook?: string;
  failOn?: string;
  state?: string;
  tenantPattern?: string;
  expectedPaused?: string;
  delayFactor?: number;
  json?: boolean;
}

export interface AlertsResult {
  checked_at: string;
  connections: number;
  alerts: Alert[];
  counts: {critical: number; warning: number};
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
  const webhook = options.slackWebhook ?? env.SLACK_WEBHOOK_URL;
  const statePath = options.state ? path.resolve(options.cwd ?? process.cwd(), options.state) : undefined;
  const api = apiFromEnv(env, options.retries);
  const settings = settingsFromOptions({...options, env});
  const check = await collectCheck(api, settings, statePath ? readState(statePath) : {});
  if (statePath) {
    mkdirSync(path.dirname(statePath), {recursive: true});
    writeFileSync(statePath, JSON.stringify(check.state));
  }
  const alerts = sortAlerts(check.alerts);
  const counts = countBySeverity(alerts);
  let posted = false;
  let slackFailure: unknown;
  if (webhook && alerts.length > 0) {
    try {
      await postToSlack(webhook, slackMessage(alerts, {checkedAt: check.checkedAt, connections: check.connections.length}));
      posted = true;
    } catch (error) {
      slackFailure = error;
    }
  }
  const result: AlertsResult = {checked_at: check.checkedAt, connections: check.connections.length, alerts, counts, posted};
  if (options.json) {
    write(JSON.stringify(result, null, 2) + '\n');
  } else if (alerts.length === 0) {
    write(`no open alerts across ${check.connections.length} connections (checked ${check.checkedAt})\n`);
  } else {
    const lines = alerts.map((a) => `${a.severity.toUpperCase().padEnd(8)} ${(a.tenant_id ?? '-').padEnd(12)} ${a.rule.padEnd(17)} ${a.message}`);
    write(`${lines.join('\n')}\n\n${counts.critical} critical, ${counts.warning} warning across ${check.connections.length} connections (checked ${check.checkedAt})${posted ? '; posted to Slack' : ''}\n`);
  }
  // after the alerts are out, so that whoever reads the output still sees them
  if (slackFailure !== undefined) throw slackFailure;
  const failing: Severity[] = failOn === 'warning' ? ['critical', 'warning'] : failOn === 'critical' ? ['critical'] : [];
  const over = alerts.filter((a) => failing.includes(a.severity)).length;
  if (over > 0) throw new CommandFailed(`${over} alert${over === 1 ? '' : 's'} at or above ${failOn}`, 1);
  return result;
}
