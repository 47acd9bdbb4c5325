// The Slack message of `monitor alerts`: one Block Kit message per run (a header, a context line, one
// section per alert, critical first), posted to an incoming webhook. Slack allows 50 blocks and 3,000
// characters a section, so long lists end with "…and N more". The webhook URL is a secret: it never
// appears in output or errors.
import got, {HTTPError} from 'got';
import {sortAlerts, type Alert} from '../../connectors/monitoring/public.js';
import {CommandFailed} from '../errors.js';

export interface SlackBlock {
  type: string;
  [key: string]: unknown;
}

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

const MAX_ALERT_BLOCKS = 45;
const MAX_SECTION_CHARS = 2900;

/** Slack mrkdwn treats &, < and > as markup. */
export const escapeMrkdwn = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function countBySeverity(alerts: Pick<Alert, 'severity'>[]): {critical: number; warning: number} {
  return {critical: alerts.filter((a) => a.severity === 'critical').length, warning: alerts.filter((a) => a.severity === 'warning').length};
}

export function slackMessage(alerts: Alert[], context: {checkedAt: string; connections: number}): SlackMessage {
  const {critical, warning} = countBySeverity(alerts);
  const title = `Fivetran: ${critical} critical, ${warning} warning alert${critical + warning === 1 ? '' : 's'}`;
  const sorted = sortAlerts(alerts);
  const shown = sorted.slice(0, MAX_ALERT_BLOCKS);
  const blocks: SlackBlock[] = [
    {type: 'header', text: {type: 'plain_text', text: title, emoji: true}},
    {type: 'context', elements: [{type: 'mrkdwn', text: `Checked ${context.checkedAt} · ${context.connections} connections`}]},
    ...shown.map((alert): SlackBlock => {
      const icon = alert.severity === 'critical' ? ':red_circle:' : ':large_yellow_circle:';
      const where = [alert.tenant_id ? `tenant *${escapeMrkdwn(alert.tenant_id)}*` : null, `\`${escapeMrkdwn(alert.schema_name)}\``, escapeMrkdwn(alert.service)].filter(Boolean).join(' · ');
      const text = `${icon} *${alert.rule.replace(/_/g, ' ')}* · ${where}\n${escapeMrkdwn(alert.message)}`;
      return {type: 'section', text: {type: 'mrkdwn', text: text.length > MAX_SECTION_CHARS ? `${text.slice(0, MAX_SECTION_CHARS - 1)}…` : text}};
    }),
  ];
  if (sorted.length > shown.length) {
    blocks.push({type: 'context', elements: [{type: 'mrkdwn', text: `…and ${sorted.length - shown.length} more; run \`./fivetran monitor alerts\` for the full list`}]});
  }
  return {text: title, blocks};
}

/** Posts once; Slack answers 200 "ok" or an error code in the body. */
export async function postToSlack(webhookUrl: string, message: SlackMessage): Promise<void> {
  let url: URL;
  try {
    url = new URL(webhookUrl);
  } catch {
    throw new CommandFailed('--slack-webhook is not a URL; give the incoming webhook URL from Slack (https://hooks.slack.com/services/...)');
  }
  try {
    await got.post(url, {json: message, timeout: {request: 15_000}, retry: {limit: 2, methods: ['POST'], statusCodes: [429, 500, 502, 503, 504]}});
  } catch (error) {
    const detail = error instanceof HTTPError ? `${error.response.statusCode} ${String(error.response.body).slice(0, 100)}` : (error as {code?: string}).code ?? 'network error';
    throw new CommandFailed(`Slack did not accept the alerts (${detail}); check the webhook URL and that its app is still installed`);
  }
}
