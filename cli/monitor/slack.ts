// Posting to a Slack incoming webhook (the message itself is built in sinks.ts: one Block Kit message per run,
// a section per change, within Slack's 50 blocks and 3,000 characters a section). The webhook URL is a
// secret: it never appears in output or errors.
import got, {HTTPError} from 'got';
import type {Alert} from '../../connectors/monitoring/alerts.js';
import {CommandFailed} from '../errors.js';

export interface SlackBlock {
  type: string;
  [key: string]: unknown;
}

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Slack mrkdwn treats &, < and > as markup. */
export const escapeMrkdwn = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function countBySeverity(alerts: Pick<Alert, 'severity'>[]): {critical: number; warning: number} {
  return {critical: alerts.filter((a) => a.severity === 'critical').length, warning: alerts.filter((a) => a.severity === 'warning').length};
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
