import { join } from 'node:path';
import { expect } from 'chai';
import { systemClock } from '../../../services/cli/clock.js';
import { queryAlerts } from '../../../shared/storage/sqlite/queries/alertQuery.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { testPipeline, writeBatches, makeEvent, parsedEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

/** Requests of the break-glass account system:admin, impersonating each user given in turn (null: as itself). */
function adminAs(users: (string | null)[]) {
  return users.map((u, i) => {
    const t = `2026-07-23T10:00:${String(i % 60).padStart(2, '0')}.${String(i).padStart(6, '0')}Z`;
    return parsedEvent(
      makeEvent({
        requestReceivedTimestamp: t, stageTimestamp: t,
        user: { username: 'system:admin', groups: ['system:authenticated'] },
        ...(u ? { impersonatedUser: { username: u, groups: ['system:authenticated'] } } : {}),
      }),
    );
  });
}

describe('alerts: who, across all the requests an alert joins', () => {
  function alertsOf(name: string, users: (string | null)[]) {
    const store = openStore(join(tempDir(), `${name}.db`), { clock: systemClock });
    try {
      const writer = new EventWriter(store, 1 << 20, { clock: systemClock, redactionKey: TEST_REDACTION_KEY });
      writeBatches(writer, [{ cluster: 'c', source: 'test', events: adminAs(users), rejected: [] }], testPipeline());
      return [...queryAlerts(store.db, {})].filter((a) => a.rule === 'unattributed-break-glass');
    } finally {
      store.close();
    }
  }

  it('gives the common value when every request shares it', () => {
    const [a] = alertsOf('same', [null, null, null]);
    expect(a).to.include({ count: 3, actor: 'system:admin', effectiveUser: 'system:admin', person: null });
  });

  it("lists the distinct values when requests differ, never the first one's alone", () => {
    const [a] = alertsOf('differ', ['bob', 'bob', 'alice', null, 'alice']);
    expect(a!.count).to.equal(5);
    expect(a!.actor).to.equal('system:admin');
    expect(a!.effectiveUser).to.deep.equal(['bob', 'alice', 'system:admin']);
  });

  it('bounds the list, and says there were more', () => {
    const users = Array.from({ length: 437 }, (_, i) => `user-${i % 25}`);
    const [a] = alertsOf('many', users);
    expect(a!.count).to.equal(437);
    expect(a!.effectiveUser).to.deep.equal([...Array.from({ length: 10 }, (_, i) => `user-${i}`), '…']);
  });
});
