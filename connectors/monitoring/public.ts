// What the CLI's monitor commands (cli/monitor/*, cli/connection-commands.ts) use of the monitoring connector:
// the check itself, its settings and state, and the health and alert rules it applies. The CLI imports
// this file only, so the connector's other files can change without reaching into the CLI.
export {sortAlerts, type Alert, type Severity} from './alerts.js';
export {collectCheck, type CheckSettings, type ConnectionRow, type MonitoringState} from './check.js';
export {assessHealth, formatMinutes, HEALTH_RANK, HEALTHS, timestampMs, type Health} from './health.js';
export {compileTenantPattern} from './tenants.js';
