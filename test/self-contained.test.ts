// Nothing the project ships points outside it: code comments, READMEs and SQL rendered into users'
// warehouses cite the project's own docs/, not notes kept beside the repository.
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {expect, it} from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUTSIDE = /\b(FIVETRAN|PARTNER_SDK|DESIGN|STYLE)\.md\b|\.\.\/shared\//;

it('cites only files inside the repository', () => {
  const files = execFileSync('git', ['ls-files'], {cwd: root, encoding: 'utf8'}).split('\n').filter((file) => /\.(ts|md|sql|hbs|ya?ml|json)$/.test(file));
  expect(files.length).toBeGreaterThan(100);
  const offenders = files.filter((file) => file !== 'test/self-contained.test.ts' && OUTSIDE.test(readFileSync(path.join(root, file), 'utf8')));
  expect(offenders).toEqual([]);
  // and what they cite instead exists
  expect(readFileSync(path.join(root, 'docs', 'fivetran.md'), 'utf8')).toMatch(/## 1\. The Function connector protocol/);
});
