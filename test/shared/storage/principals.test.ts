import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import type { UserInfo } from '../../../shared/audit/types.js';
import { fixedClock } from '../../../shared/clock.js';
import { EventWriter } from '../../../shared/storage/eventWriter.js';
import { migrate, readMigrations } from '../../../shared/storage/migrate.js';
import { MIGRATIONS_DIR, openStore, type Store } from '../../../shared/storage/openStore.js';
import { makeEvent, parsedEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const clock = fixedClock(Date.parse('2026-07-23T12:00:00Z'));

/** A service account's user as a bound token presents it: its extras name the token, pod and node. */
function podUser(i: number): UserInfo {
  return {
    username: 'system:serviceaccount:ci:runner',
    uid: 'sa-uid',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'],
    extra: {
      'authentication.kubernetes.io/credential-id': [`JTI=token-${i}`],
      'authentication.kubernetes.io/pod-name': [`runner-${i}`],
      'authentication.kubernetes.io/pod-uid': [`pod-uid-${i}`],
    },
  };
}

function write(store: Store, users: UserInfo[], impersonated?: UserInfo): void {
  const events = users.map((user) => parsedEvent(makeEvent({ user, ...(impersonated ? { impersonatedUser: impersonated } : {}) })));
  new EventWriter(store, 1 << 20, { clock, redactionKey: TEST_REDACTION_KEY }).write([{ cluster: 'c', source: 'test', events, rejected: [] }]);
}

const count = (store: Store, sql: string) => store.db.prepare(sql).pluck().get() as number;

describe('principals: one row per distinct user, whatever the store\'s age or its writers', () => {
  it('finds the principals of a store made before they were keyed by hash, and adds none twice', () => {
    const path = join(tempDir(), 'old.db');
    const old = new BetterSqlite3(path);
    migrate(old, readMigrations(MIGRATIONS_DIR).filter((m) => m.version <= 19), clock);
    old.prepare('INSERT INTO principals (json, username) VALUES (?, ?)').run(JSON.stringify(podUser(1)), podUser(1).username);
    old.close();
    const store = openStore(path, { clock });
    try {
      write(store, [podUser(1), podUser(2), podUser(1)]);
      expect(count(store, 'SELECT count(*) FROM principals')).to.equal(2);
      expect(count(store, "SELECT user_id FROM events LIMIT 1")).to.equal(1);
    } finally {
      store.close();
    }
  });

  it('keeps one row per user when two writers intern the same new users at once', () => {
    const path = join(tempDir(), 'two.db');
    const a = openStore(path, { clock });
    const b = openStore(path, { clock });
    try {
      const users = Array.from({ length: 40 }, (_, i) => podUser(i));
      write(a, users.slice(0, 30));
      write(b, users.slice(10));
      write(a, users);
      expect(count(a, 'SELECT count(*) FROM principals')).to.equal(40);
      expect(count(a, 'SELECT count(DISTINCT json) FROM principals')).to.equal(40);
    } finally {
      a.close();
      b.close();
    }
  });

  it('makes impersonation usage atoms only for users that are impersonated, not for every new token', () => {
    const store = openStore(join(tempDir(), 'atoms.db'), { clock });
    try {
      write(store, Array.from({ length: 50 }, (_, i) => podUser(i)));
      expect(count(store, "SELECT count(*) FROM usage_atoms WHERE verb = 'impersonate'")).to.equal(0);
      write(store, [{ username: 'alice', groups: ['admins'] }], podUser(7));
      // Impersonating the pod's user passes a check per group and extra value, and the user itself.
      expect(count(store, "SELECT count(*) FROM usage_atoms WHERE verb = 'impersonate'")).to.be.greaterThan(4);
    } finally {
      store.close();
    }
  });
});
