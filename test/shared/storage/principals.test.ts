import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { expect } from 'chai';
import type { UserInfo } from '../../../shared/audit/types.js';
import { fixedClock } from '../../../shared/clock.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { queryActions } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { CREDENTIAL_IDS_LISTED, queryIdentities } from '../../../shared/storage/sqlite/queries/identityQuery.js';
import { verifyChain } from '../../../shared/storage/sqlite/chain/verifyChain.js';
import type { IdentityRule } from '../../../shared/identity/identityMap.js';
import { splitsTokens } from '../../../shared/pipeline/ingestPipeline.js';
import { migrate, readMigrations } from '../../../shared/storage/sqlite/migrate.js';
import { MIGRATIONS_DIR, openStore, type Store } from '../../../shared/storage/sqlite/openStore.js';
import { testPipeline, writeBatches, makeEvent, parsedEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

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

function write(store: Store, users: UserInfo[], impersonated?: UserInfo, identityMap?: IdentityRule[]): void {
  const events = users.map((user) => parsedEvent(makeEvent({ user, ...(impersonated ? { impersonatedUser: impersonated } : {}) })));
  writeBatches(new EventWriter(store, 1 << 20, { clock, redactionKey: TEST_REDACTION_KEY, identityMap }), [{ cluster: 'c', source: 'test', events, rejected: [] }], testPipeline({ detector: null, splitTokens: splitsTokens(identityMap ?? []) }));
}

const count = (store: Store, sql: string) => store.db.prepare(sql).pluck().get() as number;

describe('principals: one row per distinct user and one per token, whatever the store\'s age or its writers', () => {
  it('finds the principals of a store made before they were keyed by hash, and adds none twice', () => {
    const path = join(tempDir(), 'old.db');
    const old = new BetterSqlite3(path);
    migrate(old, readMigrations(MIGRATIONS_DIR).filter((m) => m.version <= 19), clock);
    old.prepare('INSERT INTO principals (json, username) VALUES (?, ?)').run(JSON.stringify(podUser(1)), podUser(1).username);
    old.close();
    const store = openStore(path, { clock });
    try {
      write(store, [podUser(1), podUser(2), podUser(1)]);
      // The old row keeps its whole user; new events store the stable part once, and each token apart.
      expect(count(store, 'SELECT count(*) FROM principals')).to.equal(2);
      expect(count(store, 'SELECT count(*) FROM user_tokens')).to.equal(2);
      expect(count(store, 'SELECT count(DISTINCT user_id) FROM events')).to.equal(1);
      write(store, [podUser(1), podUser(2)]);
      expect(count(store, 'SELECT count(*) FROM principals') + count(store, 'SELECT count(*) FROM user_tokens')).to.equal(4);
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
      expect(count(a, 'SELECT count(*) FROM principals')).to.equal(1);
      expect(count(a, 'SELECT count(*) FROM user_tokens')).to.equal(40);
      expect(count(a, 'SELECT count(DISTINCT json) FROM user_tokens')).to.equal(40);
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

  it('stores a token\'s own values apart, and gives back each event\'s user exactly, found by its credential, in one identity', () => {
    const store = openStore(join(tempDir(), 'split.db'), { clock });
    try {
      // The last: pod runner-0's token rotated, a new credential id in the same pod.
      const rotated = podUser(0);
      rotated.extra!['authentication.kubernetes.io/credential-id'] = ['JTI=token-0b'];
      const users = [...Array.from({ length: 19 }, (_, i) => podUser(i)), rotated];
      write(store, users);
      expect(count(store, 'SELECT count(*) FROM principals')).to.equal(1);
      expect(count(store, 'SELECT count(*) FROM identities')).to.equal(1);
      expect(count(store, 'SELECT count(*) FROM user_tokens')).to.equal(20);
      const stored = [...queryActions(store.db, { cluster: 'c' })];
      expect(stored.map((e) => e.event.user).sort((a, b) => a.uid!.localeCompare(b.uid!) || JSON.stringify(a).localeCompare(JSON.stringify(b))))
        .to.deep.equal([...users].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
      // Key order too: the user comes back as it was received.
      expect(stored.map((e) => JSON.stringify(e.event.user)).sort()).to.deep.equal(users.map((u) => JSON.stringify(u)).sort());
      const one = [...queryActions(store.db, { credential: 'JTI=token-7' })];
      expect(one.map((e) => e.event.user.extra!['authentication.kubernetes.io/pod-name'])).to.deep.equal([['runner-7']]);
      expect(one[0]!.actor).to.include({ credentialKind: 'bound-token', credentialId: 'JTI=token-7' });
      const [identity, ...others] = [...queryIdentities(store.db)];
      expect(others).to.deep.equal([]);
      expect(identity).to.include({ identity: 'system:serviceaccount:ci:runner', kind: 'serviceaccount', actions: 20 });
      expect(identity!.credentialKinds).to.deep.equal(['bound-token']);
      expect([...identity!.credentialIds].sort()).to.deep.equal(users.map((u) => u.extra!['authentication.kubernetes.io/credential-id']![0]).sort());
    } finally {
      store.close();
    }
  });

  it('counts an identity\'s credentials and lists the newest of them, however many tokens it used', () => {
    const store = openStore(join(tempDir(), 'many.db'), { clock });
    try {
      write(store, Array.from({ length: CREDENTIAL_IDS_LISTED + 5 }, (_, i) => podUser(i)));
      const [identity] = [...queryIdentities(store.db)];
      expect(identity!.credentialCount).to.equal(CREDENTIAL_IDS_LISTED + 5);
      expect(identity!.credentialIds).to.deep.equal(Array.from({ length: CREDENTIAL_IDS_LISTED }, (_, i) => `JTI=token-${CREDENTIAL_IDS_LISTED + 4 - i}`));
    } finally {
      store.close();
    }
  });

  it('names who minted a service account\'s tokens, whether the minting is stored before or after the use, and after it is archived', () => {
    const store = openStore(join(tempDir(), 'minters.db'), { clock });
    const minting = (username: string, token: number) =>
      parsedEvent(makeEvent({
        user: { username, groups: ['system:authenticated'] },
        verb: 'create',
        requestURI: '/api/v1/namespaces/ci/serviceaccounts/runner/token',
        objectRef: { resource: 'serviceaccounts', subresource: 'token', namespace: 'ci', name: 'runner', apiVersion: 'v1' },
        annotations: { 'authorization.k8s.io/decision': 'allow', 'authorization.k8s.io/reason': '', 'authentication.kubernetes.io/issued-credential-id': `JTI=token-${token}` },
      }));
    const writer = new EventWriter(store, 1 << 20, { clock, redactionKey: TEST_REDACTION_KEY });
    const writeEvents = (events: ReturnType<typeof parsedEvent>[]) => writeBatches(writer, [{ cluster: 'c', source: 'test', events, rejected: [] }], testPipeline({ detector: null }));
    const runner = () => [...queryIdentities(store.db)].find((r) => r.identity === 'system:serviceaccount:ci:runner')!;
    try {
      writeEvents([minting('alice', 1)]);
      writeEvents([parsedEvent(makeEvent({ user: podUser(1) })), parsedEvent(makeEvent({ user: podUser(2) }))]);
      expect(runner().tokensMintedBy).to.deep.equal(['alice']);
      writeEvents([minting('bob', 2), minting('carol', 3)]);
      expect(runner().tokensMintedBy).to.deep.equal(['alice', 'bob']);
      // What the migration of an older store derives is what the writer kept.
      const kept = store.db.prepare('SELECT * FROM credential_minters ORDER BY principal_id, minter_id').all();
      store.db.exec('DELETE FROM credential_minters');
      store.db.exec(readFileSync(join(MIGRATIONS_DIR, '0023_credential_minters.sql'), 'utf8').replace(/CREATE (TABLE|INDEX)[^;]*;/g, ''));
      expect(store.db.prepare('SELECT * FROM credential_minters ORDER BY principal_id, minter_id').all()).to.deep.equal(kept);
      // Retention archives the minting events: who minted is kept, as the activity is.
      store.db.exec('DELETE FROM issued_credentials');
      expect(runner().tokensMintedBy).to.deep.equal(['alice', 'bob']);
    } finally {
      store.close();
    }
  });

  it('chains the token rows: altering one is found by verify', () => {
    const store = openStore(join(tempDir(), 'chain.db'), { clock });
    try {
      write(store, [podUser(1), podUser(2)]);
      expect(verifyChain(store.db).ok).to.equal(true);
      store.db.prepare(`UPDATE user_tokens SET json = replace(json, 'runner-2', 'runner-9') WHERE credential_id = 'JTI=token-2'`).run();
      const report = verifyChain(store.db);
      expect(report.ok).to.equal(false);
      expect(report.problems.map((p) => p.detail).join('\n')).to.include('user_tokens');
    } finally {
      store.close();
    }
  });

  it('keeps each token\'s user whole when the identity map tells tokens apart', () => {
    const store = openStore(join(tempDir(), 'whole.db'), { clock });
    try {
      write(store, [podUser(1), podUser(2)], undefined, [{ match: { credentialId: 'JTI=token-2' }, person: 'bob' }]);
      expect(count(store, 'SELECT count(*) FROM principals')).to.equal(2);
      expect(count(store, 'SELECT count(*) FROM user_tokens')).to.equal(0);
      expect([...queryActions(store.db, { person: 'bob' })].map((e) => e.event.user.extra!['authentication.kubernetes.io/pod-name'])).to.deep.equal([['runner-2']]);
    } finally {
      store.close();
    }
  });
});
