// One connection's turn of the alert lifecycle (reconcileConnection, for webhook events), and the file store's
// updates one after the other.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {failedSyncAlert} from './alerts.js';
import {fileLedgerStore, readLedgerFile} from './ledger-store.js';
import {emptyLedger, reconcile, reconcileConnection, type AlertLedger} from './lifecycle.js';

const at = (minute: number) => new Date(Date.UTC(2026, 11, 3, 10, minute));
const failure = (connectionId: string, minute: number) => failedSyncAlert({connectionId, schemaName: `s_${connectionId}`, service: 'postgres', groupId: 'g', at: at(minute).toISOString(), reason: 'boom'});
const polled = (connectionId: string, rule: 'delayed' | 'paused', minute: number) => ({...failure(connectionId, minute), rule, severity: 'warning' as const, message: `${connectionId} ${rule}`});

describe('reconcileConnection', () => {
  it("opens, keeps and resolves one connection's alert and leaves the others' as they are", () => {
    const other = reconcile(emptyLedger(), [polled('b', 'paused', 0)], at(0)).ledger;
    const opened = reconcileConnection(other, 'a', failure('a', 1), at(1), {key: 'sync_end:1', at: at(1).toISOString()});
    expect(opened.changes.opened.map((alert) => [alert.connection_id, alert.rule, alert.severity])).toEqual([['a', 'failing', 'critical']]);
    expect(opened.ledger.open.map((alert) => alert.connection_id)).toEqual(['a', 'b']);
    const again = reconcileConnection(opened.ledger, 'a', failure('a', 5), at(5), {key: 'sync_end:2', at: at(2).toISOString()});
    expect(again.changes).toEqual({opened: [], escalated: [], resolved: [], reminders: []});
    const resolved = reconcileConnection(again.ledger, 'a', null, at(31), {key: 'sync_end:3', at: at(3).toISOString()});
    expect(resolved.changes.resolved).toMatchObject([{connection_id: 'a', rule: 'failing', duration_ms: 30 * 60_000}]);
    expect(resolved.ledger.open.map((alert) => alert.connection_id)).toEqual(['b']);
  });

  it('ignores an event older than the last one applied for the connection (deliveries come in any order)', () => {
    const resolved = reconcileConnection(emptyLedger(), 'a', null, at(10), {key: 'sync_end:late-success', at: at(10).toISOString()}).ledger;
    const late = reconcileConnection(resolved, 'a', failure('a', 5), at(11), {key: 'sync_end:early-failure', at: at(5).toISOString()});
    expect(late.ignored).toBe('stale');
    expect(late.changes.opened).toEqual([]);
    // another connection's events are not compared
    expect(reconcileConnection(resolved, 'b', failure('b', 5), at(11), {key: 'sync_end:b', at: at(5).toISOString()}).changes.opened).toHaveLength(1);
  });

  it('escalates a delayed alert to failing, and a success does not resolve what only the check can clear (paused)', () => {
    const ledger = reconcile(emptyLedger(), [polled('a', 'delayed', 0), polled('b', 'paused', 0)], at(0)).ledger;
    expect(reconcileConnection(ledger, 'a', failure('a', 2), at(2)).changes.escalated).toMatchObject([{connection_id: 'a', rule: 'failing', from: 'warning'}]);
    const success = reconcileConnection(ledger, 'b', null, at(3), {key: 'sync_end:9', at: at(9).toISOString()});
    expect(success.changes.resolved).toEqual([]);
    expect(success.ledger.open.map((alert) => alert.rule).sort()).toEqual(['delayed', 'paused']);
  });

  it('ignores a delivery it has applied already, even after a later success (a retried failure reopens nothing)', () => {
    const opened = reconcileConnection(emptyLedger(), 'a', failure('a', 1), at(1), {key: 'sync_end:1', at: at(1).toISOString()}).ledger;
    const resolved = reconcileConnection(opened, 'a', null, at(2), {key: 'sync_end:2', at: at(2).toISOString()}).ledger;
    const retried = reconcileConnection(resolved, 'a', failure('a', 1), at(3), {key: 'sync_end:1', at: at(1).toISOString()});
    expect(retried.ignored).toBe('duplicate');
    expect(retried.ledger.open).toEqual([]);
    // the polling lifecycle keeps the deliveries it did not make
    expect(reconcile(resolved, [], at(4)).ledger.deliveries?.map((d) => d.key)).toEqual(['sync_end:2', 'sync_end:1']);
  });
});

describe('fileLedgerStore', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fivetran-ledger-'));
  afterAll(() => rmSync(dir, {recursive: true, force: true}));

  it('runs concurrent updates one after the other, each on the ledger the last one wrote', async () => {
    const file = path.join(dir, 'alerts.json');
    const store = fileLedgerStore(file);
    const apply = (id: string) =>
      store.update(async (ledger: AlertLedger) => {
        const turn = reconcileConnection(ledger, 'a', failure('a', 1), at(1), {key: `sync_end:${id}`, at: at(1).toISOString()});
        await new Promise((resolve) => setTimeout(resolve, 20));
        return {ledger: turn.ledger, result: turn.changes.opened.length};
      });
    expect(await Promise.all([apply('1'), apply('2'), apply('3')])).toEqual([1, 0, 0]);
    expect(readLedgerFile(file).deliveries?.map((d) => d.key)).toEqual(['sync_end:3', 'sync_end:2', 'sync_end:1']);
  });
});
