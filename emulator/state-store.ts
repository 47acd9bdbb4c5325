// The committed state of a function between calls and syncs, as Fivetran keeps it: a JSON object in a file
// (default .fivetran/state/<function>.json), every number digit for digit. Reads reject a corrupt file with one line saying how to fix
// it; writes go to a temporary file that is renamed over the old one, so a crash never leaves half a state.
// Beside it, `<state file>.pending`: a response received and not yet committed while the next call is
// already in flight (see PendingResponse).
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync} from 'node:fs';
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
  replaceFile(file, [stringifyExactJson(state, 2) + '\n'], `the state file ${file}`);
}

/** Writes `parts` to a temporary file renamed over `file`, so that a crash never leaves half of it. */
function replaceFile(file: string, parts: (string | Buffer)[], what: string): void {
  mkdirSync(path.dirname(file), {recursive: true});
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(temporary, 'w');
    try {
      for (const part of parts) {
        const bytes = typeof part === 'string' ? Buffer.from(part) : part;
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, {force: true});
    throw new StateFileError(`cannot write ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * A response received but not yet committed, kept beside the state file (`<state file>.pending`) while the
 * next call is already in flight: that call carries this response's state, and a function may act on a state
 * it is sent (a CDC connector confirms its replication slot up to it), so from then on the response must not
 * be lost with the process. The next sync applies it first, before it calls the function (runSync).
 */
export interface PendingResponse {
  /** the state the call that answered it was sent: it is applied only while that state is still the committed one */
  stateSent: State;
  /** the call of its sync that answered it */
  call: number;
  body: string;
}

export function pendingFile(stateFile: string): string {
  return `${stateFile}.pending`;
}

/** Keeps `body` as the pending response of `stateFile`, atomically (first line: what it followed; then the body as received). */
export function writePending(stateFile: string, pending: {stateSent: State; call: number; body: Buffer | string}): void {
  const file = pendingFile(stateFile);
  replaceFile(file, [stringifyExactJson({state_sent: pending.stateSent, call: pending.call}) + '\n', pending.body], file);
}

/** The pending response of `stateFile`, or undefined when there is none. */
export function readPending(stateFile: string): PendingResponse | undefined {
  const file = pendingFile(stateFile);
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new StateFileError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const newline = text.indexOf('\n');
  let header: unknown;
  try {
    header = newline < 0 ? undefined : parseExactJson(text.slice(0, newline));
  } catch {
    header = undefined;
  }
  const {state_sent: stateSent, call} = (header ?? {}) as {state_sent?: unknown; call?: unknown};
  if (typeof stateSent !== 'object' || stateSent === null || Array.isArray(stateSent) || typeof call !== 'number') {
    throw new StateFileError(`${file} is not a response kept by ./fivetran sync (its first line must say which state it followed); delete it to drop it (its rows are then lost, and the function is called again from the committed state)`);
  }
  return {stateSent: stateSent as State, call, body: text.slice(newline + 1)};
}

export function removePending(stateFile: string): void {
  rmSync(pendingFile(stateFile), {force: true});
}

/** Forgets a function's committed state and any response pending with it (the next sync starts from the beginning). */
export function removeState(stateFile: string): void {
  rmSync(stateFile, {force: true});
  removePending(stateFile);
}
