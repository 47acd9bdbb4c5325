// The freshness connector's secrets: one declaration gives validation, the TypeScript type, redaction and
// the configuration form. Key names are those of the original Python connector, so existing connections
// keep working when they move to this function.
import * as z from 'zod';
import {field} from '../../sdk/index.js';
import {DEFAULT_FIVETRAN_API_URL} from '../../sdk/fivetran-api.js';
import {SSL_MODES} from '../../sdk/postgres.js';

export const FreshnessSecrets = z.object({
  postgres_host: field.text({label: 'PostgreSQL host', placeholder: 'db.example.com'}),
  postgres_port: field.integer({label: 'PostgreSQL port', min: 1, max: 65535}).default(5432),
  postgres_database: field.text({label: 'Database'}),
  postgres_user: field.text({label: 'User', description: 'needs SELECT on what freshness_query reads; nothing more'}),
  postgres_password: field.secret({label: 'Password'}),
  postgres_sslmode: field.enum(SSL_MODES, {label: 'SSL mode', description: 'as libpq: disable, prefer, require, verify-ca, verify-full'}).default('prefer'),
  postgres_sslrootcert: field.text({label: 'CA certificate (PEM)', description: 'for sslmode verify-ca / verify-full'}).optional(),

  fivetran_api_key: field.secret({label: 'Fivetran API key'}),
  fivetran_api_secret: field.secret({label: 'Fivetran API secret'}),
  fivetran_connector_id: field.text({label: 'Connection to sync', description: 'the id of the Fivetran connection to trigger, e.g. a Postgres connection'}),
  fivetran_api_url: field.text({label: 'Fivetran API URL', description: 'only to point at a simulator'}).default(DEFAULT_FIVETRAN_API_URL),

  freshness_query: field.text({
    label: 'Freshness query',
    description: 'SQL returning one row per id_column with freshness_status = \'Stale data\' or \'Fresh data\'',
  }),
  id_column: field.text({label: 'Id column', description: 'identifies each row of freshness_query'}).default('company_id'),
  stale_threshold_percent: field.number({label: 'Stale threshold (%)', description: 'a sync is needed when the stale share is strictly above it', min: 0, max: 100}).default(10),
  cooldown_minutes: field.number({label: 'Cooldown (minutes)', description: 'no new trigger within this time of the last one', min: 0}).default(60),
  force_sync: field.boolean({label: 'Force', description: 'sent as "force": true restarts a sync that is running'}).default(false),
  dry_run: field.boolean({label: 'Dry run', description: 'decide and record, but never unpause or trigger'}).default(false),
});

export type FreshnessSecrets = z.infer<typeof FreshnessSecrets>;
