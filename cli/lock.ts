// fivetran.lock.yaml: the one checked-in record of what is deployed and connected, per function of
// deploy.yaml: its Fivetran connection (id, group, destination schema), the trigger URL it was connected
// with, the git commit deployed and when. `connect` and `deploy` write it; `resync`, `state`, `status`,
// `airflow` and `monitor` read the connection id from it, so nobody copies ids by hand.
//
// It never holds a secret. To tell whether the secrets changed since the last connect without keeping
// them, it keeps `secrets_fingerprint`: an HMAC-SHA256 of the secrets keyed with the Fivetran API secret
// (see cli/connect.ts). Without that key the fingerprint cannot be checked against guesses, and whoever
// holds the key can read the account anyway.
//
// Every write re-reads the file, changes one function's entry and replaces the file atomically (a
// temporary file renamed over it), so concurrent commands lose no other function's entry to a stale read
// and a crash never leaves half a file.
import {existsSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {parseDocument, stringify} from 'yaml';
import {z} from 'zod';
import {CliConfigError} from './errors.js';

export const LOCK_FILE = 'fivetran.lock.yaml';

const HEADER = [
  '# Written by ./fivetran connect and ./fivetran deploy: what each function of deploy.yaml is deployed and',
  '# connected as. Check it in. It holds no secrets (secrets_fingerprint is an HMAC keyed with the API secret).',
].join('\n');

const text = (what: string) => z.string({error: `must be ${what} (a string)`}).min(1, {error: `must be ${what}`});
const timestamp = z.string({error: 'must be an ISO-8601 time'}).refine((value) => Number.isFinite(Date.parse(value)), {error: 'must be an ISO-8601 time'});

const LockEntrySchema = z.strictObject({
  connection_id: text('the Fivetran connection id').optional(),
  group_id: text('the Fivetran group id').optional(),
  schema: text('the destination schema').optional(),
  trigger_url: z.url({error: 'must be the function trigger URL'}).optional(),
  deployed_commit: z.string({error: 'must be a git commit'}).regex(/^[0-9a-f]{7,64}$/, {error: 'must be a git commit (hex)'}).optional(),
  deployed_at: timestamp.optional(),
  connected_at: timestamp.optional(),
  secrets_fingerprint: z.string({error: 'must be a string'}).regex(/^hmac-sha256:[0-9a-f]{64}$/, {error: 'must be hmac-sha256:<64 hex digits>'}).optional(),
});

export type LockEntry = z.infer<typeof LockEntrySchema>;
export type Lock = Record<string, LockEntry>;

const ENTRY_KEYS = Object.keys(LockEntrySchema.shape);

export function lockFile(root: string): string {
  return path.join(root, LOCK_FILE);
}

/** Parses the lock file's text; a CliConfigError of one line names the first problem. */
export function parseLock(source: string, label = LOCK_FILE): Lock {
  const doc = parseDocument(source, {prettyErrors: true});
  if (doc.errors.length) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0]?.line;
    const reason = first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new CliConfigError(`${label}${line ? ` line ${line}` : ''} is not valid YAML: ${reason}; fix it or restore it from git`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new CliConfigError(`${label} must map function names to their connection; found a ${Array.isArray(data) ? 'list' : typeof data}; fix it or restore it from git`);
  }
  const lock: Lock = {};
  for (const [name, entry] of Object.entries(data as Record<string, unknown>)) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new CliConfigError(`${label}: ${name} must be a mapping (${ENTRY_KEYS.join(', ')}); fix it or restore it from git`);
    }
    const result = LockEntrySchema.safeParse(entry);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      if (issue.code === 'unrecognized_keys') {
        throw new CliConfigError(`${label}: ${name} has unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (allowed: ${ENTRY_KEYS.join(', ')})`);
      }
      throw new CliConfigError(`${label}: ${name}.${issue.path.join('.')} ${issue.message.replace(/^Invalid input:?\s*/i, '')}`);
    }
    lock[name] = result.data;
  }
  return lock;
}

/** The lock of the project at `root`; {} when there is no lock file yet. */
export function readLock(root: string): Lock {
  const file = lockFile(root);
  if (!existsSync(file)) return {};
  return parseLock(readFileSync(file, 'utf8'));
}

/** One function's entry, or undefined. */
export function lockEntry(root: string, functionName: string): LockEntry | undefined {
  return readLock(root)[functionName];
}

/** The YAML text of a lock: functions and keys in a stable order, so diffs show only what changed. */
export function formatLock(lock: Lock): string {
  const ordered: Record<string, Record<string, unknown>> = {};
  for (const name of Object.keys(lock).sort()) {
    const entry = lock[name]!;
    ordered[name] = Object.fromEntries(ENTRY_KEYS.filter((key) => entry[key as keyof LockEntry] !== undefined).map((key) => [key, entry[key as keyof LockEntry]]));
  }
  return `${HEADER}\n${Object.keys(ordered).length ? stringify(ordered, {lineWidth: 0}) : '{}\n'}`;
}

function writeLock(root: string, lock: Lock): void {
  const file = lockFile(root);
  const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(temporary, formatLock(lock));
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, {force: true});
    throw new CliConfigError(`cannot write ${LOCK_FILE} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * Merges `changes` into one function's entry (an `undefined` value removes the key) and writes the file,
 * keeping every other function's entry as it is on disk now. Returns the new entry.
 */
export function updateLockEntry(root: string, functionName: string, changes: Partial<LockEntry>): LockEntry {
  const lock = readLock(root);
  const entry: Record<string, unknown> = {...lock[functionName]};
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete entry[key];
    else entry[key] = value;
  }
  const checked = LockEntrySchema.safeParse(entry);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new Error(`${LOCK_FILE}: refusing to write ${functionName}.${issue.path.join('.')}: ${issue.message}`);
  }
  lock[functionName] = checked.data;
  writeLock(root, lock);
  return checked.data;
}

/** Removes a function's entry (e.g. after it left deploy.yaml). */
export function removeLockEntry(root: string, functionName: string): void {
  const lock = readLock(root);
  if (!(functionName in lock)) return;
  delete lock[functionName];
  writeLock(root, lock);
}

export interface DeployRecord {
  /** the git commit deployed (full or abbreviated hex) */
  commit: string;
  /** when it was deployed; default now */
  time?: Date | string;
  /** the trigger URL gcloud reported */
  triggerUrl?: string;
}

/** What `deploy` records after a function deployed: the commit and time (and the trigger URL when known). */
export function recordDeploy(root: string, functionName: string, record: DeployRecord): LockEntry {
  const time = record.time === undefined ? new Date() : record.time;
  return updateLockEntry(root, functionName, {
    deployed_commit: record.commit,
    deployed_at: typeof time === 'string' ? new Date(time).toISOString() : time.toISOString(),
    ...(record.triggerUrl ? {trigger_url: record.triggerUrl} : {}),
  });
}

/** The connection id `connect` recorded for a function; a one-line error saying how to get one otherwise. */
export function recordedConnectionId(root: string, functionName: string): string {
  const id = lockEntry(root, functionName)?.connection_id;
  if (!id) throw new CliConfigError(`${functionName} has no Fivetran connection in ${LOCK_FILE}; run ./fivetran connect ${functionName} first`);
  return id;
}
