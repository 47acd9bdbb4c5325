// The committed state of a function between calls and syncs, as Fivetran keeps it: a JSON object in a file
// (default .fivetran/state/<function>.json), every number digit for digit. Reads reject a corrupt file with one line saying how to fix
// it; writes go to a temporary file that is renamed over the old one, so a crash never leaves half a state.
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import type {State} from '../sdk/types.js';
import {parseExactJson, stringifyExactJson} from './exact-json.js';

export const DEFAULT_STATE_DIR = path.join('.fivetran', 'state');

export function defaultStateFile(root: string, functionName: string): string {
  return path.join(root, DEFAULT_STATE_DIR, `${functionName}.json`);
}

export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateFileError';
  }
}

/** The committed state, or {} when the file does not exist yet (the first sync). */
export function readState(file: string): State {
  if (!existsSync(file)) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new StateFileError(`cannot read the state file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let value: unknown;
  try {
    // every digit of a number, as Fivetran keeps the state it was sent (see emulator/exact-json.ts)
    value = parseExactJson(text);
  } catch (error) {
    throw new StateFileError(`the state file ${file} is not valid JSON (${(error as Error).message}); fix it, or delete it to sync from the start`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StateFileError(`the state file ${file} holds ${Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`}, not a JSON object; fix it, or delete it to sync from the start`);
  }
  return value as State;
}

/** Replaces the committed state atomically (write a temporary file, then rename). */
export function writeState(file: string, state: State): void {
  mkdirSync(path.dirname(file), {recursive: true});
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, stringifyExactJson(state, 2) + '\n');
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, {force: true});
    throw new StateFileError(`cannot write the state file ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
