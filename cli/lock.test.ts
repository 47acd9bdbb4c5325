// fivetran.lock.yaml: read back what was written, keep other functions' entries, and reject a corrupt file
// with one line that names the problem.
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {CliConfigError} from './errors.js';
import {LOCK_FILE, readLock, recordDeploy, removeLockEntry, updateLockEntry} from './lock.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'fivetran-lock-'));
});
afterEach(() => {
  rmSync(root, {recursive: true, force: true});
});

const write = (text: string) => writeFileSync(path.join(root, LOCK_FILE), text);
const failure = (fn: () => unknown): string => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CliConfigError);
    return (error as Error).message;
  }
  throw new Error('expected an error');
};

describe('fivetran.lock.yaml', () => {
  it('is empty when there is no file yet', () => {
    expect(readLock(root)).toEqual({});
  });

  it('reads back what was written, in a stable order, and keeps the other functions', () => {
    updateLockEntry(root, 'zeta', {connection_id: 'brisk_otter', group_id: 'g1', schema: 'zeta'});
    updateLockEntry(root, 'alpha', {connection_id: 'calm_heron', group_id: 'g1', schema: 'alpha', trigger_url: 'https://us-central1-p.cloudfunctions.net/alpha'});
    recordDeploy(root, 'zeta', {commit: 'abcdef1234567', time: new Date('2026-01-05T10:00:00Z'), triggerUrl: 'https://us-central1-p.cloudfunctions.net/zeta'});
    expect(readLock(root)).toEqual({
      alpha: {connection_id: 'calm_heron', group_id: 'g1', schema: 'alpha', trigger_url: 'https://us-central1-p.cloudfunctions.net/alpha'},
      zeta: {
        connection_id: 'brisk_otter',
        group_id: 'g1',
        schema: 'zeta',
        trigger_url: 'https://us-central1-p.cloudfunctions.net/zeta',
        deployed_commit: 'abcdef1234567',
        deployed_at: '2026-01-05T10:00:00.000Z',
      },
    });
    const text = readFileSync(path.join(root, LOCK_FILE), 'utf8');
    expect(text.indexOf('alpha:')).toBeLessThan(text.indexOf('zeta:'));
    expect(text).toMatch(/^# Written by \.\/fivetran connect/);
    // no temporary file left behind
    expect(readdirSync(root)).toEqual([LOCK_FILE]);
  });

  it('keeps an entry written by someone else between two writes', () => {
    updateLockEntry(root, 'alpha', {connection_id: 'calm_heron'});
    write(`${readFileSync(path.join(root, LOCK_FILE), 'utf8')}beta:\n  connection_id: bold_reef\n`);
    updateLockEntry(root, 'alpha', {schema: 'alpha'});
    expect(readLock(root)).toEqual({alpha: {connection_id: 'calm_heron', schema: 'alpha'}, beta: {connection_id: 'bold_reef'}});
    removeLockEntry(root, 'beta');
    expect(Object.keys(readLock(root))).toEqual(['alpha']);
  });

  it('rejects a corrupt file with one line naming the problem', () => {
    write('alpha:\n  connection_id: [unclosed\n');
    expect(failure(() => readLock(root))).toMatch(/^fivetran\.lock\.yaml line \d+ is not valid YAML: .*; fix it or restore it from git$/);
    write('- alpha\n');
    expect(failure(() => readLock(root))).toBe('fivetran.lock.yaml must map function names to their connection; found a list; fix it or restore it from git');
    write('alpha:\n  connection_id: x\n  password: hunter2\n');
    expect(failure(() => readLock(root))).toMatch(/^fivetran\.lock\.yaml: alpha has unknown key "password" \(allowed: connection_id, /);
    write('alpha:\n  deployed_at: yesterday\n');
    expect(failure(() => readLock(root))).toBe('fivetran.lock.yaml: alpha.deployed_at must be an ISO-8601 time');
    write('alpha: 3\n');
    expect(failure(() => readLock(root))).toMatch(/^fivetran\.lock\.yaml: alpha must be a mapping/);
    for (const message of [failure(() => readLock(root))]) expect(message).not.toContain('\n');
  });
});
