// The Cloud Functions Node.js runtimes, from Google's published schedule: the one table that deploy.yaml
// validation (project/deploy-yaml.ts), the bundler's esbuild target (cli/bundle.ts), the deploy command's warnings
// (cli/deploy.ts) and the README's deploy.yaml table are read from. A runtime is accepted until its
// decommission date (after it Google refuses to create or redeploy a function on it); deploy warns from
// DEPRECATION_WARNING_DAYS before its deprecation date. Preview runtimes are refused: no deprecation schedule,
// no SLA, and `gcloud functions deploy` (GA) rejects them.
import {ProjectConfigError} from './errors.js';

export interface CloudFunctionsRuntime {
  /** the `--runtime` value, e.g. nodejs24 */
  id: string;
  /** the Node.js major version the runtime runs, which bundles are compiled for (esbuild target) */
  node: number;
  /** ISO dates (UTC) from Google's schedule; absent while the runtime is in preview */
  deprecated?: string;
  decommissioned?: string;
  preview?: boolean;
}

export const RUNTIMES: readonly CloudFunctionsRuntime[] = [
  {id: 'nodejs20', node: 20, deprecated: '2026-04-30', decommissioned: '2026-10-30'},
  {id: 'nodejs22', node: 22, deprecated: '2027-04-30', decommissioned: '2027-10-31'},
  {id: 'nodejs24', node: 24, deprecated: '2028-04-30', decommissioned: '2028-10-31'},
  {id: 'nodejs26', node: 26, preview: true},
];

/** What a function runs on when deploy.yaml says nothing. */
export const DEFAULT_RUNTIME = 'nodejs24';

/** deploy warns when a function's runtime is deprecated within this many days (or already is). */
export const DEPRECATION_WARNING_DAYS = 90;

const DAY_MS = 24 * 60 * 60 * 1000;
const dateOf = (iso: string) => new Date(`${iso}T00:00:00Z`);

export function findRuntime(id: string): CloudFunctionsRuntime | undefined {
  return RUNTIMES.find((runtime) => runtime.id === id);
}

/** Runtimes a function can be deployed on at `now`: generally available and not decommissioned. */
export function supportedRuntimes(now: Date = new Date()): CloudFunctionsRuntime[] {
  return RUNTIMES.filter((runtime) => !runtime.preview && runtime.decommissioned !== undefined && now < dateOf(runtime.decommissioned));
}

/** `nodejs24 (or nodejs22)`: the runtime to move to first, the default when it is supported. */
function whatToUse(now: Date): string {
  const ids = supportedRuntimes(now).map((runtime) => runtime.id);
  const first = ids.includes(DEFAULT_RUNTIME) ? DEFAULT_RUNTIME : ids.at(-1);
  const others = ids.filter((id) => id !== first);
  return `use ${first ?? '(none: update project/runtimes.ts from Google\'s schedule)'}${others.length ? ` (or ${others.join(', ')})` : ''}`;
}

/**
 * Why `id` cannot be deployed at `now`, as the end of a sentence (`... "nodejs20" was decommissioned ...`),
 * or null when it can.
 */
export function runtimeProblem(id: string, now: Date = new Date()): string | null {
  const runtime = findRuntime(id);
  if (!runtime) return `"${id}" is not a Cloud Functions Node.js runtime this project deploys; ${whatToUse(now)}`;
  if (runtime.preview) {
    return `"${id}" is in preview on Cloud Functions (no deprecation schedule, no SLA, and gcloud's GA track refuses it); ${whatToUse(now)}`;
  }
  if (runtime.decommissioned && now >= dateOf(runtime.decommissioned)) {
    return `"${id}" was decommissioned on ${runtime.decommissioned} (Cloud Functions no longer deploys it); ${whatToUse(now)}`;
  }
  return null;
}

/** The runtime's Node.js major version (`nodejs24` → 24), for esbuild's target and engines.node. */
export function runtimeNode(id: string = DEFAULT_RUNTIME): number {
  const runtime = findRuntime(id);
  if (!runtime) throw new ProjectConfigError(`runtime ${runtimeProblem(id)}`);
  return runtime.node;
}

/**
 * A warning when `id` is deprecated within DEPRECATION_WARNING_DAYS of `now` (or already is, and not yet
 * decommissioned), else null.
 */
export function deprecationWarning(id: string, now: Date = new Date()): string | null {
  const runtime = findRuntime(id);
  if (!runtime?.deprecated || !runtime.decommissioned || runtimeProblem(id, now)) return null;
  const days = Math.ceil((dateOf(runtime.deprecated).getTime() - now.getTime()) / DAY_MS);
  if (days > DEPRECATION_WARNING_DAYS) return null;
  const when = days > 0 ? `is deprecated on ${runtime.deprecated} (in ${days} day${days === 1 ? '' : 's'})` : `has been deprecated since ${runtime.deprecated}`;
  const newer = supportedRuntimes(now)
    .filter((other) => other.node > runtime.node)
    .map((other) => other.id)
    .reverse();
  const fix = newer.length ? `set runtime: ${newer.join(' or ')} in deploy.yaml` : `no newer runtime is in project/runtimes.ts yet: add Google's next one there`;
  return `${id} ${when} and decommissioned on ${runtime.decommissioned}, after which Cloud Functions refuses to deploy it; ${fix}`;
}
