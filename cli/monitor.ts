// ./fivetran monitor status|alerts|wait|dashboard: the scripts of the original monitoring toolkit made one
// tool over the monitoring connector's check (connectors/monitoring). One module per command in cli/monitor/.
export {monitorStatus, type MonitorStatusOptions, type StatusResult} from './monitor/status.js';
export {monitorAlerts, type MonitorAlertsOptions, type AlertsResult} from './monitor/alerts.js';
export {monitorWait, type MonitorWaitOptions, type WaitResult} from './monitor/wait.js';
export {monitorDashboard, renderDashboard, type MonitorDashboardOptions} from './monitor/dashboard.js';
