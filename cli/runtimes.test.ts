// Tests of the Cloud Functions runtime table: which runtimes deploy on a given date, the warnings before a
// deprecation, and that the table in docs/deploy.md repeats the code's.
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {DEFAULT_RUNTIME, deprecationWarning, RUNTIMES, runtimeNode, runtimeProblem, supportedRuntimes} from './runtimes.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('the runtime table', () => {
  it("holds Google's published schedule", () => {
    expect(RUNTIMES).toEqual([
      {id: 'nodejs20', node: 20, deprecated: '2026-04-30', decommissioned: '2026-10-30'},
      {id: 'nodejs22', node: 22, deprecated: '2027-04-30', decommissioned: '2027-10-31'},
      {id: 'nodejs24', node: 24, deprecated: '2028-04-30', decommissioned: '2028-10-31'},
      {id: 'nodejs26', node: 26, preview: true},
    ]);
    expect(DEFAULT_RUNTIME).toBe('nodejs24');
  });

  it('deploys on runtimes until their decommission date, never on a preview', () => {
    expect(supportedRuntimes(new Date('2026-12-03')).map((r) => r.id)).toEqual(['nodejs22', 'nodejs24']);
    expect(supportedRuntimes(new Date('2026-10-29')).map((r) => r.id)).toEqual(['nodejs20', 'nodejs22', 'nodejs24']);
    expect(supportedRuntimes(new Date('2027-10-31')).map((r) => r.id)).toEqual(['nodejs24']);
    expect(runtimeProblem('nodejs24', new Date('2026-12-03'))).toBeNull();
    expect(runtimeProblem('nodejs26', new Date('2026-12-03'))).toMatch(/^"nodejs26" is in preview on Cloud Functions/);
  });

  it("gives each runtime's Node.js major, and refuses an unknown one saying what to use", () => {
    expect(runtimeNode('nodejs22')).toBe(22);
    expect(runtimeNode()).toBe(24);
    expect(() => runtimeNode('python312')).toThrow(/^runtime "python312" is not a Cloud Functions Node\.js runtime this project deploys; use nodejs24/);
  });
});

describe('deprecationWarning', () => {
  it('is silent more than 90 days before the deprecation date', () => {
    expect(deprecationWarning('nodejs22', new Date('2027-01-29T12:00:00Z'))).toBeNull();
    expect(deprecationWarning('nodejs24', new Date('2026-12-03'))).toBeNull();
  });

  it('warns within 90 days of the deprecation date, naming the dates and the runtime to move to', () => {
    expect(deprecationWarning('nodejs22', new Date('2027-01-30T00:00:00Z'))).toBe(
      'nodejs22 is deprecated on 2027-04-30 (in 90 days) and decommissioned on 2027-10-31, after which Cloud Functions refuses to deploy it; set runtime: nodejs24 in deploy.yaml',
    );
    expect(deprecationWarning('nodejs22', new Date('2027-04-29T00:00:00Z'))).toMatch(/^nodejs22 is deprecated on 2027-04-30 \(in 1 day\)/);
  });

  it('keeps warning once deprecated, until the runtime is refused', () => {
    expect(deprecationWarning('nodejs22', new Date('2027-06-01'))).toMatch(/^nodejs22 has been deprecated since 2027-04-30 and decommissioned on 2027-10-31/);
    expect(deprecationWarning('nodejs22', new Date('2027-10-31'))).toBeNull();
  });

  it('asks for a newer runtime in the table when none exists yet', () => {
    expect(deprecationWarning('nodejs24', new Date('2028-03-01'))).toMatch(/; no newer runtime is in cli\/runtimes\.ts yet: add Google's next one there$/);
  });
});

describe('docs/deploy.md', () => {
  it("repeats the runtime table in its deploy.yaml section", () => {
    const doc = readFileSync(path.join(repo, 'docs', 'deploy.md'), 'utf8');
    const start = doc.indexOf('\n## deploy.yaml');
    expect(start, 'a "## deploy.yaml" section in docs/deploy.md').toBeGreaterThan(0);
    const next = doc.indexOf('\n## ', start + 1);
    const section = doc.slice(start, next === -1 ? undefined : next);
    const header = section.indexOf('| runtime | Node.js | deprecated | decommissioned');
    expect(header, 'the runtime table in the deploy.yaml section of docs/deploy.md').toBeGreaterThan(0);
    const rows = section
      .slice(header)
      .split('\n')
      .slice(2)
      .filter((line) => line.startsWith('|'))
      .map((line) => line.split('|').slice(1, 5).map((cell) => cell.trim().replace(/`/g, '')));
    expect(rows).toEqual(RUNTIMES.map((r) => [r.id, String(r.node), r.preview ? 'preview' : r.deprecated, r.decommissioned ?? '']));
    expect(section).toContain(`| \`runtime\` | \`${DEFAULT_RUNTIME}\` |`);
  });
});
