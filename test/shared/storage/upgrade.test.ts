import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import type { UserInfo } from '../../../shared/audit/types.js';
import { fixedClock } from '../../../shared/clock.js';
import { queryActions } from '../../../shared/storage/sqlite/queries/eventQuery.js';
import { EventWriter } from '../../../shared/storage/sqlite/write/eventWriter.js';
import { queryIdentities } from '../../../shared/storage/sqlite/queries/identityQuery.js';
import { openStore } from '../../../shared/storage/sqlite/openStore.js';
import { verifyChain } from '../../../shared/storage/sqlite/chain/verifyChain.js';
import { writeBatches, makeEvent, parsedEvent, tempDir, TEST_REDACTION_KEY } from '../../helpers.js';

const clock = fixedClock(Date.parse('2026-12-01T12:00:00Z'));
const FIXTURE = new URL('../../../../test/fixtures/store-v21/kubetrail.db.gz', import.meta.url);

const runner = (token: string): UserInfo => ({
  username: 'system:serviceaccount:ci:runner',
  uid: 'sa-uid',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'],
  extra: {
    'authentication.kubernetes.io/credential-id': [`JTI=${token}`],
    'authentication.kubernetes.io/pod-name': [`runner-${token}`],
    'authentication.kubernetes.io/pod-uid': [`pod-uid-${token}`],
  },
});

describe('a store written by an earlier kubetrail (schema 21, test/fixtures/store-v21)', () => {
  it('migrates; its chain verifies before and after new events; old and new users come back as received and are found by credential', () => {
    const path = join(tempDir(), 'kubetrail.db');
    writeFileSync(path, gunzipSync(readFileSync(FIXTURE)), { mode: 0o600 });
    const store = openStore(path, { clock });
    try {
      expect(verifyChain(store.db).ok).to.equal(true);
      const old = [...queryActions(store.db, { cluster: 'old' })];
      expect(old).to.have.length(7);
      expect(old.filter((e) => e.event.user.username === 'alice')).to.have.length(1);
      const oldRunner = old.filter((e) => e.event.user.username !== 'alice').map((e) => JSON.stringify(e.event.user)).sort();
      expect(oldRunner).to.deep.equal([0, 1, 2, 3, 4, 5].map((i) => JSON.stringify({ ...runner(`old-${i}`), extra: { 'authentication.kubernetes.io/credential-id': [`JTI=old-${i}`], 'authentication.kubernetes.io/pod-name': [`runner-${i}`], 'authentication.kubernetes.io/pod-uid': [`pod-uid-${i}`] } })).sort());

      const events = ['new-1', 'new-2'].map((t, i) =>
        parsedEvent(makeEvent({ user: runner(t), requestReceivedTimestamp: `2026-11-30T10:00:0${i}.000001Z`, stageTimestamp: `2026-11-30T10:00:0${i}.000002Z` })),
      );
      writeBatches(new EventWriter(store, 1 << 20, { clock, redactionKey: TEST_REDACTION_KEY }), [{ cluster: 'old', source: 'test', events, rejected: [] }]);
      const report = verifyChain(store.db);
      expect(report.ok, JSON.stringify(report.problems)).to.equal(true);
      expect(report.unchainedDimensionRows).to.equal(0);

      expect([...queryActions(store.db, { credential: 'JTI=new-2' })].map((e) => JSON.stringify(e.event.user))).to.deep.equal([JSON.stringify(runner('new-2'))]);
      expect([...queryActions(store.db, { credential: 'JTI=old-3' })].map((e) => e.event.user.extra!['authentication.kubernetes.io/pod-name'])).to.deep.equal([['runner-3']]);
      const sa = [...queryIdentities(store.db)].find((r) => r.identity === 'system:serviceaccount:ci:runner')!;
      expect(sa.actions).to.equal(8);
      expect([...sa.credentialIds].sort()).to.deep.equal(['JTI=new-1', 'JTI=new-2', ...[0, 1, 2, 3, 4, 5].map((i) => `JTI=old-${i}`)].sort());
    } finally {
      store.close();
    }
  });
});
