// One sync of the monitoring connector: one check of the account (check.ts), resumed where the last call
// stopped, checkpointing inside a page when the call's budget says so.
import {checkpoint, type Emit, type SyncContext} from '../../sdk/index.js';
import {runCheck} from './check.js';
import {apiFromSecrets} from './client.js';
import {settingsFromSecrets, type MonitoringSecrets} from './secrets.js';
import {checkSlots} from './slots.js';
import type {MonitoringState} from './state.js';

export async function* monitoringSync({secrets, state, log, budget, signal}: SyncContext<MonitoringSecrets, MonitoringState>): AsyncGenerator<Emit<MonitoringState>> {
  const settings = settingsFromSecrets(secrets);
  const api = apiFromSecrets(secrets, signal, () => budget.timeLeftMs());
  log.info(state.check ? 'resuming the check in progress' : 'starting a check', {group_ids: settings.groupIds.length || 'all'});
  const rows: Record<string, number> = {};
  // watched replication slots, once per check, at its start; their lag history rides on every checkpoint
  let slots = secrets.replication_slots?.length ? state.slots : undefined;
  if (!state.check && secrets.replication_slots?.length) slots = yield* checkSlots(secrets.replication_slots, slots ?? {}, new Date().toISOString(), log);
  for await (const item of runCheck(api, settings, state, {budget})) {
    if (item.kind === 'upsert') rows[item.table] = (rows[item.table] ?? 0) + 1;
    yield item.kind === 'checkpoint' && slots ? checkpoint({...item.state, slots}) : item;
  }
  // Reached only when the check finished within this call (a stopped call is closed at its checkpoint);
  // a check resumed over several calls counts the rows of its last call.
  log.info('check finished', {rows_in_this_call: rows});
}
