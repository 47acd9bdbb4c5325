// What the CLI's monitor commands (cli/monitor/*, cli/connection-commands.ts) use of the monitoring connector:
// the check itself, its settings and state, the health and alert rules it applies, the alert lifecycle, its
// ledger stores and the sinks; the fivetran-webhooks function (functions/) uses the same lifecycle and sinks. The CLI imports
// this file only, so the connector's other files can change without reaching into the CLI.
export {failedSyncAlert, sortAlerts, type Alert, type Severity} from './alerts.js';
export {collectCheck, type CheckSettings, type ConnectionRow, type MonitoringState} from './check.js';
export {assessHealth, formatDuration, formatMinutes, HEALTH_RANK, HEALTHS, timestampMs, type Health} from './health.js';
export {compileTenantPattern} from './tenants.js';
export {changeCount, changeLines, emptyLedger, reconcile, reconcileConnection, type AlertChanges, type AlertLedger, type LedgerStore} from './lifecycle.js';
export {fileLedgerStore, ledgerStoreAt, postgresLedgerStore, readLedgerFile} from './ledger-store.js';
export {countBySeverity, notify, SinkError, sinksFrom, slackChangesMessage, type SinkName} from './sinks.js';
