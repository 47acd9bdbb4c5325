// The monitoring connector's configuration: Fivetran API credentials, which groups to read, how tenants are
// named, and the thresholds of the health rules. One zod declaration gives the type, the validation and the
// redaction of the secret keys.
import * as z from 'zod';
import {DEFAULT_FIVETRAN_API_URL} from '../../sdk/fivetran-api.js';
import {field} from '../../sdk/index.js';
import type {CheckSettings} from './check.js';
import {SlotWatch} from './slots.js';
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
  replication_slots: field
    .secretJson(
      z.array(SlotWatch, {error: 'must be a JSON list like [{"name": "orders-db", "database_url": "postgres://...", "slot": "fivetran_orders_slot"}]'})
        .refine((watches) => new Set(watches.map((w) => w.name)).size === watches.length, {error: 'each entry needs a name of its own'}),
      {
        label: 'Replication slots',
        description: 'PostgreSQL replication slots to watch, a JSON list of {name, database_url (or host, port, user, password, database, sslmode), slot, max_lag_mb, growth_checks}',
      },
    )
    .optional(),
});
export type MonitoringSecrets = z.infer<typeof MonitoringSecrets>;

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
