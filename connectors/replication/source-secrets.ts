// The replication secrets of a test database (every value a string, as Fivetran sends them).
import type {TestDatabase} from '../../test/support/postgres.js';

export function sourceSecrets(db: TestDatabase, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {host: db.host, port: String(db.port), database: db.database, username: db.user, password: db.password, sslmode: 'disable', retry_sleep_seconds: '0.01', ...extra};
}
