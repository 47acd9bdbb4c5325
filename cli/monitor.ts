// ./fivetran monitor status|alerts|wait|quickstart|dashboard|metadata|analyze: the scripts of the original monitoring
// toolkit made one tool over the monitoring connector's check (connectors/monitoring). One module per command
// in cli/monitor/; their API errors name the environment variables a CLI user sets (apiFromEnv passes them as
// the client's credentialKeys).
export {monitorAlerts} from './monitor/alerts.js';
export {monitorAnalyze} from './monitor/analyze.js';
export {monitorDashboard, renderDashboard} from './monitor/dashboard.js';
export {monitorMetadata} from './monitor/metadata.js';
export {monitorStatus} from './monitor/status.js';
export {monitorWait} from './monitor/wait.js';
export {monitorQuickstart} from './monitor/quickstart.js';

export type {MonitorStatusOptions, StatusResult} from './monitor/status.js';
export type {MonitorAlertsOptions, AlertsResult} from './monitor/alerts.js';
export type {MonitorWaitOptions, WaitResult} from './monitor/wait.js';
export type {MonitorDashboardOptions} from './monitor/dashboard.js';
