// The project on disk: its root (found from any folder inside it), its connectors (connectors/<name>/index.ts)
// and its other functions (functions/<name>/index.ts).
// Every command resolves paths through here so `cwd` can be any folder of a project; the CLI and the emulator
// both build on it.
import {existsSync, readdirSync, statSync} from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import type {Connector} from '../sdk/index.js';
import {ProjectConfigError} from './errors.js';

/** The folder holding package.json and connectors/, searching upward from cwd. */
export function projectRoot(cwd: string = process.cwd()): string {
  let dir = path.resolve(cwd);
  for (;;) {
    if (existsSync(path.join(dir, 'connectors')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new ProjectConfigError(`no fivetran project found at or above ${cwd}; run this inside the repository (the folder with connectors/)`);
    dir = parent;
  }
}

export const CONNECTOR_NAME_RULE = /^[a-z][a-z0-9_]{0,62}$/;
export const CONNECTOR_NAME_HELP = 'a lowercase letter, then lowercase letters, digits or _ (at most 63 characters)';

/** Connector folders: connectors/<name>/index.ts. */
export function listConnectorNames(root: string): string[] {
  const dir = path.join(root, 'connectors');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => CONNECTOR_NAME_RULE.test(name) && existsSync(path.join(dir, name, 'index.ts')) && statSync(path.join(dir, name)).isDirectory())
    .sort();
}

export const FUNCTIONS_DIR = 'functions';

/** Folders of Cloud Functions that are not Fivetran connectors: functions/<name>/index.ts (exporting `main`). */
export function listFunctionNames(root: string): string[] {
  const dir = path.join(root, FUNCTIONS_DIR);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^[a-z][a-z0-9_-]{0,62}$/.test(name) && existsSync(path.join(dir, name, 'index.ts')) && statSync(path.join(dir, name)).isDirectory())
    .sort();
}

/** Imports connectors/<name>/index.ts and returns its `connector` export. */
export async function loadConnector(root: string, name: string): Promise<Connector> {
  const file = path.join(root, 'connectors', name, 'index.ts');
  if (!existsSync(file)) {
    const known = listConnectorNames(root);
    throw new ProjectConfigError(`unknown connector "${name}"; known connectors: ${known.join(', ') || '(none)'}`);
  }
  const module = (await import(pathToFileURL(file).href)) as {connector?: Connector};
  if (!module.connector) throw new ProjectConfigError(`connectors/${name}/index.ts does not export \`connector\` (export const connector = defineConnector(...))`);
  return module.connector;
}
