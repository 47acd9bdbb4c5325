// Tenant extraction: which customer a connection belongs to, from a regular expression with one capture
// group matched against the connection's schema name first, then its group's name.
import {ConfigError} from '../../sdk/index.js';

export type TenantMatcher = (schemaName: string | null | undefined, groupName: string | null | undefined) => string | null;

/** Validates `tenant_pattern` (exactly one capture group) and returns the matcher; no pattern gives null tenants. */
export function compileTenantPattern(pattern: string | undefined, key = 'tenant_pattern'): TenantMatcher {
  if (pattern === undefined || pattern.trim() === '') return () => null;
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    throw new ConfigError(`${key} is not a valid regular expression (${(error as Error).message}); e.g. ^(t_[a-z0-9]+)_`);
  }
  // A pattern with no group (or several) would silently give the wrong tenant; count them on an empty match.
  const groups = new RegExp(`${pattern}|`).exec('')!.length - 1;
  if (groups !== 1) {
    throw new ConfigError(`${key} must have exactly one capture group, the tenant id (it has ${groups}); e.g. ^(t_[a-z0-9]+)_, use (?:...) for other groups`);
  }
  return (schemaName, groupName) => {
    for (const candidate of [schemaName, groupName]) {
      if (!candidate) continue;
      const match = regex.exec(candidate);
      if (match && match[1]) return match[1];
    }
    return null;
  };
}
