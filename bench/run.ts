// npm run bench: runs every bench/*.bench.ts in turn (or those named on the command line). Each benchmark
// prints its own figures beside the reference it is compared against, measured in the same run.
import {readdirSync} from 'node:fs';
import path from 'node:path';
import {spawnSync} from 'node:child_process';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const all = readdirSync(here).filter((file) => file.endsWith('.bench.ts'));
// a name is that benchmark's when one has it exactly (partner-sdk is not also partner-sdk-records), else a part of names
const matching = (w: string) => (all.includes(`${w}.bench.ts`) ? [`${w}.bench.ts`] : all.filter((file) => file.includes(w)));
const files = (wanted.length === 0 ? all : [...new Set(wanted.flatMap(matching))]).sort();
if (files.length === 0) {
  console.error(`no benchmarks match ${wanted.join(' ') || '(all)'} in bench/`);
  process.exit(1);
}
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', path.join(here, file)], {stdio: 'inherit', cwd: path.dirname(here)});
  if (result.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
