// What every `./fivetran monitor` command shares: the API client from the environment, durations like
// `30m`, and the check settings the connector would use, from command-line options.
import {existsSync} from 'node:fs';
import path from 'node:path';
import {FivetranApi, type FivetranCredentialKeys} from '../../sdk/fivetran-api.js';
import {ConfigError} from '../../sdk/errors.js';
import {compileTenantPattern, type CheckSettings} from '../../connectors/monitoring/public.js';
import {DEMO_WAREHOUSE_FILE} from '../demo.js';
import {CliConfigError, UsageError} from '../errors.js';

export interface MonitorCommonOptions {
  /** the environment to read FIVETRAN_API_KEY / FIVETRAN_API_SECRET / FIVETRAN_API_URL from (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** where output goes (default stdout) */
  write?: (text: string) => void;
  cwd?: string;
  /** API client retries (tests lower them) */
  retries?: number;
}

/** Messages about the API's credentials and URL name the environment variables a CLI user sets. */
const CLI_CREDENTIAL_KEYS: FivetranCredentialKeys = {apiKey: 'FIVETRAN_API_KEY', apiSecret: 'FIVETRAN_API_SECRET', url: 'FIVETRAN_API_URL'};

export function apiFromEnv(env: NodeJS.ProcessEnv = process.env, retries?: number): FivetranApi {
  const apiKey = env.FIVETRAN_API_KEY;
  const apiSecret = env.FIVETRAN_API_SECRET;
  if (!apiKey || !apiSecret) {
    throw new CliConfigError('set FIVETRAN_API_KEY and FIVETRAN_API_SECRET (an API key of the Fivetran account; FIVETRAN_API_URL for another API such as the simulator)');
  }
  try {
    return new FivetranApi({apiKey, apiSecret, baseUrl: env.FIVETRAN_API_URL || undefined, retries, credentialKeys: CLI_CREDENTIAL_KEYS});
  } catch (error) {
    // the message starts with FIVETRAN_API_URL already
    throw new CliConfigError((error as Error).message);
  }
}

/**
 * `; after ./fivetran demo, pass --warehouse .fivetran/demo/warehouse.duckdb` when the demo left a warehouse
 * and `file` is another one: the commands read .fivetran/warehouse.duckdb by default, the demo writes its own.
 */
export function demoWarehouseHint(file: string, options: {root?: string; cwd?: string}): string {
  if (!options.root) return '';
  const demo = path.join(options.root, DEMO_WAREHOUSE_FILE);
  if (!existsSync(demo) || path.resolve(file) === demo) return '';
  return `; after ./fivetran demo, pass --warehouse ${path.relative(options.cwd ?? process.cwd(), demo) || demo}`;
}

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000};

/** `30m`, `15s`, `1h30m`, `250ms`, `2d` → milliseconds. A bare number is seconds. */
export function parseDuration(text: string, option = 'duration'): number {
  const trimmed = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) {
    throw new UsageError(`${option} "${text}" is not a duration; use e.g. 30m, 15s, 1h30m or 250ms`);
  }
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * UNITS[unit!]!, 0);
}

export interface SettingsOptions {
  group?: string;
  tenantPattern?: string;
  delayFactor?: number;
  expectedPaused?: string;
  env?: NodeJS.ProcessEnv;
}

/** The connector's check settings from command-line options (and FIVETRAN_TENANT_PATTERN). */
export function settingsFromOptions(options: SettingsOptions): CheckSettings {
  const pattern = options.tenantPattern ?? (options.env ?? process.env).FIVETRAN_TENANT_PATTERN;
  let tenant;
  try {
    tenant = compileTenantPattern(pattern, '--tenant-pattern');
  } catch (error) {
    throw new UsageError(error instanceof ConfigError ? error.message : String(error));
  }
  return {
    groupIds: options.group ? [options.group] : [],
    groupIdsSetting: '--group',
    tenant,
    concurrency: 4,
    delayFactor: options.delayFactor ?? 2,
    errorWindowHours: 24,
    frequentFailureCount: 3,
    expectedPaused: new Set((options.expectedPaused ?? '').split(',').map((s) => s.trim()).filter(Boolean)),
  };
}
