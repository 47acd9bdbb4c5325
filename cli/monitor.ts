// ./fivetran monitor status|alerts|wait|dashboard: the scripts of the original monitoring toolkit made one
// tool over the monitoring connector's check (connectors/monitoring). One module per command in cli/monitor/;
// here each is wrapped so API errors name the environment variables a CLI user sets, not the connector's
// secret keys.
import {ConnectorError} from '../sdk/errors.js';
import {monitorAlerts as alerts} from './monitor/alerts.js';
import {monitorDashboard as dashboard} from './monitor/dashboard.js';
import {monitorMetadata as metadata} from './monitor/metadata.js';
import {monitorAnalyze as analyze} from './monitor/analyze.js';
import {monitorStatus as status} from './monitor/status.js';
import {monitorWait as wait} from './monitor/wait.js';

export type {MonitorStatusOptions, StatusResult} from './monitor/status.js';
export type {MonitorAlertsOptions, AlertsResult} from './monitor/alerts.js';
export type {MonitorWaitOptions, WaitResult} from './monitor/wait.js';
export type {MonitorDashboardOptions} from './monitor/dashboard.js';
export type {MonitorMetadataOptions, MetadataResult} from './monitor/metadata.js';
export type {MonitorAnalyzeOptions, AnalyzeResult} from './monitor/analyze.js';
export {renderDashboard} from './monitor/dashboard.js';

const RENAMES: [RegExp, string][] = [
  [/fivetran_api_key and fivetran_api_secret/g, 'FIVETRAN_API_KEY and FIVETRAN_API_SECRET'],
  [/fivetran_api_url/g, 'FIVETRAN_API_URL'],
  [/group_ids names groups this API key cannot see/g, '--group names a group this API key cannot see'],
  [/fix group_ids or leave it empty for every group/g, 'fix --group or leave it out for every group'],
];

/** The same error with the CLI's names for the credentials. */
export function inCliTerms(error: unknown): unknown {
  if (error instanceof ConnectorError) {
    let message = error.message;
    for (const [pattern, replacement] of RENAMES) message = message.replace(pattern, replacement);
    if (message !== error.message) error.message = message;
  }
  return error;
}

function cliTerms<A extends unknown[], R>(command: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await command(...args);
    } catch (error) {
      throw inCliTerms(error);
    }
  };
}

export const monitorStatus = cliTerms(status);
export const monitorAlerts = cliTerms(alerts);
export const monitorWait = cliTerms(wait);
export const monitorDashboard = cliTerms(dashboard);
export const monitorMetadata = cliTerms(metadata);
export const monitorAnalyze = cliTerms(analyze);
