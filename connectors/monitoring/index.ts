// The `monitoring` connector: the health of every Fivetran connection in an account, read through the REST
// API with the list endpoints (one request per 1,000 connections), landed as tables per check, with the
// events since the previous check and an alert per open problem, per tenant. See README.md.
import {defineConnector} from '../../sdk/connector.js';
import {DEFAULT_FIVETRAN_API_URL, FivetranApi, GroupSchema} from '../../sdk/fivetran-api.js';
import {createMain} from '../../sdk/function-adapter.js';
import {field} from '../../sdk/secrets.js';
import * as z from 'zod';
import {runCheck, TABLES, type CheckSettings, type MonitoringState} from './check.js';
import {compileTenantPattern} from './tenants.js';

export const MonitoringSecrets = z.object({
  fivetran_api_key: field.secret({label: 'Fivetran API key'}),
  fivetran_api_secret: field.secret({label: 'Fivetran API secret'}),
  fivetran_api_url: field.text({label: 'Fivetran API URL', description: `default ${DEFAULT_FIVETRAN_API_URL}`}).optional(),
  group_ids: field.list({label: 'Group ids', description: 'only these groups (comma-separated); every group when empty'}).optional(),
  tenant_pattern: field.text({label: 'Tenant pattern', description: 'a regular expression with one capture group, matched against the schema name, then the group name', placeholder: '^(t_[a-z0-9]+)_'}).optional(),
  delay_factor: field.number({label: 'Delay factor', description: 'delayed when the last success is older than this × sync_frequency', min: 1}).default(2),
  error_window_hours: field.number({label: 'Error window (hours)', description: 'the window of the frequent-failures rule', min: 1}).default(24),
  frequent_failure_count: field.integer({label: 'Frequent failure count', description: 'failures inside the window that raise a warning', min: 1}).default(3),
  expected_paused: field.list({label: 'Expected paused', description: 'connection ids or schema names paused on purpose (no alert)'}).optional(),
  concurrency: field.integer({label: 'Concurrency', description: 'groups read at once when group_ids is set', min: 1, max: 16}).default(4),
});
export type MonitoringSecrets = z.infer<typeof MonitoringSecrets>;

/** A client built per call from this call's secrets; its requests end by the call's deadline (`signal`, `timeLeftMs`). */
export function apiFromSecrets(secrets: MonitoringSecrets, signal?: AbortSignal, timeLeftMs?: () => number): FivetranApi {
  return new FivetranApi({apiKey: secrets.fivetran_api_key, apiSecret: secrets.fivetran_api_secret, baseUrl: secrets.fivetran_api_url, signal, timeLeftMs});
}

export function settingsFromSecrets(secrets: MonitoringSecrets): CheckSettings {
  return {
    groupIds: secrets.group_ids ?? [],
    tenant: compileTenantPattern(secrets.tenant_pattern),
    concurrency: secrets.concurrency,
    delayFactor: secrets.delay_factor,
    errorWindowHours: secrets.error_window_hours,
    frequentFailureCount: secrets.frequent_failure_count,
    expectedPaused: new Set(secrets.expected_paused ?? []),
  };
}

export const connector = defineConnector({
  name: 'monitoring',
  description: 'The health of every Fivetran connection, with events and alerts, per tenant',
  secrets: MonitoringSecrets,
  tables: TABLES,
  setupTests: [{name: 'connection', label: 'Check the Fivetran API credentials'}],
  async test({secrets, signal}) {
    settingsFromSecrets(secrets);
    // One cheap request: the first group of the account.
    const pages = apiFromSecrets(secrets, signal).pages('groups', GroupSchema, {searchParams: {limit: 1}, what: 'the list of groups'});
    await pages.next();
    await pages.return(undefined);
  },
  async *sync({secrets, state, log, budget, signal}) {
    const settings = settingsFromSecrets(secrets);
    const api = apiFromSecrets(secrets, signal, () => budget.timeLeftMs());
    const resuming = Boolean((state as unknown as MonitoringState).check);
    log.info(resuming ? 'resuming the check in progress' : 'starting a check', {group_ids: settings.groupIds.length || 'all'});
    const rows: Record<string, number> = {};
    for await (const item of runCheck(api, settings, state as unknown as MonitoringState, {budget})) {
      if (item.kind === 'upsert') rows[item.table] = (rows[item.table] ?? 0) + 1;
      yield item;
    }
    // Reached only when the check finished within this call (a stopped call is closed at its checkpoint);
    // a check resumed over several calls counts the rows of its last call.
    log.info('check finished', {rows_in_this_call: rows});
  },
});

export const main = createMain(connector);
